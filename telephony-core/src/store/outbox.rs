//! Outbound messages: the durable outbox, receipts and provider status callbacks, and the
//! per-sender send slots that keep every replica's sends within one rate.

use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{
    ErrorInfo, MessageId, OutboundMessage, ProviderReceipt, Receipt, StatusUpdate,
};

use super::StoreError;

/// An outbound message waiting to be handed to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The receipt id.
    pub id: MessageId,
    /// The message.
    pub message: OutboundMessage,
    /// Attempts made before this claim.
    pub attempts: u32,
    /// The entry's place in the outbox: an entry enqueued later has a larger `seq` than
    /// every entry still in the outbox (SQLite's rowid), so a worker can put claimed
    /// entries back in their queue order.
    pub seq: i64,
    /// This claim's token: [`complete_outbound`](OutboxStore::complete_outbound),
    /// [`fail_outbound`](OutboxStore::fail_outbound),
    /// [`retry_outbound`](OutboxStore::retry_outbound) and
    /// [`defer_outbound`](OutboxStore::defer_outbound) change the entry only while it is
    /// the entry's latest claim ([`StoreError::LeaseLost`] otherwise), so a worker whose
    /// lease ran out cannot record over the worker that claimed the entry after it.
    pub lease: LeaseToken,
    /// When an earlier claim of this entry started whose outcome was never recorded (its
    /// lease ran out: the worker died or stalled, possibly after the provider accepted the
    /// message), or `None`. The worker asks the provider whether the message was sent
    /// since then before sending it again. It stays set until the entry is completed or
    /// failed, so a claim interrupted in turn keeps the earliest such time.
    pub interrupted: Option<OffsetDateTime>,
}

/// A claim's fencing token ([`OutboxItem::lease`]): every claim of an entry gets a new
/// one, and only the latest may record the entry's outcome.
///
/// ```
/// use telephony_core::store::LeaseToken;
/// assert_eq!(LeaseToken::new(7).get(), 7);
/// assert_ne!(LeaseToken::new(7), LeaseToken::new(8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseToken(u64);

impl LeaseToken {
    /// The token with this value (backends store it; tests make stale ones).
    pub const fn new(value: u64) -> Self {
        LeaseToken(value)
    }

    /// The token's value.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A sender's rate as [`OutboxStore::reserve_send_slots`] books it: one send every
/// `interval`, up to `burst` at once (GCRA: the generic cell rate algorithm, as governor
/// implements it).
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use telephony_core::store::SendRate;
/// use time::macros::datetime;
///
/// // 100/s with a burst of 5, nothing booked yet: five slots now, then one every 10 ms.
/// let rate = SendRate::new(Duration::from_millis(10), NonZeroU32::new(5).unwrap());
/// let now = datetime!(2026-01-02 03:04:05 UTC);
/// let (slots, next) = rate.book(None, now, 7);
/// let ms: Vec<i64> = slots.iter().map(|s| (*s - now).whole_milliseconds() as i64).collect();
/// assert_eq!(ms, [0, 0, 0, 0, 0, 10, 20]);
/// assert_eq!(next, now + Duration::from_millis(70));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendRate {
    /// The time between two sends at the steady rate.
    pub interval: Duration,
    /// How many sends may go at once.
    pub burst: NonZeroU32,
}

impl SendRate {
    /// One send every `interval`, up to `burst` at once.
    pub const fn new(interval: Duration, burst: NonZeroU32) -> Self {
        SendRate { interval, burst }
    }

    /// Books `count` slots at `now` on a sender whose next free time (GCRA's theoretical
    /// arrival time) is `next_free` (`None`: nothing booked): returns the slots, earliest
    /// first, and the sender's new next free time. Slot `i` is
    /// `max(now, b + i·interval − (burst − 1)·interval)` with `b = max(next_free, now)`;
    /// the new next free time is `b + count·interval`. Every backend books with this
    /// function, so their slots agree to the nanosecond.
    pub fn book(
        &self,
        next_free: Option<OffsetDateTime>,
        now: OffsetDateTime,
        count: u32,
    ) -> (Vec<OffsetDateTime>, OffsetDateTime) {
        let base = next_free.map_or(now, |t| t.max(now));
        let tolerance = self.interval * (self.burst.get() - 1);
        let slots = (0..count)
            .map(|i| (base + self.interval * i - tolerance).max(now))
            .collect();
        (slots, base + self.interval * count)
    }
}

/// Result of applying a provider status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The receipt moved forward.
    Applied(Receipt),
    /// The update was older than what we know (e.g. `sent` after `delivered`); nothing changed.
    Stale(Receipt),
    /// No receipt has this provider SID yet; the update was kept and is applied when it appears.
    Unknown,
}

/// Outbound messages: the durable outbox, receipts and provider status callbacks.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::outbox`](crate::store_suite::outbox).
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Atomically creates a `pending` receipt and its outbox entry.
    async fn enqueue_outbound(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// Claims up to `limit` outbox entries that are due and not leased, leasing them for
    /// `lease` (a worker that crashes loses its lease, and the entry is claimed again).
    /// Each item carries a new [`LeaseToken`], and [`OutboxItem::interrupted`] when an
    /// earlier claim's lease ran out without an outcome recorded.
    async fn claim_outbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// The provider accepted the message: record its receipt and remove the outbox entry.
    /// [`StoreError::LeaseLost`] (nothing changed) when `lease` is not the entry's latest
    /// claim or the entry is no longer in the outbox; `NotFound` when there is no such
    /// receipt.
    async fn complete_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        result: &ProviderReceipt,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// The send failed for good: mark the receipt `failed` and remove the outbox entry.
    /// `LeaseLost` and `NotFound` as for [`complete_outbound`](Self::complete_outbound).
    async fn fail_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        error: &ErrorInfo,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// The send failed but may succeed later: keep it, release the lease, try at
    /// `next_attempt`. `LeaseLost` and `NotFound` as for
    /// [`complete_outbound`](Self::complete_outbound).
    async fn retry_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        error: &ErrorInfo,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The entry was claimed but not tried (its sender has no rate-limit slot yet): release
    /// the lease and make it due at `until`, **without** counting an attempt (the claim's
    /// count is undone on the entry and its receipt) and without touching the receipt's
    /// error. Later entries to the same recipient that are not leased are pushed back to
    /// at least `until`, so a recipient's messages keep their order. An entry whose claim
    /// was [interrupted](OutboxItem::interrupted) stays so. `LeaseLost` and `NotFound` as
    /// for [`complete_outbound`](Self::complete_outbound).
    async fn defer_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        until: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Books `count` consecutive send slots for the sender `key` at `rate`, at `now`, and
    /// returns their times, earliest first ([`SendRate::book`] on the sender's next free
    /// time, which advances by `count` intervals). One call books a whole batch. Every
    /// worker that books through the same store shares one sender's slots, so their
    /// combined sends keep to `rate` when each sends no earlier than its slots.
    ///
    /// Where the next free times are kept is the backend's choice: a store one process
    /// owns (the in-memory store, SQLite) may keep them in that process's memory; a store
    /// that several processes share (PostgreSQL) keeps them in the database.
    async fn reserve_send_slots(
        &self,
        key: &str,
        rate: SendRate,
        count: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<OffsetDateTime>, StoreError>;

    /// The earliest next-attempt time of an entry that is neither held nor leased (it may
    /// be in the past), or `None` when there is none: the outbox worker sleeps until then
    /// instead of polling. Entries whose lease has run out are not included (a worker that
    /// died is noticed by polling, rarely).
    async fn next_outbound_due(&self) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Applies a provider status callback; status only moves forward.
    async fn apply_status(
        &self,
        update: &StatusUpdate,
        now: OffsetDateTime,
    ) -> Result<StatusOutcome, StoreError>;

    /// A receipt by the gateway's id.
    async fn receipt(&self, id: &MessageId) -> Result<Option<Receipt>, StoreError>;

    /// Number of entries in the outbox (pending sends), held ones included.
    async fn outbox_len(&self) -> Result<usize, StoreError>;

    /// When the oldest entry still in the outbox was queued (its receipt's `created_at`);
    /// `None` when the outbox is empty.
    async fn outbox_oldest(&self) -> Result<Option<OffsetDateTime>, StoreError>;
}
