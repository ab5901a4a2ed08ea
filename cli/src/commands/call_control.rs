//! `telephony call transfer` and `telephony call update`: a live call, changed through the
//! running gateway's admin API.

use telephony_serve::api;

use crate::CallControlCommand;
use crate::context::{CliError, Context};
use crate::output;

pub(super) async fn run(ctx: Context, command: CallControlCommand) -> Result<(), CliError> {
    let Some(admin) = ctx.admin().await? else {
        return Err(CliError::failure(format!(
            "no running gateway answers on {}:{}: live calls are controlled by the gateway that runs them; start one with `telephony serve`",
            ctx.config.admin.bind, ctx.config.admin.port
        )));
    };
    let (call, json, what): (api::Call, bool, &str) = match command {
        CallControlCommand::Transfer {
            call,
            to,
            timeout,
            caller_id,
            json,
        } => {
            let req = api::TransferRequest {
                to,
                timeout,
                caller_id,
            };
            let path = format!("/telephony/calls/{}/transfer", path_segment(&call));
            (admin.post(&path, &req).await?, json, "transfer requested")
        }
        CallControlCommand::Update {
            call,
            say,
            twiml,
            hangup,
            json,
        } => {
            let req = api::UpdateRequest { say, twiml, hangup };
            let path = format!("/telephony/calls/{}/update", path_segment(&call));
            (admin.post(&path, &req).await?, json, "call updated")
        }
    };
    if json {
        output::print_json(&call);
    } else {
        println!("{what}: {}", output::call_line(&call));
        println!("  follow it with `telephony calls`");
    }
    Ok(())
}

/// A call id as one URL path segment.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
