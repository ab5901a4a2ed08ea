//! Barge-in on both providers: the application speaks three utterances, each followed by
//! a mark; the caller talks over the second one (`interrupt_after_ms`), the application
//! clears, and learns which marks the caller heard (played) and which it did not
//! (cleared): through the Rust stream handler (`StreamSender::clear`, `MarkPlayed`,
//! `StreamEvent::MarkCleared`) and through the stream bridge (`voice.mode: "stream"`, the
//! bridge's `mark.cleared` on every echo).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::voice::{CallEvent, StreamEvent, StreamVerb, VoiceResponse};
use telephony_core::{AllowList, InboundPolicy, Provider};
use telephony_serve::{
    CallContext, CallStream, Gateway, GatewayBuilder, HandlerError, VoiceMode, VoiceSettings,
};
use telephony_store::SqliteStore;

const CALLER: &str = "+15557654321";
/// Real time per simulated second: the caller barges in 1 s into the application's
/// audio, the second utterance runs until 8.4 s, so the clear has 1.85 s of real time to
/// arrive (a loaded machine needs far less).
const PACE: Duration = Duration::from_millis(250);
/// The utterances: 400 ms, 8 s, 1 s of μ-law (8 bytes a millisecond).
const UTTERANCES: [(&str, usize); 3] = [("u1", 3200), ("u2", 64_000), ("u3", 8000)];

/// Serves `gw` on `listener` and returns its URL.
fn serve(gw: &Gateway, listener: tokio::net::TcpListener) {
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

fn builder(provider: Arc<dyn Provider>, store: Arc<SqliteStore>, url: &str) -> GatewayBuilder {
    Gateway::builder(provider, store)
        .public_url(url.to_string())
        .inbound_policy(
            InboundPolicy::Allowlist,
            AllowList::parse(&[CALLER.to_string()]).unwrap(),
        )
        .voice(VoiceSettings::enabled())
}

/// The Rust agent: speaks the utterances with a mark after each; on the caller's first
/// audio it clears, then reports what became of each mark and hangs up after a short
/// apology.
fn agent(b: GatewayBuilder, log: Arc<Mutex<Vec<String>>>) -> GatewayBuilder {
    b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
        Ok::<_, HandlerError>(VoiceResponse::new().stream(StreamVerb::new()))
    })
    .stream_handler(move |mut stream: CallStream| {
        let log = log.clone();
        async move {
            let out = stream.sender();
            let mut marks = Vec::new();
            for (name, bytes) in UTTERANCES {
                out.send_mulaw(&vec![0xFFu8; bytes])?;
                marks.push(out.mark(name)?);
            }
            let mut cleared_once = false;
            while let Some(ev) = stream.next_event().await {
                match ev {
                    StreamEvent::Audio(_) if !cleared_once => {
                        cleared_once = true;
                        let cleared = out.clear()?;
                        log.lock().unwrap().push(format!("cleared {cleared:?}"));
                        for m in marks.drain(..) {
                            let name = m.name().to_string();
                            let outcome = m.played().await?;
                            log.lock().unwrap().push(format!("{name} {outcome:?}"));
                        }
                    }
                    StreamEvent::Mark { name } => {
                        log.lock().unwrap().push(format!("echo {name} played"))
                    }
                    StreamEvent::MarkCleared { name } => {
                        log.lock().unwrap().push(format!("echo {name} cleared"));
                        if name == "u3" {
                            out.send_mulaw(&[0xFFu8; 800])?;
                            out.hang_up().await?;
                            log.lock().unwrap().push("hung up".into());
                        }
                    }
                    StreamEvent::Stop => break,
                    _ => {}
                }
            }
            Ok::<(), HandlerError>(())
        }
    })
}

/// What the Rust agent must have seen, on either provider.
fn agent_log() -> Vec<String> {
    [
        "echo u1 played",
        r#"cleared ["u2", "u3"]"#,
        "u1 Played",
        "u2 Cleared",
        "u3 Cleared",
        "echo u2 cleared",
        "echo u3 cleared",
        "hung up",
        // Read after the hang-up returned (it waited for this echo).
        "echo telephony-hangup played",
    ]
    .map(String::from)
    .to_vec()
}

/// A Media Streams application behind the stream bridge: speaks the utterances with a
/// mark after each (the 8 s one in four messages, each under the 64 KiB frame), clears
/// on the caller's first audio, records every mark echo as `name cleared=…`, and closes
/// its socket once the last utterance's mark came back.
async fn media_streams_app() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use base64::Engine as _;
    async fn app_socket(mut ws: WebSocket, seen: Arc<Mutex<Vec<String>>>) {
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![0xFFu8; n]);
        let mut cleared = false;
        while let Some(Ok(Message::Text(t))) = ws.recv().await {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            let sid = v["streamSid"].as_str().unwrap_or_default().to_string();
            let mut replies = Vec::new();
            match v["event"].as_str() {
                Some("start") => {
                    for (name, bytes) in UTTERANCES {
                        for _ in 0..bytes.div_ceil(16_000) {
                            replies.push(serde_json::json!({"event": "media", "streamSid": sid,
                                "media": {"payload": b64(bytes.min(16_000))}}));
                        }
                        replies.push(serde_json::json!({"event": "mark", "streamSid": sid,
                            "mark": {"name": name}}));
                    }
                }
                Some("media") if !cleared => {
                    cleared = true;
                    seen.lock().unwrap().push("clear".into());
                    replies.push(serde_json::json!({"event": "clear", "streamSid": sid}));
                }
                Some("mark") => {
                    let name = v["mark"]["name"].as_str().unwrap_or_default();
                    seen.lock()
                        .unwrap()
                        .push(format!("{name} cleared={}", v["mark"]["cleared"]));
                    if name == "u3" {
                        let _ = ws.send(Message::Close(None)).await;
                        return;
                    }
                }
                _ => {}
            }
            for r in replies {
                if ws.send(Message::Text(r.to_string().into())).await.is_err() {
                    return;
                }
            }
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/media",
        axum::routing::get(move |ws: WebSocketUpgrade| {
            let seen = s2.clone();
            async move { ws.on_upgrade(move |socket| app_socket(socket, seen)) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// What the bridged application must have seen, on either provider.
fn app_log() -> Vec<String> {
    [
        "u1 cleared=false",
        "clear",
        "u2 cleared=true",
        "u3 cleared=true",
    ]
    .map(String::from)
    .to_vec()
}

fn bridge(b: GatewayBuilder, app_url: String) -> GatewayBuilder {
    b.voice(
        VoiceSettings::enabled()
            .mode(VoiceMode::Stream)
            .stream_to(app_url)
            .closing("Bye now."),
    )
}

mod twilio {
    use super::*;
    use telephony_twilio::{TwilioConfig, TwilioProvider};
    use telephony_twilio_simulator::{
        CallOutcome, CallScript, InboundCall, RunningSimulator, Simulator, SimulatorConfig,
    };

    const OURS: &str = "+15005550006";

    async fn call(
        sync: bool,
        f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> (CallOutcome, RunningSimulator, tempfile::TempDir) {
        let sim = Simulator::new(
            SimulatorConfig::generate()
                .with_simulated_second(PACE)
                .with_realtime_sync(sync),
        );
        let running = sim
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let c = sim.config();
        let provider = Arc::new(
            TwilioProvider::new(
                TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                    .api_base_url(running.url())
                    .from_number(OURS.parse().unwrap()),
            )
            .unwrap(),
        );
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gw = f(builder(provider, store, &url)).build();
        serve(&gw, listener);
        let script = CallScript::new()
            .interrupt_after_ms(1000)
            .tone(440.0, 200)
            .wait_ms(20_000);
        let outcome = sim
            .place_inbound_call(
                InboundCall::new(CALLER, OURS, format!("{url}/telephony/webhook"))
                    .status_callback(format!("{url}/telephony/status"))
                    .script(script),
            )
            .await
            .unwrap();
        (outcome, running, dir)
    }

    /// Twilio's side: u1 played through, u2 and u3 came back at the clear.
    fn assert_marks(outcome: &CallOutcome) {
        let s = &outcome.streams[0];
        assert_eq!(s.alert_codes(), Vec::<u32>::new(), "{:?}", s.notes);
        assert_eq!(s.clears.len(), 1, "{:?}", s.notes);
        assert_eq!(s.clears[0].marks_echoed, ["u2", "u3"]);
        let marks: Vec<(&str, bool)> = s
            .marks
            .iter()
            .take(3)
            .map(|m| (m.name.as_str(), m.cleared))
            .collect();
        assert_eq!(marks, [("u1", false), ("u2", true), ("u3", true)]);
        // u1's echo came when its 400 ms (3200 bytes) had played, no sooner.
        assert_eq!(s.marks[0].played_bytes_at_echo, 3200);
        assert_eq!(outcome.status, "completed");
    }

    #[tokio::test]
    async fn the_rust_agent_learns_which_marks_the_caller_heard_when_they_barge_in() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = log.clone();
        let (outcome, running, _dir) = call(true, move |b| agent(b, l)).await;
        assert_marks(&outcome);
        assert_eq!(*log.lock().unwrap(), agent_log());
        // The apology played through before the hang-up.
        let hangup = &outcome.streams[0].marks[3];
        assert_eq!(
            (hangup.name.as_str(), hangup.cleared),
            ("telephony-hangup", false)
        );
        running.shutdown().await;
    }

    #[tokio::test]
    async fn the_stream_bridge_tells_the_app_which_marks_were_cleared() {
        let (app_url, seen) = media_streams_app().await;
        // The bridge adds a hop the simulator's ping barrier cannot see: real time only.
        let (outcome, running, _dir) = call(false, move |b| bridge(b, app_url)).await;
        assert_marks(&outcome);
        assert_eq!(*seen.lock().unwrap(), app_log());
        // The app closed after the last echo: the call went on to its closing.
        assert_eq!(outcome.heard(), ["Bye now."]);
        running.shutdown().await;
    }
}

#[cfg(feature = "telnyx")]
mod telnyx {
    use super::*;
    use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
    use telephony_telnyx_simulator::{
        CallOutcome, CallScript, InboundCall, Simulator, SimulatorConfig,
    };

    const OURS: &str = "+12025550123";
    const CONNECTION: &str = "1494404757140276705";

    async fn call(f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> CallOutcome {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = Simulator::new(
            SimulatorConfig::generate()
                .with_connection(CONNECTION, format!("{url}/telephony/webhook"))
                .with_simulated_second(PACE),
        );
        let running = sim
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let c = sim.config();
        let provider = Arc::new(
            TelnyxProvider::new(
                TelnyxConfig::new(c.api_key.clone())
                    .public_key(c.public_key_base64())
                    .api_base_url(running.url())
                    .from_number(OURS.parse().unwrap())
                    .connection_id(CONNECTION),
            )
            .unwrap(),
        );
        let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
        let gw = f(builder(provider, store, &url)).build();
        serve(&gw, listener);
        let script = CallScript::new()
            .interrupt_after_ms(1000)
            .tone(440.0, 200)
            .wait_ms(20_000);
        let outcome = sim
            .place_inbound_call(InboundCall::new(CALLER, OURS).script(script))
            .await
            .unwrap();
        running.shutdown().await;
        outcome
    }

    /// Telnyx's side: u1 played through, u2 and u3 came back at the clear.
    fn assert_marks(outcome: &CallOutcome) {
        let s = &outcome.streams[0];
        assert_eq!(s.clears, 1, "{s:#?}");
        assert_eq!(s.marks_echoed[..3], ["u1", "u2", "u3"]);
        assert!(
            s.notes.iter().any(|n| n == "the party barged in"),
            "{:?}",
            s.notes
        );
        // Only u1's 3200 bytes played through before the clear; u2 was cut short.
        assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    }

    #[tokio::test]
    async fn the_rust_agent_learns_which_marks_the_caller_heard_when_they_barge_in() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = log.clone();
        let outcome = call(move |b| agent(b, l)).await;
        assert_marks(&outcome);
        assert_eq!(*log.lock().unwrap(), agent_log(), "{outcome:#?}");
        let s = &outcome.streams[0];
        // u1 and the apology played; u2 was cut (on a loaded machine a few of its frames
        // may play before the clear arrives: which marks played is what is exact).
        assert!(s.bytes_played >= 3200 + 800, "{}", s.bytes_played);
        assert_eq!(s.marks_echoed, ["u1", "u2", "u3", "telephony-hangup"]);
    }

    #[tokio::test]
    async fn the_stream_bridge_tells_the_app_which_marks_were_cleared() {
        let (app_url, seen) = media_streams_app().await;
        let outcome = call(move |b| bridge(b, app_url)).await;
        assert_marks(&outcome);
        assert_eq!(*seen.lock().unwrap(), app_log(), "{outcome:#?}");
        assert_eq!(outcome.streams[0].bytes_played, 3200);
        assert_eq!(outcome.heard(), ["Bye now."]);
    }
}
