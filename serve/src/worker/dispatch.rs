//! The dispatch worker: hands stored inbound messages to the application's handler, one
//! ordered lane per sender (messages from one sender in arrival order; senders in parallel),
//! at least once, with retries and a dead letter.
//!
//! **Claims.** The worker claims a batch of queued messages from the store
//! ([`InboxStore::claim_inbound`](telephony_core::InboxStore::claim_inbound)): the store
//! leases them to this gateway under a fencing token and never hands a sender's message to
//! one worker while an earlier message of that sender is leased by another or waiting for
//! a retry, so several replicas on one database dispatch each sender's messages in order,
//! one at a time. Outcomes are recorded once per batch (one write for up to 256 messages,
//! so dispatch does not compete with webhook ingest for SQLite's single writer), fenced by
//! the token: if this gateway's lease ran out and another worker claimed a message again,
//! this gateway's outcome for it changes nothing. A message stays `queued` until its
//! batch is recorded, so a crash mid-batch means it is handled again once the lease runs
//! out (at-least-once; the message id is the stable event id, for the handler and for
//! the forwarded `message.received` event, `evt_<message id>`).
//!
//! **Retries.** The sender policy ([`crate::sender_policy`]) runs first; only accepted
//! messages reach the handler. A handler error or panic (or a policy that cannot be
//! evaluated) is retried with the gateway's backoff ([`telephony_core::retry::wait`]) up
//! to [`max_dispatch_attempts`](crate::GatewayBuilder::max_dispatch_attempts); while it
//! waits, the sender's later messages wait too (the rest of the lane is released untried,
//! with no attempt counted). After the last attempt the message is dead-lettered: state
//! `failed`, the note naming the last error and the attempt count. A claim that finds a
//! message already out of attempts (its earlier claims never finished, e.g. the handler
//! crashed the process: on PostgreSQL, which counts an attempt when it is claimed; SQLite
//! counts it with the outcome) dead-letters it without calling the handler again.

use std::sync::Arc;
use std::time::Duration;

use telephony_core::store::{ClaimedInbound, DispatchOutcome, DispatchResult};
use telephony_core::{InboundMessage, InboxState, MessageId, Store, error_chain};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::dispatch::Dispatch;
use crate::sender_policy::{Decision, Lookups};

const BATCH: usize = 256;

/// Runs until told to stop; `gateway` goes to the handler with each message.
pub(crate) async fn run<G: Clone + Send + Sync + 'static>(
    part: Arc<Dispatch<G>>,
    gateway: G,
    mut stop: watch::Receiver<bool>,
) {
    let store = part.shared().store().clone();
    let lease = part.settings().lease;
    let mut others = store.watch_work(telephony_core::store::WorkKind::Inbound);
    // A batch's outcomes are recorded together with the next claim: one write per batch
    // (SQLite's single writer, which the inbound webhooks need, sees one transaction per
    // batch). Until then the batch's leases keep it from other workers; if the process
    // dies first, the leases run out (on SQLite: the restart frees them) and the batch is
    // dispatched again: at-least-once.
    let mut outcomes: Vec<DispatchOutcome> = Vec::new();
    loop {
        if *stop.borrow() {
            record_last(&store, &outcomes).await;
            return;
        }
        match store
            .record_and_claim_inbound(&outcomes, OffsetDateTime::now_utc(), lease, BATCH)
            .await
        {
            Err(e) => {
                // Neither happened: the outcomes are recorded with the next claim.
                tracing::error!(pending_outcomes = outcomes.len(), error = %error_chain(&e), "recording dispatch results and claiming inbound messages failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
            }
            Ok((lost, claimed)) => {
                log_recorded(outcomes.len(), &lost);
                outcomes.clear();
                if claimed.is_empty() {
                    // Also the poll that finds retries coming due and leases that ran out.
                    tokio::select! {
                        _ = part.woken() => {}
                        _ = others.changed() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = stop.changed() => return,
                    }
                } else {
                    outcomes = dispatch_batch(&part, &gateway, claimed).await;
                }
            }
        }
    }
}

/// Records the last batch's outcomes on the way out (one try: if it fails, the batch's
/// leases run out and it is dispatched again).
async fn record_last(store: &Arc<dyn Store>, outcomes: &[DispatchOutcome]) {
    if outcomes.is_empty() {
        return;
    }
    match store.record_dispatch(outcomes).await {
        Ok(lost) => log_recorded(outcomes.len(), &lost),
        Err(e) => {
            tracing::error!(messages = outcomes.len(), error = %error_chain(&e), "could not record dispatch results before stopping; they are dispatched again when their leases run out")
        }
    }
}

fn log_recorded(recorded: usize, lost: &[MessageId]) {
    for id in lost {
        tracing::warn!(message_id = %id, "dispatch result not recorded: the lease ran out and another worker claimed the message");
    }
    if recorded > 0 {
        tracing::debug!(
            messages = recorded,
            lost = lost.len(),
            "dispatch batch recorded"
        );
    }
}

/// Dispatches a claimed batch, one task per sender, and returns every message's outcome.
async fn dispatch_batch<G: Clone + Send + Sync + 'static>(
    part: &Arc<Dispatch<G>>,
    gateway: &G,
    claimed: Vec<ClaimedInbound>,
) -> Vec<DispatchOutcome> {
    let mut lanes: Vec<(String, Vec<ClaimedInbound>)> = Vec::new();
    for c in claimed {
        match lanes.iter_mut().find(|(from, _)| *from == c.message.from) {
            Some((_, lane)) => lane.push(c),
            None => lanes.push((c.message.from.clone(), vec![c])),
        }
    }
    // The batch's store reads for the policy, shared by its lanes: the approvals of all
    // its senders in one read.
    let lookups = Arc::new(Lookups::fresh());
    let msgs: Vec<&InboundMessage> = lanes
        .iter()
        .flat_map(|(_, lane)| lane.iter().map(|c| &c.message))
        .collect();
    lookups.prefetch(part.policy(), &msgs).await;
    drop(msgs);
    let mut set = JoinSet::new();
    for (_, lane) in lanes {
        let part = part.clone();
        let gateway = gateway.clone();
        let lookups = lookups.clone();
        set.spawn(async move {
            let mut done = Vec::with_capacity(lane.len());
            // Once a message waits for a retry, the rest of its sender's lane waits too.
            let mut waiting = false;
            for c in lane {
                let result = if waiting {
                    DispatchResult::Release
                } else {
                    let _held = part.shared().holding().dispatch();
                    dispatch_one(&part, &gateway, &c, &lookups)
                        .instrument(part.shared().traces().step(
                            "dispatch",
                            c.message.id.as_str(),
                            true,
                        ))
                        .await
                };
                waiting |= matches!(result, DispatchResult::Retry { .. });
                done.push(DispatchOutcome {
                    id: c.message.id,
                    lease: c.lease,
                    result,
                });
            }
            done
        });
    }
    let mut outcomes = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(mut done) => outcomes.append(&mut done),
            // Its messages stay leased and are dispatched again when the lease runs out.
            Err(e) => tracing::error!(error = %e, "dispatch lane failed"),
        }
    }
    outcomes
}

/// Decides and delivers one claimed message.
async fn dispatch_one<G: Clone + Send + 'static>(
    part: &Dispatch<G>,
    gateway: &G,
    claimed: &ClaimedInbound,
    lookups: &Lookups,
) -> DispatchResult {
    let max = part.settings().max_attempts;
    let msg = &claimed.message;
    let id = &msg.id;
    if claimed.attempts >= max {
        tracing::error!(message_id = %id, attempts = claimed.attempts, "inbound message dead-lettered: its last attempts never finished");
        return DispatchResult::Done {
            state: InboxState::Failed,
            note: Some(format!(
                "gave up after {}: the last did not finish (the process stopped or its lease ran out)",
                attempts(claimed.attempts)
            )),
        };
    }
    let attempt = claimed.attempts + 1;
    let decision = match part.policy().decide(msg, lookups).await {
        Ok(d) => d,
        Err(e) => {
            let why = format!("sender policy failed: {}", error_chain(&e));
            tracing::error!(message_id = %id, attempt, error = %why, "sender policy failed");
            return failed_attempt(claimed, max, why);
        }
    };
    let result = match decision {
        Decision::Accept => {
            part.forwarder().forward_message(msg).await;
            match deliver(part, gateway, msg.clone()).await {
                Ok(()) => DispatchResult::Done {
                    state: InboxState::Accepted,
                    note: (attempt > 1).then(|| format!("accepted on attempt {attempt}")),
                },
                Err(why) => return failed_attempt(claimed, max, why),
            }
        }
        Decision::PendingPairing(n) => done(InboxState::PendingPairing, n),
        Decision::Blocked(n) => done(InboxState::Blocked, n),
        Decision::Dropped(n) => done(InboxState::Dropped, n),
    };
    tracing::debug!(message_id = %id, attempt, "inbound message dispatched");
    result
}

/// "1 attempt", "3 attempts".
fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".to_string()
    } else {
        format!("{n} attempts")
    }
}

fn done(state: InboxState, note: String) -> DispatchResult {
    DispatchResult::Done {
        state,
        note: Some(note),
    }
}

/// A failed attempt: retried after the backoff, or dead-lettered after the last one.
fn failed_attempt(claimed: &ClaimedInbound, max: u32, why: String) -> DispatchResult {
    let attempt = claimed.attempts + 1;
    let id = &claimed.message.id;
    if attempt >= max {
        tracing::error!(message_id = %id, attempts = attempt, error = %why, "inbound message dead-lettered");
        return DispatchResult::Done {
            state: InboxState::Failed,
            note: Some(format!("{why} (gave up after {})", attempts(attempt))),
        };
    }
    let wait = telephony_core::retry::wait(claimed.attempts, None);
    tracing::warn!(message_id = %id, attempt, max_attempts = max, wait_ms = wait.as_millis() as u64, error = %why, "inbound message will be retried");
    DispatchResult::Retry {
        error: format!("{why} (attempt {attempt} of {max})"),
        at: OffsetDateTime::now_utc() + wait,
    }
}

/// Hands an accepted message to the handler; `Err` says why it failed.
async fn deliver<G: Clone + Send + 'static>(
    part: &Dispatch<G>,
    gateway: &G,
    msg: InboundMessage,
) -> Result<(), String> {
    let Some(h) = part.handler() else {
        return Ok(());
    };
    let gateway = gateway.clone();
    // Run in its own task so a panicking handler is contained.
    let handler = async move { h.on_message(msg, gateway).await };
    match tokio::spawn(handler.instrument(crate::trace::child("handler"))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("handler error: {}", error_chain(e.as_ref()))),
        Err(e) if e.is_panic() => Err("handler panicked".to_string()),
        Err(e) => Err(format!("handler task ended: {e}")),
    }
}
