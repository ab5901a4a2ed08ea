//! `telephony simulate call --interrupt-after-ms`: a caller who talks over a stream-mode
//! application's second sentence, on the Twilio and the Telnyx sandbox across processes;
//! the report says which of the application's marks its `clear` cut.

use crate::support::run;
use crate::walkthrough::{serve, stop, telephony};

/// μ-law silence as base64: `groups` × 3 bytes of 0xFF.
fn silence(groups: usize) -> String {
    "////".repeat(groups)
}

/// A Media Streams app: after `start`, three sentences with a mark after each (`u1`
/// 0.4 s, `u2` 60 s in 16 kB messages, `u3` 1 s); `clear` at the caller's first audio;
/// closes its socket once `u3` came back (the call then goes on to its closing).
async fn barge_in_app() -> String {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    async fn media(mut ws: WebSocket) {
        let mut cleared = false;
        while let Some(Ok(Message::Text(text))) = ws.recv().await {
            let m: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            let sid = m["streamSid"].clone();
            let mut replies = Vec::new();
            match m["event"].as_str() {
                Some("start") => {
                    for (name, groups, messages) in
                        [("u1", 1067, 1), ("u2", 5333, 30), ("u3", 2667, 1)]
                    {
                        for _ in 0..messages {
                            replies.push(serde_json::json!({"event": "media", "streamSid": sid,
                                "media": {"payload": silence(groups)}}));
                        }
                        replies.push(serde_json::json!({"event": "mark", "streamSid": sid,
                            "mark": {"name": name}}));
                    }
                }
                Some("media") if !cleared => {
                    cleared = true;
                    replies.push(serde_json::json!({"event": "clear", "streamSid": sid}));
                }
                Some("mark") if m["mark"]["name"] == "u3" => {
                    let _ = ws.send(Message::Close(None)).await;
                    return;
                }
                _ => {}
            }
            for reply in replies {
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
    let app = axum::Router::new().route(
        "/media",
        axum::routing::get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(media) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Runs `simulate call` with a barge-in against a stream-mode sandbox of `provider`.
fn barge_in_call(url: &str, provider: &str, json: bool) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telephony.json5"),
        format!(
            "{{ inboundPolicy: 'allowlist', allowFrom: ['+15557654321'], voice: {{ mode: 'stream', streamUrl: '{url}' }} }}"
        ),
    )
    .unwrap();
    let (gateway, _) = serve(
        dir.path(),
        &["serve", "--sandbox", "--provider", provider, "--voice"],
        if provider == "telnyx" {
            "telephony-data-telnyx"
        } else {
            "telephony-data"
        },
        "serve.log",
    );
    let mut args = vec![
        "simulate",
        "call",
        "--from",
        "+15557654321",
        "--interrupt-after-ms",
        "1000",
        "--send-tone",
        "440:200",
    ];
    if json {
        args.push("--json");
    }
    let result = run(telephony(dir.path()).args(args));
    stop(gateway);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_call_reports_the_marks_a_barge_in_cleared_on_twilio() {
    let url = barge_in_app().await;
    let (code, out, err) =
        tokio::task::spawn_blocking(move || barge_in_call(&url, "twilio", false))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("\n  barge-in: 1 clear(s); marks cleared before they played: u2, u3\n"),
        "{out}"
    );
    assert!(out.contains(", 3 marks (1 echoed once played)\n"), "{out}");
    assert!(out.contains("  heard: Thank you. Goodbye.\n"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_call_reports_the_marks_a_barge_in_cleared_on_telnyx() {
    let url = barge_in_app().await;
    let (code, out, err) = tokio::task::spawn_blocking(move || barge_in_call(&url, "telnyx", true))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let stream = &v["streams"][0];
    assert_eq!(stream["clears"], 1, "{out}");
    assert_eq!(
        stream["marks_echoed"],
        serde_json::json!(["u1", "u2", "u3"]),
        "{out}"
    );
    assert_eq!(
        stream["marks_cleared"],
        serde_json::json!(["u2", "u3"]),
        "{out}"
    );
}
