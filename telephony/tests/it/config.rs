//! Configuration loading: the seed guide's full example, TOML, environment, and errors
//! that name the key and the file.

use std::path::{Path, PathBuf};

use telephony::config::{ChunkModeName, Config, ConfigError, InboundPolicy};

use crate::support::{env, write};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn assert_full_example(cfg: &Config) {
    assert!(cfg.enabled);
    assert_eq!(cfg.from_number.as_ref().unwrap().as_str(), "+15550001234");
    assert_eq!(cfg.inbound_policy, InboundPolicy::Pairing);
    assert!(cfg.allow_from.is_empty());
    assert_eq!(
        cfg.twilio.account_sid.as_deref(),
        Some("ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
    );
    assert_eq!(
        cfg.twilio.auth_token.as_ref().unwrap().expose(),
        "your_auth_token"
    );
    assert_eq!(
        cfg.twilio.messaging_service_sid.as_deref(),
        Some("MGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
    );
    assert_eq!(cfg.sms.chunk_mode, ChunkModeName::Auto);
    assert_eq!(cfg.sms.max_length, Some(1600));
    assert!(cfg.sms.segment_numbering);
    assert_eq!(cfg.voice.enabled, Some(true));
    assert_eq!(cfg.voice.max_duration_seconds, Some(300));
    assert_eq!(cfg.serve.port, 3335);
    assert_eq!(cfg.serve.bind, "0.0.0.0");
    assert_eq!(cfg.serve.path, "/telephony/webhook");
    assert_eq!(cfg.serve.status_path, "/telephony/status");
    let t = cfg.tunnel.as_ref().unwrap();
    assert_eq!(t.provider.as_deref(), Some("ngrok"));
    assert_eq!(
        t.ngrok_auth_token.as_ref().unwrap().expose(),
        "your_ngrok_token"
    );
    assert_eq!(cfg.webhook_security.allowed_hosts, ["your-domain.com"]);
    assert!(!cfg.webhook_security.trust_forwarding_headers);
    assert_eq!(cfg.public_url.as_deref(), Some("https://your-domain.com"));
    assert!(!cfg.skip_signature_verification);
    assert_eq!(cfg.max_concurrent_sessions, Some(50));
}

#[test]
fn seed_full_example_loads_as_written() {
    let (cfg, src) = Config::load_with_env(Some(&fixture("seed003_full.json5")), &[]).unwrap();
    assert_full_example(&cfg);
    assert_eq!(src.file, Some(fixture("seed003_full.json5")));
    // The seed lists both an ngrok tunnel and publicUrl: the tunnel's URL wins.
    let inactive: Vec<(String, &str)> = cfg
        .inactive_keys()
        .into_iter()
        .map(|k| (k.key, k.reason))
        .collect();
    assert_eq!(
        inactive,
        [(
            "publicUrl".to_string(),
            "has no effect while tunnel.provider starts a tunnel: the tunnel's URL is the public URL (signed, and given to the provider)"
        )]
    );
    assert_eq!(cfg.tunnel_provider(), Some("ngrok"));
    assert!(cfg.missing_credentials().is_empty());
    // Seed 003's voice keys are live: enabled, 300 s, 50 sessions.
    let v = cfg.voice.settings(cfg.max_concurrent_sessions);
    assert!(v.enabled);
    assert_eq!(v.max_duration, Some(std::time::Duration::from_secs(300)));
    assert_eq!(v.max_concurrent_sessions, Some(50));
    assert_eq!(v.handler_timeout, std::time::Duration::from_millis(8000));
}

#[test]
fn voice_keys_are_read_checked_and_reported_when_voice_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telephony.json5");
    std::fs::write(
        &path,
        r#"{ voice: { enabled: true, greeting: "Hi, Ada's line.", closing: "Bye!", voice: "Polly.Joanna",
             language: "en-GB", maxDurationSeconds: 0, handlerTimeoutMs: 5000 }, maxConcurrentSessions: 3 }"#,
    )
    .unwrap();
    let (cfg, _) = Config::load_with_env(Some(&path), &[]).unwrap();
    let v = cfg.voice.settings(cfg.max_concurrent_sessions);
    assert_eq!(
        (
            v.greeting.as_str(),
            v.closing.as_str(),
            v.voice.as_deref(),
            v.language.as_deref()
        ),
        (
            "Hi, Ada's line.",
            "Bye!",
            Some("Polly.Joanna"),
            Some("en-GB")
        )
    );
    assert_eq!(v.max_duration, None);
    assert_eq!(v.handler_timeout, std::time::Duration::from_millis(5000));
    assert_eq!(v.max_concurrent_sessions, Some(3));
    assert!(cfg.inactive_keys().is_empty());

    std::fs::write(
        &path,
        r#"{ voice: { enabled: true, mode: "stream", streamUrl: "ws://127.0.0.1:9000/media" } }"#,
    )
    .unwrap();
    let (cfg, _) = Config::load_with_env(Some(&path), &[]).unwrap();
    let v = cfg.voice.settings(cfg.max_concurrent_sessions);
    assert_eq!(v.mode, telephony_serve::VoiceMode::Stream);
    assert_eq!(v.stream_url.as_deref(), Some("ws://127.0.0.1:9000/media"));
    assert_eq!(v.on_machine, telephony_serve::OnMachine::Continue);

    std::fs::write(
        &path,
        r#"{ voice: { onMachine: "message", voicemailMessage: "Call us back." } }"#,
    )
    .unwrap();
    let (cfg, _) = Config::load_with_env(Some(&path), &[]).unwrap();
    let v = cfg.voice.settings(cfg.max_concurrent_sessions);
    assert_eq!(v.on_machine, telephony_serve::OnMachine::Message);
    assert_eq!(v.voicemail_message.as_deref(), Some("Call us back."));

    for (text, key, reason) in [
        (
            r#"{ voice: { handlerTimeoutMs: 20000 } }"#,
            "voice.handlerTimeoutMs",
            "20000 is out of range 100..=14000 (Twilio gives up on an answer after 15 s)",
        ),
        (
            r#"{ maxConcurrentSessions: 0 }"#,
            "maxConcurrentSessions",
            "must be at least 1 (set voice.enabled to false to refuse every call)",
        ),
        (
            r#"{ voice: { greeting: "  " } }"#,
            "voice.greeting",
            "must not be empty",
        ),
        (
            r#"{ voice: { mode: "stream" } }"#,
            "voice.streamUrl",
            "voice.mode \"stream\" needs voice.streamUrl: the ws:// URL of the application's Media Streams WebSocket",
        ),
        (
            r#"{ voice: { mode: "stream", streamUrl: "wss://app.example/media" } }"#,
            "voice.streamUrl",
            "\"wss://app.example/media\" must be a ws:// URL (the application's WebSocket, usually on this host)",
        ),
        (
            r#"{ voice: { mode: "live" } }"#,
            "voice.mode",
            "unknown mode \"live\"; expected gather, relay or stream",
        ),
        (
            r#"{ voice: { onMachine: "message" } }"#,
            "voice.voicemailMessage",
            "voice.onMachine \"message\" needs voice.voicemailMessage: what to say after the beep",
        ),
        (
            r#"{ voice: { onMachine: "drop" } }"#,
            "voice.onMachine",
            "unknown value \"drop\"; expected continue, hangup or message",
        ),
        (
            r#"{ voice: { onMachine: "message", voicemailMessage: " " } }"#,
            "voice.voicemailMessage",
            "must not be empty",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Config::load_with_env(Some(&path), &[]).unwrap_err();
        match err {
            telephony::config::ConfigError::Rule { key: k, reason: r } => {
                assert_eq!((k.as_str(), r.as_str()), (key, reason), "{text}")
            }
            other => panic!("{text}: {other}"),
        }
    }
    std::fs::write(&path, r#"{ voice: { greting: "typo" } }"#).unwrap();
    let err = Config::load_with_env(Some(&path), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("greting"), "{err}");

    std::fs::write(
        &path,
        r#"{ voice: { greeting: "Hi" }, maxConcurrentSessions: 2 }"#,
    )
    .unwrap();
    let (cfg, _) = Config::load_with_env(Some(&path), &[]).unwrap();
    let inactive: Vec<String> = cfg.inactive_keys().into_iter().map(|k| k.key).collect();
    assert_eq!(inactive, ["voice.greeting", "maxConcurrentSessions"]);
}

#[test]
fn same_keys_in_toml() {
    let (cfg, _) = Config::load_with_env(Some(&fixture("full.toml")), &[]).unwrap();
    assert_full_example(&cfg);
}

#[test]
fn wrapper_is_optional_and_defaults_apply() {
    let cfg = Config::from_json5_str("{ fromNumber: '+15550001234' }").unwrap();
    assert_eq!(cfg.serve.port, 3335);
    assert_eq!(cfg.serve.bind, "127.0.0.1");
    assert_eq!(cfg.serve.path, "/telephony/webhook");
    assert_eq!(cfg.serve.status_path, "/telephony/status");
    assert_eq!(cfg.admin.port, 3336);
    assert_eq!(cfg.admin.bind, "127.0.0.1");
    assert_eq!(cfg.inbound_policy, InboundPolicy::Pairing);
    assert_eq!(
        cfg.database_path(),
        PathBuf::from("telephony-data/telephony.db")
    );
    let cfg =
        Config::from_json5_str("{ dmPolicy: 'allowlist', allowFrom: ['+15557654321'] }").unwrap();
    assert_eq!(cfg.inbound_policy, InboundPolicy::Allowlist);
}

#[test]
fn policy_rules_name_the_value() {
    let e = |s: &str| Config::from_json5_str(s).unwrap_err().to_string();
    assert_eq!(
        e("{ inboundPolicy: 'open' }"),
        "invalid configuration: inboundPolicy: inboundPolicy \"open\" requires allowFrom to contain \"*\" (to make public access explicit)"
    );
    assert_eq!(
        e("{ inboundPolicy: 'allowlist' }"),
        "invalid configuration: inboundPolicy: inboundPolicy \"allowlist\" requires at least one number in allowFrom"
    );
    assert_eq!(
        e("{ allowFrom: ['+1555', 'x'] }"),
        "invalid configuration: allowFrom: allowFrom entry \"+1555\" is not an E.164 phone number: phone number \"+1555\" has 4 digits; E.164 numbers have 7 to 15 digits after the '+'"
    );
    assert!(
        e("{ inboundPolicy: 'everyone' }")
            .starts_with("unknown value `everyone` for `inboundPolicy` in "),
        "{}",
        e("{ inboundPolicy: 'everyone' }")
    );
    assert!(
        e("{ inboundPolicy: 'everyone' }")
            .ends_with("; expected one of `pairing`, `allowlist`, `open`, `disabled`"),
        "{}",
        e("{ inboundPolicy: 'everyone' }")
    );
    assert!(
        e("{ inboundPolicy: 'alowlist' }").ends_with("; did you mean `allowlist`?"),
        "{}",
        e("{ inboundPolicy: 'alowlist' }")
    );
    assert_eq!(
        e("{ forward: { url: 'hooks.example.com' } }"),
        "invalid configuration: forward.url: invalid public URL \"hooks.example.com\": must start with https:// or http://"
    );
    for n in [0, 1001] {
        assert_eq!(
            e(&format!(
                "{{ forward: {{ url: 'https://hooks.example.com/e', maxBatch: {n} }} }}"
            )),
            format!("invalid configuration: forward.maxBatch: {n} is out of range 1..=1000")
        );
    }
    let ok = Config::from_json5_str("{ inboundPolicy: 'open', allowFrom: ['*'], sms: { chunkMode: 'multi', segmentNumbering: true }, textChunkLimit: 1530 }").unwrap();
    let o = ok.chunk_options();
    assert_eq!((o.max_length, o.segment_numbering), (1530, true));
    assert_eq!(o.mode, telephony_core::sms::ChunkMode::Multi);
}

#[test]
fn environment_variables() {
    let (cfg, src) = Config::load_with_env(
        None,
        &env(&[
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_SMS_FROM", "+15550000001"),
            (
                "TWILIO_MESSAGING_SERVICE_SID",
                "MG0123456789abcdef0123456789abcdef",
            ),
            ("TELEPHONY_SERVE__PORT", "4000"),
            ("TELEPHONY_SERVE__STATUS_PATH", "/s"),
            ("TELEPHONY_PUBLIC_URL", "https://example.com"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(
        cfg.twilio.account_sid.as_deref(),
        Some("AC0123456789abcdef0123456789abcdef")
    );
    assert_eq!(cfg.twilio.auth_token.as_ref().unwrap().expose(), "tok");
    assert_eq!(cfg.from_number.as_ref().unwrap().as_str(), "+15550000001");
    assert_eq!(
        cfg.twilio.messaging_service_sid.as_deref(),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(cfg.serve.port, 4000);
    assert_eq!(cfg.serve.status_path, "/s");
    assert_eq!(cfg.public_url.as_deref(), Some("https://example.com"));
    assert_eq!(
        src.env,
        [
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_SMS_FROM",
            "TWILIO_MESSAGING_SERVICE_SID",
            "TELEPHONY_PUBLIC_URL",
            "TELEPHONY_SERVE__PORT",
            "TELEPHONY_SERVE__STATUS_PATH"
        ]
    );
    // TWILIO_PHONE_NUMBER wins over its alias TWILIO_SMS_FROM; env wins over the file.
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "c.json5", "{ fromNumber: '+15550000009' }");
    let (cfg, _) = Config::load_with_env(
        Some(&f),
        &env(&[
            ("TWILIO_SMS_FROM", "+15550000001"),
            ("TWILIO_PHONE_NUMBER", "+15550000002"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.from_number.unwrap().as_str(), "+15550000002");
}

fn err_of(body: &str, name: &str) -> (String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), name, body);
    let e = Config::load_with_env(Some(&f), &[]).unwrap_err();
    (e.to_string(), f)
}

#[test]
fn cli_variables_are_not_config_and_env_errors_name_the_variables() {
    let (cfg, src) = Config::load_with_env(
        None,
        &env(&[("TELEPHONY_LOG", "warn"), ("TELEPHONY_CONFIG", "x.json5")]),
    )
    .unwrap();
    assert_eq!(cfg.serve.port, 3335);
    assert!(src.env.is_empty());
    let e = Config::load_with_env(None, &env(&[("TELEPHONY_SERVE__PROT", "1")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown key `serve.prot` in environment variables (TELEPHONY_SERVE__PROT); did you mean `serve.port`?"
    );
    let e = Config::load_with_env(None, &env(&[("TELEPHONY_SERVE__PORT", "abc")])).unwrap_err();
    assert!(
        e.to_string()
            .contains("for key \"serve.port\" in environment variables (TELEPHONY_SERVE__PORT)"),
        "{e}"
    );
}

#[test]
fn unknown_keys_name_the_key_and_file() {
    let (e, f) = err_of(
        "{ channels: { telephony: { serve: { prot: 3335 } } } }",
        "a.json5",
    );
    // The native key, the absolute file and its line, the nearest key (issue 19: no
    // nested backticks, no relative path).
    assert_eq!(
        e,
        format!(
            "unknown key `serve.prot` in {}:1; did you mean `serve.port`?",
            f.display()
        )
    );
    let (e, f) = err_of("\n\nfromNumbr = \"+15550001234\"\n", "b.toml");
    assert_eq!(
        e,
        format!(
            "unknown key `fromNumbr` in {}:3; did you mean `fromNumber`?",
            f.display()
        )
    );
    let (e, f) = err_of("{\n  sevre: { port: 1 },\n}\n", "typo.json5");
    assert_eq!(
        e,
        format!(
            "unknown key `sevre` in {}:2; did you mean `serve`?",
            f.display()
        )
    );
    // Nothing near: the keys that are known.
    let (e, _) = err_of("{ serve: { frobnicate: 1 } }", "d.json5");
    assert!(e.contains("; expected one of `port`, "), "{e}");
    assert!(!e.contains("did you mean"), "{e}");
    // `channels.sms` is a dialect now (the dialects module); an unknown channel stays an error.
    let (e, f) = err_of("{ channels: { fax: {} } }", "c.json5");
    assert_eq!(
        e,
        format!(
            "{}: channels.\"fax\" is not a configuration this gateway reads; expected telephony, sms or \"twilio-sms\"",
            f.display()
        )
    );
}

#[test]
fn bad_values_name_the_key_and_file() {
    let (e, f) = err_of("{ serve: { port: 'abc' } }", "a.json5");
    assert!(e.contains("for key \"serve.port\""), "{e}");
    assert!(e.contains(&f.display().to_string()), "{e}");
    let (e, _) = err_of("{ fromNumber: '5550001234' }", "b.json5");
    assert!(e.contains("for key \"fromNumber\""), "{e}");
    assert!(e.contains("no country code"), "{e}");
    let (e, f) = err_of("{ inboundPolicy: 'everyone' }", "c.json5");
    assert_eq!(
        e,
        format!(
            "unknown value `everyone` for `inboundPolicy` in {}:1; expected one of `pairing`, `allowlist`, `open`, `disabled`",
            f.display()
        )
    );
    let e = Config::from_json5_str("{ publicUrl: 'your-domain.com' }").unwrap_err();
    assert!(
        matches!(e, ConfigError::Rule { ref key, .. } if key == "publicUrl"),
        "{e}"
    );
    let e = Config::from_json5_str("{ twilio: { accountSid: 'AB123' } }").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid configuration: twilio.accountSid: \"AB123\" is not an Account SID (AC followed by 32 characters)"
    );
    let e = Config::from_json5_str("{ sms: { maxLength: 2000 } }").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid configuration: sms.maxLength: 2000 is out of range 1..=1600 (twilio's body limit)"
    );
    let dir = tempfile::tempdir().unwrap();
    let e = Config::load_with_env(Some(&dir.path().join("missing.json5")), &[]).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn secrets_are_redacted_everywhere() {
    let (cfg, _) = Config::load_with_env(Some(&fixture("seed003_full.json5")), &[]).unwrap();
    let json = cfg.redacted_json().to_string();
    assert!(!json.contains("your_auth_token"), "{json}");
    assert!(!json.contains("your_ngrok_token"), "{json}");
    assert!(json.contains("[redacted]"));
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("your_auth_token"), "{dbg}");
    assert!(!dbg.contains("your_ngrok_token"), "{dbg}");
}

#[test]
fn listener_limits_default_and_are_range_checked_by_key() {
    let cfg = Config::from_json5_str("{}").unwrap();
    let l = cfg.serve.listener_limits();
    assert_eq!(l, telephony::listener::ListenerLimits::default());
    assert_eq!(l.header_timeout, std::time::Duration::from_millis(10_000));
    assert_eq!(l.request_timeout, std::time::Duration::from_millis(30_000));
    assert_eq!(l.idle_timeout, std::time::Duration::from_millis(60_000));
    assert_eq!(l.max_header_bytes, 16_384);
    assert_eq!((l.max_connections, l.max_in_flight), (1024, 256));
    assert_eq!(cfg.serve.max_body_bytes, 65_536);

    let cfg = Config::from_json5_str(
        "{ serve: { headerTimeoutMs: 300, requestTimeoutMs: 800, idleTimeoutMs: 500, maxHeaderBytes: 8192, maxBodyBytes: 2048, maxConnections: 40, maxInFlight: 40 } }",
    )
    .unwrap();
    let l = cfg.serve.listener_limits();
    assert_eq!(l.header_timeout, std::time::Duration::from_millis(300));
    assert_eq!(l.request_timeout, std::time::Duration::from_millis(800));
    assert_eq!(l.idle_timeout, std::time::Duration::from_millis(500));
    assert_eq!(
        (l.max_header_bytes, l.max_connections, l.max_in_flight),
        (8192, 40, 40)
    );
    assert_eq!(cfg.serve.max_body_bytes, 2048);

    let rule = |body: &str| match Config::from_json5_str(body).unwrap_err() {
        ConfigError::Rule { key, reason } => format!("{key}: {reason}"),
        other => panic!("{other}"),
    };
    assert_eq!(
        rule("{ serve: { headerTimeoutMs: 50 } }"),
        "serve.headerTimeoutMs: 50 is out of range 100..=300000"
    );
    assert_eq!(
        rule("{ serve: { requestTimeoutMs: 0 } }"),
        "serve.requestTimeoutMs: 0 is out of range 100..=600000"
    );
    assert_eq!(
        rule("{ serve: { idleTimeoutMs: 4000000 } }"),
        "serve.idleTimeoutMs: 4000000 is out of range 100..=3600000"
    );
    assert_eq!(
        rule("{ serve: { maxHeaderBytes: 1000 } }"),
        "serve.maxHeaderBytes: 1000 is out of range 4096..=1048576 (providers send about 1 KiB of headers)"
    );
    assert_eq!(
        rule("{ serve: { maxBodyBytes: 100 } }"),
        "serve.maxBodyBytes: 100 is out of range 1024..=16777216"
    );
    assert_eq!(
        rule("{ serve: { maxConnections: 0 } }"),
        "serve.maxConnections: 0 is out of range 1..=1000000"
    );
    assert_eq!(
        rule("{ serve: { maxConnections: 10, maxInFlight: 11 } }"),
        "serve.maxInFlight: 11 is out of range 1..=10 (at most serve.maxConnections: a connection carries one request at a time)"
    );
}

#[test]
fn invalid_requests_rate_defaults_and_names_the_bad_key() {
    let cfg = Config::from_json5_str("{}").unwrap();
    let q = cfg.invalid_requests_limit();
    assert_eq!(q, telephony_serve::limits::DEFAULT_INVALID_REQUESTS);
    assert_eq!(q.burst_size().get(), 30);
    assert_eq!(q.replenish_interval(), std::time::Duration::from_secs(1));

    let cfg =
        Config::from_json5_str("{ rateLimits: { invalidRequests: { perSecond: 4, burst: 2 } } }")
            .unwrap();
    let q = cfg.invalid_requests_limit();
    assert_eq!(q.burst_size().get(), 2);
    assert_eq!(
        q.replenish_interval(),
        std::time::Duration::from_millis(250)
    );
    // Without a burst: the rate's own count.
    let cfg =
        Config::from_json5_str("{ rateLimits: { invalidRequests: { perMinute: 120 } } }").unwrap();
    let q = cfg.invalid_requests_limit();
    assert_eq!(q.burst_size().get(), 120);
    assert_eq!(
        q.replenish_interval(),
        std::time::Duration::from_millis(500)
    );

    let rule = |body: &str| match Config::from_json5_str(body).unwrap_err() {
        ConfigError::Rule { key, reason } => format!("{key}: {reason}"),
        other => panic!("{other}"),
    };
    assert_eq!(
        rule("{ rateLimits: { invalidRequests: { perSecond: 1, perMinute: 60 } } }"),
        "rateLimits.invalidRequests: set exactly one of perSecond and perMinute"
    );
    assert_eq!(
        rule("{ rateLimits: { invalidRequests: { burst: 5 } } }"),
        "rateLimits.invalidRequests: set exactly one of perSecond and perMinute"
    );
    assert_eq!(
        rule("{ rateLimits: { invalidRequests: { perMinute: -3 } } }"),
        "rateLimits.invalidRequests.perMinute: -3 must be a number above 0 and at most 1000000"
    );
    assert_eq!(
        rule("{ rateLimits: { invalidRequests: { perSecond: 1, burst: 0 } } }"),
        "rateLimits.invalidRequests.burst: must be at least 1"
    );
}

#[test]
fn allowed_hosts_are_host_names_with_an_optional_port() {
    let load = |host: &str| {
        Config::from_json5_str(&format!(
            "{{ webhookSecurity: {{ trustForwardingHeaders: true, allowedHosts: ['gw.example.com', {host:?}] }} }}"
        ))
    };
    for ok in [
        "GW.Example.com:8443",
        "localhost",
        "10.0.0.1",
        "a-b.example.com:1",
        "x",
    ] {
        let cfg = load(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(cfg.webhook_security.allowed_hosts, ["gw.example.com", ok]);
    }
    let expect = "expected e.g. \"gw.example.com\" or \"gw.example.com:8443\"";
    for (bad, why) in [
        ("user@gw.example.com", "'@' would add a userinfo"),
        ("gw.example.com ", "it contains a space"),
        ("gw example.com", "it contains a space"),
        (
            "https://gw.example.com",
            "it has a scheme, path, query or fragment",
        ),
        (
            "gw.example.com/hook",
            "it has a scheme, path, query or fragment",
        ),
        (
            "gw.example.com:99999",
            "the port must be a number from 1 to 65535",
        ),
        (
            "gw.example.com:",
            "the port must be a number from 1 to 65535",
        ),
        (
            "gw.example.com:0",
            "the port must be a number from 1 to 65535",
        ),
        (":8443", "the name must have 1 to 253 characters"),
        (
            "-gw.example.com",
            "label \"-gw\" is not 1-63 letters, digits or inner hyphens",
        ),
        (
            "gw..example.com",
            "label \"\" is not 1-63 letters, digits or inner hyphens",
        ),
        (
            "gw_1.example.com",
            "label \"gw_1\" is not 1-63 letters, digits or inner hyphens",
        ),
        ("[::1]", "the port must be a number from 1 to 65535"),
        (
            "[::1]:443",
            "label \"[::1]\" is not 1-63 letters, digits or inner hyphens",
        ),
    ] {
        let e = load(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid configuration: webhookSecurity.allowedHosts: {bad:?} is not a host name with an optional :port ({why}); {expect}"
            ),
            "{bad}"
        );
        assert!(
            matches!(e, ConfigError::Rule { ref key, .. } if key == "webhookSecurity.allowedHosts")
        );
    }
}

#[test]
fn public_url_keeps_userinfo_and_port_and_drops_the_fragment() {
    let cfg =
        Config::from_json5_str("{ publicUrl: 'https://twilio:pw@GW.example.com:8443#console' }")
            .unwrap();
    assert_eq!(
        cfg.public_url.as_deref(),
        Some("https://twilio:pw@GW.example.com:8443")
    );
    for (url, port) in [
        ("https://gw.example.com:99999", "99999"),
        ("https://gw.example.com:https", "https"),
        ("https://gw.example.com:0/", "0"),
    ] {
        let e = Config::from_json5_str(&format!("{{ publicUrl: {url:?} }}")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid configuration: publicUrl: {:?} has port {port:?}; expected a number from 1 to 65535",
                url
            )
        );
    }
    // A query is still refused (the route path is appended to publicUrl).
    let e = Config::from_json5_str("{ publicUrl: 'https://gw.example.com?x=1' }").unwrap_err();
    assert!(
        matches!(e, ConfigError::Rule { ref key, .. } if key == "publicUrl"),
        "{e}"
    );
}

#[test]
fn forwarding_headers_without_effect_are_reported() {
    let keys = |body: &str| -> Vec<(String, &'static str)> {
        Config::from_json5_str(body)
            .unwrap()
            .inactive_keys()
            .into_iter()
            .filter(|k| k.key.starts_with("webhookSecurity"))
            .map(|k| (k.key, k.reason))
            .collect()
    };
    assert_eq!(
        keys(
            "{ publicUrl: 'https://gw.example.com', webhookSecurity: { trustForwardingHeaders: true, allowedHosts: ['gw.example.com'] } }"
        ),
        [(
            "webhookSecurity.trustForwardingHeaders".to_string(),
            "has no effect while publicUrl is set: the signed URL is publicUrl"
        )]
    );
    assert_eq!(
        keys("{ webhookSecurity: { trustForwardingHeaders: true } }"),
        [(
            "webhookSecurity.trustForwardingHeaders".to_string(),
            "has no effect without webhookSecurity.allowedHosts"
        )]
    );
    assert!(keys(
        "{ webhookSecurity: { trustForwardingHeaders: true, allowedHosts: ['gw.example.com'] } }"
    )
    .is_empty());
}

#[test]
fn skip_signature_verification_is_refused_with_a_tunnel_or_a_public_bind() {
    use telephony::server::check_security;
    let tunnel_refusal = "skipSignatureVerification: refused because a tunnel is configured (tunnel.provider is not \"none\"): the tunnel makes the loopback listener public; never disable signature checks on a public listener";
    for body in [
        "{ skipSignatureVerification: true, tunnel: { provider: 'ngrok' } }",
        "{ skipSignatureVerification: true, tunnel: { provider: 'tailscale-funnel' } }",
        // A tunnel section without a provider still counts (fail closed).
        "{ dangerouslyDisableSignatureValidation: true, tunnel: { ngrokDomain: 'gw.ngrok.app' } }",
    ] {
        let cfg = Config::from_json5_str(body).unwrap();
        assert!(cfg.tunnel_configured(), "{body}");
        assert_eq!(
            check_security(&cfg, true, true).unwrap_err().to_string(),
            tunnel_refusal,
            "{body}"
        );
    }
    // Loopback without a tunnel (or with provider "none"): allowed.
    for body in [
        "{ skipSignatureVerification: true }",
        "{ skipSignatureVerification: true, tunnel: { provider: 'none' } }",
    ] {
        let cfg = Config::from_json5_str(body).unwrap();
        assert!(!cfg.tunnel_configured(), "{body}");
        check_security(&cfg, true, true).unwrap();
    }
    // A tunnel without skipping the check is fine.
    let cfg = Config::from_json5_str("{ tunnel: { provider: 'ngrok' } }").unwrap();
    check_security(&cfg, true, true).unwrap();
    // Non-loopback bind.
    let cfg = Config::from_json5_str(
        "{ skipSignatureVerification: true, publicUrl: 'https://gw.example.com', serve: { bind: '0.0.0.0' } }",
    )
    .unwrap();
    assert_eq!(
        check_security(&cfg, false, true).unwrap_err().to_string(),
        "skipSignatureVerification: refused because serve.bind 0.0.0.0 is not loopback; never disable signature checks on a public listener"
    );
}

#[test]
fn auto_configure_webhooks_follows_the_active_provider() {
    let load = |text: &str| telephony::config::Config::from_json5_str(text).unwrap();
    let telnyx = load("{ provider: 'telnyx', telnyx: { autoConfigureWebhooks: true } }");
    assert!(telnyx.auto_configure_webhooks());
    // Another provider's switch does not set up this one's number.
    let telnyx_off = load("{ provider: 'telnyx', twilio: { autoConfigureWebhooks: true } }");
    assert!(!telnyx_off.auto_configure_webhooks());
    let twilio = load("{ twilio: { autoConfigureWebhooks: true } }");
    assert!(twilio.auto_configure_webhooks());
    assert!(!load("{ telnyx: { autoConfigureWebhooks: true } }").auto_configure_webhooks());
    let err =
        telephony::config::Config::from_json5_str("{ telnyx: { autoConfigureWebhooks: 'yes' } }")
            .unwrap_err()
            .to_string();
    assert!(err.contains("autoConfigureWebhooks"), "{err}");
}
