//! `GET /telephony/status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telephony_core::store::{HealthReport, StoreErrorKind, WriteFailure};
pub use telephony_core::store::{ReplicaBeat as Replica, ReplicaHolds};
use time::OffsetDateTime;

/// What a running gateway reports about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// Always `ok` when the gateway answers.
    pub status: String,
    /// The provider's name (`twilio`, `telnyx`, …).
    pub provider: String,
    /// The inbound sender policy's name (`pairing`, `allowlist`, `open`, `disabled`, or a
    /// custom policy's).
    pub inbound_policy: String,
    /// Forwarding health; `null` when `forward.url` is not set.
    pub forwarding: Option<ForwardingStatus>,
    /// The configured public URL.
    pub public_url: Option<String>,
    /// Path of the inbound webhook.
    pub webhook_path: String,
    /// Path of the status callback.
    pub status_path: String,
    /// The status callback URL given to the provider, when there is a public URL.
    pub status_callback_url: Option<String>,
    /// Messages waiting in the outbox.
    pub outbox_pending: usize,
    /// Voice: whether it is on, the session limit, and the live sessions.
    pub voice: super::calls::VoiceStatus,
    /// The id of the replica that answered (empty from a gateway older than replicas).
    #[serde(default)]
    pub replica: String,
    /// The replicas sharing this account's store whose heartbeat is recent, by id: host,
    /// pid, version, start, last heartbeat, accounts, and what each holds now.
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// The store: whether it can commit, its size, its errors (`null` from a gateway
    /// older than this field).
    #[serde(default)]
    pub store: Option<StoreStatus>,
}

/// The store's health in `GET /telephony/status`.
///
/// ```
/// use telephony_core::store::{HealthReport, StoreErrorKind};
/// use telephony_serve::api::StoreStatus;
///
/// let s = StoreStatus::new(&HealthReport::default(), Some(1 << 20));
/// assert_eq!(s.status, "ok");
/// assert_eq!(s.errors[&StoreErrorKind::DiskFull], 0);
/// assert_eq!(
///     serde_json::to_value(&s).unwrap()["errors"]["disk_full"],
///     serde_json::json!(0)
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStatus {
    /// `ok`, or `unavailable` while the store cannot commit.
    pub status: String,
    /// Why it is unavailable (`null` when ok).
    #[serde(default)]
    pub reason: Option<String>,
    /// Bytes the store takes on disk (`null` for a store in memory, or when its size
    /// could not be read).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// When a write last committed in the answering process.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_commit: Option<OffsetDateTime>,
    /// While writes fail: since when, how many, the last error.
    #[serde(default)]
    pub write_failure: Option<WriteFailure>,
    /// Errors since the store was opened, by kind (every kind, zeros included).
    #[serde(default)]
    pub errors: BTreeMap<StoreErrorKind, u64>,
}

impl StoreStatus {
    /// The status of a store with this health report and size.
    pub fn new(report: &HealthReport, bytes: Option<u64>) -> Self {
        StoreStatus {
            status: if report.write_failure.is_some() {
                "unavailable"
            } else {
                "ok"
            }
            .into(),
            reason: report.write_failure.as_ref().map(WriteFailure::reason),
            bytes,
            last_commit: report.last_commit,
            write_failure: report.write_failure.clone(),
            errors: StoreErrorKind::ALL
                .iter()
                .map(|k| (*k, report.errors_of(*k)))
                .collect(),
        }
    }

    /// Whether the store can commit.
    pub fn is_ok(&self) -> bool {
        self.write_failure.is_none()
    }
}

/// Forwarding health, from the forward queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardingStatus {
    /// Where events are POSTed.
    pub url: String,
    /// The most events in one POST (`forward.maxBatch`; 1: one event per POST, as an
    /// object; above 1: a JSON array per POST).
    pub max_batch: usize,
    /// Events not yet delivered.
    pub pending: usize,
    /// Of those, events that failed at least once.
    pub failing: usize,
    /// Events delivered.
    pub delivered: usize,
    /// The most recent delivery error among pending events.
    pub last_error: Option<String>,
}
