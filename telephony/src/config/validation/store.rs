//! `store.*`: SQLite (`path`) or PostgreSQL (`url` and its settings), never both; a valid
//! `store.retention` for either.

use super::rule;
use crate::config::store::schema_problem;
use crate::config::{Config, ConfigError};

/// `sslmode` values the PostgreSQL store accepts (`allow` is refused: the driver treats it
/// as `disable`).
const SSL_MODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];

/// Query parameters of `store.url` the driver understands.
const URL_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
];

/// The store keys agree: `path` or `url`; PostgreSQL settings only with `url`; a valid
/// URL (never quoted in the error: it may hold a password), schema and ranges.
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    config.retention_policy()?;
    let store = &config.store;
    let Some(url) = &store.url else {
        for (key, set) in [
            ("store.schema", store.schema.is_some()),
            ("store.maxConnections", store.max_connections.is_some()),
            (
                "store.statementTimeoutMs",
                store.statement_timeout_ms.is_some(),
            ),
        ] {
            if set {
                return rule(
                    key,
                    "applies to the PostgreSQL store only; set store.url (or TELEPHONY_DATABASE_URL) too, or remove it".into(),
                );
            }
        }
        return Ok(());
    };
    if store.path.is_some() {
        return rule(
            "store.url",
            "store.path and store.url are both set: store.path selects the SQLite store, store.url (or TELEPHONY_DATABASE_URL) the PostgreSQL store; keep one".into(),
        );
    }
    check_url(url.expose())?;
    if let Some(n) = store.max_connections {
        if !(1..=1000).contains(&n) {
            return rule(
                "store.maxConnections",
                format!("{n} is out of range 1..=1000"),
            );
        }
    }
    if let Some(ms) = store.statement_timeout_ms {
        if ms > 3_600_000 {
            return rule(
                "store.statementTimeoutMs",
                format!("{ms} is out of range 0..=3600000 (0 leaves the server's setting)"),
            );
        }
    }
    let schema = config.store_schema();
    if let Some(why) = schema_problem(&schema) {
        return match &store.schema {
            Some(_) => rule("store.schema", format!("{schema:?} {why}")),
            None => rule(
                "store.schema",
                format!(
                    "the default schema {schema:?} (from the account name) {why}; set store.schema for this account"
                ),
            ),
        };
    }
    Ok(())
}

/// `store.url` is a PostgreSQL URL with known parameters and a valid `sslmode`.
fn check_url(url: &str) -> Result<(), ConfigError> {
    // The parser's errors never repeat the input.
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return rule("store.url", format!("is not a valid URL ({e})")),
    };
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return rule(
            "store.url",
            format!(
                "the scheme is {:?}; the store URL must start with postgres:// or postgresql:// (for SQLite, the default, set store.path instead)",
                parsed.scheme()
            ),
        );
    }
    for (key, value) in parsed.query_pairs() {
        if !URL_PARAMS.contains(&key.as_ref()) {
            return rule(
                "store.url",
                format!(
                    "unknown query parameter {key:?}; supported: {}",
                    URL_PARAMS.join(", ")
                ),
            );
        }
        if key == "sslmode" && !SSL_MODES.contains(&value.as_ref()) {
            return rule(
                "store.url",
                // The value is not quoted: query values are redacted everywhere.
                format!(
                    "its sslmode is not supported; use one of {}",
                    SSL_MODES.join(", ")
                ),
            );
        }
        if matches!(key.as_ref(), "sslrootcert" | "sslcert" | "sslkey")
            && !std::path::Path::new(value.as_ref()).is_file()
        {
            return rule(
                "store.url",
                format!("{key}: the file {value:?} does not exist"),
            );
        }
    }
    Ok(())
}
