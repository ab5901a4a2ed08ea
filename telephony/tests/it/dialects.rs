//! Config dialects (`channels.sms`, `channels."twilio-sms"`, env only) mapped onto the
//! native config: precedence rules, accounts, SecretRefs, TOML, migration, and bad input
//! that names the file, the key and what was expected.

use std::path::{Path, PathBuf};

use telephony::config::dialects::{self, migrate, to_json5, to_toml};
use telephony::config::{Config, ConfigSources, Dialect, InboundPolicy};

use crate::support::{env, write};

const SID: &str = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const MG: &str = "MGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

fn load(name: &str, body: &str, vars: &[(&str, &str)]) -> (Config, ConfigSources) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), name, body);
    Config::load_with_env(Some(&p), &env(vars)).unwrap()
}

fn load_err(name: &str, body: &str, vars: &[(&str, &str)]) -> (String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), name, body);
    let e = Config::load_with_env(Some(&p), &env(vars)).unwrap_err();
    // Keep the directory alive only as long as the message needs its path.
    (e.to_string(), p)
}

#[test]
fn sms_dialect_lets_from_number_win_and_telephony_lets_the_messaging_service_win() {
    let (sms, src) = load(
        "sms.json5",
        &format!(
            r#"{{ channels: {{ sms: {{ accountSid: "{SID}", authToken: "t", fromNumber: "+15551234567", messagingServiceSid: "{MG}", publicWebhookUrl: "https://gw.example.com/webhooks/sms" }} }} }}"#
        ),
        &[],
    );
    assert_eq!(src.dialect.dialect, Dialect::Sms);
    assert_eq!(sms.from_number.unwrap().as_str(), "+15551234567");
    assert_eq!(sms.twilio.messaging_service_sid, None);
    assert_eq!(
        src.dialect.sender_rule.as_deref(),
        Some(
            "channels.sms.fromNumber wins over channels.sms.messagingServiceSid in channels.sms; the Messaging Service is not used"
        )
    );
    let (tel, src) = load(
        "tel.json5",
        &format!(
            r#"{{ channels: {{ telephony: {{ fromNumber: "+15551234567", twilio: {{ accountSid: "{SID}", authToken: "t", messagingServiceSid: "{MG}" }} }} }} }}"#
        ),
        &[],
    );
    assert_eq!(src.dialect.dialect, Dialect::Telephony);
    assert_eq!(tel.twilio.messaging_service_sid.as_deref(), Some(MG));
    assert_eq!(tel.from_number.unwrap().as_str(), "+15551234567");
}

#[test]
fn sms_dialect_env_fills_the_running_account_and_from_number_still_wins_after_env() {
    // Seed 004: "after config and env resolution, fromNumber is used".
    let (cfg, src) = load(
        "sms.json5",
        &format!(r#"{{ channels: {{ sms: {{ messagingServiceSid: "{MG}" }} }} }}"#),
        &[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "env-token"),
            ("TWILIO_SMS_FROM", "+15550000001"),
            ("TWILIO_PHONE_NUMBER", "+15550000002"),
            (
                "SMS_PUBLIC_WEBHOOK_URL",
                "https://gw.example.com/hooks/sms?k=1",
            ),
        ],
    );
    assert_eq!(cfg.from_number.unwrap().as_str(), "+15550000002");
    assert_eq!(cfg.twilio.messaging_service_sid, None);
    assert_eq!(cfg.twilio.auth_token.unwrap().expose(), "env-token");
    assert_eq!(cfg.public_url.as_deref(), Some("https://gw.example.com"));
    assert_eq!(cfg.serve.path, "/hooks/sms");
    assert_eq!(cfg.serve.status_path, "/hooks/sms/status");
    assert_eq!(
        src.env,
        [
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_SMS_FROM",
            "TWILIO_PHONE_NUMBER",
            "SMS_PUBLIC_WEBHOOK_URL"
        ]
    );
}

#[test]
fn twilio_sms_reads_twilio_sms_from_and_text_chunk_limit() {
    let (cfg, src) = load(
        "p.json5",
        r#"{ channels: { "twilio-sms": { textChunkLimit: 800, dmPolicy: "allowlist", allowFrom: ["twilio:+15551230001"] } } }"#,
        &[("TWILIO_SMS_FROM", "+15551230000")],
    );
    assert_eq!(src.dialect.dialect, Dialect::TwilioSms);
    assert_eq!(cfg.from_number.unwrap().as_str(), "+15551230000");
    assert_eq!(cfg.text_chunk_limit, Some(800));
    assert_eq!(cfg.inbound_policy, InboundPolicy::Allowlist);
    assert_eq!(cfg.serve.path, "/twilio-sms/webhook");
}

#[test]
fn the_same_keys_load_from_toml() {
    let (cfg, src) = load(
        "sms.toml",
        &format!(
            "[channels.sms]\naccountSid = \"{SID}\"\nauthToken = {{ source = \"env\", provider = \"default\", id = \"TOK\" }}\nfromNumber = \"+15551234567\"\npublicWebhookUrl = \"https://gw.example.com/webhooks/sms\"\ndefaultTo = \"+15557654321\"\n"
        ),
        &[("TOK", "from-ref")],
    );
    assert_eq!(src.dialect.dialect, Dialect::Sms);
    assert_eq!(cfg.twilio.auth_token.unwrap().expose(), "from-ref");
    assert_eq!(cfg.default_to.as_deref(), Some("+15557654321"));
    assert_eq!(cfg.public_url.as_deref(), Some("https://gw.example.com"));
}

#[test]
fn native_secret_keys_take_secret_refs_too() {
    let dir = tempfile::tempdir().unwrap();
    let tok = write(dir.path(), "tok", "file-secret\n");
    let (cfg, _) = load(
        "n.json5",
        &format!(
            r#"{{ twilio: {{ authToken: {{ source: "file", id: "{}" }} }}, admin: {{ token: {{ source: "env", id: "ADMIN_TOK" }} }} }}"#,
            tok.display()
        ),
        &[("ADMIN_TOK", "adm")],
    );
    assert_eq!(cfg.twilio.auth_token.unwrap().expose(), "file-secret");
    assert_eq!(cfg.admin.token.unwrap().expose(), "adm");
    // A provider credential that cannot be resolved loads as missing, with the reason
    // (only the commands that talk to the provider need it).
    let (cfg, src) = load(
        "n.json5",
        r#"{ channels: { telephony: { twilio: { authToken: { source: "file", id: "/nonexistent/tok" } } } } }"#,
        &[],
    );
    assert!(
        cfg.missing_credentials()
            .contains(&"twilio.authToken (or TWILIO_AUTH_TOKEN)")
    );
    let file = src.file.as_ref().unwrap();
    assert_eq!(
        src.dialect.unresolved_secrets[0].reason,
        format!(
            "{}: channels.telephony.twilio.authToken: cannot resolve the SecretRef {{ source: \"file\", id: \"/nonexistent/tok\" }}: cannot read file /nonexistent/tok: No such file or directory (os error 2)",
            file.display()
        )
    );
    // Any other secret's reference still fails the load, naming the key and the file.
    let (e, p) = load_err(
        "t.json5",
        r#"{ channels: { telephony: { admin: { token: { source: "file", id: "/nonexistent/tok" } } } } }"#,
        &[],
    );
    assert_eq!(
        e,
        format!(
            "{}: channels.telephony.admin.token: cannot resolve the SecretRef {{ source: \"file\", id: \"/nonexistent/tok\" }}: cannot read file /nonexistent/tok: No such file or directory (os error 2)",
            p.display()
        )
    );
}

#[test]
fn every_account_is_served_with_its_own_keys_paths_and_store() {
    let body = format!(
        r#"{{ channels: {{ sms: {{ accountSid: "{SID}", authToken: "shared",
            defaultAccount: "support",
            accounts: {{
              support: {{ fromNumber: "+15551234567", webhookPath: "/webhooks/sms/support", publicWebhookUrl: "https://gw.example.com/webhooks/sms/support" }},
              billing: {{ fromNumber: "+15551234568", webhookPath: "/webhooks/sms/billing", authToken: "other", dmPolicy: "allowlist", allowFrom: ["+15557654321"] }},
            }} }} }} }}"#
    );
    let (cfg, src) = load("a.json5", &body, &[]);
    assert_eq!(src.dialect.accounts, ["billing", "support"]);
    assert_eq!(src.dialect.account.as_deref(), Some("support"));
    assert!(src.dialect.not_implemented.is_empty());
    // The config loaded is the default account's.
    assert_eq!(cfg.account.as_deref(), Some("support"));
    assert_eq!(cfg.default_account.as_deref(), Some("support"));
    assert_eq!(cfg.from_number.as_ref().unwrap().as_str(), "+15551234567");
    assert_eq!(cfg.twilio.auth_token.as_ref().unwrap().expose(), "shared");
    assert_eq!(cfg.serve.path, "/webhooks/sms/support");
    assert_eq!(cfg.serve.status_path, "/webhooks/sms/support/status");
    assert_eq!(cfg.serve.stream_path, "/webhooks/sms/support/stream");
    assert_eq!(cfg.public_url.as_deref(), Some("https://gw.example.com"));
    assert_eq!(
        cfg.database_path(),
        std::path::Path::new("telephony-data/accounts/support/telephony.db")
    );
    assert_eq!(cfg.account_names(), ["billing", "support"]);
    let served: Vec<_> = cfg
        .served_accounts()
        .iter()
        .map(|c| c.account.clone().unwrap())
        .collect();
    assert_eq!(served, ["billing", "support"]);

    // The other account: its own token, number, policy, paths and store; the channel's SID.
    let billing = cfg.account_config("billing").unwrap();
    assert_eq!(billing.account.as_deref(), Some("billing"));
    assert_eq!(billing.twilio.account_sid.as_deref(), Some(SID));
    assert_eq!(
        billing.twilio.auth_token.as_ref().unwrap().expose(),
        "other"
    );
    assert_eq!(
        billing.from_number.as_ref().unwrap().as_str(),
        "+15551234568"
    );
    assert_eq!(billing.inbound_policy, InboundPolicy::Allowlist);
    assert_eq!(cfg.inbound_policy, InboundPolicy::Pairing);
    assert_eq!(billing.serve.path, "/webhooks/sms/billing");
    assert_eq!(billing.serve.status_path, "/webhooks/sms/billing/status");
    assert_eq!(billing.public_url, None);
    assert_eq!(
        billing.database_path(),
        std::path::Path::new("telephony-data/accounts/billing/telephony.db")
    );
    assert!(!billing.is_default_account());
    assert!(cfg.is_default_account());
    assert_eq!(
        cfg.account_config("sales").unwrap_err().to_string(),
        "--account \"sales\": no such account; the accounts are billing, support"
    );

    // Without defaultAccount: the account named "default", else the first by name.
    let (cfg, src) = load(
        "a.json5",
        &body.replace("defaultAccount: \"support\",", ""),
        &[],
    );
    assert_eq!(cfg.account.as_deref(), Some("billing"));
    assert_eq!(src.dialect.account.as_deref(), Some("billing"));
    let (cfg, _) = load(
        "a.json5",
        &body
            .replace("defaultAccount: \"support\",", "")
            .replace("support: {", "default: {"),
        &[],
    );
    assert_eq!(cfg.account.as_deref(), Some("default"));
}

#[test]
fn bad_input_names_the_file_the_key_and_what_was_expected() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "mixed.json5",
            r#"{ channels: { sms: {}, telephony: {} } }"#,
            "channels mixes dialects (channels.\"sms\", channels.\"telephony\"); a gateway config uses exactly one of telephony, sms or \"twilio-sms\"",
        ),
        (
            "missing-default.json5",
            r#"{ channels: { "twilio-sms": { defaultAccount: "ops", accounts: { alerts: {}, sales: { publicUrl: "https://x.example.com/sales" } } } } }"#,
            "channels.\"twilio-sms\".defaultAccount: \"ops\" is not one of the configured accounts (alerts, sales)",
        ),
        (
            "same-path.json5",
            r#"{ channels: { sms: { defaultAccount: "a", accounts: { a: { webhookPath: "/hook" }, b: { webhookPath: "/hook" } } } } }"#,
            "channels.sms.accounts.a and channels.sms.accounts.b both use the path \"/hook\"; give each account its own webhookPath",
        ),
        (
            "same-default-path.json5",
            r#"{ channels: { "twilio-sms": { defaultAccount: "a", accounts: { a: {}, b: {} } } } }"#,
            "channels.\"twilio-sms\".accounts.a and channels.\"twilio-sms\".accounts.b both use the path \"/twilio-sms/webhook\"; give each account its own publicUrl path",
        ),
        (
            "unknown-channel.json5",
            r#"{ channels: { whatsapp: {} } }"#,
            "channels.\"whatsapp\" is not a configuration this gateway reads; expected telephony, sms or \"twilio-sms\"",
        ),
        (
            "nested.json5",
            r#"{ channels: { sms: { accounts: { a: { accounts: {} } } } } }"#,
            "channels.sms.accounts.a: an account may not have its own accounts or defaultAccount",
        ),
        (
            "bad-sid.json5",
            r#"{ channels: { sms: { accountSid: "nope" } } }"#,
            "channels.sms.accountSid: \"nope\" is not an Account SID (AC followed by 32 characters)",
        ),
        (
            "bad-policy.json5",
            r#"{ channels: { sms: { dmPolicy: "allowlist" } } }"#,
            "channels.sms.dmPolicy: ",
        ),
    ];
    for (name, body, expected) in cases {
        let (e, p) = load_err(name, body, &[]);
        let prefix = format!("{}: ", p.display());
        assert!(e.starts_with(&prefix), "{name}: {e}");
        assert!(
            e[prefix.len()..].starts_with(expected),
            "{name}: {e}\nexpected: {expected}"
        );
    }
}

#[test]
fn a_dialect_key_of_the_wrong_type_is_named_with_its_path_and_file() {
    let (e, p) = load_err(
        "t.json5",
        r#"{ channels: { sms: { dangerouslyDisableSignatureValidation: "yes" } } }"#,
        &[],
    );
    assert_eq!(
        e,
        format!(
            "invalid type: found string \"yes\", expected a boolean for key \"channels.sms.dangerouslyDisableSignatureValidation\" in {} JSON5 file",
            p.display()
        )
    );
    let (e, _) = load_err(
        "u.json5",
        r#"{ channels: { sms: { fromNumbr: "+1" } } }"#,
        &[],
    );
    assert!(
        e.starts_with("unknown key `channels.sms.fromNumbr` in "),
        "{e}"
    );
    assert!(
        e.ends_with("; did you mean `channels.sms.fromNumber`?"),
        "{e}"
    );
}

#[test]
fn secrets_stay_out_of_errors_debug_and_the_redacted_config() {
    let (cfg, src) = load(
        "s.json5",
        &format!(
            r#"{{ channels: {{ sms: {{ accountSid: "{SID}", authToken: {{ source: "env", provider: "default", id: "TOK" }}, fromNumber: "+15551234567" }} }} }}"#
        ),
        &[("TOK", "sekrit-value-77")],
    );
    assert_eq!(
        cfg.twilio.auth_token.as_ref().unwrap().expose(),
        "sekrit-value-77"
    );
    for text in [
        format!("{cfg:?}"),
        format!("{src:?}"),
        cfg.redacted_json().to_string(),
        serde_json::to_string(&src).unwrap(),
    ] {
        assert!(!text.contains("sekrit-value-77"), "{text}");
    }
    // A bad value next to a secret: the error does not quote the secret.
    let (e, _) = load_err(
        "s.json5",
        r#"{ channels: { sms: { authToken: "sekrit-value-77", fromNumber: 12 } } }"#,
        &[],
    );
    assert!(!e.contains("sekrit-value-77"), "{e}");
}

/// `native` (a `config migrate` output) written as JSON5 and as TOML and loaded back with
/// `vars`: each read as the native dialect, and resolving to what `before` resolved.
fn reloaded(
    dir: &Path,
    native: &serde_json::Value,
    vars: &[(String, String)],
    before: &Config,
) -> Vec<Config> {
    [
        ("native.json5", to_json5(native)),
        ("native.toml", to_toml(native).unwrap()),
    ]
    .into_iter()
    .map(|(name, text)| {
        let p = write(dir, name, &text);
        let (after, s) = Config::load_with_env(Some(&p), vars).unwrap();
        assert_eq!(s.dialect.dialect, Dialect::Telephony, "{name}");
        assert_eq!(after.redacted_json(), before.redacted_json(), "{name}");
        after
    })
    .collect()
}

#[test]
fn migrate_prints_a_native_config_that_loads_to_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(
        dir.path(),
        "sms.json5",
        &format!(
            r#"{{ channels: {{ sms: {{ accountSid: "{SID}", authToken: {{ source: "env", provider: "default", id: "TWILIO_AUTH_TOKEN" }}, fromNumber: "+15551234567", messagingServiceSid: "{MG}", publicWebhookUrl: "https://gw.example.com/webhooks/sms", dmPolicy: "allowlist", allowFrom: ["+15557654321"], defaultTo: "+15557654321" }} }} }}"#
        ),
    );
    let vars = env(&[("TWILIO_AUTH_TOKEN", "tok")]);
    let (before, _) = Config::load_with_env(Some(&src), &vars).unwrap();
    let (native, report) = migrate(&src, &vars).unwrap();
    assert_eq!(report.dialect, Dialect::Sms);
    assert_eq!(
        native,
        serde_json::json!({"channels": {"telephony": {
            "enabled": true,
            "provider": "twilio",
            "fromNumber": "+15551234567",
            "twilio": {"accountSid": SID, "authToken": {"source": "env", "provider": "default", "id": "TWILIO_AUTH_TOKEN"}},
            "inboundPolicy": "allowlist",
            "allowFrom": ["+15557654321"],
            "defaultTo": "+15557654321",
            "publicUrl": "https://gw.example.com",
            "serve": {"path": "/webhooks/sms", "statusPath": "/webhooks/sms/status"},
        }}})
    );
    for after in reloaded(dir.path(), &native, &vars, &before) {
        assert_eq!(after.twilio.auth_token.unwrap().expose(), "tok");
    }
}

#[test]
fn migrate_carries_every_account_over() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(
        dir.path(),
        "sms.json5",
        &format!(
            r#"{{ channels: {{ sms: {{ accountSid: "{SID}", authToken: "shared",
                accounts: {{
                  support: {{ fromNumber: "+15551234567", webhookPath: "/webhooks/sms/support" }},
                  billing: {{ fromNumber: "+15551234568", webhookPath: "/webhooks/sms/billing", authToken: {{ source: "env", provider: "default", id: "BILLING_TOKEN" }} }},
                }} }} }} }}"#
        ),
    );
    let vars = env(&[("BILLING_TOKEN", "tok-b")]);
    let (before, _) = Config::load_with_env(Some(&src), &vars).unwrap();
    let (native, report) = migrate(&src, &vars).unwrap();
    assert!(report.not_implemented.is_empty());
    let t = &native["channels"]["telephony"];
    assert_eq!(t["defaultAccount"], "billing");
    assert_eq!(
        t["accounts"]["billing"]["twilio"]["authToken"],
        serde_json::json!({"source": "env", "provider": "default", "id": "BILLING_TOKEN"})
    );
    assert_eq!(
        t["accounts"]["support"]["serve"],
        serde_json::json!({"path": "/webhooks/sms/support", "statusPath": "/webhooks/sms/support/status", "streamPath": "/webhooks/sms/support/stream"})
    );
    for after in reloaded(dir.path(), &native, &vars, &before) {
        let billing = after.account_config("billing").unwrap();
        assert_eq!(billing.twilio.auth_token.unwrap().expose(), "tok-b");
    }
}

#[test]
fn each_account_states_its_own_sender() {
    let (cfg, src) = load(
        "a.json5",
        &format!(
            r#"{{ channels: {{ sms: {{ accountSid: "{SID}", authToken: "t", defaultAccount: "support",
                accounts: {{
                  support: {{ fromNumber: "+15551234567", webhookPath: "/s" }},
                  alerts: {{ fromNumber: "+15551234568", messagingServiceSid: "{MG}", webhookPath: "/a" }},
                }} }} }} }}"#
        ),
        &[],
    );
    assert_eq!(
        dialects::sender_summary(&cfg, &src.dialect),
        "fromNumber +15551234567"
    );
    let alerts = cfg.account_config("alerts").unwrap();
    assert_eq!(alerts.twilio.messaging_service_sid, None);
    assert_eq!(
        dialects::sender_summary(&alerts, &src.dialect),
        "fromNumber +15551234568 (channels.sms.accounts.alerts.fromNumber wins over channels.sms.accounts.alerts.messagingServiceSid in channels.sms; the Messaging Service is not used)"
    );
    // The report's own rule is the default account's: it set none.
    assert_eq!(src.dialect.sender_rule, None);
}
