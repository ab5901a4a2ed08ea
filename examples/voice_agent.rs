//! ConversationRelay from Rust: a small rule-based assistant that streams its answers token
//! by token, stops when interrupted, and ends the call when the caller says goodbye.
//!
//! ```text
//! cargo run -p telephony-examples --example voice_agent
//! ```
//!
//! Without Twilio credentials the Twilio simulator calls it in-process with a scripted
//! caller (two questions, an interruption, goodbye) and the example prints the
//! conversation. With `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`/`TWILIO_PHONE_NUMBER` and
//! `PUBLIC_URL` it serves calls until Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::voice::{CallEvent, RelayEvent, RelayVerb, VoiceResponse};
use telephony_core::{AllowList, InboundPolicy, MemoryStore};
use telephony_serve::{CallContext, Gateway, HandlerError, RelaySession, VoiceSettings};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};

/// The assistant's "model": rules.
fn answer(prompt: &str) -> (String, bool) {
    let p = prompt.to_lowercase();
    if p.contains("bye") {
        ("Goodbye, have a nice day!".into(), true)
    } else if p.contains("hours") || p.contains("open") {
        (
            "We are open every day from nine in the morning until six in the evening.".into(),
            false,
        )
    } else if p.contains("where") {
        (
            "We are at one Main Street, next to the station.".into(),
            false,
        )
    } else {
        (
            format!("I heard {prompt}, but I can only tell you our hours or where we are."),
            false,
        )
    }
}

async fn agent(mut relay: RelaySession) -> Result<(), HandlerError> {
    let out = relay.sender();
    tracing::info!(caller = %relay.setup().from, "conversation started");
    while let Some(event) = relay.next_event().await {
        match event {
            RelayEvent::Prompt {
                text, last: true, ..
            } => {
                let (reply, done) = answer(&text);
                // Stream the reply a word at a time, as a language model would.
                for word in reply.split_inclusive(' ') {
                    out.token(word, false)?;
                }
                out.token("", true)?;
                if done {
                    out.end(None)?;
                }
            }
            RelayEvent::Interrupt {
                utterance_until_interrupt,
                ..
            } => {
                tracing::info!(said = %utterance_until_interrupt, "interrupted");
                out.say("Sorry, go ahead.")?;
            }
            RelayEvent::Dtmf { digit } => out.say(format!("You pressed {digit}."))?,
            _ => {}
        }
    }
    Ok(())
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
                SimulatorConfig::generate().with_simulated_second(Duration::from_millis(20)),
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
    .voice_handler(|_event: CallEvent, _call: CallContext| async move {
        Ok::<_, HandlerError>(
            VoiceResponse::new().relay(
                RelayVerb::new()
                    .welcome_greeting("Hi! Ask me about our hours or where we are.")
                    .interruptible(true)
                    .dtmf_detection(true),
            ),
        )
    })
    .relay_handler(agent)
    .build();
    let app = gateway
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("assistant at {public_url}/telephony/webhook");

    let Some((sim, running)) = simulator else {
        tokio::signal::ctrl_c().await?;
        server.abort();
        return Ok(());
    };
    let call = InboundCall::new(
        "+15557650001",
        "+15005550006",
        format!("{public_url}/telephony/webhook"),
    )
    .status_callback(format!("{public_url}/telephony/status"))
    .script(
        CallScript::new()
            .prompt("when are you open")
            .interrupt_after_ms(1200)
            .prompt("where are you")
            .wait_ms(4000)
            .prompt("thanks bye")
            .wait_ms(3000),
    );
    let outcome = sim.place_inbound_call(call).await?;
    println!("call {}: {}", outcome.call_sid, outcome.status);
    if let Some(r) = outcome.relays.first() {
        for reply in r.reply_texts() {
            println!("  assistant: {reply}");
        }
        println!("  interruptions: {}", r.interrupts.len());
    }
    running.shutdown().await;
    server.abort();
    Ok(())
}
