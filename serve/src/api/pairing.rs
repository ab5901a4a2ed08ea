//! Pairing requests and the owner's decisions on them.

use serde::{Deserialize, Serialize};
use telephony_core as domain;
use telephony_core::{PairingStatus, PhoneNumber};
use time::OffsetDateTime;

use super::receipts::Receipt;

/// A pairing request from an unknown sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingRequest {
    /// The code the sender was given.
    pub code: String,
    /// The sender.
    pub sender: PhoneNumber,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: PairingStatus,
    /// When it was created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it expires if not answered (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `GET /telephony/pairing`: `{"requests":[…]}`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingList {
    /// Pending requests.
    pub requests: Vec<PairingRequest>,
}

/// An approved or rejected pairing: what [`Gateway::approve_pairing`](crate::Gateway::approve_pairing)
/// and [`reject_pairing`](crate::Gateway::reject_pairing) return, and the JSON of
/// `POST /telephony/pairing/{code}/approve` and `…/reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingDecision {
    /// The request, with its new status.
    pub request: PairingRequest,
    /// The approval text's receipt, when one was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Receipt>,
    /// Why no approval text was queued, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_error: Option<String>,
}

impl From<&domain::PairingRequest> for PairingRequest {
    fn from(r: &domain::PairingRequest) -> Self {
        PairingRequest {
            code: r.code.clone(),
            sender: r.sender.clone(),
            status: r.status,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

impl From<&[domain::PairingRequest]> for PairingList {
    fn from(r: &[domain::PairingRequest]) -> Self {
        PairingList {
            requests: r.iter().map(PairingRequest::from).collect(),
        }
    }
}
