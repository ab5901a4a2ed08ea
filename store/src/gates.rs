//! Approval gates in the group commits of both backends
//! ([`InboxStore::insert_inbound_gated_atomic`](telephony_core::InboxStore::insert_inbound_gated_atomic)):
//! what the SQLite and PostgreSQL writers share around their own read and rows.

use telephony_core::store::ApprovalGate;
use telephony_core::{InboxState, InsertOutcome, PhoneNumber, StoreError};

/// The distinct senders of a batch's gates, for its one read.
pub(crate) fn senders<'a>(gates: impl Iterator<Item = &'a ApprovalGate>) -> Vec<PhoneNumber> {
    let mut senders: Vec<PhoneNumber> = gates.map(|g| g.sender.clone()).collect();
    senders.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    senders.dedup();
    senders
}

/// The batch's read failed: the whole batch fails with it (nothing is stored).
pub(crate) fn read_failed(e: &StoreError) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "reading the sender policy's state for the batch: {}",
        telephony_core::error_chain(e)
    ))
}

/// A gated insert's answer from the writer: the outcome and the state its gate decided.
pub(crate) fn answer(
    answer: (InsertOutcome, Option<InboxState>),
) -> Result<(InsertOutcome, InboxState), StoreError> {
    match answer {
        (outcome, Some(state)) => Ok((outcome, state)),
        (_, None) => Err(StoreError::backend(sqlx::Error::Protocol(
            "the inbound writer answered a gated insert without deciding its state".into(),
        ))),
    }
}
