//! Dead-lettered inbound messages: `telephony inbox --failed` lists them, `telephony retry
//! <id>` queues one again; through the running gateway or, with none running, the store.

use telephony_core::MessageId;
use telephony_core::{InboxState, StoreError};
use telephony_serve::api::{self, ErrorCode};

use super::direct::open_store;
use crate::context::{CliError, Context};
use crate::output;

/// `telephony inbox --failed`: id, sender, attempts and last error of each dead letter.
pub(super) async fn list(ctx: Context, limit: usize, json: bool) -> Result<(), CliError> {
    let list: api::FailedList = match ctx.admin().await? {
        Some(admin) => {
            admin
                .get(&format!("/telephony/inbox/failed?limit={limit}"))
                .await?
        }
        None => {
            let store = open_store(&ctx.config).await?;
            api::FailedList::from(store.failed_inbound(limit).await?.as_slice())
        }
    };
    if json {
        output::print_json(&list);
        return Ok(());
    }
    if list.messages.is_empty() {
        println!("no failed messages");
        return Ok(());
    }
    for m in &list.messages {
        println!(
            "{}  from {}  {} attempt(s)  {}\n  {}",
            m.id,
            m.from,
            m.attempts,
            output::ts(m.received_at),
            m.last_error.as_deref().unwrap_or("(no error recorded)")
        );
    }
    println!(
        "{} failed message(s); `telephony retry <id>` queues one again",
        list.messages.len()
    );
    Ok(())
}

/// `telephony retry <id>`: a dead-lettered message back in the queue, attempts reset.
/// Exit 1 for an unknown id or a message that is not `failed`.
pub(super) async fn retry(ctx: Context, id: String, json: bool) -> Result<(), CliError> {
    let answer = match ctx.admin().await? {
        Some(admin) => {
            let path = format!("/telephony/inbox/{}/retry", path_segment(&id));
            match admin.post::<api::RetryResponse>(&path, &()).await {
                Ok(r) => r,
                Err(e) if e.remote == Some(ErrorCode::NotFound) => return Err(unknown(&id)),
                Err(e) if e.remote == Some(ErrorCode::Conflict) => {
                    return Err(CliError::failure(e.message));
                }
                Err(e) => return Err(e),
            }
        }
        None => {
            let store = open_store(&ctx.config).await?;
            let message_id = MessageId::from_string(id.clone());
            let before = match store.requeue_inbound(&message_id).await {
                Ok(s) => s,
                Err(StoreError::NotFound { .. }) => return Err(unknown(&id)),
                Err(e) => return Err(e.into()),
            };
            if before != InboxState::Failed {
                return Err(CliError::failure(format!(
                    "inbound message {id:?} is {}, not failed: only dead-lettered messages can be retried",
                    before.as_str()
                )));
            }
            api::RetryResponse {
                id: message_id,
                state: InboxState::Queued,
                previous_state: before,
            }
        }
    };
    if json {
        output::print_json(&answer);
    } else {
        println!("{} queued again (attempts reset)", answer.id);
    }
    Ok(())
}

fn unknown(id: &str) -> CliError {
    CliError::failure(format!("no inbound message with id {id:?}"))
}

/// `id` as one URL path segment: gateway ids are `msg_` and hex, but whatever was typed
/// must not reach another route.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(super::path_segment("msg_0a1B"), "msg_0a1B");
        assert_eq!(super::path_segment("../status"), "..%2Fstatus");
        assert_eq!(super::path_segment("a b?c"), "a%20b%3Fc");
    }
}
