//! `telephony config check` never prints a secret: not in the resolved configuration (text
//! or `--json`), not in errors for bad files or bad environment values, not in its TRACE
//! logs. Every secret the config accepts gets a distinctive value, from a file and from the
//! environment.

use std::path::Path;
use std::process::Command;

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TW_AUTH_TOKEN: &str = "twAuthTOKENcli5x7v0b1";
const TW_API_KEY_SECRET: &str = "twKeySECRETcli6n3k9";
const TELNYX_API_KEY: &str = "KEYtelnyxSECRETcli4e8";
/// Base64 of 32 bytes (the RFC 8032 test 1 public key): a valid `telnyx.publicKey`.
const TELNYX_PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const FORWARD_SECRET: &str = "fwdSECRETcli3h7g2";
const NGROK_TOKEN: &str = "ngrokSECRETcli2b6v5";
const ADMIN_TOKEN: &str = "adminSECRETcli9e3w6";
const NUMERIC_SECRET: &str = "80706050403020100";

const SECRETS: &[&str] = &[
    TW_AUTH_TOKEN,
    TW_API_KEY_SECRET,
    TELNYX_API_KEY,
    TELNYX_PUBLIC_KEY,
    FORWARD_SECRET,
    NGROK_TOKEN,
    ADMIN_TOKEN,
    NUMERIC_SECRET,
];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}

/// `telephony` with a clean environment plus `env`, TRACE logging on, run in `dir`.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("TELEPHONY_LOG", "trace")
        .current_dir(dir)
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    crate::support::run(&mut c)
}

fn full_config() -> String {
    format!(
        r#"{{
            fromNumber: "+15550001234",
            twilio: {{
                accountSid: "{ACCOUNT_SID}",
                authToken: "{TW_AUTH_TOKEN}",
                apiKeySid: "SK0123456789abcdef0123456789abcdef",
                apiKeySecret: "{TW_API_KEY_SECRET}",
            }},
            telnyx: {{ apiKey: "{TELNYX_API_KEY}", publicKey: "{TELNYX_PUBLIC_KEY}" }},
            forward: {{ url: "http://127.0.0.1:9/forward", secret: "{FORWARD_SECRET}" }},
            tunnel: {{ provider: "ngrok", ngrokAuthToken: "{NGROK_TOKEN}" }},
            admin: {{ token: "{ADMIN_TOKEN}" }},
        }}"#
    )
}

#[test]
fn config_check_output_and_logs_never_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("telephony.json5");
    std::fs::write(&file, full_config()).unwrap();
    let file = file.to_str().unwrap();

    let (code, out, err) = run(
        dir.path(),
        &["config", "check", "--verbose", "--config", file],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"authToken\": \"[redacted]\""), "{out}");
    assert!(out.contains("\"publicKey\": \"[redacted]\""), "{out}");
    assert_clean("config check", &out);
    assert_clean("config check's logs", &err);

    let (code, out, err) = run(
        dir.path(),
        &["config", "check", "--json", "--config", file],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (section, key) in [
        ("twilio", "authToken"),
        ("twilio", "apiKeySecret"),
        ("telnyx", "apiKey"),
        ("telnyx", "publicKey"),
        ("forward", "secret"),
        ("tunnel", "ngrokAuthToken"),
        ("admin", "token"),
    ] {
        assert_eq!(v["config"][section][key], "[redacted]", "{section}.{key}");
    }
    assert_clean("config check --json", &out);
    assert_clean("config check --json's logs", &err);
}

#[test]
fn config_check_from_the_environment_never_shows_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", TW_AUTH_TOKEN),
        ("TWILIO_PHONE_NUMBER", "+15550001234"),
        ("TELNYX_API_KEY", TELNYX_API_KEY),
        ("TELNYX_PUBLIC_KEY", TELNYX_PUBLIC_KEY),
        ("NGROK_AUTHTOKEN", NGROK_TOKEN),
        // All digits: the environment parser types it as a number.
        ("TELEPHONY_ADMIN__TOKEN", NUMERIC_SECRET),
        ("TELEPHONY_FORWARD__URL", "http://127.0.0.1:9/"),
        ("TELEPHONY_FORWARD__SECRET", FORWARD_SECRET),
    ];
    let (code, out, err) = run(dir.path(), &["config", "check", "--json"], &env);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["admin"]["token"], "[redacted]");
    assert_eq!(v["env"].as_array().unwrap().len(), env.len());
    assert_clean("config check (env)", &out);
    assert_clean("config check (env) logs", &err);
}

#[test]
fn config_errors_never_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, expect) in [
        (
            "syntax.json5",
            format!("{{\n  twilio: {{ authToken: \"{TW_AUTH_TOKEN}\" oops }}\n}}"),
            "2:",
        ),
        (
            "syntax.toml",
            format!("[admin]\ntoken = \"{ADMIN_TOKEN}\" oops\n"),
            "line 2",
        ),
        (
            "type.json5",
            format!(
                "{{ forward: {{ url: \"http://127.0.0.1:9/\", secret: {NUMERIC_SECRET}.5 }} }}"
            ),
            "secret",
        ),
        (
            "key.json5",
            format!("{{ telnyx: {{ publicKey: \"{NGROK_TOKEN}\" }} }}"),
            "telnyx.publicKey",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = run(
            dir.path(),
            &["config", "check", "--config", path.to_str().unwrap()],
            &[],
        );
        assert_ne!(code, 0, "{name}: {out}{err}");
        assert!(err.contains(expect), "{name}: the error says where: {err}");
        assert_clean(&format!("config check of {name}"), &format!("{out}{err}"));
    }
}
