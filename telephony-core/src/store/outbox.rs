//! Outbound messages: the durable outbox, receipts and provider status callbacks.

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
    async fn claim_outbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// The provider accepted the message: record its receipt and remove the outbox entry.
    async fn complete_outbound(
        &self,
        id: &MessageId,
        result: &ProviderReceipt,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// The send failed for good: mark the receipt `failed` and remove the outbox entry.
    async fn fail_outbound(
        &self,
        id: &MessageId,
        error: &ErrorInfo,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// The send failed but may succeed later: keep it, release the lease, try at `next_attempt`.
    async fn retry_outbound(
        &self,
        id: &MessageId,
        error: &ErrorInfo,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The entry was claimed but not tried (its sender has no rate-limit slot yet): release
    /// the lease and make it due at `until`, **without** counting an attempt (the claim's
    /// count is undone on the entry and its receipt) and without touching the receipt's
    /// error. Later entries to the same recipient that are not leased are pushed back to
    /// at least `until`, so a recipient's messages keep their order. `NotFound` if the
    /// entry is not in the outbox.
    async fn defer_outbound(&self, id: &MessageId, until: OffsetDateTime)
    -> Result<(), StoreError>;

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
