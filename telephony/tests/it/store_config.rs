//! Selecting the store: `store.url` / `TELEPHONY_DATABASE_URL` select PostgreSQL (SQLite
//! stays the default), one schema per account, the URL a secret; and a server that starts
//! on PostgreSQL (with `TELEPHONY_TEST_POSTGRES`).

use std::time::Duration;

use telephony::config::{Config, StoreBackend};

use crate::support::{env, write};

fn rule_error(json5: &str) -> String {
    Config::from_json5_str(json5).unwrap_err().to_string()
}

#[test]
fn sqlite_stays_the_default() {
    let cfg = Config::from_json5_str("{}").unwrap();
    let StoreBackend::Sqlite { path } = cfg.store_backend() else {
        panic!("SQLite by default");
    };
    assert_eq!(path, std::path::Path::new("telephony-data/telephony.db"));
    assert_eq!(
        cfg.store_backend().describe(),
        "sqlite telephony-data/telephony.db"
    );
}

#[test]
fn store_url_selects_postgres_with_its_settings() {
    let cfg = Config::from_json5_str(
        r#"{ store: { url: "postgres://gw:pw@db.internal:5433/tel?sslmode=verify-full", maxConnections: 20, statementTimeoutMs: 5000, schema: "gw_main" } }"#,
    )
    .unwrap();
    let StoreBackend::Postgres(pg) = cfg.store_backend() else {
        panic!("PostgreSQL");
    };
    assert_eq!(
        pg.url.expose(),
        "postgres://gw:pw@db.internal:5433/tel?sslmode=verify-full"
    );
    assert_eq!(pg.schema, "gw_main");
    assert_eq!(pg.max_connections, 20);
    assert_eq!(pg.statement_timeout, Some(Duration::from_secs(5)));
    assert_eq!(pg.ssl_mode().as_deref(), Some("verify-full"));
    assert_eq!(
        cfg.store_backend().describe(),
        "postgres postgres://gw:[redacted]@db.internal:5433/tel?sslmode=[redacted] schema gw_main (sslmode verify-full)"
    );
    assert_eq!(
        cfg.store_backend().to_json(),
        serde_json::json!({
            "backend": "postgres",
            "url": "postgres://gw:[redacted]@db.internal:5433/tel?sslmode=[redacted]",
            "schema": "gw_main",
            "sslmode": "verify-full",
            "maxConnections": 20,
            "statementTimeoutMs": 5000,
        })
    );
    // Defaults; 0 leaves the server's statement_timeout.
    let cfg = Config::from_json5_str(
        r#"{ store: { url: "postgresql://gw@db/tel", statementTimeoutMs: 0 } }"#,
    )
    .unwrap();
    let StoreBackend::Postgres(pg) = cfg.store_backend() else {
        panic!("PostgreSQL");
    };
    assert_eq!(pg.schema, "telephony");
    assert_eq!(pg.max_connections, 10);
    assert_eq!(pg.statement_timeout, None);
    assert_eq!(pg.ssl_mode(), None);
    let cfg = Config::from_json5_str(r#"{ store: { url: "postgres://gw@db/tel" } }"#).unwrap();
    let StoreBackend::Postgres(pg) = cfg.store_backend() else {
        panic!("PostgreSQL");
    };
    assert_eq!(pg.statement_timeout, Some(Duration::from_secs(30)));
}

#[test]
fn the_url_is_a_secret_never_shown() {
    let cfg =
        Config::from_json5_str(r#"{ store: { url: "postgres://gw:hunter2@db/tel" } }"#).unwrap();
    let shown = format!(
        "{cfg:?} {:?} {} {}",
        cfg.store_backend(),
        cfg.store_backend().describe(),
        cfg.redacted_json()
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_eq!(cfg.redacted_json()["store"]["url"], "[redacted]");
}

#[test]
fn the_url_may_be_a_secret_ref() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "telephony.json5",
        r#"{ store: { url: { source: "env", provider: "default", id: "PG_URL" } } }"#,
    );
    let (cfg, _) =
        Config::load_with_env(Some(&file), &env(&[("PG_URL", "postgres://gw:pw@db/tel")])).unwrap();
    let StoreBackend::Postgres(pg) = cfg.store_backend() else {
        panic!("PostgreSQL");
    };
    assert_eq!(pg.url.expose(), "postgres://gw:pw@db/tel");
    let err = Config::load_with_env(Some(&file), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.url: cannot resolve the SecretRef { source: \"env\", provider: \"default\", id: \"PG_URL\" }: environment variable PG_URL is not set"),
        "{err}"
    );
}

#[test]
fn telephony_database_url_selects_postgres() {
    let (cfg, sources) = Config::load_with_env(
        None,
        &env(&[("TELEPHONY_DATABASE_URL", "postgres://gw:pw@db/tel")]),
    )
    .unwrap();
    assert_eq!(sources.env, vec!["TELEPHONY_DATABASE_URL".to_string()]);
    let StoreBackend::Postgres(pg) = cfg.store_backend() else {
        panic!("PostgreSQL");
    };
    assert_eq!(pg.url.expose(), "postgres://gw:pw@db/tel");
    assert_eq!(pg.schema, "telephony");
    // The environment wins over the file, as for every key.
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "telephony.json5",
        r#"{ store: { url: "postgres://file@db/tel", maxConnections: 3 } }"#,
    );
    let (cfg, _) = Config::load_with_env(
        Some(&file),
        &env(&[("TELEPHONY_DATABASE_URL", "postgres://env@db/tel")]),
    )
    .unwrap();
    let StoreBackend::Postgres(pg) = cfg.store_backend() else {
        panic!("PostgreSQL");
    };
    assert_eq!(pg.url.expose(), "postgres://env@db/tel");
    assert_eq!(pg.max_connections, 3);
    // An empty variable selects nothing.
    let (cfg, _) = Config::load_with_env(None, &env(&[("TELEPHONY_DATABASE_URL", "")])).unwrap();
    assert_eq!(cfg.store_backend().name(), "sqlite");
}

#[test]
fn store_errors_name_the_keys_and_the_fix() {
    assert_eq!(
        rule_error(r#"{ store: { path: "a.db", url: "postgres://db/tel" } }"#),
        "invalid configuration: store.url: store.path and store.url are both set: store.path selects the SQLite store, store.url (or TELEPHONY_DATABASE_URL) the PostgreSQL store; keep one"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "mysql://u:secret@db/tel" } }"#),
        "invalid configuration: store.url: the scheme is \"mysql\"; the store URL must start with postgres:// or postgresql:// (for SQLite, the default, set store.path instead)"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "not a url secret" } }"#),
        "invalid configuration: store.url: is not a valid URL (relative URL without a base)"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "postgres://db/tel?sslmode=allow" } }"#),
        "invalid configuration: store.url: its sslmode is not supported; use one of disable, prefer, require, verify-ca, verify-full"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "postgres://db/tel?sslmode=require&pool=3" } }"#),
        "invalid configuration: store.url: unknown query parameter \"pool\"; supported: sslmode, sslrootcert, sslcert, sslkey, application_name, options, statement-cache-capacity, host, hostaddr, port, dbname, user, password"
    );
    assert_eq!(
        rule_error(
            r#"{ store: { url: "postgres://db/tel?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem" } }"#
        ),
        "invalid configuration: store.url: sslrootcert: the file \"/nonexistent/ca.pem\" does not exist"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "postgres://db/tel", schema: "Main" } }"#),
        "invalid configuration: store.schema: \"Main\" is not a lowercase SQL identifier ([a-z_][a-z0-9_]*)"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "postgres://db/tel", schema: "pg_main" } }"#),
        "invalid configuration: store.schema: \"pg_main\" starts with pg_, which PostgreSQL reserves"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "postgres://db/tel", maxConnections: 0 } }"#),
        "invalid configuration: store.maxConnections: 0 is out of range 1..=1000"
    );
    assert_eq!(
        rule_error(r#"{ store: { url: "postgres://db/tel", statementTimeoutMs: 3600001 } }"#),
        "invalid configuration: store.statementTimeoutMs: 3600001 is out of range 0..=3600000 (0 leaves the server's setting)"
    );
    assert_eq!(
        rule_error(r#"{ store: { schema: "main" } }"#),
        "invalid configuration: store.schema: applies to the PostgreSQL store only; set store.url (or TELEPHONY_DATABASE_URL) too, or remove it"
    );
    assert_eq!(
        rule_error(r#"{ store: { maxConnections: 5 } }"#),
        "invalid configuration: store.maxConnections: applies to the PostgreSQL store only; set store.url (or TELEPHONY_DATABASE_URL) too, or remove it"
    );
    // Unknown keys keep failing.
    assert_eq!(
        rule_error(r#"{ store: { url: "postgres://db/tel", poolSize: 5 } }"#),
        "unknown key `store.poolSize` in JSON5 source string; expected one of `path`, `url`, `maxConnections`, `statementTimeoutMs`, `schema`, `retention`"
    );
    // Nothing of a URL is quoted in an error.
    for bad in [
        r#"{ store: { url: "mysql://u:secret@db/tel" } }"#,
        r#"{ store: { url: "not a url secret" } }"#,
        r#"{ store: { url: "postgres://u:secret@db/tel?sslmode=secret" } }"#,
    ] {
        let err = rule_error(bad);
        assert!(!err.contains("secret\""), "{err}");
        assert!(!err.contains("u:secret"), "{err}");
    }
}

const TWO_ACCOUNTS: &str = r#"
    twilio: { accountSid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", authToken: "one" },
    accounts: {
        support: { fromNumber: "+15550001111", serve: { path: "/sms/support", statusPath: "/sms/support/status", streamPath: "/sms/support/stream" } },
        "Sales-EU": { fromNumber: "+15550002222", serve: { path: "/sms/sales", statusPath: "/sms/sales/status", streamPath: "/sms/sales/stream" } },
    },"#;

#[test]
fn each_account_gets_its_own_schema() {
    let cfg = Config::from_json5_str(&format!(
        r#"{{ store: {{ url: "postgres://gw:pw@db/tel" }}, {TWO_ACCOUNTS} }}"#
    ))
    .unwrap();
    let schemas: Vec<(String, String)> = cfg
        .served_accounts()
        .iter()
        .map(|c| match c.store_backend() {
            StoreBackend::Postgres(pg) => (c.account.clone().unwrap(), pg.schema),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        schemas,
        [
            ("Sales-EU".to_string(), "telephony_sales_eu".to_string()),
            ("support".to_string(), "telephony_support".to_string()),
        ]
    );
    // One account may name its own schema; two may not share one.
    let cfg = Config::from_json5_str(&format!(
        r#"{{ store: {{ url: "postgres://gw:pw@db/tel" }}, {} }}"#,
        TWO_ACCOUNTS.replace(
            r#"support: { fromNumber"#,
            r#"support: { store: { schema: "help" }, fromNumber"#
        )
    ))
    .unwrap();
    assert_eq!(
        cfg.account_config("support")
            .unwrap()
            .store_backend()
            .describe(),
        "postgres postgres://gw:[redacted]@db/tel schema help (sslmode not set: PGSSLMODE, else prefer)"
    );
    let err = Config::from_json5_str(&format!(
        r#"{{ store: {{ url: "postgres://gw:pw@db/tel" }}, {} }}"#,
        TWO_ACCOUNTS
            .replace(
                r#"support: { fromNumber"#,
                r#"support: { store: { schema: "shared" }, fromNumber"#
            )
            .replace(
                r#""Sales-EU": { fromNumber"#,
                r#""Sales-EU": { store: { schema: "shared" }, fromNumber"#
            )
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "accounts.Sales-EU.store.schema and accounts.support.store.schema are the same schema (\"shared\") in the same database; each account keeps its own"
    );
    let err = Config::from_json5_str(&format!(
        r#"{{ store: {{ url: "postgres://gw:pw@db/tel", schema: "one" }}, {TWO_ACCOUNTS} }}"#
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "store.schema: with accounts, each account keeps its own schema; set accounts.NAME.store.schema per account, or leave it unset (telephony_NAME)"
    );
    // A name too long for a schema says what to set.
    let long = "a".repeat(60);
    let err = Config::from_json5_str(&format!(
        r#"{{ store: {{ url: "postgres://gw:pw@db/tel" }}, accounts: {{ {long}: {{}} }} }}"#
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid configuration: accounts.{long}.store.schema: the default schema \"telephony_{long}\" (from the account name) is longer than PostgreSQL's 63-byte identifier limit; set store.schema for this account"
        )
    );
}

/// The PostgreSQL server of the tests, or `None` when they are skipped (they fail in CI).
pub(crate) fn test_postgres() -> Option<String> {
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

/// A schema name no other test run uses.
pub(crate) fn unique_schema(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}_{}_{:x}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff
    )
}

#[tokio::test]
async fn the_server_starts_on_postgres() {
    let Some(url) = test_postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = unique_schema("it_server");
    let cfg = Config::from_json5_str(&format!(
        r#"{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?}, store: {{ url: {url:?}, schema: {schema:?}, maxConnections: 3 }} }}"#,
        dir.path().display().to_string()
    ))
    .unwrap();
    let gw = crate::support::start(&cfg).await.unwrap();
    let sms = telephony_twilio_simulator::InboundSms {
        account_sid: gw.runtime.sandbox_account_sid.clone().unwrap(),
        from: "+15550009999".into(),
        to: "+15005550006".into(),
        body: "stored in postgres".into(),
        message_sid: Some("SMpg0000000000000000000000000000".into()),
        media: Vec::new(),
    };
    assert_eq!(crate::support::post_inbound(&gw, &sms).await, 200);
    let store = gw.gateway.store().clone();
    let inbox = store
        .inbox(&telephony_core::InboxQuery::default())
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "stored in postgres");
    gw.shutdown().await;
    drop_schema(&url, &schema).await;
}

/// Drops a test's schema (and everything in it); says so when it cannot.
pub(crate) async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    let dropped = async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .await?;
        conn.close().await
    };
    if let Err(e) = dropped.await {
        eprintln!("could not drop the test schema {schema}: {e}");
    }
}
