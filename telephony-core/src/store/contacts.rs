//! Outbound safety: known contacts, held first-contact sends, and the send log.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{MessageId, OutboundMessage, Receipt};
use crate::phone::PhoneNumber;

use super::StoreError;

/// A cap on sends accepted since an instant: `outboundPolicy.maxPerDay` counts receipts
/// created since the start of the UTC day (see [`ContactStore::enqueue_outbound_capped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendCap {
    /// Count receipts created at or after this instant.
    pub since: OffsetDateTime,
    /// At most this many, the new ones included.
    pub max: usize,
}

/// Result of [`ContactStore::enqueue_outbound_capped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CappedEnqueue {
    /// Every part was queued: their `pending` receipts, in order.
    Queued(Vec<Receipt>),
    /// Queuing the parts would exceed the cap: nothing was queued. `sent` receipts were
    /// already created since the cap's instant.
    OverCap {
        /// Receipts created since [`SendCap::since`].
        sent: usize,
    },
}

/// Outbound safety: known contacts, held first-contact sends, and the send log.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::contacts`](crate::store_suite::contacts).
#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// True if the number ever texted us (any channel), was approved through pairing, or
    /// was approved as a contact.
    async fn is_known_contact(&self, number: &PhoneNumber) -> Result<bool, StoreError>;

    /// Like [`enqueue_outbound`](super::OutboxStore::enqueue_outbound), but the outbox entry is held
    /// (never claimed) until [`approve_contact`](ContactStore::approve_contact) for its recipient.
    async fn enqueue_outbound_held(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// Queues the parts of one send together, all or none: each gets a `pending` receipt
    /// and an outbox entry (held until its recipient is approved when `held`, like
    /// [`enqueue_outbound_held`](ContactStore::enqueue_outbound_held)).
    ///
    /// With a `cap`, the receipts created since [`SendCap::since`] are counted first and
    /// nothing is queued ([`CappedEnqueue::OverCap`]) when the parts would take the count
    /// past [`SendCap::max`]. The count and the queuing are one atomic step for **every
    /// process** using the store, so several gateway replicas on one database never
    /// overshoot the cap together (PostgreSQL serialises capped sends with a
    /// transaction-level advisory lock per schema; SQLite with its write lock).
    async fn enqueue_outbound_capped(
        &self,
        parts: &[(MessageId, OutboundMessage)],
        held: bool,
        cap: Option<SendCap>,
        now: OffsetDateTime,
    ) -> Result<CappedEnqueue, StoreError>;

    /// Approves a contact and releases its held sends (due at `now`); returns their ids.
    async fn approve_contact(
        &self,
        number: &PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<Vec<MessageId>, StoreError>;

    /// Receipts of held sends, oldest first.
    async fn held_outbound(&self) -> Result<Vec<Receipt>, StoreError>;

    /// Outbound messages accepted (receipts created) at or after `since`.
    async fn count_outbound_since(&self, since: OffsetDateTime) -> Result<usize, StoreError>;

    /// The send log: receipts created at or after `since`, oldest first, at most `limit`
    /// (the newest kept; 0 means 100).
    async fn receipts(
        &self,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<Receipt>, StoreError>;
}
