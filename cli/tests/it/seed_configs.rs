//! Every JSON5 block of the seed documents that configures a channel, run through
//! `telephony config check --json`, with the resolved values each must give. The blocks are
//! kept verbatim in `telephony/tests/fixtures/seeds/` (see its README); when the seeds directory
//! (`../shared/seeds/` from the workspace root) exists, they must still match it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const AUTH_TOKEN_ENV: &str = "tok-env-5f1c9a"; // never printed by config check
const SID: &str = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const MG: &str = "MGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn fixtures_dir() -> PathBuf {
    workspace().join("telephony/tests/fixtures/seeds")
}

/// The JSON5 blocks of a seed document: markdown fences (```` ```json5 ````) and the
/// rendered pages' form (a line `json5`, the block on the next non-empty line).
fn json5_blocks(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match lines[i].trim() {
            "```json5" => {
                let mut j = i + 1;
                while lines[j].trim() != "```" {
                    j += 1;
                }
                out.push(lines[i + 1..j].join("\n"));
                i = j + 1;
            }
            "json5" => {
                let mut j = i + 1;
                while lines[j].trim().is_empty() {
                    j += 1;
                }
                out.push(lines[j].trim().to_string());
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

#[test]
fn fixtures_match_the_seed_documents() {
    let seeds = workspace().join("../shared/seeds");
    if !seeds.is_dir() {
        eprintln!("{} is absent: checking the fixtures alone", seeds.display());
        return;
    }
    let mut expected = Vec::new();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(&seeds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    docs.sort();
    assert_eq!(docs.len(), 5, "five seed documents in {}", seeds.display());
    for doc in docs {
        let stem = doc.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&doc).unwrap();
        let channel_blocks = json5_blocks(&text)
            .into_iter()
            .filter(|b| b.contains("channels"));
        for (n, block) in channel_blocks.enumerate() {
            expected.push((format!("{stem}.{}.json5", n + 1), format!("{block}\n")));
        }
    }
    let mut actual: Vec<(String, String)> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json5"))
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected);
}

/// `telephony config check --json` with only `env`, in an empty directory.
fn check(file: Option<&Path>, env: &[(&str, &str)]) -> (i32, Value, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telephony"));
    cmd.env_clear().current_dir(dir.path());
    if let Some(f) = file {
        cmd.arg("--config").arg(f);
    }
    // How each seed resolves, credentials or not (`--sandbox`: none needed).
    cmd.args(["config", "check", "--json", "--sandbox"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), json, stdout, stderr)
}

/// The values `config check` resolved that these tests compare.
fn resolved(v: &Value) -> Value {
    let c = &v["config"];
    json!({
        "dialect": v["dialect"],
        "account": v["defaultAccount"],
        "accounts": v["accounts"],
        "sender": v["sender"],
        "fromNumber": c["fromNumber"],
        "accountSid": c["twilio"]["accountSid"],
        "authToken": c["twilio"]["authToken"],
        "messagingServiceSid": c["twilio"]["messagingServiceSid"],
        "publicUrl": c["publicUrl"],
        "path": c["serve"]["path"],
        "statusPath": c["serve"]["statusPath"],
        "inboundPolicy": c["inboundPolicy"],
        "allowFrom": c["allowFrom"],
        "defaultTo": c["defaultTo"],
        "skipSignatureVerification": c["skipSignatureVerification"],
        "notImplemented": v["notImplemented"],
        "valid": v["valid"],
    })
}

/// The resolved values of seeds 001/004's first block; the others differ from it in a few keys.
fn sms_base() -> Value {
    json!({
        "dialect": "channels.sms",
        "account": null,
        "accounts": [],
        "sender": "fromNumber +15551234567",
        "fromNumber": "+15551234567",
        "accountSid": SID,
        "authToken": "[redacted]",
        "messagingServiceSid": null,
        "publicUrl": "https://gateway.example.com",
        "path": "/webhooks/sms",
        "statusPath": "/webhooks/sms/status",
        "inboundPolicy": "pairing",
        "allowFrom": [],
        "defaultTo": null,
        "skipSignatureVerification": false,
        "notImplemented": [],
        "valid": true,
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// What each block of seeds 001 and 004 (the same blocks, English and Japanese) resolves to,
/// and the environment it runs with (the seed's own, where the block relies on it).
fn sms_expectations() -> Vec<(Vec<(&'static str, &'static str)>, Value)> {
    vec![
        // 1: the quick-setup patch.
        (vec![], sms_base()),
        // 2: "Config file", the same keys.
        (vec![], sms_base()),
        // 3: "Environment variables": the channel only enabled; everything else from env.
        (
            vec![
                ("TWILIO_ACCOUNT_SID", SID),
                ("TWILIO_AUTH_TOKEN", AUTH_TOKEN_ENV),
                ("TWILIO_PHONE_NUMBER", "+15551234567"),
                (
                    "SMS_PUBLIC_WEBHOOK_URL",
                    "https://gateway.example.com/webhooks/sms",
                ),
            ],
            sms_base(),
        ),
        // 4: SecretRef auth token.
        (vec![("TWILIO_AUTH_TOKEN", AUTH_TOKEN_ENV)], sms_base()),
        // 5: allowlist-only.
        (
            vec![],
            with(
                sms_base(),
                json!({"inboundPolicy": "allowlist", "allowFrom": ["+15557654321"]}),
            ),
        ),
        // 6: Messaging Service sender.
        (
            vec![],
            with(
                sms_base(),
                json!({"fromNumber": null, "messagingServiceSid": MG, "sender": format!("Messaging Service {MG}")}),
            ),
        ),
        // 7: default outbound target (dmPolicy left to its default, pairing).
        (
            vec![],
            with(sms_base(), json!({"defaultTo": "+15557654321"})),
        ),
        // 8: signature validation off (loopback, no tunnel: allowed), nothing else.
        (
            vec![],
            json!({
                "dialect": "channels.sms", "account": null, "accounts": [],
                "sender": "none: set fromNumber or a Messaging Service SID",
                "fromNumber": null, "accountSid": null, "authToken": null,
                "messagingServiceSid": null, "publicUrl": null,
                "path": "/webhooks/sms", "statusPath": "/webhooks/sms/status",
                "inboundPolicy": "pairing", "allowFrom": [], "defaultTo": null,
                "skipSignatureVerification": true, "notImplemented": [], "valid": true,
            }),
        ),
        // 9: multi-account config with one account, which runs.
        (
            vec![],
            with(
                sms_base(),
                json!({
                    "account": "support", "accounts": ["support"],
                    "path": "/webhooks/sms/support", "statusPath": "/webhooks/sms/support/status",
                    "inboundPolicy": "allowlist", "allowFrom": ["+15557654321"],
                }),
            ),
        ),
    ]
}

fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

#[test]
fn openclaw_sms_channel_blocks_resolve_in_english_and_japanese() {
    for seed in ["001_a61fd9d19a2a657c", "004_b36b39740454ea2c"] {
        for (n, (env, expected)) in sms_expectations().into_iter().enumerate() {
            let name = format!("{seed}.{}.json5", n + 1);
            let (code, out, stdout, stderr) = check(Some(&fixture(&name)), &env);
            assert_eq!(code, 0, "{name}: {stderr}");
            assert_eq!(resolved(&out), expected, "{name}");
            assert!(
                !stdout.contains(AUTH_TOKEN_ENV) && !stdout.contains("twilio-auth-token"),
                "{name}: a secret in the output"
            );
        }
    }
}

#[test]
fn twilio_sms_plugin_blocks_resolve() {
    let base = json!({
        "dialect": "channels.\"twilio-sms\"",
        "account": null,
        "accounts": [],
        "sender": "fromNumber +15551230000",
        "fromNumber": "+15551230000",
        "accountSid": SID,
        "authToken": "[redacted]",
        "messagingServiceSid": null,
        "publicUrl": "https://sms.example.com",
        "path": "/twilio-sms/webhook",
        "statusPath": "/twilio-sms/webhook/status",
        "inboundPolicy": "pairing",
        "allowFrom": [],
        "defaultTo": null,
        "skipSignatureVerification": false,
        "notImplemented": [],
        "valid": true,
    });
    let cases = [
        base.clone(),
        with(
            base.clone(),
            json!({"fromNumber": null, "messagingServiceSid": MG, "publicUrl": null,
                   "sender": format!("Messaging Service {MG}")}),
        ),
        with(
            base.clone(),
            json!({"account": "alerts", "accounts": ["alerts"], "publicUrl": null}),
        ),
        json!({
            "dialect": "channels.\"twilio-sms\"", "account": null, "accounts": [],
            "sender": "none: set fromNumber or a Messaging Service SID",
            "fromNumber": null, "accountSid": null, "authToken": null,
            "messagingServiceSid": null, "publicUrl": null,
            "path": "/twilio-sms/webhook", "statusPath": "/twilio-sms/webhook/status",
            "inboundPolicy": "pairing", "allowFrom": ["+15551230001"], "defaultTo": null,
            "skipSignatureVerification": false, "notImplemented": [], "valid": true,
        }),
    ];
    for (n, expected) in cases.into_iter().enumerate() {
        let name = format!("002_93834b8cfbf58077.{}.json5", n + 1);
        let (code, out, stdout, stderr) = check(Some(&fixture(&name)), &[]);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(resolved(&out), expected, "{name}");
        // Seed 002 writes the placeholder "TWILIO_AUTH_TOKEN" as the token itself.
        assert!(!stdout.contains("\"TWILIO_AUTH_TOKEN\""), "{name}");
    }
}

#[test]
fn telephony_channel_blocks_resolve_or_stay_refused_without_a_public_url() {
    let creds = [
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN_ENV),
    ];
    // Blocks 1 and 2 bind 0.0.0.0 with neither publicUrl nor a tunnel: seed 003's
    // "Expose Your Webhook" step completes them; until then they are refused.
    for n in [1, 2] {
        let name = format!("003_48acdfbac8e6e090.{n}.json5");
        let (code, out, stdout, stderr) = check(Some(&fixture(&name)), &creds);
        assert_eq!(code, 2, "{name}: {stdout}");
        assert_eq!(out["valid"], json!(false), "{name}");
        assert_eq!(out["dialect"], json!("channels.telephony"), "{name}");
        assert!(
            stderr.contains("publicUrl") && stderr.contains("tunnel.provider"),
            "{name}: {stderr}"
        );
        assert!(!stdout.contains(AUTH_TOKEN_ENV) && !stderr.contains(AUTH_TOKEN_ENV));
    }
    let name = "003_48acdfbac8e6e090.3.json5";
    let (code, out, _, stderr) = check(Some(&fixture(name)), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        resolved(&out),
        json!({
            "dialect": "channels.telephony", "account": null, "accounts": [],
            "sender": format!("Messaging Service {MG}; it wins over fromNumber +15550001234 (twilio.messagingServiceSid wins in channels.telephony)"),
            "fromNumber": "+15550001234", "accountSid": SID, "authToken": "[redacted]",
            "messagingServiceSid": MG, "publicUrl": "https://your-domain.com",
            "path": "/telephony/webhook", "statusPath": "/telephony/status",
            "inboundPolicy": "pairing", "allowFrom": [], "defaultTo": null,
            "skipSignatureVerification": false, "notImplemented": [], "valid": true,
        })
    );
}

#[test]
fn sms_bridge_environment_alone_resolves() {
    let (code, out, stdout, stderr) = check(
        None,
        &[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN_ENV),
            ("TWILIO_PHONE_NUMBER", "+12025551234"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["dialect"], json!("environment only"));
    assert_eq!(out["file"], Value::Null);
    assert_eq!(
        out["env"],
        json!([
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_PHONE_NUMBER"
        ])
    );
    assert_eq!(out["sender"], json!("fromNumber +12025551234"));
    assert_eq!(out["config"]["fromNumber"], json!("+12025551234"));
    assert_eq!(out["config"]["twilio"]["authToken"], json!("[redacted]"));
    assert_eq!(out["missingCredentials"], json!([]));
    assert!(!stdout.contains(AUTH_TOKEN_ENV));
}

#[test]
fn an_unresolvable_secret_ref_is_a_config_error_naming_key_and_reference() {
    let name = "001_a61fd9d19a2a657c.4.json5";
    let (code, _, stdout, stderr) = check(Some(&fixture(name)), &[]);
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: {}: channels.sms.authToken: cannot resolve the SecretRef {{ source: \"env\", provider: \"default\", id: \"TWILIO_AUTH_TOKEN\" }}: environment variable TWILIO_AUTH_TOKEN is not set",
            fixture(name).display()
        )
    );
}

#[test]
fn migrate_prints_the_native_config_without_resolving_secret_refs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_telephony"))
        .env_clear()
        .current_dir(dir.path())
        .arg("--config")
        .arg(fixture("001_a61fd9d19a2a657c.4.json5"))
        .args(["config", "migrate", "--to", "json5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        r#"{
  channels: {
    telephony: {
      enabled: true,
      fromNumber: "+15551234567",
      inboundPolicy: "pairing",
      provider: "twilio",
      publicUrl: "https://gateway.example.com",
      serve: {
        path: "/webhooks/sms",
        statusPath: "/webhooks/sms/status",
      },
      twilio: {
        accountSid: "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        authToken: {
          id: "TWILIO_AUTH_TOKEN",
          provider: "default",
          source: "env",
        },
      },
    },
  },
}
"#
    );
    // Here TWILIO_AUTH_TOKEN is unset: migration still works, and says the config would not load.
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "note: with this environment the configuration does not load: {}: channels.sms.authToken: cannot resolve the SecretRef {{ source: \"env\", provider: \"default\", id: \"TWILIO_AUTH_TOKEN\" }}: environment variable TWILIO_AUTH_TOKEN is not set\n",
            fixture("001_a61fd9d19a2a657c.4.json5").display()
        )
    );
}
