//! The PostgreSQL schema, embedded in the binary and applied on open.
//!
//! Migrations run through sqlx's migrator, which records each applied version and its
//! checksum in `_sqlx_migrations` (in the store's schema, like every table) and holds a
//! PostgreSQL advisory lock (`pg_advisory_lock`, keyed on the database) while it works:
//! replicas that start together apply each migration once, the others wait and then find
//! nothing left to do. A schema whose applied migration no longer matches the embedded text
//! is refused rather than silently diverging.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

/// `(version, description, sql)` of every migration, oldest first.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "inbox",
        include_str!("../../migrations/postgres/0001_inbox.sql"),
    ),
    (
        2,
        "receipts and outbox",
        include_str!("../../migrations/postgres/0002_receipts_and_outbox.sql"),
    ),
    (
        3,
        "policy",
        include_str!("../../migrations/postgres/0003_policy.sql"),
    ),
    (
        4,
        "forwards",
        include_str!("../../migrations/postgres/0004_forwards.sql"),
    ),
    (
        5,
        "calls",
        include_str!("../../migrations/postgres/0005_calls.sql"),
    ),
    (
        6,
        "outbox leases",
        include_str!("../../migrations/postgres/0006_outbox_leases.sql"),
    ),
    (
        7,
        "inbound dispatch",
        include_str!("../../migrations/postgres/0007_inbound_dispatch.sql"),
    ),
    (
        8,
        "cluster",
        include_str!("../../migrations/postgres/0008_cluster.sql"),
    ),
    (
        9,
        "store probe",
        include_str!("../../migrations/postgres/0009_store_probe.sql"),
    ),
    (
        10,
        "retention",
        include_str!("../../migrations/postgres/0010_retention.sql"),
    ),
    (
        11,
        "store keys",
        include_str!("../../migrations/postgres/0011_store_keys.sql"),
    ),
    (
        12,
        "compact extras",
        include_str!("../../migrations/postgres/0012_compact_extras.sql"),
    ),
    (
        13,
        "answered by",
        include_str!("../../migrations/postgres/0013_answered_by.sql"),
    ),
    (
        14,
        "recordings",
        include_str!("../../migrations/postgres/0014_recordings.sql"),
    ),
    (
        15,
        "update epoch",
        include_str!("../../migrations/postgres/0015_update_epoch.sql"),
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

/// Brings the schema the pool's connections use (their `search_path`) up to date, under
/// sqlx's advisory lock.
pub(crate) async fn run(pool: &PgPool) -> Result<(), MigrateError> {
    let migrator = Migrator::new(Embedded).await?;
    debug_assert!(
        migrator.locking,
        "migrations must run under the advisory lock"
    );
    migrator.run(pool).await
}
