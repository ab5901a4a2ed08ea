//! A small phone menu (IVR) driven by speech and keys, as a Rust voice handler.
//!
//! ```text
//! cargo run -p telephony-examples --example voice_ivr
//! ```
//!
//! The menu: "Say opening hours or press 1; say leave a message or press 2." Hours are
//! read out; a message is taken with a second speech turn and texted back as a receipt.
//!
//! Without `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`/`TWILIO_PHONE_NUMBER` it runs against
//! the Twilio simulator in-process: three simulated callers (one speaks, one presses keys,
//! one stays silent) call the menu, and the example prints what each heard. With real
//! credentials it serves the menu until Ctrl-C; point the number's "A call comes in" at
//! `{PUBLIC_URL}/telephony/webhook`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::voice::{CallEvent, VoiceResponse};
use telephony_core::{AllowList, InboundPolicy, MemoryStore};
use telephony_serve::{CallContext, Gateway, HandlerError, VoiceSettings};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};

const HOURS: &str = "We are open Monday to Friday, nine to five.";

/// What the caller chose in the menu.
#[derive(Debug, PartialEq)]
enum Choice {
    Hours,
    Message,
    Unknown,
}

fn choose(speech: Option<&str>, digits: Option<&str>) -> Choice {
    let said = speech.unwrap_or_default().to_lowercase();
    match digits {
        Some("1") => Choice::Hours,
        Some("2") => Choice::Message,
        _ if said.contains("hour") || said.contains("open") => Choice::Hours,
        _ if said.contains("message") => Choice::Message,
        _ => Choice::Unknown,
    }
}

/// The menu as a voice handler: turn 0 offers the menu, turn 1 is the choice, turn 2 the
/// message (the turn number comes back on each gather's URL).
async fn menu(event: CallEvent, call: CallContext) -> Result<VoiceResponse, HandlerError> {
    let prompt = || {
        call.gather()
            .dtmf()
            .num_digits(1)
            .hints(["opening hours", "leave a message"])
            .say(call.say(
                "Welcome to the example shop. Say opening hours or press 1. Say leave a message or press 2.",
            ))
    };
    Ok(match event {
        CallEvent::Incoming(_) => VoiceResponse::new()
            .gather(prompt())
            .say(call.say("We did not get that. Goodbye."))
            .hangup(),
        CallEvent::Gather { speech, digits, .. } if call.turn() == 1 => {
            match choose(speech.as_ref().map(|s| s.text.as_str()), digits.as_deref()) {
                Choice::Hours => VoiceResponse::new().say(call.say(HOURS)).hangup(),
                Choice::Message => VoiceResponse::new()
                    .gather(
                        call.gather()
                            .say(call.say("Please leave your message after the tone.")),
                    )
                    .say(call.say("No message recorded. Goodbye."))
                    .hangup(),
                Choice::Unknown => VoiceResponse::new()
                    .say(call.say("Sorry, that is not an option."))
                    .gather(prompt())
                    .hangup(),
            }
        }
        CallEvent::Gather { speech, .. } => {
            let text = speech.map(|s| s.text).unwrap_or_default();
            // A receipt by SMS, through the gateway's durable outbox.
            let remote = call.session().remote.clone();
            if let Err(e) = call
                .gateway()
                .send(&remote, format!("We got your message: {text}"))
                .await
            {
                tracing::warn!(error = %e, "could not text the receipt");
            }
            VoiceResponse::new()
                .say(call.say("Thank you, we got your message. Goodbye."))
                .hangup()
        }
        // Redirects of our own and status changes need nothing.
        _ => VoiceResponse::new().hangup(),
    })
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
                SimulatorConfig::generate().with_simulated_second(Duration::from_millis(1)),
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
    // Everyone may call this demo line (the default policy would ask strangers to pair).
    let gateway = Gateway::builder(
        Arc::new(TwilioProvider::new(twilio)?),
        Arc::new(MemoryStore::new()),
    )
    .public_url(public_url.clone())
    .inbound_policy(InboundPolicy::Open, AllowList::parse(&["*".to_string()])?)
    .voice(VoiceSettings::enabled().voice("alice"))
    .voice_handler(menu)
    .build();
    let workers = gateway.spawn_workers();
    let app = gateway.router();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let webhook = format!("{public_url}/telephony/webhook");
    println!("voice menu at {webhook}");

    let Some((sim, running)) = simulator else {
        tokio::signal::ctrl_c().await?;
        workers.shutdown().await;
        server.abort();
        return Ok(());
    };
    let status = format!("{public_url}/telephony/status");
    for (caller, script) in [
        (
            "+15557650001",
            CallScript::new().say("what are your opening hours"),
        ),
        (
            "+15557650002",
            CallScript::new()
                .press("2")
                .say("please call me back tomorrow"),
        ),
        ("+15557650003", CallScript::new().silence()),
    ] {
        let call = InboundCall::new(caller, "+15005550006", webhook.clone())
            .status_callback(status.clone())
            .script(script);
        let outcome = sim.place_inbound_call(call).await?;
        println!(
            "\n{caller} called: {} after {}s",
            outcome.status,
            outcome.duration_secs.unwrap_or(0)
        );
        for line in outcome.heard() {
            println!("  heard: {line}");
        }
    }
    // The message receipt went out by SMS.
    for _ in 0..100 {
        if !sim.messages().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for m in sim.messages() {
        println!(
            "\nSMS to {}: {}",
            m.to.as_deref().unwrap_or(""),
            m.body.as_deref().unwrap_or("")
        );
    }
    workers.shutdown().await;
    running.shutdown().await;
    server.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_choices() {
        assert_eq!(choose(Some("Opening hours please"), None), Choice::Hours);
        assert_eq!(choose(None, Some("1")), Choice::Hours);
        assert_eq!(choose(Some("leave a message"), None), Choice::Message);
        assert_eq!(choose(Some("hours"), Some("2")), Choice::Message);
        assert_eq!(choose(Some("pizza"), None), Choice::Unknown);
    }
}
