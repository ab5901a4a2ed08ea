//! The public listener's limiters, applied after a webhook's signature was verified (a
//! forged request never spends a sender's budget): inbound messages per sender, and
//! status callbacks per account.

use std::time::Instant;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_core::{InboundMessage, InboxState, InsertOutcome, StoreError};

use super::RateLimits;
use super::keyed::KeyedLimiter;
use crate::dispatch::AtInsert;
use crate::metrics::Metrics;
use crate::shared::Shared;

/// What became of a verified inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Stored `queued`, for the dispatch worker.
    Queued,
    /// Stored in its final state at once (see
    /// [`Dispatch::decided_at_insert`](crate::dispatch::Dispatch::decided_at_insert)):
    /// nothing for the dispatch worker.
    Decided(InboxState),
    /// Stored in its final state with its forward event: nothing for the dispatch worker,
    /// an event for the forwarding worker.
    Forwarded(InboxState),
    /// Over the sender's limit: stored `throttled`, never dispatched.
    Throttled,
    /// Its provider id was stored before.
    Duplicate,
}

/// Inbound messages per sender and status callbacks per account, built from the
/// gateway's [`RateLimits`].
#[derive(Debug)]
pub(crate) struct WebhookLimiters {
    inbound_per_sender: KeyedLimiter,
    status_callbacks: KeyedLimiter,
    limits: RateLimits,
}

/// The inbound limiter's key: the account it arrived on and its sender.
fn sender_key(msg: &InboundMessage) -> String {
    format!("{}\n{}", msg.account_sid.as_deref().unwrap_or(""), msg.from)
}

impl WebhookLimiters {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        WebhookLimiters {
            inbound_per_sender: KeyedLimiter::new(limits.inbound_per_sender),
            status_callbacks: KeyedLimiter::new(limits.status_callbacks),
            limits: limits.clone(),
        }
    }

    /// Forgets keys whose state is back to fresh and gives the memory back.
    pub(crate) fn prune(&self) {
        self.inbound_per_sender.prune();
        self.status_callbacks.prune();
        tracing::debug!(
            inbound_senders = self.inbound_per_sender.len(),
            status_accounts = self.status_callbacks.len(),
            "rate limiters pruned"
        );
    }

    /// Stores a verified inbound message: within `rateLimits.inboundPerSender`, `queued`
    /// (or as `decided` says, in the state dispatch would give it and with its forward
    /// event, when that is known already);
    /// over it, `throttled` (acknowledged, kept, listed in the inbox, never dispatched).
    pub(crate) async fn store_inbound(
        &self,
        shared: &Shared,
        msg: &InboundMessage,
        decided: AtInsert,
    ) -> Result<Stored, StoreError> {
        let store = shared.store();
        if self.inbound_per_sender.check(&sender_key(msg)).is_ok() {
            let (outcome, stored) = match decided {
                AtInsert::Decided(state, note) => (
                    store
                        .insert_inbound_in_state(msg, state, note.as_deref())
                        .await?,
                    Stored::Decided(state),
                ),
                AtInsert::Forwarded(state, event) => (
                    store.insert_inbound_forwarded(msg, state, &event).await?,
                    Stored::Forwarded(state),
                ),
                AtInsert::Gated(gate) => {
                    let (outcome, state) =
                        telephony_core::store::insert_inbound_gated(store.as_ref(), msg, &gate)
                            .await?;
                    let stored = if state == InboxState::Queued {
                        Stored::Queued
                    } else {
                        Stored::Decided(state)
                    };
                    (outcome, stored)
                }
                AtInsert::Queue => (store.insert_inbound(msg).await?, Stored::Queued),
            };
            return Ok(match outcome {
                InsertOutcome::Inserted => stored,
                InsertOutcome::Duplicate => Stored::Duplicate,
            });
        }
        let note = format!(
            "over rateLimits.inboundPerSender ({})",
            self.limits.inbound_per_sender
        );
        let stored = store
            .insert_inbound_in_state(msg, InboxState::Throttled, Some(&note))
            .await?;
        if stored == InsertOutcome::Duplicate {
            return Ok(Stored::Duplicate);
        }
        shared.metrics().inc(
            "telephony_rate_limited_total",
            &[("limiter", "inbound_sender")],
        );
        tracing::warn!(message_sid = %msg.provider_sid, message_id = %msg.id, "inbound message over the per-sender rate limit: stored throttled, not dispatched");
        Ok(Stored::Throttled)
    }

    /// Lets a verified status callback through `rateLimits.statusCallbacks` (per account), or
    /// answers it 429 with `Retry-After`. Twilio does not retry status callbacks, so that
    /// status is lost (the receipt keeps its last one; the next callback moves it on);
    /// Telnyx retries. The default limit is far above legitimate traffic. `None`: admitted;
    /// `Some`: the 429 to answer.
    pub(crate) fn refuse_status(
        &self,
        metrics: &Metrics,
        account: Option<&str>,
    ) -> Option<Response> {
        let limiter = &self.status_callbacks;
        let Err(earliest) = limiter.check(account.unwrap_or("")) else {
            return None;
        };
        metrics.inc(
            "telephony_rate_limited_total",
            &[("limiter", "status_callbacks")],
        );
        let wait = earliest.saturating_duration_since(Instant::now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(
            retry_after_secs = secs,
            "status callback over rateLimits.statusCallbacks: answered 429"
        );
        Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (
                        header::CONTENT_TYPE,
                        "text/plain; charset=utf-8".to_string(),
                    ),
                    (header::RETRY_AFTER, secs.max(1).to_string()),
                ],
                format!(
                    "too many status callbacks (rateLimits.statusCallbacks {}); retry after {} s\n",
                    limiter.rate(),
                    secs.max(1)
                ),
            )
                .into_response(),
        )
    }
}
