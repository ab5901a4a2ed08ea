//! A newcomer's first hour, as the README tells it: the quick start's commands, read from
//! the README's fenced block (marked `<!-- walkthrough: … -->`) and run as written with
//! the built `telephony` binary, one process each, against `telephony serve --sandbox` in
//! the background (ephemeral loopback ports through `TELEPHONY_SERVE__PORT=0` and
//! `TELEPHONY_ADMIN__PORT=0`, a fresh directory as the working directory). Then the same
//! lines against the Telnyx sandbox in the same directory, which keeps its own data; then
//! voice: a call rejected while voice is off, answered with `serve --sandbox --voice`.
//!
//! The README and this file change together: the block's lines must be exactly
//! [`WALKTHROUGH`], and each line's README comment must promise what the test checks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{Serve, run, wait_for, wait_for_within};

/// The quick start's lines, as the README writes them.
const WALKTHROUGH: &[&str] = &[
    r#"telephony simulate sms --from +15557654321 "Hello gateway""#,
    "telephony inbox",
    "telephony pairing list",
    "telephony pairing approve <CODE>",
    r#"telephony send +15557654321 "Hello from the gateway""#,
    "telephony receipt <id printed by send>",
    "telephony log",
];

/// One line of the README's block: the command and its `# …` comment.
struct Line {
    command: String,
    comment: String,
}

/// The lines of the first ```sh block after the walkthrough marker in the README.
fn readme_walkthrough() -> Vec<Line> {
    readme_block("<!-- walkthrough: cli/tests/it/walkthrough.rs")
}

/// The lines of the first ```sh block after `marker` in the README, comment lines
/// (`#   …`) included as lines without a command.
fn readme_block(marker: &str) -> Vec<Line> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let marker = text
        .find(marker)
        .unwrap_or_else(|| panic!("the README has no {marker}"));
    let rest = &text[marker..];
    let start = rest
        .find("```sh\n")
        .expect("a ```sh block after the marker")
        + 6;
    let end = start + rest[start..].find("```").expect("the block ends");
    rest[start..end]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (command, comment) = match l.trim_start().strip_prefix('#') {
                Some(comment) => ("", comment),
                None => l.split_once(" # ").unwrap_or((l, "")),
            };
            Line {
                command: command.trim().to_string(),
                comment: comment.trim().to_string(),
            }
        })
        .collect()
}

/// The README's voice lines, as it writes them.
const VOICE_WALKTHROUGH: &[&str] = &[
    "telephony serve --sandbox --voice",
    r#"telephony simulate call --from +15557654321 --say-speech "call me back""#,
    "telephony inbox",
];

/// The README's stream echo lines, as it writes them (the last one is the report shown).
const ECHO_LINES: &[&str] = &[
    "telephony serve --sandbox --voice",
    "telephony simulate call --from +15557654321 --send-tone 440:1000",
    "",
];

/// Splits a command line as a POSIX shell would for these lines: words, and double-quoted
/// words with spaces.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

/// A `telephony` process as a user in `dir` starts it: a clean environment but for
/// `PATH` and the ephemeral ports.
pub(crate) fn telephony(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("TELEPHONY_SERVE__PORT", "0")
        .env("TELEPHONY_ADMIN__PORT", "0")
        .current_dir(dir);
    c
}

/// Runs a README line in `dir` with its placeholders filled in: exit code, stdout, stderr.
fn run_line(dir: &Path, line: &str, fill: &[(&str, &str)]) -> (i32, String, String) {
    let mut line = line.to_string();
    for (placeholder, value) in fill {
        line = line.replace(placeholder, value);
    }
    let argv = words(&line);
    assert_eq!(argv[0], "telephony", "{line}");
    run(telephony(dir).args(&argv[1..]))
}

/// `telephony serve` with `args` in `dir`, its stdout in `{dir}/{log}`; returns once its
/// runtime file (in `data_dir`) names it.
pub(crate) fn serve(dir: &Path, args: &[&str], data_dir: &str, log: &str) -> (Serve, PathBuf) {
    let log = dir.join(log);
    let child = telephony(dir)
        .args(args)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let serve = Serve(child);
    let runtime = dir.join(data_dir).join("gateway.json");
    wait_for("the sandbox's runtime file", || {
        std::fs::read(&runtime)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["pid"] == pid)
    });
    // The startup text is printed after the runtime file is written, one line at a
    // time: its last line says it is all there.
    wait_for("the startup text to end", || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.contains("\nPress Ctrl-C to stop.\n"))
    });
    (serve, log)
}

/// Stops a gateway as Ctrl-C does (SIGTERM: it removes its runtime file on the way out).
pub(crate) fn stop(mut serve: Serve) {
    let pid = serve.0.id();
    let (code, _, err) = run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    assert_eq!(code, 0, "{err}");
    let child: &mut Child = &mut serve.0;
    wait_for_within("the gateway to stop", Duration::from_secs(60), || {
        child.try_wait().unwrap().is_some()
    });
}

/// The README's walkthrough against the running sandbox of `provider` in `dir`: each
/// line run as written, its output checked against what the README's comment promises.
fn walk(dir: &Path, provider: &str, serve_log: &Path) {
    let lines = readme_walkthrough();
    let commands: Vec<&str> = lines.iter().map(|l| l.command.as_str()).collect();
    assert_eq!(
        commands, WALKTHROUGH,
        "the README's walkthrough changed: update cli/tests/it/walkthrough.rs with it"
    );
    // The startup "Try" list names every step of the walkthrough (`serve` waited for
    // the whole startup text).
    let started = std::fs::read_to_string(serve_log).unwrap();
    let try_list = &started[started
        .find("Try, in another terminal:")
        .expect("a Try list")..];
    for line in WALKTHROUGH {
        assert!(
            try_list.contains(&format!("  {line}\n")),
            "{line} not in:\n{try_list}"
        );
    }

    let mut code_of_pairing = String::new();
    let mut id_of_send = String::new();
    for line in &lines {
        let fill = [
            ("<CODE>", code_of_pairing.as_str()),
            ("<id printed by send>", id_of_send.as_str()),
        ];
        let step = line.command.split_whitespace().take(3).collect::<Vec<_>>();
        match step.as_slice() {
            ["telephony", "simulate", "sms"] => {
                assert!(
                    line.comment.ends_with("→ dispatched: pending_pairing"),
                    "{}",
                    line.comment
                );
                let (code, out, err) = run_line(dir, &line.command, &fill);
                assert_eq!(code, 0, "{out}{err}");
                assert!(out.starts_with("posted inbound SMS "), "{out}");
                assert!(
                    out.ends_with("/telephony/webhook: HTTP 200 OK\n  dispatched: pending_pairing (pairing code sent)\n"),
                    "{out}"
                );
            }
            ["telephony", "inbox"] => {
                assert!(
                    line.comment.starts_with("→ held: [pending_pairing]"),
                    "{}",
                    line.comment
                );
                let (code, out, err) = run_line(dir, &line.command, &fill);
                assert_eq!(code, 0, "{out}{err}");
                let first = out.lines().next().unwrap();
                assert!(
                    first.contains("  from +15557654321  [pending_pairing]"),
                    "{out}"
                );
                assert!(out.ends_with("\n  Hello gateway\n1 message(s)\n"), "{out}");
            }
            ["telephony", "pairing", "list"] => {
                assert!(
                    line.comment.contains("8-character code"),
                    "{}",
                    line.comment
                );
                let (code, out, err) = run_line(dir, &line.command, &fill);
                assert_eq!(code, 0, "{out}{err}");
                let (code_word, rest) = out.split_once("  ").unwrap();
                assert_eq!(code_word.len(), 8, "{out}");
                assert!(rest.starts_with("+15557654321  requested "), "{out}");
                assert!(
                    out.ends_with("\n1 pending; approve with `telephony pairing approve <CODE>`\n"),
                    "{out}"
                );
                code_of_pairing = code_word.to_string();
            }
            ["telephony", "pairing", "approve"] => {
                assert!(line.comment.starts_with("→ approved"), "{}", line.comment);
                let (code, out, err) = run_line(dir, &line.command, &fill);
                assert_eq!(code, 0, "{out}{err}");
                assert!(
                    out.starts_with("approved +15557654321: their messages now reach the application\napproval text queued (msg_"),
                    "{out}"
                );
                // "the sender's next messages are accepted"
                let (code, out, err) = run(telephony(dir).args([
                    "simulate",
                    "sms",
                    "--from",
                    "+15557654321",
                    "Me again",
                ]));
                assert_eq!(code, 0, "{out}{err}");
                assert!(out.ends_with("\n  dispatched: accepted\n"), "{out}");
            }
            ["telephony", "send", ..] => {
                let (code, out, err) = run_line(dir, &line.command, &fill);
                assert_eq!(code, 0, "{out}{err}");
                let mut out_lines = out.lines();
                assert!(
                    out_lines
                        .next()
                        .unwrap()
                        .starts_with("sent through the running gateway at http://127.0.0.1:"),
                    "{out}"
                );
                let receipt = out_lines.next().unwrap();
                let (id, rest) = receipt.split_once("  ").unwrap();
                assert!(id.starts_with("msg_"), "{out}");
                assert!(rest.starts_with("to +15557654321  status "), "{out}");
                id_of_send = id.to_string();
            }
            ["telephony", "receipt", ..] => {
                assert_eq!(line.comment, "→ pending, queued, sent, delivered");
                // Status callbacks take a moment; a user reading the README does too.
                let mut out = String::new();
                wait_for("the receipt to reach delivered", || {
                    let (code, o, _) = run_line(dir, &line.command, &fill);
                    out = o;
                    code == 0 && out.lines().last().is_some_and(|l| l.contains("delivered"))
                });
                let statuses: Vec<&str> = out
                    .lines()
                    .skip(1)
                    .map(|l| l.split_whitespace().nth(1).unwrap())
                    .collect();
                assert_eq!(
                    statuses,
                    ["pending", "queued", "sent", "delivered"],
                    "{provider}: {out}"
                );
                assert!(
                    out.starts_with(&format!(
                        "{id_of_send}  to +15557654321  status delivered  sid "
                    )),
                    "{out}"
                );
            }
            ["telephony", "log"] => {
                assert!(line.comment.contains("every send"), "{}", line.comment);
                let (code, out, err) = run_line(dir, &line.command, &fill);
                assert_eq!(code, 0, "{out}{err}");
                // The pairing code, the approval text and the send, each delivered.
                let sends: Vec<&str> = out
                    .lines()
                    .filter(|l| l.contains("  to +15557654321  "))
                    .collect();
                assert_eq!(sends.len(), 3, "{out}");
                assert!(sends.iter().all(|l| l.contains("  delivered  ")), "{out}");
                assert!(
                    sends[0].contains(&format!("Your pairing code is {code_of_pairing}.")),
                    "{out}"
                );
                assert!(sends[2].ends_with("  Hello from the gateway"), "{out}");
                assert!(out.ends_with("3 message(s)\n"), "{out}");
            }
            other => panic!("no check for the README line {other:?}: add one"),
        }
    }
}

#[test]
fn the_readme_walkthrough_runs_as_written_on_both_sandboxes_then_voice() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // Twilio, the quick start's default.
    let (twilio, log) = serve(dir, &["serve", "--sandbox"], "telephony-data", "twilio.log");
    walk(dir, "twilio", &log);
    // Voice is off unless asked for: the call is rejected, said so, exit 1.
    let started = std::fs::read_to_string(&log).unwrap();
    assert!(
        started.contains("  (voice is off: `telephony serve --sandbox --voice` answers calls for `telephony simulate call`)\n"),
        "{started}"
    );
    let (code, out, err) = run(telephony(dir).args(["simulate", "call", "--from", "+15557654321"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("simulated call CA"), "{out}");
    assert!(out.ends_with(": rejected (no-answer)\n"), "{out}");
    assert_eq!(
        err,
        "error: the gateway rejected the call (<Reject reason=\"rejected\"/>); if voice is off, turn it on: voice.enabled: true, or `telephony serve --sandbox --voice`\n"
    );
    let (code, out, _) =
        run(telephony(dir).args(["simulate", "call", "--from", "+15557654321", "--json"]));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["rejected"].as_bool(), v["status"].as_str()),
        (Some(true), Some("no-answer"))
    );
    stop(twilio);

    // Telnyx in the same directory: its own data, so pairing starts over.
    let (telnyx, log) = serve(
        dir,
        &["serve", "--sandbox", "--provider", "telnyx"],
        "telephony-data-telnyx",
        "telnyx.log",
    );
    walk(dir, "telnyx", &log);
    stop(telnyx);
    // The Twilio sandbox's inbox holds only its own two messages.
    let (code, out, err) = run(telephony(dir).args(["inbox", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bodies: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Hello gateway", "Me again"]);
    assert!(
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["providerSid"].as_str().unwrap().starts_with("SM")),
        "{v}"
    );

    // Voice, as the README's Voice section says: the approved caller gets the default
    // flow, and what they said is in the inbox, marked as a voice transcript.
    let voice = readme_block("<!-- voice-walkthrough: cli/tests/it/walkthrough.rs");
    let commands: Vec<&str> = voice.iter().map(|l| l.command.as_str()).collect();
    assert_eq!(
        commands, VOICE_WALKTHROUGH,
        "the README's voice lines changed: update this test"
    );
    assert_eq!(voice[1].comment, "→ heard: the greeting, then the closing");
    assert_eq!(
        voice[2].comment,
        "→ what the caller said, marked (voice transcript)"
    );
    let argv = words(VOICE_WALKTHROUGH[0]);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let (twilio, log) = serve(dir, &args, "telephony-data", "voice.log");
    let started = std::fs::read_to_string(&log).unwrap();
    assert!(
        started.contains(
            "  telephony simulate call --from +15557654321 --say-speech \"call me back\"\n"
        ),
        "{started}"
    );
    let (code, out, err) = run_line(dir, VOICE_WALKTHROUGH[1], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": completed after "), "{out}");
    assert!(
        out.contains("  heard: Hello! How can I help you? Please speak after the tone.\n"),
        "{out}"
    );
    assert!(out.ends_with("  heard: Thank you. Goodbye.\n"), "{out}");
    let (code, out, err) = run_line(dir, VOICE_WALKTHROUGH[2], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let transcript = out
        .lines()
        .position(|l| l.contains("(voice transcript)"))
        .unwrap_or_else(|| panic!("no voice transcript in:\n{out}"));
    let first = out.lines().nth(transcript).unwrap();
    assert!(
        first.contains("  from +15557654321  [accepted]  (voice transcript)"),
        "{out}"
    );
    assert_eq!(
        out.lines().nth(transcript + 1),
        Some("  call me back"),
        "{out}"
    );
    // The other lines are the two text messages, not marked.
    assert_eq!(out.matches("(voice transcript)").count(), 1, "{out}");
    stop(twilio);
}

#[test]
fn words_split_as_a_shell_would_for_the_readme_lines() {
    assert_eq!(
        words(r#"telephony simulate sms --from +15557654321 "Hello gateway""#),
        [
            "telephony",
            "simulate",
            "sms",
            "--from",
            "+15557654321",
            "Hello gateway"
        ]
    );
    assert_eq!(words("telephony  inbox"), ["telephony", "inbox"]);
    assert_eq!(words(r#"a "" b"#), ["a", "", "b"]);
}

/// The README's Python echo app (`pip install websockets`), in Rust: each `media` frame
/// sent back, then a `mark` named after its `chunk`.
async fn readme_echo_app() -> String {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    async fn media(mut ws: WebSocket) {
        while let Some(Ok(Message::Text(text))) = ws.recv().await {
            let m: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            if m["event"] == "media" {
                let sid = &m["streamSid"];
                for reply in [
                    serde_json::json!({"event": "media", "streamSid": sid,
                        "media": {"payload": m["media"]["payload"]}}),
                    serde_json::json!({"event": "mark", "streamSid": sid,
                        "mark": {"name": m["media"]["chunk"]}}),
                ] {
                    if ws
                        .send(Message::Text(reply.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
    let app = axum::Router::new().route(
        "/media",
        axum::routing::get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(media) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_echo_app_hears_the_simulated_callers_tone() {
    let lines = readme_block("<!-- echo: cli/tests/it/walkthrough.rs");
    let commands: Vec<&str> = lines.iter().map(|l| l.command.as_str()).collect();
    assert_eq!(
        commands, ECHO_LINES,
        "the README's echo lines changed: update this test"
    );
    // The report the README shows.
    let expected = lines[2].comment.clone();
    let url = readme_echo_app().await;
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        // The README's stream settings, with the caller let through.
        std::fs::write(
            dir.path().join("telephony.json5"),
            format!(
                "{{ inboundPolicy: 'allowlist', allowFrom: ['+15557654321'], voice: {{ mode: 'stream', streamUrl: '{url}' }} }}"
            ),
        )
        .unwrap();
        let argv = words(ECHO_LINES[0]);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        let (gateway, _) = serve(dir.path(), &args, "telephony-data", "serve.log");
        let result = run_line(dir.path(), ECHO_LINES[1], &[]);
        stop(gateway);
        result
    })
    .await
    .unwrap();
    let (code, out, err) = out;
    assert_eq!(code, 0, "{out}{err}");
    // One second of tone is 50 frames of 160 bytes; each came back, with its mark.
    assert_eq!(
        expected,
        "stream: sent 50 frames (8000 bytes of audio); received 50 frames (8000 bytes of audio), 50 marks (50 echoed once played)"
    );
    assert!(out.contains(&format!("\n  {expected}\n")), "{out}");
}

/// The README's several-accounts sandbox recipe: its config and its lines.
fn readme_accounts_recipe() -> (String, Vec<Line>) {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let marker = text
        .find("<!-- accounts-sandbox: cli/tests/it/walkthrough.rs")
        .expect("the README marks its several-accounts sandbox recipe");
    fn block<'a>(from: &'a str, fence: &str) -> (String, &'a str) {
        let start = from.find(fence).expect("a fenced block") + fence.len();
        let end = start + from[start..].find("```").expect("the block ends");
        (from[start..end].to_string(), &from[end + 3..])
    }
    let (config, rest) = block(&text[marker..], "```json5\n");
    let (lines, _) = block(rest, "```sh\n");
    let lines = lines
        .lines()
        .map(|l| {
            let (command, comment) = l.split_once(" # ").unwrap_or((l, ""));
            Line {
                command: command.trim().to_string(),
                comment: comment.trim().to_string(),
            }
        })
        .collect();
    (config, lines)
}

/// The recipe's lines, as the README writes them.
const ACCOUNTS_RECIPE: &[&str] = &[
    "telephony serve --sandbox",
    r#"telephony --account alerts simulate sms --from +15557654321 "Disk full on db1""#,
    r#"telephony simulate sms --from +15557654321 "Hello support""#,
    r#"telephony --account alerts send +15557654321 "On it""#,
    "telephony --account alerts log",
];

#[test]
fn the_readme_accounts_recipe_runs_in_the_sandbox_with_its_public_url() {
    let (config, lines) = readme_accounts_recipe();
    let commands: Vec<&str> = lines.iter().map(|l| l.command.as_str()).collect();
    assert_eq!(
        commands, ACCOUNTS_RECIPE,
        "the README's several-accounts recipe changed: update cli/tests/it/walkthrough.rs with it"
    );
    assert!(
        config.contains("publicUrl: \"https://sms.example.com\""),
        "{config}"
    );
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("telephony.json5"), &config).unwrap();
    let argv = words(&lines[0].command);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let (gateway, _) = serve(dir, &args, "telephony-data", "serve.log");

    // alerts: its allowlist lets the sender through.
    assert!(
        lines[1].comment.starts_with("→ dispatched: accepted"),
        "{}",
        lines[1].comment
    );
    let (code, out, err) = run_line(dir, &lines[1].command, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("/sms/alerts: HTTP 200 OK\n  dispatched: accepted\n"),
        "{out}"
    );
    // support, the default account: pairing.
    assert!(
        lines[2]
            .comment
            .starts_with("→ dispatched: pending_pairing"),
        "{}",
        lines[2].comment
    );
    let (code, out, err) = run_line(dir, &lines[2].command, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "/sms/support: HTTP 200 OK\n  dispatched: pending_pairing (pairing code sent)\n"
        ),
        "{out}"
    );
    // A send from alerts: its callbacks are signed for https://sms.example.com/sms/alerts/status
    // and delivered to the listener, so the receipt reaches delivered.
    let (code, out, err) = run_line(dir, &lines[3].command, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("  to +15557654321  status "), "{out}");
    assert_eq!(lines[4].comment, "→ delivered");
    wait_for("the alerts send to be delivered", || {
        let (code, out, _) = run_line(dir, &lines[4].command, &[]);
        code == 0
            && out
                .lines()
                .any(|l| l.contains("  delivered  ") && l.ends_with("  On it"))
    });
    let (code, out, _) = run(telephony(dir).args(["--account", "alerts", "log", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let receipts = v["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 1, "{v}");
    let history: Vec<&str> = receipts[0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "queued", "sent", "delivered"], "{v}");
    stop(gateway);
}

/// The Telnyx voice walkthrough's lines, as the README writes them.
const TELNYX_VOICE_WALKTHROUGH: &[&str] = &[
    "telephony simulate call --from +15557654321",
    "telephony pairing approve <CODE>",
    r#"telephony simulate call --from +15557654321 --say-speech "call me back""#,
    "telephony calls",
];

/// The README's "Telnyx voice" sandbox block, run as written against
/// `telephony serve --sandbox --provider telnyx --voice`, across processes: a stranger's
/// call gets the pairing code, the approved caller the default flow, and `telephony calls`
/// shows both with the statuses Telnyx's events gave them.
#[test]
fn the_readme_telnyx_voice_walkthrough_runs_as_written() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let marker = text
        .find("<!-- telnyx-voice-walkthrough: cli/tests/it/walkthrough.rs")
        .expect("the README marks its Telnyx voice block");
    let rest = &text[marker..];
    let start = rest.find("```sh\n").unwrap() + 6;
    let end = start + rest[start..].find("```").unwrap();
    let lines: Vec<(String, String)> = rest[start..end]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (c, comment) = l.split_once(" # ").unwrap_or((l, ""));
            (c.trim().to_string(), comment.trim().to_string())
        })
        .collect();
    let commands: Vec<&str> = lines.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        commands, TELNYX_VOICE_WALKTHROUGH,
        "update this test with the README"
    );

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (gateway, _) = serve(
        dir,
        &["serve", "--sandbox", "--provider", "telnyx", "--voice"],
        "telephony-data-telnyx",
        "telnyx-voice.log",
    );
    // A stranger: the pairing code is spoken, then the call ends.
    let (code, out, err) = run_line(dir, &lines[0].0, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("simulated call v3:"), "{out}");
    assert!(
        out.contains(
            "  heard: Hello. This number only answers approved callers. Your pairing code is "
        ),
        "{out}"
    );
    let (code, list, err) = run(telephony(dir).args(["pairing", "list", "--json"]));
    assert_eq!(code, 0, "{list}{err}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let pairing = list["requests"][0]["code"]
        .as_str()
        .or_else(|| list[0]["code"].as_str())
        .unwrap_or_else(|| panic!("no pairing code in {list}"))
        .to_string();
    let (code, out, err) = run_line(dir, &lines[1].0, &[("<CODE>", &pairing)]);
    assert_eq!(code, 0, "{out}{err}");
    // Approved: the default flow, and what the caller said is kept.
    let (code, out, err) = run_line(dir, &lines[2].0, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": normal_clearing after "), "{out}");
    assert!(
        out.contains("  heard: Hello! How can I help you? Please speak after the tone.\n"),
        "{out}"
    );
    assert!(out.ends_with("  heard: Thank you. Goodbye.\n"), "{out}");
    let (code, out, err) = run_line(dir, &lines[3].0, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("2 call(s)\n"), "{out}");
    assert!(out.contains("said \"call me back\""), "{out}");
    // The stranger's call: recorded ringing, answered to hear the code; the approved
    // caller's: answered by the gateway; both completed by Telnyx's call.hangup.
    assert_eq!(
        out.matches("  ringing      (webhook)\n").count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.matches("  in-progress  (callback)\n").count(),
        1,
        "{out}"
    );
    assert_eq!(out.matches("  in-progress  (answer)\n").count(), 1, "{out}");
    assert_eq!(
        out.matches("  completed    (callback)\n").count(),
        2,
        "{out}"
    );
    let (code, out, err) = run(telephony(dir).args(["inbox"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(voice transcript)"), "{out}");
    assert!(out.contains("  call me back"), "{out}");
    stop(gateway);
}
