//! Media Streams from Rust: echo the caller's voice back half a second later, stop on
//! barge-in (a key press clears what has not played), say goodbye and hang up only once
//! the goodbye has played (its mark came back).
//!
//! ```text
//! cargo run -p telephony-examples --example voice_echo
//! ```
//!
//! Without `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`/`TWILIO_PHONE_NUMBER` the Twilio
//! simulator calls it in-process: the caller sends a tone, waits, presses a key, and the
//! example prints what the simulator's stream received. With credentials it serves calls
//! until Ctrl-C (set `PUBLIC_URL` to the public `https://` origin; Twilio opens the
//! `wss://` stream route there).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::audio;
use telephony_core::voice::{CallEvent, StreamEvent, StreamVerb, VoiceResponse};
use telephony_core::{AllowList, InboundPolicy, MemoryStore};
use telephony_serve::{CallContext, CallStream, Gateway, HandlerError, VoiceSettings};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};

/// Half a second of delay at 8000 samples a second.
const DELAY_SAMPLES: usize = 4000;

/// Echoes the caller, delayed; a key press ends the call politely.
async fn echo(mut stream: CallStream) -> Result<(), HandlerError> {
    let out = stream.sender();
    // The delay line, in PCM; one buffer reused for every frame (no allocation per frame).
    let mut delay: std::collections::VecDeque<i16> =
        std::iter::repeat_n(0, DELAY_SAMPLES).collect();
    let mut pcm = Vec::with_capacity(160);
    let mut outgoing = Vec::with_capacity(160);
    while let Some(event) = stream.next_event().await {
        match event {
            StreamEvent::Audio(frame) => {
                audio::decode_mulaw_into(&frame.mulaw, &mut pcm);
                delay.extend(pcm.iter().copied());
                outgoing.clear();
                outgoing.extend(delay.drain(..pcm.len()));
                out.send_pcm(&outgoing)?;
            }
            StreamEvent::Dtmf { digit } => {
                tracing::info!(%digit, "barge-in: clearing and saying goodbye");
                out.clear()?;
                out.send_pcm(&goodbye())?;
                // Waits for the goodbye's mark before hanging up.
                out.hang_up().await?;
            }
            StreamEvent::Stop => break,
            _ => {}
        }
    }
    Ok(())
}

/// A short two-tone "goodbye" chime (your text-to-speech would go here).
fn goodbye() -> Vec<i16> {
    (0..4000)
        .map(|i| {
            let f = if i < 2000 { 660.0 } else { 440.0 };
            let t = i as f64 / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * f * t).sin()) as i16
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (twilio, simulator) = match (
        env("TWILIO_ACCOUNT_SID"),
        env("TWILIO_AUTH_TOKEN"),
        env("TWILIO_PHONE_NUMBER"),
    ) {
        (Some(sid), Some(token), Some(from)) => (
            TwilioConfig::new(sid, token).from_number(from.parse()?),
            None,
        ),
        _ => {
            let sim = Simulator::new(
                SimulatorConfig::generate().with_simulated_second(Duration::from_millis(50)),
            );
            let running = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let c = sim.config().clone();
            let cfg = TwilioConfig::new(c.account_sid, c.auth_token)
                .api_base_url(running.url())
                .from_number("+15005550006".parse()?);
            (cfg, Some((sim, running)))
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let public_url = env("PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
    let gateway = Gateway::builder(
        Arc::new(TwilioProvider::new(twilio)?),
        Arc::new(MemoryStore::new()),
    )
    .public_url(public_url.clone())
    .inbound_policy(InboundPolicy::Open, AllowList::parse(&["*".to_string()])?)
    .voice(VoiceSettings::enabled())
    .voice_handler(|_event: CallEvent, call: CallContext| async move {
        Ok::<_, HandlerError>(
            VoiceResponse::new()
                .say(call.say("Echo test. Speak, and press any key to stop."))
                .stream(StreamVerb::new()),
        )
    })
    .stream_handler(echo)
    .build();
    let app = gateway
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("echo line at {public_url}/telephony/webhook");

    let Some((sim, running)) = simulator else {
        tokio::signal::ctrl_c().await?;
        server.abort();
        return Ok(());
    };
    let tone = telephony_twilio_simulator::audio::tone_mulaw(440.0, 1000);
    let call = InboundCall::new(
        "+15557650001",
        "+15005550006",
        format!("{public_url}/telephony/webhook"),
    )
    .status_callback(format!("{public_url}/telephony/status"))
    .script(
        CallScript::new()
            .audio(tone)
            .wait_ms(1000)
            .press("5")
            .wait_ms(2000),
    );
    let outcome = sim.place_inbound_call(call).await?;
    println!("call {}: {}", outcome.call_sid, outcome.status);
    for line in outcome.heard() {
        println!("  heard: {line}");
    }
    if let Some(s) = outcome.streams.first() {
        println!(
            "  stream: sent {} frames, got {} bytes of audio back, {} clear(s), marks echoed: {:?}",
            s.media_frames_sent,
            s.received_audio.len(),
            s.clears.len(),
            s.echoed_marks()
        );
    }
    running.shutdown().await;
    server.abort();
    Ok(())
}
