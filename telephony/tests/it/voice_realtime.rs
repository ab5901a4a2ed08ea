//! Whole real-time conversations over loopback: the Twilio simulator rings the gateway,
//! follows its `<Connect>` to the gateway's WebSocket route (signed upgrade, one-time
//! token), and plays Twilio's side of Media Streams and ConversationRelay against Rust
//! handlers and against the standalone server's relay bridge to an HTTP app.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony::config::Config;
use telephony::server::{self, ServeOptions};
use telephony_core::audio;
use telephony_core::voice::{
    CallEvent, RelayEvent, RelayVerb, StreamEvent, StreamVerb, VoiceResponse,
};
use telephony_core::{AllowList, InboundPolicy};
use telephony_serve::{
    CallContext, CallStream, Gateway, GatewayBuilder, HandlerError, RelaySession, VoiceSettings,
};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{
    CallEnd, CallScript, InboundCall, RunningSimulator, SessionEnd, Simulator, SimulatorConfig,
};

const OURS: &str = "+15005550006";
const CALLER: &str = "+15557654321";

async fn embedded(
    sim: &Simulator,
    running: &RunningSimulator,
    dir: &std::path::Path,
    f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> (Gateway, String) {
    let c = sim.config();
    let provider = Arc::new(
        TwilioProvider::new(
            TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                .api_base_url(running.url())
                .from_number(OURS.parse().unwrap()),
        )
        .unwrap(),
    );
    let store = Arc::new(SqliteStore::open(dir.join("t.db")).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let b = Gateway::builder(provider, store)
        .public_url(url.clone())
        .inbound_policy(
            InboundPolicy::Allowlist,
            AllowList::parse(&[CALLER.to_string()]).unwrap(),
        )
        .voice(VoiceSettings::enabled());
    let gw = f(b).build();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (gw, url)
}

async fn simulator() -> (Simulator, RunningSimulator) {
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (sim, running)
}

fn call(url: &str, script: CallScript) -> InboundCall {
    InboundCall::new(CALLER, OURS, format!("{url}/telephony/webhook"))
        .status_callback(format!("{url}/telephony/status"))
        .script(script)
}

#[tokio::test]
async fn a_media_stream_echoes_the_caller_clears_on_a_key_and_hangs_up_after_the_goodbye_played() {
    let (sim, running) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let heard: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = heard.clone();
    let (_gw, url) = embedded(&sim, &running, dir.path(), move |b| {
        b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(
                VoiceResponse::new().stream(StreamVerb::new().parameter("agent", "echo")),
            )
        })
        .stream_handler(move |mut stream: CallStream| {
            let log = log.clone();
            async move {
                let out = stream.sender();
                let mut pcm = Vec::with_capacity(160);
                log.lock().unwrap().push(format!(
                    "agent={}",
                    stream.start().custom_parameters["agent"]
                ));
                while let Some(ev) = stream.next_event().await {
                    match ev {
                        StreamEvent::Audio(frame) => {
                            // Decode and re-encode: the PCM path, no allocation per frame.
                            audio::decode_mulaw_into(&frame.mulaw, &mut pcm);
                            out.send_pcm(&pcm)?;
                        }
                        StreamEvent::Dtmf { digit } => {
                            log.lock().unwrap().push(format!("dtmf {digit}"));
                            out.clear()?;
                            // One second of goodbye, then hang up once it played.
                            out.send_mulaw(&[0xFFu8; 8000])?;
                            out.hang_up().await?;
                            log.lock().unwrap().push("hung up".into());
                        }
                        StreamEvent::Stop => break,
                        _ => {}
                    }
                }
                Ok::<(), HandlerError>(())
            }
        })
    })
    .await;
    let tone = telephony_twilio_simulator::audio::tone_mulaw(440.0, 200);
    let outcome = sim
        .place_inbound_call(call(
            &url,
            CallScript::new()
                .audio(tone.clone())
                .wait_ms(300)
                .press("1")
                .wait_ms(3000),
        ))
        .await
        .unwrap();
    assert_eq!(outcome.status, "completed");
    let s = &outcome.streams[0];
    assert_eq!(
        s.signed_url,
        format!("{}/telephony/stream", url.replace("http://", "wss://"))
    );
    assert_eq!(s.alert_codes(), Vec::<u32>::new());
    // The tone came back as it went (μ-law → PCM → μ-law is exact).
    assert!(
        s.received_audio.starts_with(&tone),
        "{} bytes back",
        s.received_audio.len()
    );
    assert_eq!(s.clears.len(), 1);
    // The hang-up waited for its mark: the goodbye played through.
    assert_eq!(s.echoed_marks(), ["telephony-hangup"]);
    let mark = &s.marks[0];
    assert!(!mark.cleared);
    assert!(mark.played_bytes_at_echo >= 8000, "{mark:?}");
    assert_eq!(
        *heard.lock().unwrap(),
        ["agent=echo".to_string(), "dtmf 1".into(), "hung up".into()]
    );
    running.shutdown().await;
}

#[tokio::test]
async fn a_relay_streams_tokens_handles_an_interrupt_and_ends() {
    let (sim, running) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (_gw, url) = embedded(&sim, &running, dir.path(), |b| {
        b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(
                VoiceResponse::new().relay(RelayVerb::new().welcome_greeting("Hello!")),
            )
        })
        .relay_handler(|mut relay: RelaySession| async move {
            let out = relay.sender();
            while let Some(ev) = relay.next_event().await {
                match ev {
                    RelayEvent::Prompt {
                        text, last: true, ..
                    } if text.contains("bye") => {
                        out.say("Goodbye!")?;
                        out.end(None)?;
                    }
                    RelayEvent::Prompt {
                        text, last: true, ..
                    } => {
                        for w in format!("You asked about {text} and here is a long answer")
                            .split_inclusive(' ')
                        {
                            out.token(w, false)?;
                        }
                        out.token("", true)?;
                    }
                    RelayEvent::Interrupt { .. } => out.say("Go ahead.")?,
                    _ => {}
                }
            }
            Ok::<(), HandlerError>(())
        })
    })
    .await;
    let outcome = sim
        .place_inbound_call(call(
            &url,
            CallScript::new()
                .prompt("the weather")
                .interrupt_after_ms(800)
                .prompt("bye"),
        ))
        .await
        .unwrap();
    let r = &outcome.relays[0];
    assert_eq!(r.alert_codes(), Vec::<u32>::new());
    assert_eq!(r.ended_by, Some(SessionEnd::Ended));
    let replies = r.reply_texts();
    assert_eq!(
        replies[0],
        "You asked about the weather and here is a long answer"
    );
    assert_eq!(replies[1..], ["Go ahead.", "Goodbye!"]);
    assert_eq!(r.interrupts.len(), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn the_standalone_server_bridges_a_relay_to_an_http_app() {
    // The app: speaks back what it heard, ends on "bye".
    let app = axum::Router::new().route(
        "/assistant",
        axum::routing::post(|body: axum::Json<serde_json::Value>| async move {
            let text = body["data"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match body["type"].as_str() {
                Some("call.prompt") if text.contains("bye") => {
                    axum::Json(serde_json::json!({"text": "See you!", "end": true}))
                }
                Some("call.prompt") => {
                    axum::Json(serde_json::json!({"text": format!("Echo: {text}")}))
                }
                _ => axum::Json(serde_json::json!({})),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}/assistant", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, allowFrom: ['{CALLER}'], dataDir: {:?},
            voice: {{ enabled: true, mode: 'relay', relayUrl: '{app_url}', greeting: 'Hi there.' }} }}",
        dir.path().display().to_string()
    ))
    .unwrap();
    let running = server::start(
        &config,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap();
    let rt = &running.runtime;
    // Twilio's side, signing with the sandbox account's token. The app answers over HTTP,
    // so the caller waits a little (simulated seconds paced at 20 ms) after each prompt.
    let sim = Simulator::new(
        SimulatorConfig::new(
            rt.sandbox_account_sid.clone().unwrap(),
            rt.sandbox_auth_token.clone().unwrap(),
        )
        .with_simulated_second(Duration::from_millis(20)),
    );
    let outcome = sim
        .place_inbound_call(
            InboundCall::new(CALLER, OURS, rt.webhook_url.clone())
                .status_callback(rt.status_url.clone())
                .script(
                    CallScript::new()
                        .prompt("hello there")
                        .wait_ms(3000)
                        .prompt("ok bye")
                        .wait_ms(3000),
                ),
        )
        .await
        .unwrap();
    let r = &outcome.relays[0];
    assert_eq!(
        r.alert_codes(),
        Vec::<u32>::new(),
        "{:?} {:?}",
        r.alerts,
        r.notes
    );
    assert_eq!(
        r.reply_texts(),
        ["Echo: hello there", "See you!"],
        "{:?} {:?} {:?}",
        r.notes,
        r.ended_by,
        r.received
    );
    assert_eq!(outcome.status, "completed");
    tokio::time::sleep(Duration::from_millis(50)).await;
    running.shutdown().await;
}

/// A Media Streams application, unaware of the gateway: it records every event, echoes
/// each media frame with a mark after it, and closes its socket on DTMF `9`.
pub(crate) async fn media_streams_app() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    async fn app_socket(mut ws: WebSocket, seen: Arc<Mutex<Vec<serde_json::Value>>>) {
        let mut n = 0;
        while let Some(Ok(Message::Text(t))) = ws.recv().await {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            seen.lock().unwrap().push(v.clone());
            let sid = v["streamSid"].as_str().unwrap_or_default().to_string();
            let replies = match v["event"].as_str() {
                Some("media") => {
                    n += 1;
                    vec![
                        serde_json::json!({"event": "media", "streamSid": sid,
                            "media": {"payload": v["media"]["payload"]}}),
                        serde_json::json!({"event": "mark", "streamSid": sid,
                            "mark": {"name": format!("m{n}")}}),
                    ]
                }
                Some("dtmf") if v["dtmf"]["digit"] == "9" => {
                    let _ = ws.send(Message::Close(None)).await;
                    return;
                }
                _ => vec![],
            };
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

/// The standalone server in `voice.mode: "stream"` to `app_url`, and a simulator for it.
async fn stream_mode_server(
    dir: &std::path::Path,
    app_url: &str,
) -> (server::RunningGateway, Simulator) {
    stream_mode_server_with(dir, app_url, "").await
}

/// [`stream_mode_server`] with more `serve` keys.
async fn stream_mode_server_with(
    dir: &std::path::Path,
    app_url: &str,
    serve: &str,
) -> (server::RunningGateway, Simulator) {
    let config = Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0, {serve} }}, admin: {{ port: 0 }}, allowFrom: ['{CALLER}'], dataDir: {:?},
            voice: {{ enabled: true, mode: 'stream', streamUrl: '{app_url}', closing: 'Bye now.' }} }}",
        dir.display().to_string()
    ))
    .unwrap();
    let running = server::start(
        &config,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap();
    let rt = &running.runtime;
    let sim = Simulator::new(
        SimulatorConfig::new(
            rt.sandbox_account_sid.clone().unwrap(),
            rt.sandbox_auth_token.clone().unwrap(),
        )
        // The proxy adds a hop the simulator's ping barrier cannot see (the gateway answers
        // pings itself), so the caller's clock runs on real time here.
        .with_simulated_second(Duration::from_millis(50))
        .with_realtime_sync(false),
    );
    (running, sim)
}

#[tokio::test]
async fn stream_mode_proxies_media_streams_frame_for_frame_to_the_app() {
    let (app_url, seen) = media_streams_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (running, sim) = stream_mode_server(dir.path(), &app_url).await;
    let rt = &running.runtime;
    let tone = telephony_twilio_simulator::audio::tone_mulaw(440.0, 100);
    let outcome = sim
        .place_inbound_call(
            InboundCall::new(CALLER, OURS, rt.webhook_url.clone())
                .status_callback(rt.status_url.clone())
                .script(
                    CallScript::new()
                        .audio(tone.clone())
                        .press("4")
                        // 1 s of real time for the echoes to come back through the proxy
                        // (50 ms was too little on a loaded CI machine).
                        .wait_ms(20_000)
                        .hang_up_when_done(),
                ),
        )
        .await
        .unwrap();
    let s = &outcome.streams[0];
    assert_eq!(s.alert_codes(), Vec::<u32>::new(), "{:?}", s.notes);
    // 100 ms of tone is 5 frames of 160 bytes; each came back through the proxy with a mark.
    let why = format!(
        "stream ended by {:?} ({:?}) at {} ms, call ended by {:?}, notes {:?}",
        s.ended_by, s.close_frame, s.duration_ms, outcome.ended_by, s.notes
    );
    assert_eq!(s.media_frames_sent, 5, "{why}");
    assert_eq!(s.received_audio.len(), tone.len(), "{why}");
    assert_eq!(s.received_audio, tone);
    assert_eq!(s.echoed_marks(), ["m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(s.ended_by, Some(SessionEnd::CallEnded));
    // The app saw Twilio's own messages, in order, less the gateway's spent token.
    let seen = seen.lock().unwrap().clone();
    let events: Vec<&str> = seen
        .iter()
        .map(|v| v["event"].as_str().unwrap())
        .filter(|e| *e != "mark")
        .collect();
    assert_eq!(
        events,
        [
            "connected",
            "start",
            "media",
            "media",
            "media",
            "media",
            "media",
            "dtmf",
            "stop"
        ]
    );
    // Twilio's mark echoes reached the app too, one per mark, once its audio had played.
    let echoed: Vec<&str> = seen
        .iter()
        .filter(|v| v["event"] == "mark")
        .map(|v| v["mark"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(echoed, ["m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(seen[1]["start"]["callSid"], outcome.call_sid.as_str());
    assert_eq!(seen[1]["start"]["customParameters"], serde_json::json!({}));
    assert_eq!(seen[1]["start"]["mediaFormat"]["encoding"], "audio/x-mulaw");
    let dtmf: Vec<&serde_json::Value> = seen.iter().filter(|v| v["event"] == "dtmf").collect();
    assert_eq!(dtmf[0]["dtmf"]["digit"], "4");
    assert_eq!(outcome.status, "completed");
    running.shutdown().await;
}

#[tokio::test]
async fn stream_mode_app_closing_ends_the_stream_and_the_call_goes_on_to_its_closing() {
    let (app_url, _seen) = media_streams_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (running, sim) = stream_mode_server(dir.path(), &app_url).await;
    let rt = &running.runtime;
    let outcome = sim
        .place_inbound_call(
            InboundCall::new(CALLER, OURS, rt.webhook_url.clone())
                .status_callback(rt.status_url.clone())
                .script(CallScript::new().tone(440.0, 40).press("9").wait_ms(20_000)),
        )
        .await
        .unwrap();
    let s = &outcome.streams[0];
    assert_eq!(s.ended_by, Some(SessionEnd::AppClosed), "{:?}", s.notes);
    assert_eq!(outcome.heard(), ["Bye now."]);
    assert_eq!(outcome.ended_by, Some(CallEnd::Hangup));
    assert_eq!(outcome.status, "completed");
    running.shutdown().await;
}

#[tokio::test]
async fn stream_mode_with_an_unreachable_app_hangs_the_call_up() {
    // Bound, not listening: a connection is refused, and no other test's listener
    // can be given the port while this socket is held.
    let gone = tokio::net::TcpSocket::new_v4().unwrap();
    gone.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let app_url = format!("ws://{}/media", gone.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (running, _) = stream_mode_server(dir.path(), &app_url).await;
    let rt = &running.runtime;
    // The gateway's hang-up goes to its own sandbox simulator, so that one rings it here.
    let sim = running.simulator.as_ref().unwrap().twilio().unwrap();
    let outcome = sim
        .place_inbound_call(
            InboundCall::new(CALLER, OURS, rt.webhook_url.clone())
                .status_callback(rt.status_url.clone())
                .script(CallScript::new().tone(440.0, 40).wait_ms(5000)),
        )
        .await
        .unwrap();
    let s = &outcome.streams[0];
    // Hung up through the API before the socket closed: the caller got the stream's
    // `stop` and heard no TwiML after it.
    assert_eq!(s.ended_by, Some(SessionEnd::CallEnded), "{:?}", s.notes);
    assert_eq!(s.sent_events().last().map(String::as_str), Some("stop"));
    assert_eq!(outcome.heard(), Vec::<&str>::new());
    assert_eq!(outcome.ended_by, Some(CallEnd::ApiHangUp));
    assert_eq!(outcome.status, "completed");
    running.shutdown().await;
}

#[tokio::test]
async fn a_media_stream_outlives_the_listeners_request_header_and_idle_timeouts() {
    let (app_url, _seen) = media_streams_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (running, sim) = stream_mode_server_with(
        dir.path(),
        &app_url,
        "requestTimeoutMs: 1000, headerTimeoutMs: 1000, idleTimeoutMs: 1000",
    )
    .await;
    let rt = &running.runtime;
    let tone = telephony_twilio_simulator::audio::tone_mulaw(440.0, 100);
    // A simulated second is 50 ms here: the 60 s pause is 3 s of real time, three times
    // each of the listener's timeouts (1 s, so a loaded machine's slow webhook is not one),
    // on a socket upgraded from an HTTP request.
    let outcome = sim
        .place_inbound_call(
            InboundCall::new(CALLER, OURS, rt.webhook_url.clone())
                .status_callback(rt.status_url.clone())
                .script(
                    CallScript::new()
                        .audio(tone.clone())
                        .wait_ms(60_000)
                        .audio(tone.clone())
                        .wait_ms(20_000)
                        .hang_up_when_done(),
                ),
        )
        .await
        .unwrap();
    let s = &outcome.streams[0];
    assert_eq!(s.alert_codes(), Vec::<u32>::new(), "{:?}", s.notes);
    assert_eq!(
        s.media_frames_sent, 10,
        "{:?} {:?} {:?} {:?}",
        s.notes, s.ended_by, s.close_frame, outcome.ended_by
    );
    assert_eq!(s.received_audio, [tone.clone(), tone].concat());
    assert_eq!(s.echoed_marks().len(), 10);
    assert_eq!(s.ended_by, Some(SessionEnd::CallEnded));
    assert_eq!(outcome.status, "completed");
    let m = running.gateway.metrics();
    for reason in ["request_timeout", "header_timeout"] {
        assert_eq!(
            m.get("telephony_listener_refused_total", &[("reason", reason)]),
            0,
            "{reason}"
        );
    }
    running.shutdown().await;
}
