//! Media streaming over a real WebSocket: the simulator connects to a stand-in
//! application's `stream_url` and plays Telnyx's side of the protocol.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::routing::any;
use base64::Engine as _;
use serde_json::{Value, json};
use telephony_telnyx_simulator::{
    CallScript, InboundCall, STREAM_AUTH_HEADER, SimulatorConfig, audio,
};

use crate::voice_app::{VoiceApp, empty, on};

const CONNECTION: &str = "1494404757140276705";
const WAIT: Duration = Duration::from_secs(30);

/// What the stream application saw.
#[derive(Default)]
struct Seen {
    token: Option<String>,
    messages: Vec<Value>,
}

/// A media-stream application on 127.0.0.1: records every message; on `start` sends
/// `replies` (JSON texts). Returns its `ws://` URL and what it saw.
async fn stream_app(replies: Vec<String>) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/stream", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/stream",
        any(move |ws: WebSocketUpgrade, headers: HeaderMap| {
            let (seen, replies) = (state.clone(), replies.clone());
            async move {
                seen.lock().unwrap().token = headers
                    .get(STREAM_AUTH_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                ws.on_upgrade(move |mut socket| async move {
                    while let Some(Ok(msg)) = socket.recv().await {
                        let Message::Text(text) = msg else { continue };
                        let v: Value = serde_json::from_str(text.as_str()).unwrap();
                        let start = v["event"] == "start";
                        seen.lock().unwrap().messages.push(v);
                        if start {
                            for r in &replies {
                                socket.send(Message::Text(r.clone().into())).await.unwrap();
                            }
                        }
                    }
                })
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn events_of(seen: &Arc<Mutex<Seen>>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .messages
        .iter()
        .map(|m| m["event"].as_str().unwrap().to_string())
        .collect()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..4000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn hangup(base: &str, key: &str, id: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v2/calls/{id}/actions/hangup"))
        .bearer_auth(key)
        .json(&empty())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_bidirectional_stream_carries_the_callers_audio_and_keys_and_plays_the_apps() {
    let reply_audio = vec![0x7Fu8; 320];
    let b64 = base64::engine::general_purpose::STANDARD.encode(&reply_audio);
    let (stream_url, seen) = stream_app(vec![
        json!({"event": "media", "media": {"payload": b64}}).to_string(),
        json!({"event": "mark", "mark": {"name": "greeting-done"}}).to_string(),
    ])
    .await;
    let config = SimulatorConfig::generate();
    let answer = json!({
        "client_state": "YQ==",
        "stream_url": stream_url,
        "stream_track": "inbound_track",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_auth_token": "s3cret-token",
        "custom_parameters": [{"name": "customer_id", "value": "42"}],
    });
    let app = VoiceApp::start(
        &config,
        on(vec![("call.initiated", vec![("answer", answer)])]),
    )
    .await;
    let sim = telephony_telnyx_simulator::Simulator::new(
        config.with_connection(CONNECTION, app.url.clone()),
    );
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    app.set_api(server.url());

    let tone = audio::tone_mulaw(440.0, 100);
    let id = sim
        .start_inbound_call(
            InboundCall::new("+15550005678", "+15550001234")
                .script(CallScript::new().audio(tone.clone()).press("5")),
        )
        .unwrap();
    until("the dtmf frame and the mark echo", || {
        let events = events_of(&seen);
        events.contains(&"dtmf".to_string()) && events.contains(&"mark".to_string())
    })
    .await;
    hangup(&server.url(), sim.config().api_key.expose(), &id).await;
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();

    assert_eq!(
        outcome.event_types(),
        [
            "call.initiated",
            "call.answered",
            "streaming.started",
            "call.dtmf.received",
            "streaming.stopped",
            "call.hangup"
        ]
    );
    assert_eq!(outcome.events[3].payload["digit"], "5");
    assert_eq!(outcome.events[2].payload["stream_url"], stream_url.as_str());

    let seen = seen.lock().unwrap();
    assert_eq!(seen.token.as_deref(), Some("s3cret-token"));
    let messages = &seen.messages;
    assert_eq!(
        messages[0],
        json!({"event": "connected", "version": "1.0.0", "connected": {"x-telnyx-streaming-auth-token": "s3cret-token"}})
    );
    let start = &messages[1];
    let stream_id = start["stream_id"].as_str().unwrap();
    assert_eq!(start["event"], "start");
    assert_eq!(start["sequence_number"], "1");
    assert_eq!(start["start"]["call_control_id"], id.as_str());
    assert_eq!(
        start["start"]["call_session_id"],
        outcome.call_session_id.as_str()
    );
    assert_eq!(start["start"]["client_state"], "YQ==");
    assert_eq!(start["start"]["from"], "+15550005678");
    assert_eq!(
        start["start"]["custom_parameters"],
        json!({"customer_id": "42"})
    );
    assert_eq!(
        start["start"]["media_format"],
        json!({"channels": 1, "encoding": "PCMU", "sample_rate": 8000})
    );

    let media: Vec<&Value> = messages.iter().filter(|m| m["event"] == "media").collect();
    assert_eq!(media.len(), 5); // 100 ms in 20 ms frames
    let mut heard = Vec::new();
    for (i, m) in media.iter().enumerate() {
        assert_eq!(m["stream_id"], stream_id);
        assert_eq!(m["media"]["track"], "inbound");
        assert_eq!(m["media"]["chunk"], (i + 1).to_string());
        assert_eq!(m["media"]["timestamp"], (i * 20).to_string());
        heard.extend(
            base64::engine::general_purpose::STANDARD
                .decode(m["media"]["payload"].as_str().unwrap())
                .unwrap(),
        );
    }
    assert_eq!(heard, tone);
    let dtmf = messages.iter().find(|m| m["event"] == "dtmf").unwrap();
    assert_eq!(dtmf["dtmf"], json!({"digit": "5"}));
    let mark = messages.iter().find(|m| m["event"] == "mark").unwrap();
    assert_eq!(mark["mark"], json!({"name": "greeting-done"}));
    assert_eq!(messages.last().unwrap()["event"], "stop");
    // Sequence numbers count every message after `connected`.
    let seqs: Vec<u64> = messages[1..]
        .iter()
        .map(|m| m["sequence_number"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    let record = &outcome.streams[0];
    assert_eq!(record.stream_id, stream_id);
    assert!(record.opened && record.auth_token_sent);
    assert_eq!(record.bidirectional_mode.as_deref(), Some("rtp"));
    assert_eq!(record.audio_received, reply_audio);
    assert_eq!(record.bytes_played, 320);
    assert_eq!(record.marks_received, ["greeting-done"]);
    assert_eq!(record.marks_echoed, ["greeting-done"]);
    assert_eq!(record.media_frames_sent, 5);
    assert_eq!(
        record.sent_events().last().map(String::as_str),
        Some("stop")
    );
    assert!(!record.sent[0].contains("s3cret-token") && record.sent[0].contains("[redacted]"));
}

#[tokio::test]
async fn clear_drops_queued_audio_and_returns_pending_marks() {
    // Ten seconds of audio at one real second a simulated second: still queued when the
    // clear arrives.
    let b64 = base64::engine::general_purpose::STANDARD.encode(vec![0xFFu8; 80_000]);
    let (stream_url, seen) = stream_app(vec![
        json!({"event": "media", "media": {"payload": b64}}).to_string(),
        json!({"event": "mark", "mark": {"name": "after-long-audio"}}).to_string(),
        json!({"event": "clear"}).to_string(),
    ])
    .await;
    let config = SimulatorConfig::generate().with_simulated_second(Duration::from_secs(1));
    let answer = json!({"stream_url": stream_url, "stream_bidirectional_mode": "rtp"});
    let app = VoiceApp::start(
        &config,
        on(vec![("call.initiated", vec![("answer", answer)])]),
    )
    .await;
    let sim = telephony_telnyx_simulator::Simulator::new(
        config.with_connection(CONNECTION, app.url.clone()),
    );
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    app.set_api(server.url());
    let id = sim
        .start_inbound_call(InboundCall::new("+15550005678", "+15550001234"))
        .unwrap();
    until("the mark echo", || {
        events_of(&seen).contains(&"mark".to_string())
    })
    .await;
    hangup(&server.url(), sim.config().api_key.expose(), &id).await;
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();
    let record = &outcome.streams[0];
    assert_eq!(record.clears, 1);
    assert_eq!(record.marks_echoed, ["after-long-audio"]);
    assert_eq!(record.bytes_played, 0);
    assert_eq!(record.audio_received.len(), 80_000);
}

#[tokio::test]
async fn streaming_start_and_stop_and_a_stream_that_cannot_open() {
    let (stream_url, seen) = stream_app(vec![
        json!({"event": "media", "media": {"payload": "AAAA"}}).to_string(),
    ])
    .await;
    let config = SimulatorConfig::generate();
    let app = VoiceApp::start(
        &config,
        on(vec![
            ("call.initiated", vec![("answer", empty())]),
            (
                "call.answered",
                vec![
                    ("streaming_start", json!({"stream_url": stream_url, "stream_track": "both_tracks", "stream_codec": "PCMA"})),
                    ("streaming_start", json!({"stream_url": "ws://127.0.0.1:9/nothing"})),
                ],
            ),
        ]),
    )
    .await;
    let sim = telephony_telnyx_simulator::Simulator::new(
        config.with_connection(CONNECTION, app.url.clone()),
    );
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    app.set_api(server.url());
    let id = sim
        .start_inbound_call(InboundCall::new("+15550005678", "+15550001234"))
        .unwrap();
    app.wait_for("streaming.failed").await;
    let started = app.wait_for("streaming.started").await;
    until("the app's media to arrive", || {
        sim.call_outcome(&id).unwrap().streams[0].media_frames_received == 1
    })
    .await;
    let stop = reqwest::Client::new()
        .post(format!(
            "{}/v2/calls/{id}/actions/streaming_stop",
            server.url()
        ))
        .bearer_auth(sim.config().api_key.expose())
        .json(&empty())
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 200);
    app.wait_for("streaming.stopped").await;
    hangup(&server.url(), sim.config().api_key.expose(), &id).await;
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();

    assert_eq!(
        started["data"]["payload"]["stream_url"],
        stream_url.as_str()
    );
    let failed = &outcome.event("streaming.failed").unwrap().payload;
    assert_eq!(failed["failure_reason"], "connection_failed");
    assert_eq!(failed["stream_type"], "websocket");
    assert_eq!(
        failed["stream_params"]["stream_url"],
        "ws://127.0.0.1:9/nothing"
    );
    assert_eq!(
        outcome
            .event_types()
            .iter()
            .filter(|e| **e == "streaming.stopped")
            .count(),
        1
    );
    assert_eq!(outcome.event_types().last(), Some(&"call.hangup"));

    let one_way = &outcome.streams[0];
    assert_eq!(one_way.encoding, "PCMA");
    assert_eq!(one_way.track, "both_tracks");
    assert_eq!(one_way.bidirectional_mode, None);
    assert!(one_way.audio_received.is_empty());
    assert_eq!(
        one_way.notes,
        ["media on a one-way stream (no stream_bidirectional_mode): ignored"]
    );
    assert_eq!(events_of(&seen), ["connected", "start", "stop"]);
    assert_eq!(
        seen.lock().unwrap().messages[1]["start"]["media_format"]["encoding"],
        "PCMA"
    );
    let failed = &outcome.streams[1];
    assert!(!failed.opened);
    assert!(
        failed
            .failure
            .as_deref()
            .unwrap()
            .starts_with("cannot connect")
    );
}
