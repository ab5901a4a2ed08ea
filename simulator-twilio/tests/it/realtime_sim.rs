//! The simulator playing Twilio's side of Media Streams and ConversationRelay against a
//! real application on 127.0.0.1: an axum app that serves the TwiML, checks every HTTP
//! request's and every WebSocket upgrade's signature with the crate's
//! `RequestValidator` (the upgrade over the `wss://` URL), and answers on the socket.
//!
//! Every time asserted is on the simulated clock, which moves only when both sides are
//! done with the current instant: the assertions are exact and do not depend on the
//! machine's speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use telephony_twilio::RequestValidator;
use telephony_twilio_simulator::audio::tone_mulaw;
use telephony_twilio_simulator::{
    CallEnd, CallOutcome, CallScript, InboundCall, SessionEnd, Simulator, SimulatorConfig,
};

use crate::support::{self, ACCOUNT, TOKEN, say};

const OURS: &str = "+15550001234";
const THEIRS: &str = "+15550005678";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------------------

/// One HTTP request the application got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    params: Vec<(String, String)>,
    signature_ok: bool,
}

impl Hit {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One WebSocket upgrade the application got.
#[derive(Debug, Clone)]
struct Upgrade {
    /// The URL it checked the signature over.
    url: String,
    signature_ok: bool,
}

#[derive(Clone, Default)]
struct App {
    base: Arc<Mutex<String>>,
    twiml: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    upgrades: Arc<Mutex<Vec<Upgrade>>>,
    /// Text messages received on sockets, by behaviour.
    got: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Close codes received, by behaviour.
    closes: Arc<Mutex<HashMap<String, Option<u16>>>>,
}

impl App {
    fn host(&self) -> String {
        self.base
            .lock()
            .unwrap()
            .trim_start_matches("http://")
            .to_string()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.lock().unwrap())
    }

    fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.host())
    }

    fn xml(&self, path: &str, body: &str) {
        self.twiml.lock().unwrap().insert(
            path.to_string(),
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>"#),
        );
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn upgrades(&self) -> Vec<Upgrade> {
        self.upgrades.lock().unwrap().clone()
    }

    fn got(&self, behaviour: &str) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .get(behaviour)
            .cloned()
            .unwrap_or_default()
    }

    fn close_code(&self, behaviour: &str) -> Option<Option<u16>> {
        self.closes.lock().unwrap().get(behaviour).copied()
    }
}

/// Every HTTP request: a TwiML route (signed POST) or a WebSocket upgrade under `/ws/`.
async fn handle(State(app): State<App>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let uri: Uri = parts.uri.clone();
    let headers: HeaderMap = parts.headers.clone();
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let validator = RequestValidator::new(TOKEN);
    if let Some(behaviour) = uri.path().strip_prefix("/ws/") {
        // Twilio signs the socket URL as written in the TwiML, with wss://, no query.
        let url = match uri.query() {
            Some(q) => format!("wss://{}{}?{q}", app.host(), uri.path()),
            None => format!("wss://{}{}", app.host(), uri.path()),
        };
        let signature_ok = validator.validate(&url, &[], &signature);
        app.upgrades
            .lock()
            .unwrap()
            .push(Upgrade { url, signature_ok });
        if !signature_ok {
            return StatusCode::FORBIDDEN.into_response();
        }
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        };
        let behaviour = behaviour.to_string();
        return upgrade.on_upgrade(move |socket| socket_app(app, behaviour, socket));
    }
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let url = format!("{}{}", app.base.lock().unwrap(), uri.path());
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    let signature_ok = validator.validate(&url, &params, &signature);
    app.hits.lock().unwrap().push(Hit {
        path: uri.path().to_string(),
        params,
        signature_ok,
    });
    match app.twiml.lock().unwrap().get(uri.path()).cloned() {
        Some(doc) => ([("content-type", "text/xml")], doc).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

fn media(sid: &str, mulaw: &[u8]) -> Message {
    text(json!({"event": "media", "streamSid": sid, "media": {"payload": B64.encode(mulaw)}}))
}

fn mark(sid: &str, name: &str) -> Message {
    text(json!({"event": "mark", "streamSid": sid, "mark": {"name": name}}))
}

fn token(t: &str, last: bool) -> Message {
    text(json!({"type": "text", "token": t, "last": last}))
}

/// The application's side of one socket: what it answers to each message, by
/// behaviour.
async fn socket_app(app: App, behaviour: String, mut socket: WebSocket) {
    let mut stream_sid = String::new();
    let mut prompts = 0;
    while let Some(Ok(msg)) = socket.recv().await {
        let raw = match msg {
            Message::Text(t) => t.to_string(),
            Message::Close(frame) => {
                app.closes
                    .lock()
                    .unwrap()
                    .insert(behaviour.clone(), frame.map(|f| f.code));
                break;
            }
            // An application that stops reading at the first frame that is not text.
            _ if behaviour.starts_with("strict") => break,
            _ => continue,
        };
        app.got
            .lock()
            .unwrap()
            .entry(behaviour.clone())
            .or_default()
            .push(raw.clone());
        let v: Value = serde_json::from_str(&raw).unwrap();
        if let Some(sid) = v["streamSid"].as_str() {
            stream_sid = sid.to_string();
        }
        let sid = stream_sid.as_str();
        let event = v["event"]
            .as_str()
            .or(v["type"].as_str())
            .unwrap_or_default();
        let replies: Vec<Message> = match (behaviour.as_str(), event) {
            // Streams
            ("echo", "media") => {
                let payload = B64.decode(v["media"]["payload"].as_str().unwrap()).unwrap();
                vec![media(sid, &payload)]
            }
            ("marks", "start") => vec![
                mark(sid, "first"),
                media(sid, &[0x55; 1600]),
                mark(sid, "a"),
                media(sid, &[0x66; 804]),
                mark(sid, "b"),
            ],
            ("clear" | "barge", "start") => {
                vec![media(sid, &[0x77; 16000]), mark(sid, "greeting-done")]
            }
            ("clear" | "barge", "dtmf") => {
                vec![
                    text(json!({"event": "clear", "streamSid": sid})),
                    mark(sid, "after-clear"),
                ]
            }
            ("junk", "start") => vec![
                text(json!({"event": "dance", "streamSid": sid})),
                media("MZ00000000000000000000000000000000", &[1, 2, 3]),
                Message::Binary(vec![1, 2, 3].into()),
                Message::Text("not json".into()),
                text(json!({"event": "media", "streamSid": sid, "media": {"payload": "***"}})),
                mark(sid, "kept"),
                Message::Close(Some(CloseFrame {
                    code: 1000,
                    reason: "done".into(),
                })),
            ],
            // Relays
            ("conversation", "prompt") if v["last"] == true => vec![
                token("You said: ", false),
                token(v["voicePrompt"].as_str().unwrap(), false),
                token(".", true),
            ],
            ("conversation", "dtmf") if v["digit"] == "9" => {
                vec![text(
                    json!({"type": "end", "handoffData": "{\"reason\":\"agent\"}"}),
                )]
            }
            ("barge-relay", "setup") => vec![text(
                json!({"type": "language", "ttsLanguage": "sv-SE", "transcriptionLanguage": "sv-SE"}),
            )],
            ("barge-relay", "prompt") if v["last"] == true => {
                prompts += 1;
                if prompts == 1 {
                    vec![
                        token("Sure, I can help ", false),
                        token("you with that ", false),
                        token("booking today.", true),
                    ]
                } else {
                    vec![
                        token("Cancelled.", true),
                        text(
                            json!({"type": "play", "source": "https://example.com/bye.mp3", "loop": 2}),
                        ),
                        text(json!({"type": "sendDigits", "digits": "1w2"})),
                    ]
                }
            }
            ("junk-relay", "setup") => {
                let mut out = vec![
                    Message::Text("not json".into()),
                    text(json!({"type": "dance"})),
                    token("ok", true),
                ];
                out.extend((0..10).map(|_| text(json!({"type": "text", "last": true}))));
                out
            }
            ("closing-relay", "prompt") => vec![Message::Close(None)],
            ("strict-relay", "prompt") => vec![
                token("Hello ", false),
                token("there.", true),
                text(json!({"type": "end"})),
            ],
            _ => Vec::new(),
        };
        for reply in replies {
            if socket.send(reply).await.is_err() {
                return;
            }
        }
    }
}

/// A simulator (served, for API hang-ups) and the application.
async fn setup(config: SimulatorConfig) -> (Simulator, String, App) {
    let (sim, server) = support::start(config).await;
    let sim_url = server.url();
    // Kept serving for the test's life.
    std::mem::forget(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::default();
    *app.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback(handle).with_state(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (sim, sim_url, app)
}

fn config() -> SimulatorConfig {
    SimulatorConfig::new(ACCOUNT, TOKEN).with_callback_delay(Duration::from_millis(1))
}

async fn call(sim: &Simulator, app: &App, script: CallScript) -> CallOutcome {
    tokio::time::timeout(
        Duration::from_secs(60),
        sim.place_inbound_call(InboundCall::new(THEIRS, OURS, app.url("/voice")).script(script)),
    )
    .await
    .expect("the call ended")
    .unwrap()
}

fn parse(texts: &[String]) -> Vec<Value> {
    texts
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Media Streams
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stream_sends_twilios_messages_and_gets_the_echo_back() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><Stream url="{}?token=secret" name="caller"><Parameter name="lang" value="en"/><Parameter name="caller" value="{THEIRS}"/></Stream></Connect>"#,
            app.ws("/ws/echo")
        ),
    );
    let tone = tone_mulaw(440.0, 90); // 720 bytes: four frames and a half
    let outcome = call(
        &sim,
        &app,
        CallScript::new()
            .audio(tone.clone())
            .press("5#")
            .hang_up_when_done(),
    )
    .await;
    assert_eq!(outcome.status, "completed");
    assert_eq!(outcome.ended_by, Some(CallEnd::CallerHangUp));
    assert_eq!(outcome.streams.len(), 1);
    let s = &outcome.streams[0];

    // The signed upgrade: over the wss:// URL as written, without the query.
    let wss = format!("wss://{}/ws/echo", app.host());
    assert_eq!(s.url, app.ws("/ws/echo"));
    assert_eq!(s.signed_url, wss);
    assert_eq!(s.signature, RequestValidator::new(TOKEN).compute(&wss, &[]));
    let upgrades = app.upgrades();
    assert_eq!(upgrades.len(), 1);
    assert!(upgrades[0].signature_ok && upgrades[0].url == wss);
    assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    assert!(s.notes[0].starts_with("ws:// accepted"));
    assert!(s.notes[1].contains("\"token=secret\" was dropped"));

    // What Twilio sent, exactly, and that the application got just that.
    assert_eq!(
        s.sent_events(),
        [
            "connected",
            "start",
            "media",
            "media",
            "media",
            "media",
            "media",
            "dtmf",
            "dtmf",
            "stop"
        ]
    );
    let texts: Vec<String> = s.sent.iter().map(|m| m.text.clone()).collect();
    assert_eq!(app.got("echo"), texts);
    let sid = s.stream_sid.clone();
    assert!(sid.starts_with("MZ") && sid.len() == 34);
    assert_eq!(
        texts[0],
        r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#
    );
    assert_eq!(
        texts[1],
        format!(
            r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"{ACCOUNT}","streamSid":"{sid}","callSid":"{}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{"lang":"en","caller":"{THEIRS}"}}}},"streamSid":"{sid}"}}"#,
            outcome.call_sid
        )
    );
    assert_eq!(
        s.custom_parameters,
        [
            ("lang".to_string(), "en".to_string()),
            ("caller".into(), THEIRS.into())
        ]
    );
    let mut padded = tone.clone();
    padded.resize(800, 0xFF);
    for (k, m) in s.sent[2..7].iter().enumerate() {
        let frame = &padded[k * 160..(k + 1) * 160];
        assert_eq!(
            m.text,
            format!(
                r#"{{"event":"media","sequenceNumber":"{}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":"{}"}},"streamSid":"{sid}"}}"#,
                k + 2,
                k + 1,
                k * 20,
                B64.encode(frame)
            )
        );
        assert_eq!(m.at_ms, k as u64 * 20);
    }
    assert_eq!(
        texts[7],
        format!(
            r#"{{"event":"dtmf","streamSid":"{sid}","sequenceNumber":"7","dtmf":{{"track":"inbound_track","digit":"5"}}}}"#
        )
    );
    assert_eq!(parse(&texts[8..9])[0]["dtmf"]["digit"], "#");
    assert_eq!(
        texts[9],
        format!(
            r#"{{"event":"stop","sequenceNumber":"9","stop":{{"accountSid":"{ACCOUNT}","callSid":"{}"}},"streamSid":"{sid}"}}"#,
            outcome.call_sid
        )
    );
    // The keys come after the last frame's 20 ms, the hang-up right after them.
    assert_eq!(
        (s.sent[7].at_ms, s.sent[9].at_ms, s.duration_ms),
        (100, 100, 100)
    );

    // The echo: every frame came back, played as it came.
    assert_eq!(s.sent_audio, padded);
    assert_eq!(s.media_frames_sent, 5);
    assert_eq!(s.received_audio, padded);
    assert_eq!(s.media_frames_received, 5);
    let received_at: Vec<u64> = s.received.iter().map(|m| m.at_ms).collect();
    assert_eq!(received_at, [0, 20, 40, 60, 80]);
    assert_eq!(s.played_bytes, 800);
    assert!(s.alerts.is_empty() && s.marks.is_empty() && s.clears.is_empty());
    assert_eq!(s.ended_by, Some(SessionEnd::CallEnded));
    // Twilio closed the socket after stop.
    assert_eq!(app.close_code("echo"), Some(Some(1000)));
    assert!(app.hits().iter().all(|h| h.signature_ok));
}

/// A mark as `(name, received_at_ms, audio_ahead_bytes, echoed_at_ms,
/// played_bytes_at_echo, cleared)`.
type MarkRow = (String, u64, u64, Option<u64>, u64, bool);

/// The marks case, with `config`'s pace.
async fn marks_case(config: SimulatorConfig) {
    let (sim, _, app) = setup(config).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><Stream url="{}"/></Connect>"#,
            app.ws("/ws/marks")
        ),
    );
    let outcome = call(
        &sim,
        &app,
        CallScript::new().wait_ms(1000).hang_up_when_done(),
    )
    .await;
    let s = &outcome.streams[0];
    // "first" had nothing ahead: back at once. "a" after 1600 bytes (200 ms); "b" after
    // 804 more (100.5 ms, so within the 301st millisecond).
    let marks: Vec<MarkRow> = s
        .marks
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.received_at_ms,
                m.audio_ahead_bytes,
                m.echoed_at_ms,
                m.played_bytes_at_echo,
                m.cleared,
            )
        })
        .collect();
    let row = |name: &str, ahead, echoed, played| -> MarkRow {
        (name.to_string(), 0, ahead, Some(echoed), played, false)
    };
    assert_eq!(
        marks,
        [
            row("first", 0, 0, 0),
            row("a", 1600, 200, 1600),
            row("b", 2404, 301, 2404),
        ]
    );
    assert_eq!(s.echoed_marks(), ["first", "a", "b"]);
    assert_eq!(
        s.sent_events(),
        ["connected", "start", "mark", "mark", "mark", "stop"]
    );
    let at: Vec<u64> = s.sent.iter().map(|m| m.at_ms).collect();
    assert_eq!(at, [0, 0, 0, 200, 301, 1000]);
    let sid = &s.stream_sid;
    assert_eq!(
        s.sent[3].text,
        format!(
            r#"{{"event":"mark","sequenceNumber":"3","streamSid":"{sid}","mark":{{"name":"a"}}}}"#
        )
    );
    assert_eq!(s.played_bytes, 2404);
    assert_eq!(s.received_audio.len(), 2404);
    assert_eq!(s.media_frames_received, 2);
    assert_eq!(outcome.duration_secs, Some(1));
    assert_eq!(app.got("marks").len(), 6);
}

#[tokio::test]
async fn marks_come_back_once_the_audio_before_them_has_played() {
    marks_case(config()).await;
}

#[tokio::test]
async fn paced_marks_keep_the_same_simulated_times() {
    // One simulated second takes 200 ms: the second of this call takes about as long,
    // and every time on the session clock is what it is unpaced.
    let started = std::time::Instant::now();
    marks_case(config().with_simulated_second(Duration::from_millis(200))).await;
    assert!(started.elapsed() >= Duration::from_millis(190));
}

#[tokio::test]
async fn clear_drops_unplayed_audio_and_returns_pending_marks() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><Stream url="{}"/></Connect>"#,
            app.ws("/ws/clear")
        ),
    );
    let outcome = call(
        &sim,
        &app,
        CallScript::new()
            .tone(440.0, 100)
            .press("1")
            .wait_ms(50)
            .hang_up_when_done(),
    )
    .await;
    let s = &outcome.streams[0];
    // 2 s of greeting with a mark after it; the caller presses 1 after 100 ms: the app
    // clears, 800 bytes having played, and the mark comes back at once.
    assert_eq!(s.clears.len(), 1);
    assert_eq!(s.clears[0].at_ms, 100);
    assert_eq!(s.clears[0].dropped_bytes, 16000 - 800);
    assert_eq!(s.clears[0].marks_echoed, ["greeting-done"]);
    let m = &s.marks[0];
    assert_eq!(
        (
            m.name.as_str(),
            m.echoed_at_ms,
            m.played_bytes_at_echo,
            m.cleared
        ),
        ("greeting-done", Some(100), 800, true)
    );
    // The mark the app set after clearing has nothing ahead: back at once too.
    assert_eq!(
        (s.marks[1].name.as_str(), s.marks[1].echoed_at_ms),
        ("after-clear", Some(100))
    );
    assert_eq!(
        s.sent_events(),
        [
            "connected",
            "start",
            "media",
            "media",
            "media",
            "media",
            "media",
            "dtmf",
            "mark",
            "mark",
            "stop"
        ]
    );
    assert_eq!(s.sent.last().unwrap().at_ms, 150);
    assert_eq!(s.played_bytes, 800);
}

#[tokio::test]
async fn interrupt_after_ms_barges_in_over_the_apps_audio() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><Stream url="{}"/></Connect>"#,
            app.ws("/ws/barge")
        ),
    );
    let outcome = call(
        &sim,
        &app,
        CallScript::new()
            .interrupt_after_ms(300)
            .press("1")
            .hang_up_when_done(),
    )
    .await;
    let s = &outcome.streams[0];
    assert_eq!(s.clears[0].at_ms, 300);
    assert_eq!(s.clears[0].dropped_bytes, 16000 - 2400);
    assert_eq!(s.marks[0].played_bytes_at_echo, 2400);
    assert_eq!(s.sent[2].at_ms, 300);
    assert_eq!(
        s.sent_events(),
        ["connected", "start", "dtmf", "mark", "mark", "stop"]
    );
}

#[tokio::test]
async fn invalid_messages_are_31951_and_the_call_goes_on_at_the_action() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect action="/after-stream"><Stream url="{}"/></Connect><Say>never</Say>"#,
            app.ws("/ws/junk")
        ),
    );
    app.xml("/after-stream", "<Say>After the stream</Say>");
    let outcome = call(&sim, &app, CallScript::new().tone(300.0, 200)).await;
    let s = &outcome.streams[0];
    assert_eq!(s.alert_codes(), [31951; 5]);
    let messages: Vec<&str> = s.alerts.iter().map(|a| a.message.as_str()).collect();
    assert_eq!(
        messages[0],
        "Stream - Protocol - Invalid message: unknown event \"dance\" (the application may send media, mark and clear)"
    );
    assert!(
        messages[1]
            .contains("for streamSid \"MZ00000000000000000000000000000000\", not this stream's")
    );
    assert_eq!(
        messages[2],
        "Stream - Protocol - Invalid message: a binary frame (3 bytes): messages are JSON text"
    );
    assert!(messages[3].contains("not JSON"), "{}", messages[3]);
    assert!(
        messages[4].contains("media.payload is not base64"),
        "{}",
        messages[4]
    );
    // The valid mark still came back; nothing else was taken.
    assert_eq!(s.echoed_marks(), ["kept"]);
    assert!(s.received_audio.is_empty());
    // The app closed the socket: no stop, the rest of the caller's audio unsent, and
    // Twilio requests the <Connect action> and runs what it answers.
    assert_eq!(s.ended_by, Some(SessionEnd::AppClosed));
    assert_eq!(s.sent_events(), ["connected", "start", "mark"]);
    assert_eq!(outcome.transcript, [say("After the stream")]);
    assert_eq!(outcome.ended_by, Some(CallEnd::DocumentEnd));
    let hits = app.hits();
    assert_eq!(
        hits.iter().map(|h| h.path.as_str()).collect::<Vec<_>>(),
        ["/voice", "/after-stream"]
    );
    assert!(hits.iter().all(|h| h.signature_ok));
    assert_eq!(hits[1].param("CallStatus"), Some("in-progress"));
}

#[tokio::test]
async fn a_refused_upgrade_is_31920_and_twilio_goes_on_with_the_next_verb() {
    // The simulator signs with another token than the app checks: 403 on the upgrade.
    let (sim, _, app) = setup(SimulatorConfig::new(ACCOUNT, "another-token")).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><Stream url="{}"/></Connect><Connect><Stream url="wss://127.0.0.1:9/tls"/></Connect><Say>No stream</Say>"#,
            app.ws("/ws/echo")
        ),
    );
    let outcome = call(&sim, &app, CallScript::new()).await;
    assert_eq!(outcome.streams.len(), 2);
    assert_eq!(outcome.streams[0].alert_codes(), [31920]);
    assert_eq!(
        outcome.streams[0].alerts[0].message,
        "Stream - WebSocket - Handshake Error: the upgrade was answered HTTP 403"
    );
    assert_eq!(outcome.streams[0].ended_by, Some(SessionEnd::ConnectFailed));
    assert!(outcome.streams[1].alerts[0].message.contains("no TLS"));
    assert!(outcome.streams[1].notes.is_empty());
    assert!(!app.upgrades()[0].signature_ok);
    assert_eq!(outcome.transcript, [say("No stream")]);
}

#[tokio::test]
async fn an_api_hang_up_stops_the_stream() {
    let (sim, sim_url, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><Stream url="{}"/></Connect>"#,
            app.ws("/ws/idle")
        ),
    );
    // No input and no hang-up: the stream stays open for the application.
    let sid = sim
        .start_inbound_call(InboundCall::new(THEIRS, OURS, app.url("/voice")))
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.got("idle").len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let resp = reqwest::Client::new()
        .post(format!(
            "{sim_url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json"
        ))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("Status", "completed")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let outcome = sim
        .wait_for_call(&sid, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(outcome.ended_by, Some(CallEnd::ApiHangUp));
    let s = &outcome.streams[0];
    assert_eq!(s.sent_events(), ["connected", "start", "stop"]);
    assert_eq!(s.ended_by, Some(SessionEnd::CallEnded));
    let got = parse(&app.got("idle"));
    assert_eq!(got.last().unwrap()["event"], "stop");
    assert_eq!(app.close_code("idle"), Some(Some(1000)));
}

// ---------------------------------------------------------------------------------------
// ConversationRelay
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn relay_conversation_ends_with_a_handoff_to_the_action() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect action="/handoff"><ConversationRelay url="{}" welcomeGreeting="Hi! How can I help?" dtmfDetection="true"><Parameter name="customer" value="42"/></ConversationRelay></Connect><Say>never</Say>"#,
            app.ws("/ws/conversation")
        ),
    );
    app.xml("/handoff", "<Say>Transferring you.</Say><Hangup/>");
    let outcome = call(
        &sim,
        &app,
        CallScript::new()
            .prompt("I need a table")
            .press("9")
            .press("0"),
    )
    .await;
    let r = &outcome.relays[0];
    let wss = format!("wss://{}/ws/conversation", app.host());
    assert_eq!(r.signed_url, wss);
    assert!(app.upgrades()[0].signature_ok);
    assert!(r.session_id.starts_with("VX") && r.session_id.len() == 34);

    let sent = parse(&r.sent.iter().map(|m| m.text.clone()).collect::<Vec<_>>());
    assert_eq!(
        sent,
        [
            json!({"type": "setup", "sessionId": r.session_id, "accountSid": ACCOUNT,
                   "callSid": outcome.call_sid, "from": THEIRS, "to": OURS,
                   "direction": "inbound", "callStatus": "RINGING",
                   "customParameters": {"customer": "42"}}),
            json!({"type": "prompt", "voicePrompt": "I need a table", "lang": "en-US", "last": true}),
            json!({"type": "dtmf", "digit": "9"}),
        ]
    );
    // Field order as Twilio writes it.
    assert!(
        r.sent[0]
            .text
            .starts_with(r#"{"type":"setup","sessionId":"VX"#)
    );
    assert_eq!(
        r.sent[1].text,
        r#"{"type":"prompt","voicePrompt":"I need a table","lang":"en-US","last":true}"#
    );
    // The greeting (5 words) is 2 s; the caller waits for it, then says 4 words.
    assert_eq!(r.sent[1].at_ms, 3600);
    assert_eq!(r.sent[2].at_ms, 3600);
    assert_eq!(r.reply_texts(), ["You said: I need a table."]);
    assert_eq!(r.tokens(), ["You said: ", "I need a table", "."]);
    assert!(r.replies[0].complete && !r.replies[0].interrupted);
    assert_eq!(r.replies[0].started_at_ms, 3600);
    let end = r.end.as_ref().unwrap();
    assert_eq!(end.handoff_data.as_deref(), Some(r#"{"reason":"agent"}"#));
    assert_eq!(end.at_ms, 3600);
    assert_eq!(r.ended_by, Some(SessionEnd::Ended));
    assert!(r.alerts.is_empty());
    // Twilio closed the socket after end.
    assert_eq!(app.close_code("conversation"), Some(Some(1000)));

    // The action, signed, with the session's parameters; its TwiML runs; the "0" key
    // the session did not use is left for later verbs.
    let hits = app.hits();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.signature_ok));
    assert_eq!(hits[1].path, "/handoff");
    assert_eq!(hits[1].param("SessionId"), Some(r.session_id.as_str()));
    assert_eq!(hits[1].param("SessionStatus"), Some("ended"));
    assert_eq!(hits[1].param("HandoffData"), Some(r#"{"reason":"agent"}"#));
    assert_eq!(hits[1].param("CallSid"), Some(outcome.call_sid.as_str()));
    assert_eq!(outcome.transcript, [say("Transferring you.")]);
    assert_eq!(outcome.ended_by, Some(CallEnd::Hangup));
}

#[tokio::test]
async fn relay_barge_in_partial_prompts_language_play_and_digits() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><ConversationRelay url="{}" partialPrompts="true"/></Connect>"#,
            app.ws("/ws/barge-relay")
        ),
    );
    let outcome = call(
        &sim,
        &app,
        CallScript::new()
            .prompt("book a table")
            .interrupt_after_ms(1000)
            .prompt("actually cancel")
            .audio(vec![0xFF; 160])
            .hang_up_when_done(),
    )
    .await;
    let r = &outcome.relays[0];
    let sent: Vec<(u64, Value)> = r
        .sent
        .iter()
        .map(|m| (m.at_ms, serde_json::from_str(&m.text).unwrap()))
        .collect();
    let prompt = |text: &str, last: bool| json!({"type": "prompt", "voicePrompt": text, "lang": "sv-SE", "last": last});
    // The reply (9 words from 1200 ms) is interrupted after 1000 ms: two words said.
    assert_eq!(
        sent[1..],
        [
            (400, prompt("book", false)),
            (800, prompt("book a", false)),
            (1200, prompt("book a table", true)),
            (
                2200,
                json!({"type": "interrupt", "utteranceUntilInterrupt": "Sure, I", "durationUntilInterruptMs": 1000})
            ),
            (2600, prompt("actually", false)),
            (3000, prompt("actually cancel", true)),
        ]
    );
    assert_eq!(
        r.sent[4].text,
        r#"{"type":"interrupt","utteranceUntilInterrupt":"Sure, I","durationUntilInterruptMs":1000}"#
    );
    assert_eq!(r.interrupts.len(), 1);
    assert_eq!(r.interrupts[0].reply, Some(0));
    assert_eq!(
        r.reply_texts(),
        [
            "Sure, I can help you with that booking today.",
            "Cancelled."
        ]
    );
    assert!(r.replies[0].interrupted && !r.replies[1].interrupted);
    assert_eq!(r.language_changes.len(), 1);
    assert_eq!(
        r.language_changes[0].transcription_language.as_deref(),
        Some("sv-SE")
    );
    assert_eq!(r.plays.len(), 1);
    assert_eq!(
        (
            r.plays[0].source.as_str(),
            r.plays[0].loop_count,
            r.plays[0].at_ms
        ),
        ("https://example.com/bye.mp3", 2, 3000)
    );
    assert_eq!(r.digits_sent, ["1w2"]);
    assert!(r.notes[0].starts_with("ws:// accepted"));
    assert_eq!(
        r.notes[1..],
        ["160 bytes of audio skipped: ConversationRelay carries text (script .prompt)"]
    );
    assert_eq!(r.ended_by, Some(SessionEnd::CallEnded));
    assert_eq!(outcome.ended_by, Some(CallEnd::CallerHangUp));
    assert_eq!(app.close_code("barge-relay"), Some(Some(1000)));
}

#[tokio::test]
async fn malformed_relay_messages_are_64107_and_ten_in_a_row_close_with_1007() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><ConversationRelay url="{}"/></Connect><Say>never</Say>"#,
            app.ws("/ws/junk-relay")
        ),
    );
    let outcome = call(&sim, &app, CallScript::new()).await;
    let r = &outcome.relays[0];
    let mut expected = vec![64107; 12];
    expected.push(64105);
    assert_eq!(r.alert_codes(), expected);
    assert!(r.alerts[0].message.contains("not JSON"));
    assert!(r.alerts[1].message.contains("unknown type \"dance\""));
    assert!(r.alerts[2].message.contains("text without a string token"));
    assert_eq!(r.reply_texts(), ["ok"]);
    assert_eq!(r.ended_by, Some(SessionEnd::ClosedByTwilio));
    // The app got setup, one error per malformed message, and the 1007 close.
    let got = parse(&app.got("junk-relay"));
    assert_eq!(got.len(), 13);
    assert!(got[1..].iter().all(|m| m["type"] == "error"));
    assert_eq!(app.close_code("junk-relay"), Some(Some(1007)));
    // The socket ended unexpectedly: the call fails with 64105.
    assert_eq!(outcome.error_code(), Some(64105));
    assert_eq!(outcome.ended_by, Some(CallEnd::Error));
    assert!(outcome.transcript.is_empty());
}

#[tokio::test]
async fn a_relay_closed_without_end_fails_the_call() {
    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><ConversationRelay url="{}"/></Connect><Say>never</Say>"#,
            app.ws("/ws/closing-relay")
        ),
    );
    let outcome = call(&sim, &app, CallScript::new().prompt("hello").press("1")).await;
    let r = &outcome.relays[0];
    assert_eq!(r.ended_by, Some(SessionEnd::AppClosed));
    assert_eq!(r.alert_codes(), [64105]);
    // The key press after the prompt is left unused (no "dtmfDetection is off" note):
    // the session was over.
    assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
    assert!(r.notes[0].starts_with("ws:// accepted"));
    assert_eq!(outcome.error_code(), Some(64105));
    assert!(outcome.transcript.is_empty());
}

#[tokio::test]
async fn realtime_sync_can_be_turned_off_for_apps_that_cannot_take_pings() {
    let twiml = |app: &App| {
        format!(
            r#"<Connect><ConversationRelay url="{}"/></Connect><Say>Bye</Say>"#,
            app.ws("/ws/strict-relay")
        )
    };
    // With pings, this application stops reading at the first one: the socket breaks.
    let (sim, _, app) = setup(config()).await;
    app.xml("/voice", &twiml(&app));
    let outcome = call(&sim, &app, CallScript::new().prompt("hi")).await;
    let r = &outcome.relays[0];
    assert_eq!(r.sent_types(), ["setup"]);
    assert!(matches!(
        r.ended_by,
        Some(SessionEnd::Broken | SessionEnd::AppClosed)
    ));
    assert_eq!(outcome.error_code(), Some(64105));

    // Without them it works; only the times of its answers depend on the machine.
    let (sim, _, app) = setup(config().with_realtime_sync(false)).await;
    app.xml("/voice", &twiml(&app));
    let outcome = call(&sim, &app, CallScript::new().prompt("hi")).await;
    let r = &outcome.relays[0];
    assert_eq!(r.sent_types(), ["setup", "prompt"]);
    assert_eq!(r.reply_texts(), ["Hello there."]);
    assert_eq!(r.ended_by, Some(SessionEnd::Ended));
    assert!(r.end.as_ref().unwrap().handoff_data.is_none());
    assert_eq!(outcome.transcript, [say("Bye")]);
    assert_eq!(outcome.error, None);
}

#[tokio::test]
async fn wav_files_are_sent_as_mulaw() {
    use telephony_twilio_simulator::audio::encode_mulaw;
    // 30 ms of 16-bit PCM (240 samples) in a WAV file.
    let samples: Vec<i16> = (0..240).map(|i| ((i * 97) % 2000 - 1000) as i16).collect();
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 1] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    for v in [2u16, 16] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    let dir = std::env::temp_dir().join(format!("realtime-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("caller.wav");
    std::fs::write(&path, &wav).unwrap();
    let stereo = dir.join("stereo.wav");
    let mut bad = wav.clone();
    bad[22] = 2; // two channels
    std::fs::write(&stereo, &bad).unwrap();
    let err = CallScript::new().wav(&stereo).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .ends_with("stereo.wav: 2 channels: only mono is supported")
    );

    let (sim, _, app) = setup(config()).await;
    app.xml(
        "/voice",
        &format!(
            r#"<Connect><Stream url="{}"/></Connect>"#,
            app.ws("/ws/echo")
        ),
    );
    let script = CallScript::new().wav(&path).unwrap().hang_up_when_done();
    std::fs::remove_dir_all(&dir).unwrap();
    let outcome = call(&sim, &app, script).await;
    let s = &outcome.streams[0];
    let mut expected = encode_mulaw(&samples);
    expected.resize(320, 0xFF);
    assert_eq!(s.sent_audio, expected);
    assert_eq!(s.received_audio, expected);
    assert_eq!(s.media_frames_sent, 2);
    assert_eq!(s.duration_ms, 40);
}
