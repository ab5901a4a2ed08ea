//! Sender policy state: pairing requests, approved senders and opt-outs.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::pairing::{PairingLimits, PairingOutcome, PairingRequest, PairingResolution};
use crate::phone::PhoneNumber;

use super::StoreError;

/// Sender policy state: pairing requests, approved senders and opt-outs.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::policy`](crate::store_suite::policy).
#[async_trait]
pub trait PolicyStore: Send + Sync + 'static {
    /// Atomically: expires pending requests past `expires_at`; returns the sender's pending
    /// request if there is one (`Existing`); otherwise, if fewer than `limits.max_pending`
    /// are pending and fewer than `limits.max_per_hour` were created in the hour before
    /// `now`, creates one with `code` (`Created`); otherwise `Limited`.
    async fn pairing_request(
        &self,
        sender: &PhoneNumber,
        code: &str,
        limits: &PairingLimits,
        now: OffsetDateTime,
    ) -> Result<PairingOutcome, StoreError>;

    /// Pending, unexpired requests, oldest first.
    async fn pending_pairings(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<PairingRequest>, StoreError>;

    /// Approves (adding the sender to the stored allowlist) or rejects a pending request,
    /// atomically.
    async fn resolve_pairing(
        &self,
        code: &str,
        approve: bool,
        now: OffsetDateTime,
    ) -> Result<PairingResolution, StoreError>;

    /// True if the number was approved through pairing.
    async fn is_approved_sender(&self, number: &PhoneNumber) -> Result<bool, StoreError>;

    /// Which of `numbers` were approved through pairing: [`is_approved_sender`] for many
    /// numbers in one read (the dispatch worker asks once per batch).
    ///
    /// [`is_approved_sender`]: Self::is_approved_sender
    async fn approved_senders_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<std::collections::HashSet<PhoneNumber>, StoreError>;

    /// Records an opt-out (`true`) or opt-in (`false`).
    async fn set_opted_out(
        &self,
        number: &PhoneNumber,
        opted_out: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// True if the number opted out and has not opted back in.
    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError>;
}
