//! Who may text in and who may be texted: `telephony pairing` and `telephony contacts`.

use serde_json::json;
use telephony_serve::api;
use time::OffsetDateTime;

use super::direct::{direct_gateway, open_store};
use crate::context::{CliError, Context};
use crate::output;
use crate::{ContactsCommand, PairingCommand};

pub(super) async fn pairing(ctx: Context, command: PairingCommand) -> Result<(), CliError> {
    let admin = ctx.admin().await?;
    match command {
        PairingCommand::List { json } => {
            let list: api::PairingList = match &admin {
                Some(a) => a.get("/telephony/pairing").await?,
                None => api::PairingList::from(
                    open_store(&ctx.config)
                        .await?
                        .pending_pairings(OffsetDateTime::now_utc())
                        .await?
                        .as_slice(),
                ),
            };
            let reqs = &list.requests;
            if json {
                output::print_json(&list);
            } else if reqs.is_empty() {
                println!("no pending pairing requests");
            } else {
                for r in reqs {
                    println!(
                        "{}  {}  requested {}  expires {}",
                        r.code,
                        r.sender,
                        output::ts(r.created_at),
                        output::ts(r.expires_at)
                    );
                }
                println!(
                    "{} pending; approve with `telephony pairing approve <CODE>`",
                    reqs.len()
                );
            }
            Ok(())
        }
        PairingCommand::Approve { code, json } => {
            resolve_pairing(&ctx, admin, code, true, json).await
        }
        PairingCommand::Reject { code, json } => {
            resolve_pairing(&ctx, admin, code, false, json).await
        }
    }
}

async fn resolve_pairing(
    ctx: &Context,
    admin: Option<crate::context::Admin>,
    code: String,
    approve: bool,
    json: bool,
) -> Result<(), CliError> {
    let verb = if approve { "approve" } else { "reject" };
    let d: api::PairingDecision = match admin {
        Some(a) => {
            // Unknown, expired or already resolved codes are the user's input: the admin
            // error's code maps them to exit 2.
            let path = format!("/telephony/pairing/{}/{verb}", code.trim());
            a.post(&path, &json!({})).await?
        }
        None => {
            let gw = direct_gateway(&ctx.config).await?;
            let r = if approve {
                gw.approve_pairing(&code).await
            } else {
                gw.reject_pairing(&code).await
            };
            match r {
                Ok(d) => d,
                Err(e @ telephony_serve::PairingError::Store(_)) => {
                    return Err(CliError::failure(telephony_core::error_chain(&e)));
                }
                Err(e) => return Err(CliError::config(e.to_string())),
            }
        }
    };
    if json {
        output::print_json(&d);
    } else {
        let sender = &d.request.sender;
        if approve {
            println!("approved {sender}: their messages now reach the application");
            if let Some(n) = &d.notification {
                println!("approval text queued ({})", n.id);
            }
            if let Some(e) = &d.notification_error {
                println!("approval text not sent: {e}");
            }
        } else {
            println!("rejected {sender}");
        }
    }
    Ok(())
}

pub(super) async fn contacts(ctx: Context, command: ContactsCommand) -> Result<(), CliError> {
    let admin = ctx.admin().await?;
    match command {
        ContactsCommand::List { json } => {
            let list: api::ReceiptList = match &admin {
                Some(a) => a.get("/telephony/contacts/held").await?,
                None => api::ReceiptList::from(
                    open_store(&ctx.config)
                        .await?
                        .held_outbound()
                        .await?
                        .as_slice(),
                ),
            };
            let held = &list.receipts;
            if json {
                output::print_json(&list);
            } else if held.is_empty() {
                println!("no sends waiting for approval");
            } else {
                for r in held {
                    println!(
                        "{}  to {}  {}",
                        output::ts(r.created_at),
                        r.to,
                        r.body.replace('\n', " ")
                    );
                }
                println!(
                    "{} held; release with `telephony contacts approve <NUMBER>`",
                    held.len()
                );
            }
            Ok(())
        }
        ContactsCommand::Approve { number, json } => {
            let n = telephony_core::PhoneNumber::parse(&number)
                .map_err(|e| CliError::config(e.to_string()))?;
            let approval: api::ContactApproval = match &admin {
                Some(a) => {
                    let path = format!(
                        "/telephony/contacts/{}/approve",
                        n.as_str().replace('+', "%2B")
                    );
                    a.post(&path, &json!({})).await?
                }
                None => {
                    let store = open_store(&ctx.config).await?;
                    let released = store.approve_contact(&n, OffsetDateTime::now_utc()).await?;
                    api::ContactApproval {
                        contact: n.clone(),
                        released,
                    }
                }
            };
            let released = &approval.released;
            if json {
                output::print_json(&approval);
            } else {
                println!("approved {n}; {} held send(s) released", released.len());
                if admin.is_none() && !released.is_empty() {
                    println!("no gateway is running: they are sent when it starts");
                }
            }
            Ok(())
        }
    }
}
