//! JSON shapes of Twilio REST resources (`api.v2010.account.message`) and error bodies,
//! shared by the client (decoding) and the `telephony-twilio-simulator` crate (encoding).

use std::collections::BTreeMap;

/// A Message resource as Twilio returns it (`api.v2010.account.message`).
///
/// Numbers that Twilio sends as strings (`num_segments`, `num_media`) stay strings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageResource {
    /// `SM…` or `MM…`.
    pub sid: String,
    /// `AC…`.
    pub account_sid: Option<String>,
    /// Always `2010-04-01`.
    pub api_version: Option<String>,
    /// Text.
    pub body: Option<String>,
    /// RFC 2822 date.
    pub date_created: Option<String>,
    /// RFC 2822 date.
    pub date_sent: Option<String>,
    /// RFC 2822 date.
    pub date_updated: Option<String>,
    /// `inbound`, `outbound-api`, `outbound-call`, `outbound-reply`.
    pub direction: Option<String>,
    /// Error code, for failed messages.
    pub error_code: Option<i64>,
    /// Error message, for failed messages.
    pub error_message: Option<String>,
    /// Sender (null for a Messaging Service send before a sender is chosen).
    pub from: Option<String>,
    /// `MG…`, when sent through a Messaging Service.
    pub messaging_service_sid: Option<String>,
    /// Media count, as a string.
    pub num_media: Option<String>,
    /// Segment count, as a string.
    pub num_segments: Option<String>,
    /// Price, a decimal string.
    pub price: Option<String>,
    /// Currency of `price`.
    pub price_unit: Option<String>,
    /// `message_enum_status`.
    pub status: Option<String>,
    /// Sub-resource URIs (`media`, `feedback`).
    pub subresource_uris: Option<BTreeMap<String, String>>,
    /// Recipient.
    pub to: Option<String>,
    /// This resource's URI.
    pub uri: Option<String>,
}

/// A page of Message resources (`GET …/Messages.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessagePage {
    /// The messages on this page, newest first.
    pub messages: Vec<MessageResource>,
    /// Page index.
    pub page: u32,
    /// Page size.
    pub page_size: u32,
    /// URI of this page.
    pub uri: String,
    /// URI of the first page.
    pub first_page_uri: String,
    /// URI of the next page, if any.
    pub next_page_uri: Option<String>,
    /// URI of the previous page, if any.
    pub previous_page_uri: Option<String>,
    /// Index of the first item.
    pub start: u32,
    /// Index of the last item.
    pub end: u32,
}

/// Twilio's error body: `{"code":21211,"message":"…","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Twilio error code.
    pub code: Option<i64>,
    /// Human-readable message.
    pub message: String,
    /// Documentation URL.
    pub more_info: Option<String>,
    /// HTTP status.
    pub status: u16,
}

/// A Call resource as Twilio returns it (`api.v2010.account.call`).
///
/// Turn it into the provider-neutral [`Call`](telephony_core::voice::Call) with
/// [`to_call`](Self::to_call).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CallResource {
    /// `CA…`.
    pub sid: String,
    /// `AC…`.
    pub account_sid: Option<String>,
    /// Always `2010-04-01`.
    pub api_version: Option<String>,
    /// RFC 2822 date.
    pub date_created: Option<String>,
    /// RFC 2822 date.
    pub date_updated: Option<String>,
    /// `inbound`, `outbound-api`, `outbound-dial`, `trunking-*`.
    pub direction: Option<String>,
    /// Seconds, as a string; null until the call ends.
    pub duration: Option<String>,
    /// RFC 2822 date the call ended; null until then.
    pub end_time: Option<String>,
    /// The caller.
    pub from: Option<String>,
    /// The parent call, for a leg dialed from another call.
    pub parent_call_sid: Option<String>,
    /// Price, a decimal string.
    pub price: Option<String>,
    /// Currency of `price`.
    pub price_unit: Option<String>,
    /// RFC 2822 date the call started (was dialed); null before.
    pub start_time: Option<String>,
    /// `call_enum_status`: `queued, ringing, in-progress, completed, busy, failed,
    /// no-answer, canceled`.
    pub status: Option<String>,
    /// The callee.
    pub to: Option<String>,
    /// `human`, `machine_*`, … with machine detection.
    pub answered_by: Option<String>,
    /// This resource's URI.
    pub uri: Option<String>,
}

impl CallResource {
    /// The provider-neutral call: `status` by its Twilio name (an unknown or missing
    /// status is [`ProviderError::Protocol`](telephony_core::ProviderError)), `direction`
    /// (`inbound`, `outbound-api` → `Outbound`, `outbound-dial` → `Dialed`, else
    /// `Unknown`), `start_time` → `started_at`, `end_time` → `ended_at` (RFC 2822; an
    /// unparseable date is left out). Twilio reports no answer time, so `answered_at` stays
    /// `None`. `duration`, `answered_by`, `parent_call_sid`, `price`, `price_unit` and the
    /// raw `direction` go to `extra` when present.
    ///
    /// ```
    /// use telephony_core::voice::{CallDirection, CallStatus};
    /// use telephony_twilio::resources::CallResource;
    /// let r: CallResource = serde_json::from_str(r#"{"sid":"CA1","account_sid":"AC1","from":"+15550001234",
    ///     "to":"+15550005678","status":"no-answer","direction":"outbound-api",
    ///     "start_time":"Thu, 24 Aug 2023 05:01:45 +0000","end_time":null,"duration":"0"}"#).unwrap();
    /// let call = r.to_call()?;
    /// assert_eq!((call.call_id.as_str(), call.status, call.direction), ("CA1", CallStatus::NoAnswer, CallDirection::Outbound));
    /// assert_eq!(call.started_at.unwrap().unix_timestamp(), 1692853305);
    /// assert_eq!(call.ended_at, None);
    /// assert_eq!(call.extra.get("duration").map(String::as_str), Some("0"));
    /// # Ok::<(), telephony_core::ProviderError>(())
    /// ```
    pub fn to_call(&self) -> Result<telephony_core::voice::Call, telephony_core::ProviderError> {
        use telephony_core::voice::{Call, CallDirection};
        use time::OffsetDateTime;
        use time::format_description::well_known::Rfc2822;

        let raw_status = self.status.as_deref().unwrap_or_default();
        let status = raw_status.parse().map_err(|_| {
            telephony_core::ProviderError::protocol(
                "twilio",
                format!("call {} has unknown status {raw_status:?}", self.sid),
            )
        })?;
        let direction = match self.direction.as_deref() {
            Some("inbound") => CallDirection::Inbound,
            Some("outbound-api") => CallDirection::Outbound,
            Some("outbound-dial") => CallDirection::Dialed,
            _ => CallDirection::Unknown,
        };
        let date = |d: &Option<String>| {
            d.as_deref()
                .and_then(|d| OffsetDateTime::parse(d.trim(), &Rfc2822).ok())
        };
        let mut call = Call::new(
            self.sid.clone(),
            self.from.clone().unwrap_or_default(),
            self.to.clone().unwrap_or_default(),
            direction,
            status,
        );
        call.account = self.account_sid.clone().filter(|a| !a.is_empty());
        call.started_at = date(&self.start_time);
        call.ended_at = date(&self.end_time);
        for (key, value) in [
            ("direction", &self.direction),
            ("duration", &self.duration),
            ("answered_by", &self.answered_by),
            ("parent_call_sid", &self.parent_call_sid),
            ("price", &self.price),
            ("price_unit", &self.price_unit),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                call.extra.insert(key.to_string(), v.to_string());
            }
        }
        Ok(call)
    }
}

/// What a phone number can do (`capabilities` of an IncomingPhoneNumber).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct NumberCapabilities {
    /// Calls.
    #[serde(default)]
    pub voice: bool,
    /// SMS.
    #[serde(default, rename = "sms", alias = "SMS")]
    pub sms: bool,
    /// MMS.
    #[serde(default, rename = "mms", alias = "MMS")]
    pub mms: bool,
    /// Fax.
    #[serde(default)]
    pub fax: bool,
}

/// An IncomingPhoneNumber resource (`api.v2010.account.incoming_phone_number`), the
/// fields the gateway reads and sets. Twilio writes empty settings as `""` or `null`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct IncomingPhoneNumberResource {
    /// `PN…`.
    pub sid: String,
    /// `AC…`.
    pub account_sid: Option<String>,
    /// E.164.
    pub phone_number: String,
    /// Where inbound messages go.
    pub sms_url: Option<String>,
    /// `GET` or `POST`.
    pub sms_method: Option<String>,
    /// A TwiML App handling messages instead of `sms_url`.
    pub sms_application_sid: Option<String>,
    /// Where inbound calls go.
    pub voice_url: Option<String>,
    /// `GET` or `POST`.
    pub voice_method: Option<String>,
    /// A TwiML App handling calls instead of `voice_url`.
    pub voice_application_sid: Option<String>,
    /// A SIP trunk handling calls instead of `voice_url`.
    pub trunk_sid: Option<String>,
    /// Where call status callbacks go.
    pub status_callback: Option<String>,
    /// `GET` or `POST`.
    pub status_callback_method: Option<String>,
    /// What the number can do.
    #[serde(default)]
    pub capabilities: NumberCapabilities,
}

/// A page of `IncomingPhoneNumbers.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct IncomingPhoneNumberPage {
    /// The numbers on this page.
    pub incoming_phone_numbers: Vec<IncomingPhoneNumberResource>,
}

/// A Messaging Service (`messaging.v1.service`), its inbound settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct MessagingServiceResource {
    /// `MG…`.
    pub sid: String,
    /// Where the service sends inbound messages.
    pub inbound_request_url: Option<String>,
    /// `GET` or `POST`.
    pub inbound_method: Option<String>,
    /// True ("Defer to sender's webhook"): each number's own `sms_url` gets its messages.
    #[serde(default)]
    pub use_inbound_webhook_on_number: bool,
    /// The service's status callback.
    pub status_callback: Option<String>,
}
