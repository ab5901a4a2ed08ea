//! `telephony send` and `telephony call`: through the running gateway, or (SMS only)
//! directly with the configured credentials.

use std::time::Duration;

use telephony::config::Config;
use telephony_core::{Address, DeliveryStatus, OutboundMessage, Receipt};
use telephony_serve::api;

use super::direct::direct_gateway;
use crate::context::{CliError, Context};
use crate::output;

pub(super) async fn send(
    ctx: Context,
    to: String,
    text: String,
    media: Vec<String>,
    json: bool,
) -> Result<(), CliError> {
    // Validate locally first so a bad number is a usage error even with no gateway.
    let address = Address::parse(&to).map_err(|e| CliError::config(e.to_string()))?;
    let (sent, via) = match ctx.admin().await? {
        Some(admin) => {
            let request = api::SendRequest {
                to: Some(to),
                body: text,
                media_url: media,
            };
            let sent: api::SendResponse = admin.post("/telephony/send?wait=30", &request).await?;
            (
                sent,
                format!("through the running gateway at {}", admin.base),
            )
        }
        None => {
            let (receipts, held) = send_direct(&ctx.config, address, text, media).await?;
            (
                api::SendResponse {
                    receipts: receipts.iter().map(api::Receipt::from).collect(),
                    held,
                },
                "directly with the configured credentials (no gateway running)".to_string(),
            )
        }
    };
    if json {
        output::print_json(&output::SendReport { via, sent: &sent });
    } else {
        println!("sent {via}");
        for r in &sent.receipts {
            println!("{}", output::receipt_line(r));
        }
        if sent.held {
            let to = sent
                .receipts
                .first()
                .map(|r| r.to.number().to_string())
                .unwrap_or_default();
            println!(
                "held: {to} never texted us and was never approved (outboundPolicy.requireApprovalForNewContacts); run `telephony contacts approve {to}` to release it"
            );
        }
    }
    let api::SendResponse { receipts, held } = sent;
    let failed: Vec<&api::Receipt> = receipts
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                DeliveryStatus::Failed | DeliveryStatus::Undelivered | DeliveryStatus::Canceled
            )
        })
        .collect();
    if let Some(r) = failed.first() {
        return Err(CliError::failure(match &r.error {
            Some(e) => format!("send failed: {e}"),
            None => "send failed".to_string(),
        }));
    }
    if !held && !json && receipts.iter().any(|r| r.status == DeliveryStatus::Pending) {
        println!(
            "not sent yet; it stays in the outbox and is retried (check with `telephony receipt <id>`)"
        );
    }
    Ok(())
}

async fn send_direct(
    config: &Config,
    to: Address,
    text: String,
    media: Vec<String>,
) -> Result<(Vec<Receipt>, bool), CliError> {
    let missing = config.missing_credentials();
    if !missing.is_empty() {
        return Err(CliError::config(format!(
            "no gateway is running and direct sending needs {}",
            missing.join(", ")
        )));
    }
    let gw = direct_gateway(config).await?;
    let msg = OutboundMessage {
        to,
        body: text,
        media_urls: media,
    };
    let sent = gw.send_message(msg).await.map_err(|e| {
        if e.is_bad_input() {
            CliError::config(e.to_string())
        } else {
            CliError::failure(telephony_core::error_chain(&e))
        }
    })?;
    if sent.held {
        return Ok((sent.receipts, true));
    }
    let workers = gw.spawn_workers();
    let mut out = Vec::new();
    for r in &sent.receipts {
        let now = gw
            .wait_first_attempt(&r.id, Duration::from_secs(60))
            .await?;
        out.push(now.unwrap_or_else(|| r.clone()));
    }
    workers.shutdown().await;
    Ok((out, false))
}

pub(super) async fn place_call(
    ctx: Context,
    req: api::CallRequest,
    json: bool,
) -> Result<(), CliError> {
    let Some(admin) = ctx.admin().await? else {
        return Err(CliError::failure(format!(
            "no running gateway answers on {}:{}: calls are placed by the gateway (it follows their status); start one with `telephony serve` (or `telephony serve --sandbox`)",
            ctx.config.admin.bind, ctx.config.admin.port
        )));
    };
    let call: api::Call = admin.post("/telephony/calls", &req).await?;
    if json {
        output::print_json(&call);
    } else {
        println!("call placed: {}", output::call_line(&call));
        println!("  follow it with `telephony calls`");
    }
    Ok(())
}
