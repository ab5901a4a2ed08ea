//! The dispatch worker: hands stored inbound messages to the application's handler, one
//! ordered lane per sender (messages from one sender in arrival order; senders in parallel).
//!
//! The sender policy ([`crate::sender_policy`]) runs first; only accepted messages reach
//! the handler. A message stays `queued` until its handler returns, so a crash mid-handler means it is
//! handled again after restart (at-least-once). A handler error or panic marks it `failed`
//! with the reason, so one bad message never blocks its lane.

use std::time::Duration;

use telephony_core::{error_chain, InboundMessage, InboxState};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::gateway::Gateway;
use crate::handler::Replier;
use crate::sender_policy::Decision;

const BATCH: usize = 256;

pub(crate) async fn run(gw: Gateway, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match gw.inner.store.queued_inbound(BATCH).await {
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "reading queued inbound messages failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
            Ok(msgs) if msgs.is_empty() => {
                tokio::select! {
                    _ = gw.inner.inbox_wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => return,
                }
            }
            Ok(msgs) => {
                let mut lanes: Vec<(String, Vec<InboundMessage>)> = Vec::new();
                for m in msgs {
                    match lanes.iter_mut().find(|(from, _)| *from == m.from) {
                        Some((_, lane)) => lane.push(m),
                        None => lanes.push((m.from.clone(), vec![m])),
                    }
                }
                let mut set = JoinSet::new();
                for (_, lane) in lanes {
                    let gw = gw.clone();
                    set.spawn(async move {
                        for m in lane {
                            dispatch_one(&gw, m).await;
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "dispatch lane failed");
                    }
                }
            }
        }
    }
}

async fn dispatch_one(gw: &Gateway, msg: InboundMessage) {
    let id = msg.id.clone();
    let decision = match gw.decide(&msg).await {
        Ok(d) => d,
        Err(e) => {
            // Left queued: it is decided again on the next pass (or after a restart).
            tracing::error!(message_id = %id, error = %error_chain(&e), "sender policy failed");
            return;
        }
    };
    let (state, note) = match decision {
        Decision::Accept => {
            gw.forward_message(&msg).await;
            deliver(gw, msg).await
        }
        Decision::PendingPairing(n) => (InboxState::PendingPairing, Some(n)),
        Decision::Blocked(n) => (InboxState::Blocked, Some(n)),
        Decision::Dropped(n) => (InboxState::Dropped, Some(n)),
    };
    if let Err(e) = gw
        .inner
        .store
        .set_inbound_state(&id, state, note.as_deref())
        .await
    {
        tracing::error!(message_id = %id, error = %error_chain(&e), "could not record dispatch result");
    } else {
        tracing::debug!(message_id = %id, state = state.as_str(), "inbound message dispatched");
    }
}

async fn deliver(gw: &Gateway, msg: InboundMessage) -> (InboxState, Option<String>) {
    let id = msg.id.clone();
    match gw.inner.handler.clone() {
        None => (InboxState::Accepted, None),
        Some(h) => {
            let reply = Replier::new(gw.clone(), msg.from.clone());
            // Run in its own task so a panicking handler is contained.
            let res = tokio::spawn(async move { h.on_message(msg, reply).await }).await;
            match res {
                Ok(Ok(())) => (InboxState::Accepted, None),
                Ok(Err(e)) => {
                    let why = error_chain(e.as_ref());
                    tracing::warn!(message_id = %id, error = %why, "handler returned an error");
                    (InboxState::Failed, Some(format!("handler error: {why}")))
                }
                Err(e) => {
                    tracing::error!(message_id = %id, error = %e, "handler panicked");
                    (InboxState::Failed, Some("handler panicked".to_string()))
                }
            }
        }
    }
}
