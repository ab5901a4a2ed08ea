//! The `telephony` binary as a user runs it: exit codes, config check, the sandbox flow
//! across processes, and direct sending when no gateway is running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use telephony_twilio_simulator::{Simulator, SimulatorConfig};

use crate::support::{Serve, run, wait_for};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_telephony")
}

fn seed_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../telephony/tests/fixtures/seed003_full.json5")
}

/// A command with a clean environment (no TWILIO_* from the developer's shell), run in `dir`.
fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(dir);
    c
}

#[test]
fn config_check_accepts_the_seed_full_example() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(cmd(dir.path())
        .args(["config", "check", "--config"])
        .arg(seed_example()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("config OK"), "{out}");
    // Voice is live: seed 003's voice keys are no longer reported as inactive.
    assert!(!out.contains("note: voice."), "{out}");
    assert!(!out.contains("note: maxConcurrentSessions"), "{out}");
    assert!(
        out.contains("note: publicUrl is set but has no effect while tunnel.provider starts a tunnel: the tunnel's URL is the public URL (signed, and given to the provider)\n"),
        "{out}"
    );
    assert!(
        !out.contains("your_auth_token") && !out.contains("your_ngrok_token"),
        "{out}"
    );

    let (code, out, _) = run(cmd(dir.path())
        .args(["config", "check", "--json", "--config"])
        .arg(seed_example()));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["config"]["twilio"]["authToken"], "[redacted]");
    assert_eq!(v["config"]["tunnel"]["ngrokAuthToken"], "[redacted]");
    assert_eq!(v["config"]["serve"]["port"], 3335);
    assert_eq!(v["missingCredentials"], serde_json::json!([]));
    let inactive: Vec<&str> = v["notYetActive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(inactive, ["publicUrl"]);
}

#[test]
fn config_errors_exit_2_and_name_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("telephony.json5");
    std::fs::write(&f, "{ serve: { prot: 1 } }").unwrap();
    // Found by default from the working directory.
    let (code, _, err) = run(cmd(dir.path()).args(["config", "check"]));
    assert_eq!(code, 2, "{err}");
    // The key with its path, the file with its absolute path and line, a suggestion.
    assert_eq!(
        err,
        format!(
            "error: unknown key `serve.prot` in {}:1; did you mean `serve.port`?\n",
            f.display()
        )
    );
    // Unsafe listener settings are config errors too.
    std::fs::write(&f, "{ serve: { bind: '0.0.0.0' } }").unwrap();
    let (code, _, err) = run(cmd(dir.path()).args(["config", "check"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("publicUrl: required when serve.bind is 0.0.0.0"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(cmd(dir.path()).args(["send", "5551234567", "hi"]));
    assert_eq!(code, 2);
    assert!(err.contains("\"5551234567\" has no country code"), "{err}");
    let (code, _, _) = run(cmd(dir.path()).args(["frobnicate"]));
    assert_eq!(code, 2);
    let (code, _, err) = run(cmd(dir.path()).args(["inbox", "--since", "yesterday"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn serve_without_credentials_lists_them_and_mentions_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(cmd(dir.path()).args(["serve"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing twilio.accountSid (or TWILIO_ACCOUNT_SID), twilio.authToken (or TWILIO_AUTH_TOKEN)"), "{err}");
    assert!(err.contains("telephony serve --sandbox"), "{err}");
}

#[test]
fn sandbox_flow_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 } }",
    )
    .unwrap();
    let child = cmd(dir.path())
        .args(["serve", "--sandbox"])
        .env("TELEPHONY_REPLICA_ID", "cli-test-replica")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve_pid = child.id();
    let serve = Serve(child);
    let runtime = dir.path().join("telephony-data/gateway.json");
    wait_for("gateway.json", || runtime.exists());

    let (code, out, err) = run(cmd(dir.path()).args([
        "simulate",
        "sms",
        "--from",
        "+15557654321",
        "--message-sid",
        "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Hello gateway",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(
            "posted inbound SMS SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa to http://127.0.0.1:"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "/telephony/webhook: HTTP 200 OK\n  dispatched: pending_pairing (pairing code sent)\n"
        ),
        "{out}"
    );

    let (code, out, _) = run(cmd(dir.path()).args(["inbox", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["messages"][0]["providerSid"],
        "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(v["messages"][0]["numSegments"], 1);
    assert!(v["messages"][0]["receivedAt"].is_string(), "{v}");
    assert_eq!(v["messages"][0]["body"], "Hello gateway");

    let (code, out, err) =
        run(cmd(dir.path()).args(["send", "+15557654321", "Hello from the gateway", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["via"]
            .as_str()
            .unwrap()
            .starts_with("through the running gateway at http://127.0.0.1:"),
        "{v}"
    );
    assert_eq!(v["held"], false);
    assert_eq!(v["receipts"][0]["to"], "+15557654321");
    assert!(v["receipts"][0]["createdAt"].is_string(), "{v}");
    let id = v["receipts"][0]["id"].as_str().unwrap().to_string();
    wait_for("delivered", || {
        let (_, out, _) = run(cmd(dir.path()).args(["receipt", &id, "--json"]));
        serde_json::from_str::<serde_json::Value>(&out).is_ok_and(|v| v["status"] == "delivered")
    });

    // A Twilio error: exit 1, code and message printed.
    let (code, out, err) = run(cmd(dir.path()).args(["send", "+15005550004", "x"]));
    assert_eq!(code, 1);
    assert!(out.contains("status failed"), "{out}");
    assert!(
        err.contains("send failed: error 21610: Attempt to send to unsubscribed recipient"),
        "{err}"
    );

    let (code, out, _) = run(cmd(dir.path()).args(["status", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["provider"], "twilio");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["inboundPolicy"], "pairing");
    assert_eq!(v["webhookPath"], "/telephony/webhook");
    assert_eq!(v["forwarding"], serde_json::Value::Null);
    // This replica (its id from TELEPHONY_REPLICA_ID), in the list of live replicas.
    assert_eq!(v["replica"], "cli-test-replica");
    let replicas = v["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{v}");
    let me = &replicas[0];
    assert_eq!(me["id"], "cli-test-replica");
    assert_eq!(me["pid"], serve_pid);
    assert_eq!(me["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(me["accounts"], serde_json::json!(["default"]));
    // (A heartbeat can catch a send or a dispatch in flight; no call is live.)
    let holds = me["holds"].as_object().unwrap();
    let mut keys: Vec<&str> = holds.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["dispatching", "realtimeCalls", "sendsInFlight"]);
    assert_eq!(holds["realtimeCalls"], 0);
    assert!(holds.values().all(serde_json::Value::is_u64), "{me}");
    assert!(!me["host"].as_str().unwrap().is_empty(), "{me}");
    assert!(
        me["startedAt"].is_string() && me["lastSeen"].is_string(),
        "{me}"
    );
    // The store commits: ok, its size on disk, no errors of any kind.
    let store = &v["store"];
    assert_eq!(store["status"], "ok", "{v}");
    assert_eq!(store["writeFailure"], serde_json::Value::Null, "{v}");
    assert!(store["bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(store["lastCommit"].is_string(), "{v}");
    assert_eq!(
        store["errors"],
        serde_json::json!({"disk_full": 0, "io": 0, "busy": 0, "unavailable": 0, "constraint": 0, "other": 0}),
        "{v}"
    );
    let (code, out, _) = run(cmd(dir.path()).args(["status"]));
    assert_eq!(code, 0);
    assert!(out.contains("  store: ok; "), "{out}");
    assert!(out.contains(", no errors\n"), "{out}");
    assert!(out.contains("  replica: cli-test-replica\n"), "{out}");
    assert!(
        out.contains("  replicas: 1 live\n    cli-test-replica on "),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "(pid {serve_pid}, v{})",
            env!("CARGO_PKG_VERSION")
        )),
        "{out}"
    );

    // The probe: the sandbox pointed its number at the gateway on start.
    let (code, out, err) = run(cmd(dir.path()).args(["status", "--probe", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    let checks: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "credentials",
            "number",
            "number-setup",
            "webhook-failures",
            "public-url",
            "signed-probe"
        ]
    );

    // Unknown ids: the admin API's `not_found` code, not its message text, decides.
    let (code, _, err) = run(cmd(dir.path()).args(["receipt", "msg_nope"]));
    assert_eq!(code, 1);
    assert_eq!(err, "error: no message with id \"msg_nope\"\n");
    drop(serve);
}

#[test]
fn voice_calls_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        r#"{ serve: { port: 0 }, admin: { port: 0 }, allowFrom: ["+15557654321"],
             voice: { enabled: true, greeting: "Hi, you reached the test line.", closing: "Bye now." } }"#,
    )
    .unwrap();
    let child = cmd(dir.path())
        .args(["serve", "--sandbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let runtime = dir.path().join("telephony-data/gateway.json");
    wait_for("gateway.json", || runtime.exists());

    // A whole inbound call: greeting, one speech turn, closing, hang-up.
    let (code, out, err) = run(cmd(dir.path()).args([
        "simulate",
        "call",
        "--from",
        "+15557654321",
        "--say-speech",
        "please call me back",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(
        v["heard"],
        serde_json::json!(["Hi, you reached the test line.", "Bye now."])
    );
    let sid = v["callSid"].as_str().unwrap().to_string();

    let (code, out, _) = run(cmd(dir.path()).args(["calls", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let call = &v["calls"][0];
    assert_eq!(call["id"], sid.as_str());
    assert_eq!(call["direction"], "inbound");
    assert_eq!(call["status"], "completed", "{v}");
    assert_eq!(call["live"], false);
    assert_eq!(call["transcript"][0]["speech"], "please call me back");
    assert_eq!(call["history"][0]["source"], "answer");
    assert_eq!(call["history"][1]["source"], "callback");
    let (code, out, _) = run(cmd(dir.path()).args(["inbox", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["messages"][0]["channel"], "voice");
    assert_eq!(v["messages"][0]["providerSid"], sid.as_str());
    assert_eq!(v["messages"][0]["body"], "please call me back");

    // An unknown caller hears a pairing code.
    let (code, out, _) = run(cmd(dir.path()).args(["simulate", "call", "--from", "+15550009999"]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "heard: Hello. This number only answers approved callers. Your pairing code is "
        ),
        "{out}"
    );

    // Outbound: placed through the gateway, followed to completed by status callbacks.
    let (code, out, err) = run(cmd(dir.path()).args([
        "call",
        "+15557654321",
        "--say",
        "Your <order> & more ]]> is ready",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["direction"], "outbound");
    let out_sid = v["id"].as_str().unwrap().to_string();
    assert!(out_sid.starts_with("CA"), "{v}");
    wait_for("outbound call completed", || {
        let (_, out, _) = run(cmd(dir.path()).args(["calls", "--json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == out_sid.as_str() && c["status"] == "completed")
    });
    let (code, out, _) = run(cmd(dir.path()).args(["status", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["voice"]["enabled"], true);
    assert_eq!(v["voice"]["maxConcurrentSessions"], 50);
    assert_eq!(v["voice"]["liveSessions"], serde_json::json!([]));

    // Malformed TwiML is refused before any API call: exit 2, the XML problem named.
    let (code, _, err) = run(cmd(dir.path()).args([
        "call",
        "+15557654321",
        "--twiml",
        "<Response><Say>unclosed</Response>",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("12100"), "{err}");
    // Exactly one of --say, --twiml, --url.
    let (code, _, _) = run(cmd(dir.path()).args(["call", "+15557654321"]));
    assert_eq!(code, 2);
    drop(serve);
}

#[test]
fn simulate_call_relay_against_relay_mode() {
    // The application: a tiny HTTP server that answers every prompt.
    let app = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app_addr = app.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in app.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            // Read the headers and the body (Content-Length).
            loop {
                let n = s.read(&mut buf[got..]).unwrap_or(0);
                if n == 0 {
                    break;
                }
                got += n;
                let text = String::from_utf8_lossy(&buf[..got]).to_string();
                if let Some(h) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got >= h + 4 + len {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&buf[..got]).to_string();
            let body = if text.contains("\"call.prompt\"") {
                r#"{"text":"Hello from the app."}"#
            } else {
                "{}"
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        format!(
            r#"{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, allowFrom: ["+15557654321"],
             voice: {{ enabled: true, mode: "relay", relayUrl: "http://{app_addr}/assistant" }} }}"#
        ),
    )
    .unwrap();
    let child = cmd(dir.path())
        .args(["serve", "--sandbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let runtime = dir.path().join("telephony-data/gateway.json");
    wait_for("gateway.json", || runtime.exists());
    let (code, out, err) = run(cmd(dir.path()).args([
        "simulate",
        "call",
        "--from",
        "+15557654321",
        "--relay",
        "hello",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["relayReplies"],
        serde_json::json!(["Hello from the app."]),
        "{v}"
    );
    drop(serve);
}

#[test]
fn probe_without_credentials_or_gateway_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ fromNumber: '+15550001234' }",
    )
    .unwrap();
    let (code, _, err) = run(cmd(dir.path()).args(["status", "--probe"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("twilio.accountSid"), "{err}");
}

#[test]
fn send_directly_when_no_gateway_runs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = rt
        .block_on(sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = sim.config();
    // An admin port nobody listens on, so the CLI must send directly.
    std::fs::write(
        dir.path().join("telephony.json5"),
        format!(
            "{{ fromNumber: '+15005550006', admin: {{ port: 1 }}, twilio: {{ accountSid: '{}', apiBaseUrl: '{}' }} }}",
            c.account_sid,
            running.url()
        ),
    )
    .unwrap();
    let (code, out, err) = run(cmd(dir.path())
        .env("TWILIO_AUTH_TOKEN", c.auth_token.expose())
        .args(["send", "+15557654321", "direct hello"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("sent directly with the configured credentials (no gateway running)\n"),
        "{out}"
    );
    assert!(out.contains("status queued"), "{out}");
    let sent = sim.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body.as_deref(), Some("direct hello"));
    assert_eq!(sent[0].to.as_deref(), Some("+15557654321"));
    // The token never shows in output.
    assert!(!out.contains(c.auth_token.expose()) && !err.contains(c.auth_token.expose()));
    rt.block_on(running.shutdown());
}

#[test]
fn segments_reports_encoding_and_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(cmd(dir.path()).args(["segments", "--json", &"1".repeat(161)]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["encoding"], "GSM-7");
    assert_eq!(v["characters"], 161);
    assert_eq!(v["segments"], 2);
    assert_eq!(
        v["messages"].as_array().unwrap().len(),
        1,
        "auto mode: one concatenated message"
    );
    let (code, out, _) = run(cmd(dir.path()).args(["segments", "**Hi** 👋"]));
    assert_eq!(code, 0);
    assert!(
        out.starts_with("encoding UCS-2, 4 characters, 1 segment(s)\nUCS-2 because of: 👋\n"),
        "{out}"
    );
    assert!(
        out.contains("--- 1 (4 characters, 1 segment(s))\nHi 👋\n"),
        "{out}"
    );
    // single mode with a too-long text is a usage error naming both lengths.
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ sms: { chunkMode: 'single', maxLength: 10 } }",
    )
    .unwrap();
    let (code, _, err) = run(cmd(dir.path()).args(["segments", "this text is longer than ten"]));
    assert_eq!(code, 2);
    assert!(err.contains("28") && err.contains("10"), "{err}");
}

#[test]
fn pairing_and_log_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 } }",
    )
    .unwrap();
    let child = cmd(dir.path())
        .args(["serve", "--sandbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _serve = Serve(child);
    wait_for("gateway.json", || {
        dir.path().join("telephony-data/gateway.json").exists()
    });
    let (code, _, err) =
        run(cmd(dir.path()).args(["simulate", "sms", "--from", "+15557654321", "hi"]));
    assert_eq!(code, 0, "{err}");
    let mut code_str = String::new();
    wait_for("pairing request", || {
        let (_, out, _) = run(cmd(dir.path()).args(["pairing", "list", "--json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        match v["requests"][0]["code"].as_str() {
            Some(c) => {
                code_str = c.to_string();
                true
            }
            None => false,
        }
    });
    assert_eq!(code_str.len(), 8);
    let (code, out, _) = run(cmd(dir.path()).args(["inbox", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["messages"][0]["state"], "pending_pairing");
    assert_eq!(v["messages"][0]["note"], "pairing code sent");

    let (code, _, err) = run(cmd(dir.path()).args(["pairing", "approve", "NOPE2345"]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: gateway refused the request (404 Not Found): no pairing request with code \"NOPE2345\"\n"
    );
    let (code, out, err) =
        run(cmd(dir.path()).args(["pairing", "approve", &code_str.to_lowercase()]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("approved +15557654321: their messages now reach the application\napproval text queued (msg_"), "{out}");
    // Approving twice is a `conflict`: the user's input, exit 2.
    let (code, _, err) = run(cmd(dir.path()).args(["pairing", "approve", &code_str, "--json"]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: gateway refused the request (409 Conflict): pairing code {code_str:?} was already approved\n"
        )
    );

    let (code, _, _) =
        run(cmd(dir.path()).args(["simulate", "sms", "--from", "+15557654321", "after"]));
    assert_eq!(code, 0);
    wait_for("accepted", || {
        let (_, out, _) = run(cmd(dir.path()).args(["inbox", "--json"]));
        serde_json::from_str::<serde_json::Value>(&out)
            .is_ok_and(|v| v["messages"][1]["state"] == "accepted")
    });
    // The send log has the pairing code SMS and the approval text, with SIDs.
    let (code, out, _) = run(cmd(dir.path()).args(["log", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bodies: Vec<&str> = v["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies[0].starts_with(&format!("Your pairing code is {code_str}.")),
        "{bodies:?}"
    );
    assert_eq!(bodies[1], "You're approved: you can now text this number.");
    assert!(
        v["receipts"][0]["providerSids"][0]
            .as_str()
            .unwrap()
            .starts_with("SM")
    );
}

/// Starts `telephony serve --sandbox --provider telnyx` in `dir` and waits for its runtime file.
fn serve_telnyx_sandbox(dir: &Path) -> Serve {
    std::fs::write(
        dir.join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 }, inboundPolicy: 'allowlist', allowFrom: ['+15557654321'] }",
    )
    .unwrap();
    let child = cmd(dir)
        .args(["serve", "--sandbox", "--provider", "telnyx"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    // The Telnyx sandbox keeps its own data directory.
    wait_for("gateway.json", || {
        dir.join("telephony-data-telnyx/gateway.json").exists()
    });
    serve
}

#[test]
fn telnyx_sandbox_flow_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_telnyx_sandbox(dir.path());

    let (code, out, _) = run(cmd(dir.path()).args(["status", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["provider"], "telnyx");

    let id = "7c9d5a0e-5f4b-4c1e-9a51-2f1f0c1b9e01";
    let (code, out, err) = run(cmd(dir.path()).args([
        "simulate",
        "sms",
        "--from",
        "+15557654321",
        "--message-sid",
        id,
        "Hello",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("posted inbound SMS {id} to http://127.0.0.1:")),
        "{out}"
    );
    assert!(
        out.ends_with("/telephony/webhook: HTTP 200 OK\n  dispatched: accepted\n"),
        "{out}"
    );
    let (code, out, _) = run(cmd(dir.path()).args(["inbox", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["body"], "Hello");
    assert_eq!(msgs[0]["from"], "+15557654321");
    assert!(out.contains(id), "{out}");

    let (code, out, err) = run(cmd(dir.path()).args(["send", "+15557654321", "hi"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("sent through the running gateway at http://127.0.0.1:"),
        "{out}"
    );

    // Telnyx's opted-out recipient: the provider refuses with 40300 → exit 1.
    let (code, out, err) = run(cmd(dir.path()).args(["send", "+12025550100", "hi"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("status failed"), "{out}");
    assert!(
        err.contains("send failed: error 40300: Blocked due to STOP message"),
        "{err}"
    );
    // Now recorded as opted out: refused before any provider call → exit 2.
    let (code, out, err) = run(cmd(dir.path()).args(["send", "+12025550100", "hi"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("+12025550100 has opted out of messages (replied STOP)"),
        "{err}"
    );
    drop(serve);
}

#[test]
fn unknown_provider_names_the_compiled_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(cmd(dir.path()).args(["serve", "--provider", "bogus"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("twilio, telnyx"), "{err}");
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn telnyx_config_check_json_redacts_the_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = "KEY0123456789ABCDEFtopsecret";
    std::fs::write(
        dir.path().join("telephony.json5"),
        format!("{{ provider: 'telnyx', fromNumber: '+12025550123', telnyx: {{ apiKey: '{key}', publicKey: 'WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=' }} }}"),
    )
    .unwrap();
    for args in [&["config", "check", "--json"][..], &["config", "check"][..]] {
        let (code, out, err) = run(cmd(dir.path()).args(args));
        assert_eq!(code, 0, "{out}{err}");
        assert!(!out.contains(key) && !err.contains(key), "{out}{err}");
    }
    let (_, out, _) = run(cmd(dir.path()).args(["config", "check", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["telnyx"]["apiKey"], "[redacted]");
    // The key from the environment is redacted too.
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ provider: 'telnyx', fromNumber: '+12025550123', telnyx: { publicKey: 'WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=' } }",
    )
    .unwrap();
    let (code, out, err) = run(cmd(dir.path())
        .env("TELNYX_API_KEY", key)
        .args(["config", "check", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains(key) && !err.contains(key), "{out}{err}");
}

#[test]
fn accounts_across_processes_with_the_account_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        r#"{ serve: { port: 0 }, admin: { port: 0 },
            defaultAccount: "support",
            accounts: {
              support: { serve: { path: "/sms/support", statusPath: "/sms/support/status", streamPath: "/sms/support/stream" } },
              alerts: {
                provider: "telnyx",
                inboundPolicy: "open", allowFrom: ["*"],
                serve: { path: "/sms/alerts", statusPath: "/sms/alerts/status", streamPath: "/sms/alerts/stream" },
              },
            } }"#,
    )
    .unwrap();

    // config check lists every account with its paths and store.
    // (For `serve --sandbox`: no credentials needed.)
    let (code, out, err) = run(cmd(dir.path()).args(["config", "check", "--json", "--sandbox"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["accounts"], serde_json::json!(["alerts", "support"]));
    assert_eq!(v["defaultAccount"], "support");
    let served: Vec<(String, String, String)> = v["served"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["webhookPath"].as_str().unwrap().to_string(),
                a["database"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            (
                "alerts".to_string(),
                "/sms/alerts".to_string(),
                "telephony-data/accounts/alerts/telephony.db".to_string()
            ),
            (
                "support".to_string(),
                "/sms/support".to_string(),
                "telephony-data/accounts/support/telephony.db".to_string()
            ),
        ]
    );

    assert_eq!(v["served"][0]["provider"], "telnyx");
    assert_eq!(v["served"][1]["provider"], "twilio");

    // Bad --account: a usage/config error naming the accounts there are.
    let (code, _, err) = run(cmd(dir.path()).args(["--account", "sales", "inbox"]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: --account \"sales\": no such account; the accounts are alerts, support\n"
    );
    let (code, _, err) = run(cmd(dir.path()).args(["--account", "alerts", "serve", "--sandbox"]));
    assert_eq!(code, 2);
    assert!(err.contains("--account does not apply to serve"), "{err}");

    let child = cmd(dir.path())
        .args(["serve", "--sandbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let runtime = dir.path().join("telephony-data/gateway.json");
    wait_for("gateway.json", || runtime.exists());

    // Each account's simulated inbound SMS goes to its own path, signed as its own
    // provider's simulator signs (Twilio's token for support, Telnyx's key for alerts), and
    // lands in its own inbox.
    for (account, text, path, state) in [
        (
            None,
            "to support",
            "/sms/support",
            "pending_pairing (pairing code sent)",
        ),
        (Some("alerts"), "to alerts", "/sms/alerts", "accepted"),
    ] {
        let mut c = cmd(dir.path());
        if let Some(a) = account {
            c.args(["--account", a]);
        }
        let (code, out, err) = run(c.args(["simulate", "sms", "--from", "+15557654321", text]));
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.ends_with(&format!("{path}: HTTP 200 OK\n  dispatched: {state}\n")),
            "{out}"
        );
    }
    let inbox = |account: Option<&str>| {
        let mut c = cmd(dir.path());
        if let Some(a) = account {
            c.args(["--account", a]);
        }
        let (code, out, err) = run(c.args(["inbox", "--json"]));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(inbox(None), ["to support"]);
    assert_eq!(inbox(Some("support")), ["to support"]);
    assert_eq!(inbox(Some("alerts")), ["to alerts"]);

    // A send with --account goes through that account's admin routes and log.
    let (code, out, err) = run(cmd(dir.path()).args([
        "--account",
        "alerts",
        "send",
        "+15557654321",
        "from alerts",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["via"].as_str().unwrap().ends_with("/accounts/alerts"),
        "{v}"
    );
    let log = |account: &str| {
        let (code, out, err) = run(cmd(dir.path()).args(["--account", account, "log", "--json"]));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["body"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert!(log("alerts").contains(&"from alerts".to_string()));
    assert!(!log("support").contains(&"from alerts".to_string()));
    drop(serve);
}
