//! Sender policy state: pairing requests, approved senders and opt-outs.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::pairing::{PairingLimits, PairingOutcome, PairingRequest, PairingResolution};
use crate::phone::PhoneNumber;

use super::{InboxState, StoreError};

/// How a message from a sender the policy admits only once approved is stored, decided
/// from the [`PairingState`] the store reads in the transaction that inserts it
/// ([`insert_inbound_gated`](super::insert_inbound_gated)): the sender policy's read-only
/// decisions, made atomically with the insert instead of by the dispatch worker after it.
///
/// An approved sender's message is stored `queued` (the dispatch worker hands it to the
/// handler and forwards it). An unapproved sender's message is stored as [`Unapproved`]
/// says.
///
/// ```
/// use telephony_core::store::{ApprovalGate, PairingState, Unapproved};
/// use telephony_core::{InboxState, PhoneNumber};
///
/// let gate = ApprovalGate {
///     sender: PhoneNumber::parse("+15557654321").unwrap(),
///     unapproved: Unapproved::Block("sender is not in allowFrom".into()).into(),
/// };
/// // Nobody approved, nobody waiting: the allowlist refuses the sender.
/// assert_eq!(
///     gate.decide(&PairingState::default()),
///     (InboxState::Blocked, Some("sender is not in allowFrom"))
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalGate {
    /// The message's sender.
    pub sender: PhoneNumber,
    /// What an unapproved sender's message becomes (shared: the same for every message).
    pub unapproved: std::sync::Arc<Unapproved>,
}

/// What an unapproved sender's message becomes ([`ApprovalGate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unapproved {
    /// `blocked`, with this note.
    Block(String),
    /// Pairing: a sender with a pending request is held (`pending_pairing`, note
    /// `waiting`); while `max_pending` requests are pending, or `max_per_hour` were created
    /// in the last hour (when the store counted them:
    /// [`PairingState::created_last_hour`]), anyone else is `dropped` (note `limited`, no
    /// request, no SMS); otherwise the message is `queued`, for the dispatch worker to
    /// create a request and text the code.
    Pair {
        /// Pending requests allowed at once.
        max_pending: usize,
        /// Requests created per rolling hour.
        max_per_hour: usize,
        /// The note of a held message.
        waiting: String,
        /// The note of a dropped message.
        limited: String,
    },
}

impl ApprovalGate {
    /// The state (and note) a message from [`sender`](Self::sender) is stored in, given
    /// what the store read.
    pub fn decide<'a>(&'a self, state: &PairingState) -> (InboxState, Option<&'a str>) {
        if state.approved.contains(&self.sender) {
            return (InboxState::Queued, None);
        }
        match self.unapproved.as_ref() {
            Unapproved::Block(note) => (InboxState::Blocked, Some(note)),
            Unapproved::Pair {
                max_pending,
                max_per_hour,
                waiting,
                limited,
            } => {
                if state.pending.iter().any(|p| p.sender == self.sender) {
                    (InboxState::PendingPairing, Some(waiting))
                } else if state.pending.len() >= *max_pending
                    || state.created_last_hour.is_some_and(|n| n >= *max_per_hour)
                {
                    (InboxState::Dropped, Some(limited))
                } else {
                    (InboxState::Queued, None)
                }
            }
        }
    }
}

/// What [`PolicyStore::pairing_state`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairingState {
    /// The asked numbers that were approved through pairing.
    pub approved: std::collections::HashSet<PhoneNumber>,
    /// Pending, unexpired requests, oldest first.
    pub pending: Vec<PairingRequest>,
    /// Requests created in the hour before the read, whatever became of them; `None` when
    /// the store did not count them (the default [`PolicyStore::pairing_state`]).
    pub created_last_hour: Option<usize>,
}

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

    /// What the sender policy reads to decide messages from `numbers` without writing:
    /// which of them are approved ([`approved_senders_among`]) and the pending, unexpired
    /// requests ([`pending_pairings`]). The default asks both; a store that can answer them
    /// with one trip to the database overrides it (the webhooks ask once per batch of
    /// arriving messages).
    ///
    /// [`approved_senders_among`]: Self::approved_senders_among
    /// [`pending_pairings`]: Self::pending_pairings
    async fn pairing_state(
        &self,
        numbers: &[PhoneNumber],
        now: OffsetDateTime,
    ) -> Result<PairingState, StoreError> {
        Ok(PairingState {
            approved: self.approved_senders_among(numbers).await?,
            pending: self.pending_pairings(now).await?,
            created_last_hour: None,
        })
    }

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
