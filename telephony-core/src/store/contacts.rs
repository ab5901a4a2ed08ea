//! Outbound safety: known contacts, held first-contact sends, and the send log.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{MessageId, OutboundMessage, Receipt};
use crate::phone::PhoneNumber;

use super::StoreError;

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
