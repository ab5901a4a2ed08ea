//! PostgreSQL: the conformance suite and what several connections (replicas) sharing one
//! database must get right. Needs a server: `TELEPHONY_TEST_POSTGRES=postgres://…` (start a
//! throwaway one with `scripts/postgres-test-cluster.sh`). Without it the tests skip with a
//! message, or fail when `CI` is set. Each test works in a fresh schema of its own, dropped
//! at the end, so they run in parallel.

mod cluster;
mod recovery;
mod replicas;
mod suite;

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use telephony_store::{PostgresOptions, PostgresStore};

/// The server the tests use, or `None` (after saying why) when they are skipped.
pub(crate) fn server_url() -> Option<String> {
    match std::env::var("TELEPHONY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "TELEPHONY_TEST_POSTGRES is not set, and CI must run the PostgreSQL tests: start a \
             server with `eval \"$(scripts/postgres-test-cluster.sh)\"` (installs PostgreSQL if \
             needed), or point TELEPHONY_TEST_POSTGRES at one (postgres://user@host:port/db)"
        ),
        _ => {
            eprintln!(
                "skipped: TELEPHONY_TEST_POSTGRES is not set (start a throwaway server with \
                 `eval \"$(scripts/postgres-test-cluster.sh)\"`)"
            );
            None
        }
    }
}

/// A schema name no other test uses.
pub(crate) fn unique_schema() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("test_{:016x}", h.finish())
}

/// Options for a test store in `schema`: a small pool, a short connect timeout.
pub(crate) fn options(schema: &str) -> PostgresOptions {
    PostgresOptions::default()
        .schema(schema)
        .max_connections(4)
        .connect_timeout(Duration::from_secs(10))
}

/// Drops its schema (and everything in it) when dropped, also when the test panics.
#[derive(Debug)]
pub(crate) struct DropSchema {
    url: String,
    schema: String,
}

impl DropSchema {
    pub(crate) fn new(url: &str, schema: &str) -> Self {
        DropSchema {
            url: url.to_string(),
            schema: schema.to_string(),
        }
    }
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread with a
        // runtime of its own does the async work.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                // Never wait forever on a lock a broken test left behind.
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&mut conn)
                    .await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema {}: {e}", self.schema),
            Err(_) => eprintln!("dropping test schema {} panicked", self.schema),
        }
    }
}

/// A store in a fresh schema, and the guard that drops the schema; `None` when skipped.
pub(crate) async fn fresh() -> Option<(PostgresStore, DropSchema)> {
    let url = server_url()?;
    let schema = unique_schema();
    let guard = DropSchema::new(&url, &schema);
    let store = PostgresStore::connect_with(&url, options(&schema))
        .await
        .expect("open the PostgreSQL store");
    Some((store, guard))
}
