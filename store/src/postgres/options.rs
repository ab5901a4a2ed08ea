//! Tuning knobs for [`PostgresStore::connect_with`](super::PostgresStore::connect_with).

use std::time::Duration;

/// How a [`PostgresStore`](super::PostgresStore) connects.
///
/// TLS is configured in the URL (`?sslmode=disable|prefer|require|verify-ca|verify-full`,
/// `sslrootcert=…`), as with `psql`; it runs on rustls. The defaults: a pool of 10
/// connections, a 30 s statement timeout, 30 s to connect, and the server's default schema.
///
/// ```
/// use std::time::Duration;
/// use telephony_store::PostgresOptions;
///
/// let opts = PostgresOptions::default()
///     .max_connections(20)
///     .statement_timeout(Some(Duration::from_secs(5)))
///     .schema("account_main");
/// assert_eq!(opts.max_connections, 20);
/// assert_eq!(opts.schema.as_deref(), Some("account_main"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Connections in the pool (at least 1).
    pub max_connections: u32,
    /// Longest a statement may run before the server cancels it (`statement_timeout`);
    /// `None` leaves the server's setting.
    pub statement_timeout: Option<Duration>,
    /// How long opening the store, or an operation waiting for a pooled connection, waits
    /// for the server before failing.
    pub connect_timeout: Duration,
    /// The schema that holds the store's tables: created if missing, and the only schema
    /// on every connection's `search_path`, so no query reaches another schema's tables.
    /// Give each account its own. A lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at most
    /// 63 bytes, not starting with `pg_`). `None` uses the server's default (`public`).
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 10,
            statement_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(30),
            schema: None,
        }
    }
}

impl PostgresOptions {
    /// Sets [`max_connections`](Self::max_connections) (values below 1 mean 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets [`statement_timeout`](Self::statement_timeout).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`schema`](Self::schema); checked when the store opens.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }
}

/// Why a schema name is refused, if it is.
pub(crate) fn check_schema(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err("must be a lowercase SQL identifier: [a-z_][a-z0-9_]*");
    }
    if name.len() > 63 {
        return Err("is longer than PostgreSQL's 63-byte identifier limit");
    }
    if name.starts_with("pg_") {
        return Err("starts with pg_, which PostgreSQL reserves");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_schema;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(check_schema("account_main").is_ok());
        assert!(check_schema("_a1").is_ok());
        for bad in [
            "",
            "Main",
            "1a",
            "a-b",
            "a;drop",
            "a\"b",
            "pg_x",
            &"a".repeat(64),
        ] {
            assert!(check_schema(bad).is_err(), "{bad:?}");
        }
    }
}
