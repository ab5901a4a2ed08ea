//! The outbox part: the send path (policy checks, shaping, the durable queue), the receipt
//! waiters, the send lock, the outbox worker's wake-up and the per-sender outbound rate
//! limiter. The worker that drains the queue is [`crate::worker::outbox`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::sms::{ChunkError, ChunkOptions, chunk, flatten_markdown};
use telephony_core::store::{CappedEnqueue, SendCap};
use telephony_core::{
    Address, AddressError, MessageId, OutboundMessage, PhoneNumber, Receipt, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::{Notify, oneshot};

use crate::rate_limit::OutboundLimits;
use crate::shared::Shared;

/// Why a send was refused before it reached the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The recipient is not a valid address.
    #[error(transparent)]
    InvalidAddress(#[from] AddressError),
    /// The message itself is not sendable.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The recipient opted out (texted STOP, or the provider refused an earlier send because
    /// they had); no provider call was made.
    #[error(
        "{number} has opted out of messages (replied STOP); they must text START to opt back in"
    )]
    OptedOut {
        /// The recipient.
        number: PhoneNumber,
    },
    /// `outboundPolicy.maxPerDay` is reached.
    #[error(
        "daily send limit reached: {sent} of outboundPolicy.maxPerDay {max} messages sent since {day_start} UTC; sending resumes at {resets_at}"
    )]
    DailyLimit {
        /// Messages already accepted today.
        sent: usize,
        /// The limit.
        max: u32,
        /// Start of the current UTC day.
        day_start: String,
        /// When the next UTC day starts.
        resets_at: String,
    },
    /// The text cannot be shaped into SMS messages (e.g. too long for `single` mode).
    #[error("cannot send this text: {0}")]
    Shaping(#[from] ChunkError),
    /// The store failed; nothing was queued.
    #[error("could not queue the message")]
    Store(#[from] StoreError),
}

impl SendError {
    /// True when the caller's input was at fault (HTTP 400), false for server-side failures.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, SendError::Store(_))
    }
}

/// The result of a send: one receipt per SMS message (long texts are chunked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    /// Receipts, in sending order.
    pub receipts: Vec<Receipt>,
    /// True when the send waits for `telephony contacts approve` (first contact).
    pub held: bool,
}

/// Outbound limits (`outboundPolicy`).
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Hold the first send to a number that never texted us until it is approved.
    pub require_approval_for_new_contacts: bool,
    /// Messages per UTC day.
    pub max_per_day: Option<u32>,
}

/// The outbox's settings (set on the builder).
#[derive(Debug, Clone)]
pub(crate) struct OutboxSettings {
    pub(crate) max_send_attempts: u32,
    pub(crate) concurrency: usize,
    pub(crate) policy: OutboundPolicy,
    pub(crate) chunking: ChunkOptions,
    /// Where sends without a recipient go (`defaultTo`).
    pub(crate) default_to: Option<Address>,
    /// How long a claim holds an entry, and the attempt limits derived from it.
    pub(crate) timing: Timing,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            max_send_attempts: 8,
            concurrency: 8,
            policy: OutboundPolicy::default(),
            chunking: ChunkOptions::default(),
            default_to: None,
            timing: Timing::default(),
        }
    }
}

/// The send path and what the outbox worker shares with it.
pub(crate) struct Outbox {
    shared: Arc<Shared>,
    settings: OutboxSettings,
    wake: Notify,
    waiters: Mutex<HashMap<MessageId, Vec<oneshot::Sender<Receipt>>>>,
    limits: OutboundLimits,
}

impl Outbox {
    pub(crate) fn new(
        shared: Arc<Shared>,
        settings: OutboxSettings,
        limits: OutboundLimits,
    ) -> Self {
        Outbox {
            shared,
            settings,
            wake: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            limits,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Attempts per message on retryable failures.
    pub(crate) fn max_send_attempts(&self) -> u32 {
        self.settings.max_send_attempts
    }

    /// Sends in flight at once, at most.
    pub(crate) fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    /// The per-sender outbound rate limits (their slots are booked in the store).
    pub(crate) fn limits(&self) -> &OutboundLimits {
        &self.limits
    }

    /// The send lease and the attempt limits derived from it.
    pub(crate) fn timing(&self) -> Timing {
        self.settings.timing
    }

    /// Tells the worker there is something to send.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`wake`](Self::wake) is called.
    pub(crate) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The recipient of sends that name none.
    pub(crate) fn default_to(&self) -> Option<&Address> {
        self.settings.default_to.as_ref()
    }

    /// Queues a text message to `to`.
    pub(crate) async fn send(&self, to: &str, text: impl Into<String>) -> Result<Sent, SendError> {
        let to = Address::parse(to)?;
        self.send_message(OutboundMessage::new(to, text)).await
    }

    /// Queues a message in the durable outbox (see [`Gateway::send_message`](crate::Gateway::send_message)).
    pub(crate) async fn send_message(&self, msg: OutboundMessage) -> Result<Sent, SendError> {
        let provider = self.shared.provider();
        let limits = provider.limits();
        if msg.media_urls.len() > limits.max_media() {
            return Err(SendError::InvalidMessage(format!(
                "{} media URLs; {} accepts at most {} per message",
                msg.media_urls.len(),
                provider.name(),
                limits.max_media()
            )));
        }
        for url in &msg.media_urls {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(SendError::InvalidMessage(format!(
                    "media URL {url:?} must start with https:// or http://"
                )));
            }
        }
        let store = self.shared.store();
        let number = msg.to.number().clone();
        if store.is_opted_out(&number).await? {
            return Err(SendError::OptedOut { number });
        }
        let text = flatten_markdown(&msg.body);
        // The configured length, within what the provider accepts in one message.
        let mut shaping = self.settings.chunking.clone();
        shaping.max_length = shaping.max_length.min(limits.max_body_chars());
        let mut bodies = chunk(&text, &shaping)?;
        if bodies.is_empty() {
            if msg.media_urls.is_empty() {
                return Err(SendError::InvalidMessage(
                    "body is empty and there is no media".into(),
                ));
            }
            bodies.push(String::new());
        }
        let held = self.settings.policy.require_approval_for_new_contacts
            && !store.is_known_contact(&number).await?;
        let now = OffsetDateTime::now_utc();
        let day_start = now.replace_time(time::Time::MIDNIGHT);
        let max_per_day = self.settings.policy.max_per_day;
        let cap = max_per_day.map(|max| SendCap {
            since: day_start,
            max: max as usize,
        });
        let parts: Vec<(MessageId, OutboundMessage)> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let part = OutboundMessage {
                    to: msg.to.clone(),
                    body,
                    // Media travels with the first message only.
                    media_urls: if i == 0 {
                        msg.media_urls.clone()
                    } else {
                        Vec::new()
                    },
                };
                (MessageId::generate(), part)
            })
            .collect();
        // The day's count and the enqueue are one step in the store, for every replica on
        // it: concurrent sends cannot overshoot the daily cap together.
        let receipts = match store
            .enqueue_outbound_capped(&parts, held, cap, now)
            .await?
        {
            CappedEnqueue::Queued(receipts) => {
                // Sent from a handler: each part's send continues the message's trace.
                for (id, _) in &parts {
                    self.shared.traces().link_current(id.as_str());
                }
                receipts
            }
            CappedEnqueue::OverCap { sent } => {
                let fmt = telephony_core::rfc3339::format;
                return Err(SendError::DailyLimit {
                    sent,
                    max: max_per_day.unwrap_or(0),
                    day_start: fmt(day_start),
                    resets_at: fmt(day_start + time::Duration::days(1)),
                });
            }
        };
        for (id, part) in &parts {
            tracing::info!(message_id = %id, to = %number.redacted(), chars = part.body.chars().count(), held, "queued outbound message");
        }
        if !held {
            self.wake();
        }
        Ok(Sent { receipts, held })
    }

    /// Waits until the worker has made its first attempt at `id` (or `timeout` passes),
    /// and returns the receipt as it stands.
    pub(crate) async fn wait_first_attempt(
        &self,
        id: &MessageId,
        timeout: Duration,
    ) -> Result<Option<Receipt>, StoreError> {
        let store = self.shared.store();
        let (tx, rx) = oneshot::channel();
        telephony_core::sync::lock(&self.waiters)
            .entry(id.clone())
            .or_default()
            .push(tx);
        // The attempt may have finished before we registered.
        if let Some(r) = store.receipt(id).await? {
            if r.attempts > 0 && r.status != telephony_core::DeliveryStatus::Pending
                || r.error.is_some()
            {
                telephony_core::sync::lock(&self.waiters).remove(id);
                return Ok(Some(r));
            }
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(Some(r)),
            _ => {
                telephony_core::sync::lock(&self.waiters).remove(id);
                store.receipt(id).await
            }
        }
    }

    /// Tells those waiting on the receipt's first attempt how it went.
    pub(crate) fn notify_waiters(&self, receipt: &Receipt) {
        let waiters = telephony_core::sync::lock(&self.waiters).remove(&receipt.id);
        for w in waiters.into_iter().flatten() {
            // The waiter may have timed out and gone; that is fine.
            let _ = w.send(receipt.clone());
        }
    }

    /// Approves a contact for outbound messages and releases its held sends.
    pub(crate) async fn approve_contact(
        &self,
        number: &PhoneNumber,
    ) -> Result<Vec<MessageId>, StoreError> {
        let released = self
            .shared
            .store()
            .approve_contact(number, OffsetDateTime::now_utc())
            .await?;
        tracing::info!(contact = %number.redacted(), released = released.len(), "contact approved");
        self.wake();
        Ok(released)
    }
}

/// How long a claimed message is reserved for the worker that claimed it.
pub(crate) const LEASE: Duration = Duration::from_secs(120);

/// The longest one send attempt may take before it is given up as a timeout (and, like any
/// timeout, not replayed). Shorter than [`LEASE`], so no other worker can claim a message
/// while an attempt on it is still running.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(90);

/// An entry whose attempt has not started this long after its claim (every send slot was
/// busy with a slow provider) is put back instead: its attempt could outlive the lease.
pub(crate) const START_WITHIN: Duration =
    Duration::from_secs(LEASE.as_secs() - ATTEMPT_TIMEOUT.as_secs());

const _: () = assert!(ATTEMPT_TIMEOUT.as_secs() < LEASE.as_secs());

/// The send lease and the limits derived from it, so that every attempt ends inside its
/// lease: an attempt is cut off at three quarters of the lease and must start within the
/// rest. The default is [`LEASE`], [`ATTEMPT_TIMEOUT`] and [`START_WITHIN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) lease: Duration,
    pub(crate) attempt_timeout: Duration,
    pub(crate) start_within: Duration,
}

/// The shortest lease [`Timing::new`] takes: its quarter (2 s) still holds an entry's
/// wait in its lane ([`HOLD`](crate::worker::outbox::HOLD) + [`EARLY`](crate::worker::outbox::EARLY)).
pub(crate) const MIN_LEASE: Duration = Duration::from_secs(8);

impl Timing {
    /// The timing of a `lease` (at least [`MIN_LEASE`]).
    pub(crate) fn new(lease: Duration) -> Self {
        let lease = lease.max(MIN_LEASE);
        let attempt_timeout = lease / 4 * 3;
        Timing {
            lease,
            attempt_timeout,
            start_within: lease - attempt_timeout,
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::new(LEASE)
    }
}
