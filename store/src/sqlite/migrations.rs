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
    (
        10,
        "retention",
        include_str!("../../migrations/sqlite/0010_retention.sql"),
    ),
    (
        11,
        "store keys",
        include_str!("../../migrations/sqlite/0011_store_keys.sql"),
    ),
    (
        12,
        "compact inbox",
        include_str!("../../migrations/sqlite/0012_compact_inbox.sql"),
    ),
    (
        13,
        "answered by",
        include_str!("../../migrations/sqlite/0013_answered_by.sql"),
    ),
    (
        14,
        "recordings",
        include_str!("../../migrations/sqlite/0014_recordings.sql"),
    ),
    (
        15,
        "update epoch",
        include_str!("../../migrations/sqlite/0015_update_epoch.sql"),
    ),
    (
        16,
        "inbox senders",
        include_str!("../../migrations/sqlite/0016_inbox_senders.sql"),
    ),
    (
        17,
        "forward tail",
        include_str!("../../migrations/sqlite/0017_forward_tail.sql"),
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

#[cfg(test)]
mod tests {
    use sqlx::{Connection, SqliteConnection};

    use super::MIGRATIONS;
    use crate::sqlite::compact::Key;

    /// Migration 12 packs the keys of rows stored before it exactly as `Key::pack` packs new
    /// ones (a lookup by the packed form finds old and new rows alike), keeps their rowids
    /// and leaves their JSON extras as they were.
    #[tokio::test]
    async fn compact_inbox_migration_packs_old_rows_like_new_ones() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        for (version, _, sql) in MIGRATIONS.iter().filter(|m| m.0 < 12) {
            sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("migration {version}: {e}"));
        }
        let rows = [
            (
                "msg_01a24f7ebb3b7da1d382e23b2bff",
                "SM6ae8e97f64123d260000000000000000",
                Some("AC00000000000000000000000000000024"),
            ),
            (
                "msg_in_SMdead",
                "40385f64-5717-4562-b3fc-2c963f66afa6",
                None,
            ),
            (
                "msg_01A24F7EBB3B7DA1D382E23B2BFF",
                "sm6ae8e97f64123d260000000000000000",
                Some("ACshort"),
            ),
            (
                "msg_01a24f7ebb3b7da1d382e23b2bfg",
                "40385F64-5717-4562-B3FC-2C963F66AFA6",
                Some(""),
            ),
        ];
        for (i, (id, sid, account)) in rows.iter().enumerate() {
            sqlx::query(
                "INSERT INTO inbox (rowid, id, provider_sid, account_sid, channel, sender, \
                   recipient, body, received_at, extra_json) \
                 VALUES (?1, ?2, ?3, ?4, 'sms', '+15557654321', '+15550001234', 'hi', 0, \
                   '{\"FromCity\":\"OSLO\"}')",
            )
            .bind(i as i64 + 10)
            .bind(id)
            .bind(sid)
            .bind(account)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        let (_, _, sql) = MIGRATIONS.iter().find(|m| m.0 == 12).unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        for (i, (id, sid, account)) in rows.iter().enumerate() {
            let (rowid, extra): (i64, String) = sqlx::query_as(
                "SELECT rowid, extra_json FROM inbox \
                 WHERE id = ?1 AND provider_sid = ?2 AND account_sid IS ?3",
            )
            .bind(Key::pack(id))
            .bind(Key::pack(sid))
            .bind(account.map(Key::pack))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{id} {sid} {account:?}: {e}"));
            assert_eq!(rowid, i as i64 + 10);
            assert_eq!(extra, "{\"FromCity\":\"OSLO\"}");
        }
        let types: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT typeof(id), typeof(provider_sid), typeof(account_sid) FROM inbox ORDER BY rowid",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let t = |a: &str, b: &str, c: Option<&str>| (a.into(), b.into(), c.map(Into::into));
        assert_eq!(
            types,
            [
                t("blob", "blob", Some("blob")),
                t("text", "blob", Some("null")),
                t("text", "text", Some("text")),
                t("text", "text", Some("text")),
            ]
        );
    }
}
