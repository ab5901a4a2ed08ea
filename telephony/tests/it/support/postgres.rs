//! The PostgreSQL server of the multi-replica tests, and a schema of their own.

/// The PostgreSQL server of the tests, or `None` (after saying why) to skip.
pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var("TELEPHONY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("TELEPHONY_TEST_POSTGRES is not set, and CI must run the PostgreSQL tests")
        }
        _ => {
            eprintln!("skipped: TELEPHONY_TEST_POSTGRES is not set");
            None
        }
    }
}

/// Drops the test's schema when dropped (also when the test panics).
pub(crate) struct DropSchema {
    pub(crate) url: String,
    pub(crate) schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.schema);
        }
    }
}
