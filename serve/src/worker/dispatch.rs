//! The dispatch worker: hands stored inbound messages to the application's handler, one
//! ordered lane per sender (messages from one sender in arrival order; senders in parallel).
//!
//! The sender policy ([`crate::sender_policy`]) runs first; only accepted messages reach
//! the handler. Outcomes are recorded once per batch (one write for up to 256 messages,
//! so dispatch does not compete with webhook ingest for SQLite's single writer); a
//! message stays `queued` until its batch is recorded, so a crash mid-batch means it is
//! handled again after restart (at-least-once). A handler error or panic marks it `failed`
//! with the reason, so one bad message never blocks its lane.

use std::sync::Arc;
use std::time::Duration;

use telephony_core::{InboundMessage, InboxState, InboxUpdate, error_chain};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::dispatch::Dispatch;
use crate::sender_policy::Decision;

const BATCH: usize = 256;

/// Runs until told to stop; `gateway` goes to the handler with each message.
pub(crate) async fn run<G: Clone + Send + Sync + 'static>(
    part: Arc<Dispatch<G>>,
    gateway: G,
    mut stop: watch::Receiver<bool>,
) {
    let store = part.shared().store().clone();
    let mut others = store.watch_work(telephony_core::store::WorkKind::Inbound);
    loop {
        if *stop.borrow() {
            return;
        }
        match store.queued_inbound(BATCH).await {
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "reading queued inbound messages failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
            Ok(msgs) if msgs.is_empty() => {
                tokio::select! {
                    _ = part.woken() => {}
                    _ = others.changed() => {}
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
                    let part = part.clone();
                    let gateway = gateway.clone();
                    set.spawn(async move {
                        let mut done = Vec::with_capacity(lane.len());
                        for m in lane {
                            let _held = part.shared().holding().dispatch();
                            done.extend(dispatch_one(&part, &gateway, m).await);
                        }
                        done
                    });
                }
                let mut updates = Vec::new();
                while let Some(r) = set.join_next().await {
                    match r {
                        Ok(mut done) => updates.append(&mut done),
                        Err(e) => tracing::error!(error = %e, "dispatch lane failed"),
                    }
                }
                // One write for the whole batch. If it fails, the batch stays queued and is
                // dispatched again: at-least-once.
                if let Err(e) = store.set_inbound_states(&updates).await {
                    tracing::error!(messages = updates.len(), error = %error_chain(&e), "could not record dispatch results");
                } else {
                    tracing::debug!(messages = updates.len(), "dispatch batch recorded");
                }
            }
        }
    }
}

/// Decides and delivers one message; `None` leaves it queued (the policy could not be
/// evaluated, so it is tried again on the next pass).
async fn dispatch_one<G: Clone + Send + 'static>(
    part: &Dispatch<G>,
    gateway: &G,
    msg: InboundMessage,
) -> Option<InboxUpdate> {
    let id = msg.id.clone();
    let decision = match part.policy().decide(&msg).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(message_id = %id, error = %error_chain(&e), "sender policy failed");
            return None;
        }
    };
    let (state, note) = match decision {
        Decision::Accept => {
            part.forwarder().forward_message(&msg).await;
            deliver(part, gateway, msg).await
        }
        Decision::PendingPairing(n) => (InboxState::PendingPairing, Some(n)),
        Decision::Blocked(n) => (InboxState::Blocked, Some(n)),
        Decision::Dropped(n) => (InboxState::Dropped, Some(n)),
    };
    tracing::debug!(message_id = %id, state = state.as_str(), "inbound message dispatched");
    Some(InboxUpdate { id, state, note })
}

async fn deliver<G: Clone + Send + 'static>(
    part: &Dispatch<G>,
    gateway: &G,
    msg: InboundMessage,
) -> (InboxState, Option<String>) {
    let id = msg.id.clone();
    match part.handler() {
        None => (InboxState::Accepted, None),
        Some(h) => {
            let gateway = gateway.clone();
            // Run in its own task so a panicking handler is contained.
            let res = tokio::spawn(async move { h.on_message(msg, gateway).await }).await;
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
