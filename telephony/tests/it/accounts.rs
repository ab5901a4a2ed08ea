//! Native `accounts`: each account inherits the top-level keys it does not set, gets its
//! own store, and bad input (a process-wide key in an account, a shared path or store, an
//! unknown default) is an error naming the key.

use std::path::{Path, PathBuf};

use telephony::config::{Config, ProviderKind};

const SID_A: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SID_B: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn load(body: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gw.json5");
    std::fs::write(&p, body).unwrap();
    let env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_with_env(Some(&p), &env)
        .map(|(c, _)| c)
        .map_err(|e| e.to_string().replace(&p.display().to_string(), "gw.json5"))
}

fn two_accounts(extra_top: &str, extra_b: &str) -> String {
    format!(
        r#"{{ channels: {{ telephony: {{
            dataDir: "/var/lib/gw",
            fromNumber: "+15550001111",
            twilio: {{ accountSid: "{SID_A}", authToken: "token-a" }},
            {extra_top}
            accounts: {{
              a: {{ serve: {{ path: "/a/sms", statusPath: "/a/status", streamPath: "/a/stream" }} }},
              b: {{
                fromNumber: "+15550002222",
                twilio: {{ accountSid: "{SID_B}", authToken: {{ source: "env", provider: "default", id: "B_TOKEN" }} }},
                inboundPolicy: "allowlist", allowFrom: ["+15557654321"],
                serve: {{ path: "/b/sms", statusPath: "/b/status", streamPath: "/b/stream" }},
                {extra_b}
              }},
            }},
        }} }} }}"#
    )
}

#[test]
fn accounts_inherit_the_top_level_and_keep_their_own_store() {
    let cfg = load(
        &two_accounts(r#"defaultAccount: "b","#, ""),
        &[("B_TOKEN", "token-b")],
    )
    .unwrap();
    // The config loaded is the default account's.
    assert_eq!(cfg.account.as_deref(), Some("b"));
    assert_eq!(cfg.twilio.auth_token.as_ref().unwrap().expose(), "token-b");
    let a = cfg.account_config("a").unwrap();
    assert_eq!(a.twilio.account_sid.as_deref(), Some(SID_A));
    assert_eq!(a.twilio.auth_token.as_ref().unwrap().expose(), "token-a");
    assert_eq!(a.from_number.as_ref().unwrap().as_str(), "+15550001111");
    assert_eq!(a.serve.path, "/a/sms");
    assert_eq!(
        a.database_path(),
        Path::new("/var/lib/gw/accounts/a/telephony.db")
    );
    assert_eq!(a.data_dir(), PathBuf::from("/var/lib/gw"));
    let b = cfg.account_config("b").unwrap();
    assert_eq!(b.twilio.account_sid.as_deref(), Some(SID_B));
    assert_eq!(b.from_number.as_ref().unwrap().as_str(), "+15550002222");
    assert_eq!(b.allow_from, ["+15557654321"]);
    assert_eq!(
        b.database_path(),
        Path::new("/var/lib/gw/accounts/b/telephony.db")
    );
    // Secrets stay out of Debug and of the resolved JSON, for every account.
    let shown = format!("{cfg:?} {}", cfg.redacted_json());
    assert!(
        !shown.contains("token-a") && !shown.contains("token-b"),
        "{shown}"
    );
    let json = cfg.redacted_json();
    assert_eq!(json["accounts"]["a"]["serve"]["path"], "/a/sms");
    assert_eq!(json["accounts"]["b"]["twilio"]["authToken"], "[redacted]");
    assert_eq!(
        json["accounts"]["b"]["database"],
        "/var/lib/gw/accounts/b/telephony.db"
    );
}

#[test]
fn a_telnyx_account_beside_a_twilio_one() {
    let cfg = load(
        &two_accounts(
            "",
            r#"provider: "telnyx", telnyx: { apiKey: "KEYxyz", publicKey: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" },"#,
        ),
        &[("B_TOKEN", "token-b")],
    );
    // The webhook public key is RFC 8032's test key 1.
    let cfg = cfg.unwrap_or_else(|e| panic!("{e}"));
    // No defaultAccount and no account named "default": the first by name.
    assert_eq!(cfg.account.as_deref(), Some("a"));
    assert_eq!(cfg.provider, ProviderKind::Twilio);
    assert_eq!(
        cfg.account_config("b").unwrap().provider,
        ProviderKind::Telnyx
    );
}

#[test]
fn bad_accounts_are_errors_naming_the_key() {
    let cases: Vec<(String, &str)> = vec![
        (
            two_accounts("", r#"serve: { port: 4000, path: "/b/sms" },"#).replace(
                r#"serve: { path: "/b/sms", statusPath: "/b/status", streamPath: "/b/stream" },"#,
                "",
            ),
            "accounts.b.serve.port: belongs to the whole gateway (its listeners, admin API, tunnel and data directory), not to one account; set it at the top level",
        ),
        (
            two_accounts("", r#"admin: { port: 9 },"#),
            "accounts.b.admin: belongs to the whole gateway (its listeners, admin API, tunnel and data directory), not to one account; set it at the top level",
        ),
        (
            two_accounts("", "").replace("/b/status", "/a/status"),
            "accounts.a.serve.statusPath and accounts.b.serve.statusPath both use the path \"/a/status\"; give each account its own paths (serve.path, serve.statusPath, serve.streamPath)",
        ),
        (
            two_accounts(r#"store: { path: "/tmp/one.db" },"#, ""),
            "store.path: with accounts, each account keeps its own store; set accounts.NAME.store.path per account, or leave it unset ({dataDir}/accounts/NAME/telephony.db)",
        ),
        (
            two_accounts(
                "",
                r#"store: { path: "/var/lib/gw/accounts/a/telephony.db" },"#,
            ),
            "accounts.a.store.path and accounts.b.store.path are the same file (/var/lib/gw/accounts/a/telephony.db); each account keeps its own store",
        ),
        (
            two_accounts(r#"defaultAccount: "c","#, ""),
            "defaultAccount: \"c\" is not one of the configured accounts (a, b)",
        ),
        (
            two_accounts(r#"defaultAccount: "b","#, "enabled: false,"),
            "defaultAccount: \"b\" is disabled (accounts.b.enabled: false)",
        ),
        (
            two_accounts("", r#"fromNumber: 12,"#).replace(r#"fromNumber: "+15550002222","#, ""),
            "invalid type: found signed int `12`, expected a string for key \"accounts.b.fromNumber\" in ",
        ),
        (
            two_accounts("", "bogus: 1,"),
            "unknown key `accounts.b.bogus` in ",
        ),
        (
            two_accounts("", "").replace("b: {", "\"b c\": {"),
            "accounts.\"b c\": an account name is 1 to 64 letters, digits, '-' or '_' (it is part of paths and file names)",
        ),
        (
            r#"{ defaultAccount: "x" }"#.to_string(),
            "defaultAccount: \"x\" names an account, but accounts is not set",
        ),
    ];
    for (body, want) in cases {
        let e = load(&body, &[("B_TOKEN", "token-b")]).unwrap_err();
        assert!(e.contains(want), "want {want:?}\n got {e:?}");
        assert!(!e.contains("token-a") && !e.contains("token-b"), "{e}");
    }
}

#[test]
fn an_unresolvable_provider_credential_is_missing_in_its_account_only() {
    // Issue 19: the commands that do not talk to the provider (inbox, simulate, …) load a
    // config whose credential reference cannot be resolved here; `serve` and `config
    // check` name the key and the reference, never a value.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gw.json5");
    std::fs::write(&p, two_accounts("", "")).unwrap();
    let (cfg, sources) = Config::load_with_env(Some(&p), &[]).unwrap();
    let unresolved = &sources.dialect.unresolved_secrets;
    assert_eq!(unresolved.len(), 1, "{unresolved:?}");
    assert_eq!(
        unresolved[0].key,
        "channels.telephony.accounts.b.twilio.authToken"
    );
    assert_eq!(
        unresolved[0].reason,
        format!(
            "{}: channels.telephony.accounts.b.twilio.authToken: cannot resolve the SecretRef {{ source: \"env\", provider: \"default\", id: \"B_TOKEN\" }}: environment variable B_TOKEN is not set",
            p.display()
        )
    );
    // b is missing its token: it does not fall back to the top level's.
    let b = cfg.account_config("b").unwrap();
    assert_eq!(
        b.missing_credentials(),
        ["twilio.authToken (or TWILIO_AUTH_TOKEN)"]
    );
    let a = cfg.account_config("a").unwrap();
    assert!(a.missing_credentials().is_empty());
    assert_eq!(a.twilio.auth_token.as_ref().unwrap().expose(), "token-a");
    // A reference at a key that is not a provider credential still fails the load.
    let body = two_accounts(
        r#"forward: { url: "http://127.0.0.1:9/f", secret: { source: "env", id: "FWD" } },"#,
        "",
    );
    let e = load(&body, &[("B_TOKEN", "token-b")]).unwrap_err();
    assert!(e.contains("forward.secret") && e.contains("FWD"), "{e}");
}

#[test]
fn process_keys_changed_after_loading_apply_to_every_account() {
    let mut cfg = load(&two_accounts("", ""), &[("B_TOKEN", "token-b")]).unwrap();
    cfg.data_dir = Some(PathBuf::from("/srv/other"));
    cfg.serve.port = 0;
    let served = cfg.served_accounts();
    let seen: Vec<(Option<String>, u16, PathBuf)> = served
        .iter()
        .map(|c| (c.account.clone(), c.serve.port, c.database_path()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Some("a".to_string()),
                0,
                PathBuf::from("/srv/other/accounts/a/telephony.db")
            ),
            (
                Some("b".to_string()),
                0,
                PathBuf::from("/srv/other/accounts/b/telephony.db")
            ),
        ]
    );
    assert_eq!(
        cfg.account_config("b").unwrap().database_path(),
        Path::new("/srv/other/accounts/b/telephony.db")
    );
    // The account's own keys stay its own.
    assert_eq!(served[1].serve.path, "/b/sms");
}

#[test]
fn a_refused_setting_names_its_account_but_not_for_the_admin_listener() {
    use telephony::server::check_security;
    let cfg = load(
        &two_accounts(
            r#"serve: { bind: "0.0.0.0" }, publicUrl: "https://gw.example.com","#,
            "skipSignatureVerification: true,",
        ),
        &[("B_TOKEN", "token-b")],
    )
    .unwrap();
    let b = cfg.account_config("b").unwrap();
    assert_eq!(
        check_security(&b, false, true).unwrap_err().to_string(),
        "skipSignatureVerification: account b: refused because serve.bind 0.0.0.0 is not loopback; never disable signature checks on a public listener"
    );
    assert!(check_security(&cfg.account_config("a").unwrap(), false, true).is_ok());
    assert_eq!(
        check_security(&b, true, false).unwrap_err().to_string(),
        "admin.bind: 127.0.0.1 is not a loopback address, and the admin API can send messages: off loopback it needs admin.token and either admin.tls: { cert, key } (PEM files; clients connect with https) or admin.allowNetworks: [\"10.0.0.0/8\", …] (the only peers allowed to connect, for a private network behind a proxy); or bind it to 127.0.0.1"
    );
}
