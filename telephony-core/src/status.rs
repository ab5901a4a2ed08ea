//! Delivery status of outbound messages, and the rule that status only moves forward.

use std::fmt;
use std::str::FromStr;

/// Where an outbound message is in its life.
///
/// Mirrors Twilio's `MessageStatus` values plus `pending` (accepted by the gateway,
/// waiting in the outbox for the provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// In the gateway's durable outbox, not yet handed to the provider.
    Pending,
    /// Accepted by a Messaging Service.
    Accepted,
    /// Scheduled for later sending.
    Scheduled,
    /// Queued at the provider.
    Queued,
    /// Being sent to the carrier.
    Sending,
    /// Handed to the carrier.
    Sent,
    /// The carrier confirmed delivery.
    Delivered,
    /// The carrier could not deliver it.
    Undelivered,
    /// Sending failed (at the provider or in the gateway).
    Failed,
    /// Some parts were delivered.
    PartiallyDelivered,
    /// Read by the recipient (WhatsApp/RCS).
    Read,
    /// A scheduled message was canceled.
    Canceled,
    /// Inbound message being received.
    Receiving,
    /// Inbound message received.
    Received,
    /// The provider gave up before the carrier took it (its validity period ran out).
    Expired,
    /// Sent, but the carrier never confirmed delivery either way (Telnyx's
    /// `delivery_unconfirmed`).
    Unknown,
}

impl DeliveryStatus {
    /// Every status, in declaration order.
    pub const ALL: [DeliveryStatus; 16] = [
        Self::Pending,
        Self::Accepted,
        Self::Scheduled,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Failed,
        Self::PartiallyDelivered,
        Self::Read,
        Self::Canceled,
        Self::Receiving,
        Self::Received,
        Self::Expired,
        Self::Unknown,
    ];

    /// The wire name (`queued`, `partially_delivered`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Read => "read",
            Self::Canceled => "canceled",
            Self::Receiving => "receiving",
            Self::Received => "received",
            Self::Expired => "expired",
            Self::Unknown => "unknown",
        }
    }

    /// How far along the life of a message this status is; status only ever moves to a higher rank.
    pub fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Accepted | Self::Scheduled | Self::Receiving => 1,
            Self::Queued => 2,
            Self::Sending => 3,
            Self::Sent | Self::Received => 4,
            Self::Delivered
            | Self::Undelivered
            | Self::Failed
            | Self::PartiallyDelivered
            | Self::Canceled
            | Self::Expired
            | Self::Unknown => 5,
            Self::Read => 6,
        }
    }

    /// True when no further change is expected (except `read` after `delivered`).
    pub fn is_final(self) -> bool {
        self.rank() >= 5
    }

    /// True for statuses that mean the message did not arrive.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Undelivered | Self::Canceled | Self::Expired
        )
    }

    /// Whether a receipt in status `self` may move to `next`.
    ///
    /// Status only moves forward: a late `sent` never overwrites `delivered`, and one
    /// final status never replaces another, except `read` after `delivered`.
    ///
    /// ```
    /// use telephony_core::DeliveryStatus::*;
    /// assert!(Queued.can_advance_to(Delivered));
    /// assert!(!Delivered.can_advance_to(Sent));
    /// assert!(!Delivered.can_advance_to(Failed));
    /// assert!(Delivered.can_advance_to(Read));
    /// ```
    pub fn can_advance_to(self, next: DeliveryStatus) -> bool {
        if self.is_final() {
            return self == Self::Delivered && next == Self::Read;
        }
        next.rank() > self.rank()
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of [`DeliveryStatus`]'s names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::{self, *};

    #[test]
    fn forward_only() {
        assert!(Pending.can_advance_to(Queued));
        assert!(Queued.can_advance_to(Sent));
        assert!(Sent.can_advance_to(Delivered));
        assert!(Sent.can_advance_to(Undelivered));
        assert!(!Sent.can_advance_to(Queued));
        assert!(!Sent.can_advance_to(Sent));
        assert!(!Delivered.can_advance_to(Sent));
        assert!(!Delivered.can_advance_to(Undelivered));
        assert!(!Failed.can_advance_to(Delivered));
        assert!(Delivered.can_advance_to(Read));
        assert!(!Read.can_advance_to(Delivered));
        assert!(Sent.can_advance_to(Expired));
        assert!(Sent.can_advance_to(Unknown));
        assert!(!Unknown.can_advance_to(Delivered));
        assert!(Expired.is_failure() && !Unknown.is_failure());
        assert!(Expired.is_final() && Unknown.is_final());
    }

    #[test]
    fn names_round_trip() {
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("bogus".parse::<DeliveryStatus>().is_err());
    }
}
