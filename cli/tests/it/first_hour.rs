//! What a newcomer stumbled on in their first hour (issue 19, items 8 to 14), each as a
//! user meets it: messages that say once what is wrong and how to fix it, a Telnyx sandbox
//! behind a public URL, and a provider credential that cannot be read on this machine.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Serve, run, wait_for};

/// `telephony` in `dir` with a clean environment (but `PATH`), on ephemeral ports.
fn telephony(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("TELEPHONY_SERVE__PORT", "0")
        .env("TELEPHONY_ADMIN__PORT", "0")
        .current_dir(dir);
    c
}

/// `telephony serve` with `args` in `dir`, stderr (the logs) to `{dir}/serve.err`; returns
/// once the runtime file in `data_dir` exists.
fn serve(dir: &Path, args: &[&str], data_dir: &str) -> Serve {
    let child = telephony(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let runtime = dir.join(data_dir).join("gateway.json");
    wait_for("the runtime file", || runtime.exists());
    serve
}

#[test]
fn status_without_a_gateway_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(telephony(dir.path()).arg("status"));
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: no gateway is running (admin 127.0.0.1:0 does not answer); start one with `telephony serve`\n"
    );
    // --json: the JSON says it; stderr stays quiet.
    let (code, out, err) = run(telephony(dir.path()).args(["status", "--json"]));
    assert_eq!(code, 1);
    assert_eq!(err, "");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "not running");
}

#[test]
fn help_texts_fit_the_command() {
    let dir = tempfile::tempdir().unwrap();
    // serve refuses --account (it serves every account): its help does not offer it.
    let (code, out, _) = run(telephony(dir.path()).args(["serve", "--help"]));
    assert_eq!(code, 0);
    assert!(!out.contains("--account"), "{out}");
    assert!(out.contains("--voice"), "{out}");
    let (code, out, _) = run(telephony(dir.path()).args(["inbox", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("--account <NAME>"), "{out}");
    // simulate plays whichever provider the gateway uses.
    let (code, out, _) = run(telephony(dir.path()).args(["simulate", "--help"]));
    assert_eq!(code, 0);
    assert!(!out.contains("as Twilio would"), "{out}");
    assert!(out.contains("Twilio or Telnyx"), "{out}");
    let (_, out, _) = run(telephony(dir.path()).args(["--help"]));
    assert!(
        out.contains("Twilio or Telnyx, whichever the gateway uses"),
        "{out}"
    );
}

#[test]
fn config_check_summarizes_and_fails_without_what_serve_needs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ fromNumber: '+15550001234' }",
    )
    .unwrap();
    let (code, out, err) = run(telephony(dir.path()).args(["config", "check"]));
    assert_eq!(code, 2, "{out}{err}");
    // A summary, not the whole resolved configuration.
    assert!(
        out.starts_with("config file: telephony.json5 (dialect: channels.telephony)\n"),
        "{out}"
    );
    assert!(out.contains("\nsender: fromNumber +15550001234\n"), "{out}");
    assert!(!out.contains("resolved configuration"), "{out}");
    assert!(out.ends_with("(every resolved value, secrets redacted: `telephony config check --verbose`, or `--json`)\n"), "{out}");
    assert!(out.lines().count() < 15, "{out}");
    assert_eq!(
        err,
        "error: missing twilio.accountSid (or TWILIO_ACCOUNT_SID), twilio.authToken (or TWILIO_AUTH_TOKEN): `telephony serve` needs them (`telephony serve --sandbox` needs none: it runs against the built-in simulator; check for it with `telephony config check --sandbox`)\n"
    );
    // --verbose: every value.
    let (code, out, _) = run(telephony(dir.path()).args(["config", "check", "--verbose"]));
    assert_eq!(code, 2);
    assert!(
        out.contains("resolved configuration (secrets redacted):\n{"),
        "{out}"
    );
    // --sandbox: nothing is missing for serve --sandbox.
    let (code, out, err) = run(telephony(dir.path()).args(["config", "check", "--sandbox"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("config OK\n"), "{out}");
    // With the credentials: OK.
    let (code, out, err) = run(telephony(dir.path())
        .env("TWILIO_ACCOUNT_SID", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .env("TWILIO_AUTH_TOKEN", "tok")
        .args(["config", "check", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
}

#[test]
fn an_unreadable_credential_reference_blocks_only_what_needs_it() {
    // The README's several-accounts example: a token in a file that is not on this machine.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ twilio: { accountSid: 'ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', authToken: { source: 'file', id: '/run/secrets/alerts-token' } }, fromNumber: '+15550001234' }",
    )
    .unwrap();
    let why = "telephony.json5: twilio.authToken: cannot resolve the SecretRef { source: \"file\", id: \"/run/secrets/alerts-token\" }: cannot read file /run/secrets/alerts-token: No such file or directory (os error 2)";
    // serve (against Twilio) and config check name it.
    let (code, _, err) = run(telephony(dir.path()).arg("serve"));
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        format!(
            "error: {why}; or run `telephony serve --sandbox` against the built-in simulator\n"
        )
    );
    let (code, out, err) = run(telephony(dir.path()).args(["config", "check"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains(&format!("\nnote: {why}\n")), "{out}");
    assert!(
        err.contains(&format!("twilio.authToken (or TWILIO_AUTH_TOKEN) ({why})")),
        "{err}"
    );
    // The sandbox, and the commands that do not talk to Twilio, work without it.
    let gateway = serve(dir.path(), &["serve", "--sandbox"], "telephony-data");
    let (code, out, err) =
        run(telephony(dir.path()).args(["simulate", "sms", "--from", "+15557654321", "hello"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("\n  dispatched: pending_pairing (pairing code sent)\n"),
        "{out}"
    );
    let (code, out, err) = run(telephony(dir.path()).args(["inbox"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("  from +15557654321  [pending_pairing]\n  hello\n"),
        "{out}"
    );
    drop(gateway);
}

#[test]
fn the_telnyx_sandbox_signs_for_its_public_url_and_delivers_to_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ publicUrl: 'https://sms.example.com', inboundPolicy: 'allowlist', allowFrom: ['+15557654321'] }",
    )
    .unwrap();
    let gateway = serve(
        dir.path(),
        &["serve", "--sandbox", "--provider", "telnyx"],
        "telephony-data-telnyx",
    );
    let (code, out, err) =
        run(telephony(dir.path()).args(["simulate", "sms", "--from", "+15557654321", "hi"]));
    assert_eq!(code, 0, "{out}{err}");
    // Signed for https://sms.example.com/telephony/webhook, posted to the listener.
    assert!(out.starts_with("posted inbound SMS "), "{out}");
    assert!(out.contains(" to http://127.0.0.1:"), "{out}");
    assert!(
        out.ends_with("/telephony/webhook: HTTP 200 OK\n  dispatched: accepted\n"),
        "{out}"
    );
    // A send's message.sent/message.finalized go to https://sms.example.com/telephony/status,
    // delivered on loopback: the receipt reaches delivered.
    let (code, out, err) =
        run(telephony(dir.path()).args(["send", "+15557654321", "hello", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["receipts"][0]["id"].as_str().unwrap().to_string();
    wait_for("delivered", || {
        let (_, out, _) = run(telephony(dir.path()).args(["receipt", &id, "--json"]));
        serde_json::from_str::<serde_json::Value>(&out).is_ok_and(|v| v["status"] == "delivered")
    });
    let logs = std::fs::read_to_string(dir.path().join("serve.err")).unwrap();
    assert!(!logs.contains("not retried"), "{logs}");
    drop(gateway);
}

#[test]
fn relay_mode_without_a_forward_secret_is_warned_about_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ voice: { enabled: true, mode: 'relay', relayUrl: 'http://127.0.0.1:9/assistant' } }",
    )
    .unwrap();
    let gateway = serve(dir.path(), &["serve", "--sandbox"], "telephony-data");
    let logs = std::fs::read_to_string(dir.path().join("serve.err")).unwrap();
    assert!(
        logs.contains("voice.mode is relay but forward.secret is not set: call events are POSTed to voice.relayUrl unsigned"),
        "{logs}"
    );
    drop(gateway);
    // With forward.secret: no warning.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ voice: { enabled: true, mode: 'relay', relayUrl: 'http://127.0.0.1:9/assistant' }, forward: { url: 'http://127.0.0.1:9/f', secret: 'shh' } }",
    )
    .unwrap();
    let gateway = serve(dir.path(), &["serve", "--sandbox"], "telephony-data");
    let logs = std::fs::read_to_string(dir.path().join("serve.err")).unwrap();
    assert!(!logs.contains("forward.secret is not set"), "{logs}");
    drop(gateway);
}

#[test]
fn simulate_call_refuses_bad_audio_before_calling() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(telephony(dir.path()).args([
        "simulate",
        "call",
        "--from",
        "+15557654321",
        "--send-tone",
        "99999",
    ]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: --send-tone \"99999\": expected HZ or HZ:MS, e.g. 440 or 440:500 (1-3999 Hz, 1-600000 ms)\n"
    );
    std::fs::write(dir.path().join("not.wav"), b"RIFF....WAVEjunk").unwrap();
    let (code, _, err) = run(telephony(dir.path()).args([
        "simulate",
        "call",
        "--from",
        "+15557654321",
        "--send-wav",
        "not.wav",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: --send-wav not.wav: not.wav: "),
        "{err}"
    );
}
