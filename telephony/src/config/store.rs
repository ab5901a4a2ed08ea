//! Which store a config selects ([`StoreBackend`]): SQLite by default, PostgreSQL when
//! `store.url` (or `TELEPHONY_DATABASE_URL`) is set, with one schema per account.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use telephony_core::Secret;
use telephony_core::redact::redact_url;

use super::Config;

/// The schema of the one account when no accounts are configured.
pub const DEFAULT_SCHEMA: &str = "telephony";

/// PostgreSQL's pool size when `store.maxConnections` is not set.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// PostgreSQL's statement timeout when `store.statementTimeoutMs` is not set, in ms.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 30_000;

/// The store a config selects.
///
/// ```
/// use telephony::config::{Config, StoreBackend};
/// let cfg = Config::from_json5_str(r#"{ store: { url: "postgres://gw:pw@db.internal/telephony" } }"#)?;
/// let StoreBackend::Postgres(pg) = cfg.store_backend() else { panic!("PostgreSQL") };
/// assert_eq!(pg.schema, "telephony");
/// assert_eq!(pg.redacted_url(), "postgres://gw:[redacted]@db.internal/telephony");
/// # Ok::<(), telephony::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreBackend {
    /// The embedded SQLite file (the default).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL server (`store.url`).
    Postgres(PostgresSettings),
}

/// How one account reaches its PostgreSQL store.
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresSettings {
    /// The URL, password included (never printed: see [`redacted_url`](Self::redacted_url)).
    pub url: Secret,
    /// The account's schema.
    pub schema: String,
    /// Connections in the pool.
    pub max_connections: u32,
    /// The statement timeout (`None`: the server's setting).
    pub statement_timeout: Option<Duration>,
}

impl PostgresSettings {
    /// The URL with its password and query values redacted.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose())
    }

    /// The URL's `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`), or
    /// `None` when it sets none (then `PGSSLMODE`, else `prefer`, applies).
    pub fn ssl_mode(&self) -> Option<String> {
        url_param(self.url.expose(), "sslmode")
    }
}

/// The value of query parameter `name` in `url`, decoded.
fn url_param(url: &str, name: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &self.redacted_url())
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl StoreBackend {
    /// `sqlite` or `postgres`.
    pub fn name(&self) -> &'static str {
        match self {
            StoreBackend::Sqlite { .. } => "sqlite",
            StoreBackend::Postgres(_) => "postgres",
        }
    }

    /// Where the data lives, safe to print: the SQLite file, or the redacted URL and the
    /// schema.
    pub fn describe(&self) -> String {
        match self {
            StoreBackend::Sqlite { path } => format!("sqlite {}", path.display()),
            StoreBackend::Postgres(pg) => format!(
                "postgres {} schema {} (sslmode {})",
                pg.redacted_url(),
                pg.schema,
                pg.ssl_mode()
                    .as_deref()
                    .unwrap_or("not set: PGSSLMODE, else prefer")
            ),
        }
    }

    /// As JSON for `config check --json`: `{"backend", "path"}` or `{"backend", "url"
    /// (redacted), "schema", "maxConnections", "statementTimeoutMs"}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            StoreBackend::Sqlite { path } => serde_json::json!({
                "backend": "sqlite",
                "path": path.display().to_string(),
            }),
            StoreBackend::Postgres(pg) => serde_json::json!({
                "backend": "postgres",
                "url": pg.redacted_url(),
                "schema": pg.schema,
                "sslmode": pg.ssl_mode(),
                "maxConnections": pg.max_connections,
                "statementTimeoutMs": pg.statement_timeout.map(|t| t.as_millis() as u64),
            }),
        }
    }
}

/// The schema of account `account` when it sets no `store.schema`: `telephony_{name}`
/// (lowercased, `-` as `_`), or [`DEFAULT_SCHEMA`] without accounts.
pub fn default_schema(account: Option<&str>) -> String {
    match account {
        None => DEFAULT_SCHEMA.to_string(),
        Some(name) => format!(
            "{DEFAULT_SCHEMA}_{}",
            name.to_ascii_lowercase().replace('-', "_")
        ),
    }
}

impl Config {
    /// The store this config (this account) selects: PostgreSQL when `store.url` is set,
    /// else SQLite at [`database_path`](Self::database_path).
    pub fn store_backend(&self) -> StoreBackend {
        match &self.store.url {
            None => StoreBackend::Sqlite {
                path: self.database_path(),
            },
            Some(url) => StoreBackend::Postgres(PostgresSettings {
                url: url.clone(),
                schema: self.store_schema(),
                max_connections: self
                    .store
                    .max_connections
                    .unwrap_or(DEFAULT_MAX_CONNECTIONS),
                statement_timeout: match self
                    .store
                    .statement_timeout_ms
                    .unwrap_or(DEFAULT_STATEMENT_TIMEOUT_MS)
                {
                    0 => None,
                    ms => Some(Duration::from_millis(ms)),
                },
            }),
        }
    }

    /// The PostgreSQL schema: `store.schema`, else [`default_schema`].
    pub(crate) fn store_schema(&self) -> String {
        self.store
            .schema
            .clone()
            .unwrap_or_else(|| default_schema(self.account.as_deref()))
    }
}

/// Why `name` cannot be a schema name, if it cannot: the same rule as the PostgreSQL
/// store's (a lowercase SQL identifier that needs no quoting).
pub(crate) fn schema_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Some("is not a lowercase SQL identifier ([a-z_][a-z0-9_]*)");
    }
    if name.len() > 63 {
        return Some("is longer than PostgreSQL's 63-byte identifier limit");
    }
    if name.starts_with("pg_") {
        return Some("starts with pg_, which PostgreSQL reserves");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_schemas_derive_from_the_name() {
        assert_eq!(default_schema(None), "telephony");
        assert_eq!(default_schema(Some("Sales-EU")), "telephony_sales_eu");
        assert_eq!(schema_problem("telephony_sales_eu"), None);
        assert_eq!(
            schema_problem("a-b"),
            Some("is not a lowercase SQL identifier ([a-z_][a-z0-9_]*)")
        );
        assert_eq!(
            schema_problem("pg_x"),
            Some("starts with pg_, which PostgreSQL reserves")
        );
        assert_eq!(
            schema_problem(&"a".repeat(64)),
            Some("is longer than PostgreSQL's 63-byte identifier limit")
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let cfg = Config::from_json5_str(
            r#"{ store: { url: "postgres://gw:hunter2@db/x?sslmode=require" } }"#,
        )
        .unwrap();
        let text = format!("{:?} {:?}", cfg.store_backend(), cfg);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("postgres://gw:[redacted]@db/x?sslmode=[redacted]"),
            "{text}"
        );
    }
}
