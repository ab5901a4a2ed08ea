//! Faster first words on both providers: with `voice.preconnect` (the default) the
//! gateway opens the application's side of a real-time call (the stream bridge's
//! WebSocket, the relay bridge's `call.started`) while it answers the call's webhook,
//! before the provider connects its socket; with it off, only after. The simulators wait
//! [`CONNECT_DELAY`] between the webhook's answer and opening their socket (the
//! provider's media setup), so "before the socket" is seconds apart from "after", and
//! the asserts compare moments, not durations. The figures are in `benches/RESULTS.md`
//! (`first-words`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telephony_core::{AllowList, InboundPolicy, Provider};
use telephony_serve::voice::bridge::HttpRelayBridge;
use telephony_serve::{Gateway, VoiceMode, VoiceSettings};
use telephony_store::SqliteStore;

const CALLER: &str = "+15557654321";
/// The provider's media setup, real time.
const CONNECT_DELAY: Duration = Duration::from_millis(1500);

/// When the application was first reached (its WebSocket upgrade, or `call.started`).
type Reached = Arc<Mutex<Option<Instant>>>;

/// A Media Streams application that records when its upgrade arrived and speaks one
/// frame after `start`.
async fn stream_app() -> (String, Reached) {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    async fn socket(mut ws: WebSocket) {
        while let Some(Ok(Message::Text(t))) = ws.recv().await {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if v["event"] == "start" {
                let frame = serde_json::json!({"event": "media", "streamSid": v["streamSid"],
                    "media": {"payload": "/////w=="}});
                if ws
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let reached: Reached = Arc::default();
    let r = reached.clone();
    let app = axum::Router::new().route(
        "/media",
        axum::routing::get(move |ws: WebSocketUpgrade| {
            r.lock().unwrap().get_or_insert_with(Instant::now);
            async move { ws.on_upgrade(socket) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, reached)
}

/// A relay application that records when `call.started` arrived and greets.
async fn relay_app() -> (String, Reached, Arc<Mutex<Vec<serde_json::Value>>>) {
    let reached: Reached = Arc::default();
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let (r, s) = (reached.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/assistant",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            if body["type"] == "call.started" {
                r.lock().unwrap().get_or_insert_with(Instant::now);
            }
            s.lock().unwrap().push(body.0.clone());
            async move {
                match body["type"].as_str() {
                    Some("call.started") => axum::Json(serde_json::json!({"text": "Hi there!"})),
                    _ => axum::Json(serde_json::json!({})),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/assistant", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, reached, seen)
}

async fn serve_gateway(
    provider: Arc<dyn Provider>,
    settings: VoiceSettings,
    relay: Option<HttpRelayBridge>,
    listener: tokio::net::TcpListener,
    dir: &std::path::Path,
) {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(SqliteStore::open(dir.join("t.db")).await.unwrap());
    let mut b = Gateway::builder(provider, store)
        .public_url(url)
        .inbound_policy(
            InboundPolicy::Allowlist,
            AllowList::parse(&[CALLER.to_string()]).unwrap(),
        )
        .voice(settings);
    if let Some(r) = relay {
        b = b.relay_handler(r);
    }
    let gw = b.build();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// Asserts the application was reached before the provider's socket opened (preconnect)
/// or after it. `placed` is taken before the call exists, so `reached - placed` is at
/// least the real time from the call's creation to the application being reached.
fn assert_order(preconnect: bool, placed: Instant, reached: &Reached, opened_after: Duration) {
    let reached = reached
        .lock()
        .unwrap()
        .expect("the application was never reached");
    let at = reached.duration_since(placed);
    if preconnect {
        assert!(
            at < opened_after,
            "reached {at:?} after placing, the provider's socket opened {opened_after:?} after the call began"
        );
    } else {
        assert!(
            at >= opened_after,
            "reached {at:?} after placing, before the provider's socket ({opened_after:?})"
        );
    }
}

mod twilio {
    use super::*;
    use telephony_twilio::{TwilioConfig, TwilioProvider};
    use telephony_twilio_simulator::{
        CallOutcome, CallScript, InboundCall, Simulator, SimulatorConfig,
    };

    const OURS: &str = "+15005550006";

    async fn call(
        settings: VoiceSettings,
        relay: Option<HttpRelayBridge>,
    ) -> (CallOutcome, Instant) {
        let sim = Simulator::new(
            SimulatorConfig::generate()
                .with_realtime_connect_delay(CONNECT_DELAY)
                .with_simulated_second(Duration::from_millis(100))
                .with_realtime_sync(false),
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        serve_gateway(provider, settings, relay, listener, dir.path()).await;
        let placed = Instant::now();
        let outcome = sim
            .place_inbound_call(
                InboundCall::new(CALLER, OURS, format!("{url}/telephony/webhook"))
                    .status_callback(format!("{url}/telephony/status"))
                    .script(CallScript::new().wait_ms(3000).hang_up_when_done()),
            )
            .await
            .unwrap();
        running.shutdown().await;
        (outcome, placed)
    }

    #[tokio::test]
    async fn the_stream_bridge_opens_the_apps_socket_while_answering_the_webhook() {
        for preconnect in [true, false] {
            let (app_url, reached) = stream_app().await;
            let settings = VoiceSettings::enabled()
                .stream_to(app_url)
                .preconnect(preconnect);
            let (outcome, placed) = call(settings, None).await;
            let s = &outcome.streams[0];
            assert_eq!(s.alert_codes(), Vec::<u32>::new(), "{:?}", s.notes);
            // The app's frame reached the caller.
            assert_eq!(
                s.received_audio, [0xFF; 4],
                "preconnect {preconnect}: {s:#?}"
            );
            let (Some(opened), Some(first)) = (s.opened_after, s.first_media_after) else {
                panic!("no timings: {s:#?}");
            };
            assert!(first >= opened);
            assert_order(preconnect, placed, &reached, opened);
        }
    }

    #[tokio::test]
    async fn the_relay_bridge_asks_for_its_first_words_while_answering_the_webhook() {
        for preconnect in [true, false] {
            let (app_url, reached, seen) = relay_app().await;
            let settings = VoiceSettings::enabled()
                .mode(VoiceMode::Relay)
                .preconnect(preconnect);
            let bridge = HttpRelayBridge::new(app_url, None, Duration::from_secs(8));
            let (outcome, placed) = call(settings, Some(bridge)).await;
            let r = &outcome.relays[0];
            assert_eq!(r.reply_texts(), ["Hi there!"], "{:?}", r.notes);
            let opened = r.opened_after.expect("opened");
            assert!(r.first_text_after.expect("first text") >= opened);
            assert_order(preconnect, placed, &reached, opened);
            // One call.started either way, numbered 1, with the call's parties.
            let seen = seen.lock().unwrap().clone();
            let started: Vec<_> = seen
                .iter()
                .filter(|v| v["type"] == "call.started")
                .collect();
            assert_eq!(started.len(), 1);
            assert_eq!(started[0]["id"], format!("evt_{}_1", outcome.call_sid));
            assert_eq!(started[0]["data"]["direction"], "inbound");
            assert_eq!(started[0]["data"]["from"], CALLER);
            assert_eq!(started[0]["data"]["to"], OURS);
        }
    }
}

#[cfg(feature = "telnyx")]
mod telnyx {
    use super::*;
    use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
    use telephony_telnyx_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};

    const OURS: &str = "+12025550123";
    const CONNECTION: &str = "1494404757140276705";

    #[tokio::test]
    async fn the_stream_bridge_opens_the_apps_socket_while_answering_the_webhook() {
        for preconnect in [true, false] {
            let (app_url, reached) = stream_app().await;
            let dir = tempfile::tempdir().unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let sim = Simulator::new(
                SimulatorConfig::generate()
                    .with_connection(CONNECTION, format!("{url}/telephony/webhook"))
                    .with_stream_connect_delay(CONNECT_DELAY)
                    .with_simulated_second(Duration::from_millis(100)),
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
            let settings = VoiceSettings::enabled()
                .stream_to(app_url)
                .preconnect(preconnect);
            serve_gateway(provider, settings, None, listener, dir.path()).await;
            let placed = Instant::now();
            let outcome = sim
                .place_inbound_call(
                    InboundCall::new(CALLER, OURS)
                        .script(CallScript::new().wait_ms(3000).hang_up_when_done()),
                )
                .await
                .unwrap();
            running.shutdown().await;
            let s = &outcome.streams[0];
            assert_eq!(
                s.audio_received, [0xFF; 4],
                "preconnect {preconnect}: {s:#?}"
            );
            let (Some(opened), Some(first)) = (s.opened_after, s.first_media_after) else {
                panic!("no timings: {s:#?}");
            };
            assert!(first >= opened);
            assert_order(preconnect, placed, &reached, opened);
        }
    }
}

/// A Rust stream handler's `prepare` runs while the webhook is answered, before Twilio's
/// socket opens, with the call's record.
#[tokio::test]
async fn a_rust_stream_handler_is_prepared_before_the_providers_socket_opens() {
    use async_trait::async_trait;
    use telephony_core::store::CallRecord;
    use telephony_core::voice::{CallEvent, StreamVerb, VoiceResponse};
    use telephony_serve::{CallContext, CallStream, HandlerError, StreamHandler};
    use telephony_twilio::{TwilioConfig, TwilioProvider};
    use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};

    struct Agent {
        prepared: Reached,
        from: Arc<Mutex<String>>,
    }

    #[async_trait]
    impl StreamHandler for Agent {
        async fn on_stream(&self, stream: CallStream) -> Result<(), HandlerError> {
            stream.sender().send_mulaw(&[0xFF; 160])?;
            Ok(())
        }

        async fn prepare(&self, call: &CallRecord) {
            self.prepared
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
            *self.from.lock().unwrap() = call.from.clone();
        }
    }

    const OURS: &str = "+15005550006";
    let sim = Simulator::new(
        SimulatorConfig::generate()
            .with_realtime_connect_delay(CONNECT_DELAY)
            .with_simulated_second(Duration::from_millis(100)),
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
    let prepared: Reached = Arc::default();
    let from: Arc<Mutex<String>> = Arc::default();
    let gw = Gateway::builder(provider, store)
        .public_url(url.clone())
        .inbound_policy(
            InboundPolicy::Allowlist,
            AllowList::parse(&[CALLER.to_string()]).unwrap(),
        )
        .voice(VoiceSettings::enabled())
        .voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(VoiceResponse::new().stream(StreamVerb::new()))
        })
        .stream_handler(Agent {
            prepared: prepared.clone(),
            from: from.clone(),
        })
        .build();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let placed = Instant::now();
    let outcome = sim
        .place_inbound_call(
            InboundCall::new(CALLER, OURS, format!("{url}/telephony/webhook"))
                .status_callback(format!("{url}/telephony/status"))
                .script(CallScript::new().wait_ms(1000).hang_up_when_done()),
        )
        .await
        .unwrap();
    running.shutdown().await;
    let s = &outcome.streams[0];
    assert_eq!(s.received_audio, [0xFF; 160], "{s:#?}");
    assert_order(true, placed, &prepared, s.opened_after.expect("opened"));
    assert_eq!(*from.lock().unwrap(), CALLER);
}
