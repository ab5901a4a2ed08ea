//! Live call control: `POST /telephony/calls/{id}/transfer` and
//! `POST /telephony/calls/{id}/update`. Both answer with the call ([`super::Call`]).

use serde::{Deserialize, Serialize};

/// `POST /telephony/calls/{id}/transfer`: hand the call to a number or SIP URI.
///
/// ```
/// use telephony_serve::api::TransferRequest;
/// let r: TransferRequest = serde_json::from_str(r#"{"to":"sip:desk@pbx.example.com","timeout":20,"callerId":"+15550001234"}"#).unwrap();
/// assert_eq!((r.to.as_str(), r.timeout, r.caller_id.as_deref()), ("sip:desk@pbx.example.com", Some(20), Some("+15550001234")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequest {
    /// The target: E.164 or a `sip:` URI.
    pub to: String,
    /// Seconds to let the target ring (the provider's default, 30, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// The caller id the target sees (E.164; the provider's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
}

/// `POST /telephony/calls/{id}/update`: exactly one of `say`, `twiml`, `hangup: true`.
///
/// ```
/// use telephony_serve::api::UpdateRequest;
/// let r: UpdateRequest = serde_json::from_str(r#"{"say":"Your order is ready."}"#).unwrap();
/// assert_eq!(r.say.as_deref(), Some("Your order is ready."));
/// assert!(!r.hangup);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRequest {
    /// Say this now (`voice.voice`, `voice.language`), then listen for the caller's next
    /// turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// Replace the call's instructions with this TwiML (Twilio only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twiml: Option<String>,
    /// End the call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hangup: bool,
}
