//! Mounting the gateway's routes inside an existing axum app, with a Rust handler that
//! replies to every accepted message.
//!
//! ```text
//! cargo run -p telephony-examples --example embed_axum
//! ```
//!
//! Without `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`/`TWILIO_PHONE_NUMBER` it starts the
//! Twilio simulator in-process, posts one signed inbound SMS to itself, and prints the
//! reply the simulator received, so it runs anywhere.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use telephony_core::{AllowList, InboundMessage, InboundPolicy};
use telephony_serve::{Gateway, HandlerError, Replier};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{InboundSms, Simulator, SimulatorConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    // Real Twilio when the environment says so, otherwise the simulator.
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
            let sim = Simulator::new(SimulatorConfig::generate());
            let running = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let c = sim.config().clone();
            let cfg = TwilioConfig::new(c.account_sid, c.auth_token)
                .api_base_url(running.url())
                .from_number("+15005550006".parse()?);
            (cfg, Some((sim, running)))
        }
    };
    let auth_token = twilio.auth_token.clone();
    let account_sid = twilio.account_sid.clone();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let public_url = std::env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://{addr}"));

    let dir = std::env::temp_dir().join(format!("telephony-embed-{}", std::process::id()));
    let store = SqliteStore::open(dir.join("telephony.db")).await?;
    // Only this number may talk to the handler; anyone else would get a pairing code
    // (the default policy) that you approve with `gateway.approve_pairing(code)`.
    let allow = AllowList::parse(&["+15557654321".to_string()])?;
    let gateway = Gateway::builder(Arc::new(TwilioProvider::new(twilio)?), Arc::new(store))
        .public_url(public_url.clone())
        .inbound_policy(InboundPolicy::Allowlist, allow)
        .handler(|msg: InboundMessage, reply: Replier| async move {
            tracing::info!(from = %msg.from, body = %msg.body, "got a message");
            reply
                .send(format!("Thanks! You said: {}", msg.body))
                .await?;
            Ok::<(), HandlerError>(())
        })
        .build();
    let workers = gateway.spawn_workers();

    // Your existing app, with the gateway's routes merged in.
    let app = Router::new()
        .route("/", get(|| async { "my app" }))
        .merge(gateway.router());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("app listening on http://{addr}; Twilio webhook: {public_url}/telephony/webhook");

    if let Some((sim, running)) = simulator {
        // Play Twilio: post a signed inbound SMS to ourselves.
        let sms = InboundSms {
            account_sid,
            from: "+15557654321".into(),
            to: "+15005550006".into(),
            body: "hello from a phone".into(),
            message_sid: None,
            media: vec![],
        };
        let (body, sig) = sms.signed(
            auth_token.expose(),
            &format!("{public_url}/telephony/webhook"),
        );
        let status = post_webhook(addr, body, sig).await?;
        println!("simulated inbound SMS: HTTP {status}");
        for _ in 0..100 {
            if let Some(m) = sim.messages().first() {
                println!(
                    "the handler replied: {:?} to {:?}",
                    m.body.as_deref().unwrap_or(""),
                    m.to.as_deref().unwrap_or("")
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        workers.shutdown().await;
        running.shutdown().await;
        server.abort();
        // Best effort: the example's scratch database.
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("could not remove {}: {e}", dir.display());
        }
        return Ok(());
    }
    tokio::signal::ctrl_c().await?;
    workers.shutdown().await;
    server.abort();
    Ok(())
}

async fn post_webhook(
    addr: SocketAddr,
    body: String,
    sig: String,
) -> Result<u16, Box<dyn std::error::Error>> {
    // A raw HTTP/1.1 request keeps the example's dependencies to what the gateway already uses.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "POST /telephony/webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).await?;
    Ok(resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}
