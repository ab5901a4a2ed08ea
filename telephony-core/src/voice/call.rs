//! The call model: [`Call`], [`CallStatus`] (and the rule that it only moves forward),
//! [`CallDirection`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

/// Where a call is in its life.
///
/// ```
/// use telephony_core::voice::CallStatus;
/// let s: CallStatus = "in-progress".parse()?;
/// assert_eq!(s, CallStatus::InProgress);
/// assert_eq!(CallStatus::NoAnswer.to_string(), "no-answer");
/// assert!(CallStatus::Busy.is_terminal());
/// # Ok::<(), telephony_core::voice::UnknownCallStatus>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CallStatus {
    /// Created, not ringing yet.
    Queued,
    /// Ringing.
    Ringing,
    /// Answered and connected.
    InProgress,
    /// Answered, then ended normally.
    Completed,
    /// The callee was busy.
    Busy,
    /// The call could not be placed.
    Failed,
    /// Nobody answered.
    NoAnswer,
    /// Ended before it was answered, by us.
    Canceled,
}

impl CallStatus {
    /// Every status, in declaration order.
    pub const ALL: [CallStatus; 8] = [
        Self::Queued,
        Self::Ringing,
        Self::InProgress,
        Self::Completed,
        Self::Busy,
        Self::Failed,
        Self::NoAnswer,
        Self::Canceled,
    ];

    /// The wire name (`queued`, `in-progress`, `no-answer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
        }
    }

    /// How far along its life the call is; status only moves to a higher rank.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Ringing => 1,
            Self::InProgress => 2,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled => 3,
        }
    }

    /// True once the call has ended (no further change is expected).
    pub fn is_terminal(self) -> bool {
        self.rank() >= 3
    }

    /// Whether a call in status `self` may move to `next`.
    ///
    /// Status callbacks may arrive out of order: a late `ringing` never overwrites
    /// `in-progress`, and one terminal status never replaces another.
    ///
    /// ```
    /// use telephony_core::voice::CallStatus::*;
    /// assert!(Queued.can_advance_to(InProgress));
    /// assert!(Ringing.can_advance_to(NoAnswer));
    /// assert!(!InProgress.can_advance_to(Ringing));
    /// assert!(!Completed.can_advance_to(Failed));
    /// ```
    pub fn can_advance_to(self, next: CallStatus) -> bool {
        !self.is_terminal() && next.rank() > self.rank()
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of [`CallStatus`]'s names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call status {0:?}")]
pub struct UnknownCallStatus(pub String);

impl FromStr for CallStatus {
    type Err = UnknownCallStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCallStatus(s.to_string()))
    }
}

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallDirection {
    /// Someone called one of our numbers.
    Inbound,
    /// We placed it through the provider's API.
    Outbound,
    /// A leg the provider dialed from another call (a [`Dial`](crate::voice::Dial) verb).
    Dialed,
    /// The provider said something else, or nothing.
    Unknown,
}

/// A phone call as a provider reported it.
///
/// ```
/// use telephony_core::voice::{Call, CallDirection, CallStatus};
/// let call = Call::new("CA1", "+15550005678", "+15550001234", CallDirection::Inbound, CallStatus::Ringing);
/// assert_eq!(call.call_id, "CA1");
/// assert!(call.extra.is_empty() && call.answered_at.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Call {
    /// The provider's call id.
    pub call_id: String,
    /// The provider account the call belongs to.
    pub account: Option<String>,
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// Who placed it.
    pub direction: CallDirection,
    /// Its status when the provider reported it.
    pub status: CallStatus,
    /// When it started (for a webhook: when the gateway received the first one).
    pub started_at: Option<OffsetDateTime>,
    /// When it was answered.
    pub answered_at: Option<OffsetDateTime>,
    /// When it ended.
    pub ended_at: Option<OffsetDateTime>,
    /// Every parameter the provider sent that is not a field above.
    pub extra: BTreeMap<String, String>,
}

impl Call {
    /// A call with no times, account or extras.
    pub fn new(
        call_id: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        direction: CallDirection,
        status: CallStatus,
    ) -> Self {
        Call {
            call_id: call_id.into(),
            account: None,
            from: from.into(),
            to: to.into(),
            direction,
            status,
            started_at: None,
            answered_at: None,
            ended_at: None,
            extra: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in CallStatus::ALL {
            assert_eq!(s.as_str().parse::<CallStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("initiated".parse::<CallStatus>().is_err());
        assert!("In-Progress".parse::<CallStatus>().is_err());
    }

    #[test]
    fn forward_only() {
        use CallStatus::*;
        for a in CallStatus::ALL {
            for b in CallStatus::ALL {
                let expected = !a.is_terminal() && b.rank() > a.rank();
                assert_eq!(a.can_advance_to(b), expected, "{a} -> {b}");
            }
            assert!(!a.can_advance_to(a));
        }
        let terminal: Vec<_> = CallStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, [Completed, Busy, Failed, NoAnswer, Canceled]);
    }
}
