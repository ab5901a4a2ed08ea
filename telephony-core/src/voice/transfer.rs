//! Handing a call to someone else: where it may go ([`transfer_target`]), how it went
//! ([`TransferOutcome`], reported as [`CallEvent::Transfer`](crate::voice::CallEvent::Transfer)),
//! and changing a live call from outside ([`CallUpdate`]).

use crate::PhoneNumber;

use super::response::{Say, VoiceResponse};

/// Why a transfer target was refused (nothing is sent to the provider).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid transfer target {target:?}: {reason}")]
pub struct TransferTargetError {
    /// What was given.
    pub target: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks and normalizes where a call may be transferred: an E.164 number
/// (`+15550001234`, punctuation allowed and removed) or a SIP URI (`sip:` or `sips:`
/// followed by `user@host` or `host`, without spaces or angle brackets).
///
/// ```
/// use telephony_core::voice::transfer_target;
/// assert_eq!(transfer_target("+1 (555) 000-1234").unwrap(), "+15550001234");
/// assert_eq!(transfer_target("sip:agent@pbx.example.com").unwrap(), "sip:agent@pbx.example.com");
/// let err = transfer_target("5550001234").unwrap_err();
/// assert_eq!(err.to_string(), "invalid transfer target \"5550001234\": not an E.164 number (+15550001234) or a sip: URI");
/// assert!(transfer_target("sip:").is_err());
/// ```
pub fn transfer_target(target: &str) -> Result<String, TransferTargetError> {
    let t = target.trim();
    let refuse = |reason: &str| TransferTargetError {
        target: target.to_string(),
        reason: reason.to_string(),
    };
    let lower = t.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("sip:")
        .or_else(|| lower.strip_prefix("sips:"))
    {
        let host = rest.rsplit('@').next().unwrap_or_default();
        if rest.is_empty() || host.is_empty() || rest.starts_with('@') {
            return Err(refuse("a sip: URI needs a host (sip:user@host)"));
        }
        if t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
        {
            return Err(refuse("a sip: URI may not hold spaces, quotes or <>"));
        }
        return Ok(t.to_string());
    }
    match PhoneNumber::parse(t) {
        Ok(n) => Ok(n.as_str().to_string()),
        Err(_) => Err(refuse("not an E.164 number (+15550001234) or a sip: URI")),
    }
}

/// How a transfer ended for the call that was handed over.
///
/// ```
/// use telephony_core::voice::TransferOutcome;
/// assert_eq!(TransferOutcome::from_dial_status("no-answer"), Some(TransferOutcome::NoAnswer));
/// assert_eq!(TransferOutcome::from_dial_status("completed"), Some(TransferOutcome::Answered));
/// assert_eq!(TransferOutcome::Busy.as_str(), "busy");
/// assert!(TransferOutcome::Answered.is_answered() && !TransferOutcome::Failed.is_answered());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferOutcome {
    /// The target answered and was connected.
    Answered,
    /// The target was busy.
    Busy,
    /// Nobody answered within the timeout.
    NoAnswer,
    /// The target could not be reached.
    Failed,
    /// The transfer was canceled (the caller hung up while it rang).
    Canceled,
}

impl TransferOutcome {
    /// `answered`, `busy`, `no-answer`, `failed` or `canceled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferOutcome::Answered => "answered",
            TransferOutcome::Busy => "busy",
            TransferOutcome::NoAnswer => "no-answer",
            TransferOutcome::Failed => "failed",
            TransferOutcome::Canceled => "canceled",
        }
    }

    /// True when the target took the call.
    pub fn is_answered(self) -> bool {
        self == TransferOutcome::Answered
    }

    /// Reads a Twilio-style `DialCallStatus` (`completed` and `answered` are both
    /// answered); `None` for anything else.
    pub fn from_dial_status(status: &str) -> Option<TransferOutcome> {
        Some(match status.trim() {
            "completed" | "answered" => TransferOutcome::Answered,
            "busy" => TransferOutcome::Busy,
            "no-answer" => TransferOutcome::NoAnswer,
            "failed" => TransferOutcome::Failed,
            "canceled" => TransferOutcome::Canceled,
            _ => return None,
        })
    }
}

impl std::fmt::Display for TransferOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change to a call in progress, made from outside its handler
/// (`Gateway::update_call`, `telephony call update`).
///
/// ```
/// use telephony_core::voice::{CallUpdate, VoiceResponse};
/// let u = CallUpdate::say("Your order is ready.");
/// assert!(matches!(u, CallUpdate::Say(ref s) if s.text == "Your order is ready."));
/// assert_eq!(CallUpdate::Response(VoiceResponse::new().hangup()).kind(), "response");
/// assert_eq!(CallUpdate::Hangup.kind(), "hangup");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallUpdate {
    /// Say this now, then listen for the caller again (the next turn).
    Say(Say),
    /// Replace what the call does with this response.
    Response(VoiceResponse),
    /// Replace what the call does with this provider markup (Twilio TwiML; refused by
    /// providers without markup).
    Twiml(String),
    /// End the call.
    Hangup,
}

impl CallUpdate {
    /// Say `text` now (see [`CallUpdate::Say`]).
    pub fn say(text: impl Into<Say>) -> Self {
        CallUpdate::Say(text.into())
    }

    /// `say`, `response`, `twiml` or `hangup` (for logs).
    pub fn kind(&self) -> &'static str {
        match self {
            CallUpdate::Say(_) => "say",
            CallUpdate::Response(_) => "response",
            CallUpdate::Twiml(_) => "twiml",
            CallUpdate::Hangup => "hangup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        for ok in [
            "+15550001234",
            "sip:alice@example.com",
            "SIPS:pbx.example.com:5061",
        ] {
            assert!(transfer_target(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "tel:+15550001234",
            "sip:@host",
            "sip:a b@host",
            "+0123",
        ] {
            assert!(transfer_target(bad).is_err(), "{bad}");
        }
        assert_eq!(
            transfer_target("sip:<x>@h").unwrap_err().reason,
            "a sip: URI may not hold spaces, quotes or <>"
        );
        assert_eq!(TransferOutcome::from_dial_status("ringing"), None);
    }
}
