//! The schema, embedded in the binary and applied on open.
//!
//! Migrations run through sqlx's migrator, which records each applied version and its
//! checksum in `_sqlx_migrations`: opening an up-to-date database changes nothing, and a
//! database whose applied migration no longer matches the embedded text is refused rather
//! than silently diverging.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::SqlitePool;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

/// `(version, description, sql)` of every migration, oldest first.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "policy and forwarding",
        include_str!("../../migrations/sqlite/0002_policy_and_forwarding.sql"),
    ),
    (
        3,
        "provider status",
        include_str!("../../migrations/sqlite/0003_provider_status.sql"),
    ),
    (
        4,
        "calls",
        include_str!("../../migrations/sqlite/0004_calls.sql"),
    ),
    (
        5,
        "stream tokens",
        include_str!("../../migrations/sqlite/0005_stream_tokens.sql"),
    ),
    (
        6,
        "outbox leases",
        include_str!("../../migrations/sqlite/0006_outbox_leases.sql"),
    ),
    (
        7,
        "inbound dispatch",
        include_str!("../../migrations/sqlite/0007_inbound_dispatch.sql"),
    ),
    (
        8,
        "cluster",
        include_str!("../../migrations/sqlite/0008_cluster.sql"),
    ),
    (
        9,
        "store probe",
        include_str!("../../migrations/sqlite/0009_store_probe.sql"),
    ),
];

#[derive(Debug)]
struct Embedded;

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Brings the database up to the current schema.
pub(crate) async fn run(pool: &SqlitePool) -> Result<(), MigrateError> {
    Migrator::new(Embedded).await?.run(pool).await
}
