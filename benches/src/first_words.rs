//! Faster first words (issue 21): the time from a call's first webhook to the
//! application's first audio (stream bridge) or text (relay bridge) reaching the caller,
//! with `voice.preconnect` off (before: the gateway opens the application's side once the
//! provider connects the stream) and on (after: while it answers the webhook).
//!
//! Everything runs in this process over loopback: the Twilio and Telnyx simulators, an
//! embedded gateway per provider and setting, a Media Streams application that speaks
//! one 20 ms frame right after `start`, and an HTTP relay application that answers
//! `call.started` with text. Loopback has no distance, so two delays stand in for it:
//! `--provider-connect-ms`, the provider's media setup between the webhook's answer and
//! its socket opening (the simulators' `realtime_connect_delay` / `stream_connect_delay`),
//! and `--app-connect-ms`, how long the application's WebSocket upgrade takes (a far or
//! cold application); `--app-answer-ms` is how long the relay application takes to
//! answer `call.started` (composing its greeting). Each figure is the median of
//! `--calls` calls, read from the simulators' `first_media_after` / `first_text_after`.
//!
//! ```sh
//! cargo run --release -p telephony-benches --bin first-words -- --calls 7
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use clap::Parser;
use telephony_core::{AllowList, InboundPolicy, Provider};
use telephony_serve::voice::bridge::HttpRelayBridge;
use telephony_serve::{Gateway, VoiceMode, VoiceSettings};
use telephony_store::SqliteStore;

const CALLER: &str = "+15557654321";

#[derive(Parser, Debug, Clone)]
#[command(about = "Webhook-to-first-words latency with voice.preconnect off and on")]
struct Args {
    /// Calls per configuration (the median is printed).
    #[arg(long, default_value_t = 5)]
    calls: usize,
    /// The provider's media setup: real ms between the webhook's answer and the socket.
    #[arg(long, default_value_t = 300)]
    provider_connect_ms: u64,
    /// How long the application's WebSocket upgrade takes (ms).
    #[arg(long, default_value_t = 150)]
    app_connect_ms: u64,
    /// How long the relay application takes to answer `call.started` (ms).
    #[arg(long, default_value_t = 400)]
    app_answer_ms: u64,
}

/// The Media Streams application: upgrades after `delay`, sends one frame after `start`.
async fn stream_app(delay: Duration) -> String {
    async fn socket(mut ws: WebSocket) {
        while let Some(Ok(Message::Text(t))) = ws.recv().await {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
            if v["event"] == "start" {
                let frame = serde_json::json!({"event": "media", "streamSid": v["streamSid"],
                    "media": {"payload": "/////////////////////w=="}});
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
    let app = axum::Router::new().route(
        "/media",
        axum::routing::get(move |ws: WebSocketUpgrade| async move {
            tokio::time::sleep(delay).await;
            ws.on_upgrade(socket)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The relay application: answers `call.started` with a greeting after `delay`.
async fn relay_app(delay: Duration) -> String {
    let app = axum::Router::new().route(
        "/assistant",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| async move {
            if body["type"] == "call.started" {
                tokio::time::sleep(delay).await;
                axum::Json(serde_json::json!({"text": "Hi, this is the assistant."}))
            } else {
                axum::Json(serde_json::json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/assistant", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Stream,
    Relay,
}

async fn serve_gateway(
    provider: Arc<dyn Provider>,
    kind: Kind,
    preconnect: bool,
    app_url: &str,
    listener: tokio::net::TcpListener,
    dir: &std::path::Path,
) {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(SqliteStore::open(dir.join("t.db")).await.unwrap());
    let mut settings = VoiceSettings::enabled().preconnect(preconnect);
    let mut b = Gateway::builder(provider, store)
        .public_url(url)
        .inbound_policy(
            InboundPolicy::Allowlist,
            AllowList::parse(&[CALLER.to_string()]).unwrap(),
        );
    match kind {
        Kind::Stream => settings = settings.stream_to(app_url.to_string()),
        Kind::Relay => {
            settings = settings.mode(VoiceMode::Relay);
            b = b.relay_handler(HttpRelayBridge::new(
                app_url.to_string(),
                None,
                Duration::from_secs(8),
            ));
        }
    }
    let gw = b.voice(settings).build();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn twilio(args: &Args, kind: Kind, preconnect: bool, app_url: &str) -> Vec<Duration> {
    use telephony_twilio::{TwilioConfig, TwilioProvider};
    use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
    const OURS: &str = "+15005550006";
    let sim = Simulator::new(
        SimulatorConfig::generate()
            .with_realtime_connect_delay(Duration::from_millis(args.provider_connect_ms))
            .with_simulated_second(Duration::from_millis(1000))
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
    serve_gateway(provider, kind, preconnect, app_url, listener, dir.path()).await;
    let mut out = Vec::new();
    for _ in 0..args.calls {
        let outcome = sim
            .place_inbound_call(
                InboundCall::new(CALLER, OURS, format!("{url}/telephony/webhook"))
                    .status_callback(format!("{url}/telephony/status"))
                    .script(CallScript::new().wait_ms(1500).hang_up_when_done()),
            )
            .await
            .unwrap();
        let first = match kind {
            Kind::Stream => outcome.streams.first().and_then(|s| s.first_media_after),
            Kind::Relay => outcome.relays.first().and_then(|r| r.first_text_after),
        };
        out.push(
            first.unwrap_or_else(|| {
                panic!("no first words on a Twilio {kind:?} call: {outcome:#?}")
            }),
        );
    }
    running.shutdown().await;
    out
}

async fn telnyx(args: &Args, preconnect: bool, app_url: &str) -> Vec<Duration> {
    use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
    use telephony_telnyx_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
    const OURS: &str = "+12025550123";
    const CONNECTION: &str = "1494404757140276705";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sim = Simulator::new(
        SimulatorConfig::generate()
            .with_connection(CONNECTION, format!("{url}/telephony/webhook"))
            .with_stream_connect_delay(Duration::from_millis(args.provider_connect_ms))
            .with_simulated_second(Duration::from_millis(1000)),
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
    let dir = tempfile::tempdir().unwrap();
    serve_gateway(
        provider,
        Kind::Stream,
        preconnect,
        app_url,
        listener,
        dir.path(),
    )
    .await;
    let mut out = Vec::new();
    for _ in 0..args.calls {
        let outcome = sim
            .place_inbound_call(
                InboundCall::new(CALLER, OURS)
                    .script(CallScript::new().wait_ms(1500).hang_up_when_done()),
            )
            .await
            .unwrap();
        let first = outcome.streams.first().and_then(|s| s.first_media_after);
        out.push(
            first.unwrap_or_else(|| panic!("no first words on a Telnyx stream call: {outcome:#?}")),
        );
    }
    running.shutdown().await;
    out
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let stream_url = stream_app(Duration::from_millis(args.app_connect_ms)).await;
    let relay_url = relay_app(Duration::from_millis(args.app_answer_ms)).await;
    println!(
        "first words: webhook → the app's first audio/text at the caller; median of {} calls; provider connect {} ms, app WebSocket upgrade {} ms, relay app answer {} ms",
        args.calls, args.provider_connect_ms, args.app_connect_ms, args.app_answer_ms
    );
    println!("| provider | mode | before (preconnect off) | after (preconnect on) | saved |");
    println!("|---|---|---|---|---|");
    for (name, kind) in [
        ("Twilio", Kind::Stream),
        ("Telnyx", Kind::Stream),
        ("Twilio", Kind::Relay),
    ] {
        let mut figures = Vec::new();
        for preconnect in [false, true] {
            let v = match (name, kind) {
                ("Telnyx", _) => telnyx(&args, preconnect, &stream_url).await,
                (_, Kind::Stream) => twilio(&args, kind, preconnect, &stream_url).await,
                (_, Kind::Relay) => twilio(&args, kind, preconnect, &relay_url).await,
            };
            figures.push(median(v));
        }
        let (before, after) = (figures[0], figures[1]);
        println!(
            "| {name} | {} | {} ms | {} ms | {} ms |",
            match kind {
                Kind::Stream => "stream",
                Kind::Relay => "relay",
            },
            before.as_millis(),
            after.as_millis(),
            before.as_millis() as i128 - after.as_millis() as i128
        );
    }
}
