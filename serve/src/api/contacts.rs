//! `POST /telephony/contacts/{number}/approve`.

use serde::{Deserialize, Serialize};
use telephony_core::{MessageId, PhoneNumber};

/// A contact approved for outbound messages, and the held sends it released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactApproval {
    /// The approved number.
    pub contact: PhoneNumber,
    /// Ids of the sends released to the outbox.
    pub released: Vec<MessageId>,
}
