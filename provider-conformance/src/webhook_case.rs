//! The schema of a webhook case: a request the provider sends us, and what the gateway
//! must answer and report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use telephony_core::voice::{ACTION_EXTRA, Call, CallDirection, CallEvent, CallStatus};
use telephony_core::{Channel, DeliveryStatus, Media, WebhookError, WebhookEvent, rfc3339};
use time::{OffsetDateTime, UtcOffset};

/// One webhook case: a request, how it is signed, and the expected answer and events.
///
/// ```
/// use telephony_conformance::WebhookCase;
/// let case: WebhookCase = serde_json::from_str(r#"{
///   "label": "missing signature",
///   "request": {"url": "https://gw.example.com/hook",
///               "headers": {"Content-Type": "application/x-www-form-urlencoded"},
///               "body": "MessageSid=SM1"},
///   "signature": "missing",
///   "check": "verify",
///   "expect": {"http_status": 403, "error": "MissingSignature:X-Twilio-Signature", "events": []}
/// }"#)?;
/// assert_eq!(case.request.method, "POST");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookCase {
    /// Unique within a provider's suite; failures are reported under it.
    pub label: String,
    /// The HTTP request as the provider sends it.
    pub request: CaseRequest,
    /// How the request is signed.
    pub signature: SignatureSpec,
    /// Whether the provider is asked to verify the signature.
    pub check: Check,
    /// The gateway's clock for this case (Unix seconds); [`DEFAULT_NOW`](crate::DEFAULT_NOW)
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
    /// The expected answer and events.
    pub expect: WebhookExpect,
}

/// A webhook HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseRequest {
    /// HTTP method; `POST` when absent.
    #[serde(default = "post")]
    pub method: String,
    /// The full URL the provider requested (and signed): public URL, path, raw query.
    pub url: String,
    /// Request headers, `Content-Type` included (none when absent). A header named here
    /// wins over one the signer computes.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The raw body, exactly as sent (a form string, or JSON text).
    #[serde(default)]
    pub body: String,
}

fn post() -> String {
    "POST".into()
}

/// How a case's request is signed.
///
/// In JSON: `"valid"`, `"missing"`, `{"literal": {"X-Header": "value"}}` or
/// `{"valid_for": {"url": "…", "body": "…", "now": 1700000000}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignatureSpec {
    /// The provider's signer hook computes the headers for the request as sent.
    Valid,
    /// No signature headers at all.
    Missing,
    /// Exactly these headers, verbatim (a wrong, empty or malformed signature).
    Literal(BTreeMap<String, String>),
    /// The signer hook computes a signature as if the request had this URL, body or clock
    /// (each defaults to the request's own): a signature for something else.
    ValidFor(SignedAs),
}

/// What a `valid_for` signature was computed over, where it differs from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SignedAs {
    /// The URL that was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The body that was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The clock the signer ran at (Unix seconds): a stale or future timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
}

/// Whether the provider verifies the signature in this case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// [`SignatureCheck::Verify`](telephony_core::SignatureCheck::Verify).
    Verify,
    /// [`SignatureCheck::DangerouslySkip`](telephony_core::SignatureCheck::DangerouslySkip).
    Skip,
}

/// What the gateway must answer and report for a webhook case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookExpect {
    /// 200 when accepted, else [`WebhookError::http_status`].
    pub http_status: u16,
    /// The refusal as [`error_name`] spells it; absent when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The acknowledgement body (accepted cases only); not compared when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<ExpectedAck>,
    /// The neutral events, in order (empty when refused).
    #[serde(default)]
    pub events: Vec<ExpectedEvent>,
}

/// The expected [`Provider::webhook_ack`](telephony_core::Provider::webhook_ack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExpectedAck {
    /// `Content-Type`.
    pub content_type: String,
    /// The body, as UTF-8 text.
    pub body: String,
}

/// A neutral event, every field compared exactly (the gateway's id and `received_at` are
/// not: they are the gateway's, not the provider's).
///
/// A call event is `{"kind": "call", "event": "incoming", …}` ([`ExpectedCall`]).
// Test data, a few per case: the size of a variant does not matter, and boxing the call
// would make every case's match deref it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ExpectedEvent {
    /// [`WebhookEvent::Message`].
    Message {
        /// The provider's message id.
        provider_sid: String,
        /// The provider account.
        #[serde(default)]
        account_sid: Option<String>,
        /// The channel.
        channel: Channel,
        /// Sender as the provider gave it.
        from: String,
        /// Our number.
        to: String,
        /// The text.
        body: String,
        /// Attachments.
        #[serde(default)]
        media: Vec<Media>,
        /// Segments the provider counted.
        #[serde(default)]
        num_segments: Option<u32>,
        /// Every other parameter.
        #[serde(default)]
        extra: BTreeMap<String, String>,
    },
    /// [`WebhookEvent::Status`].
    Status {
        /// The provider's message id.
        provider_sid: String,
        /// The neutral status.
        status: DeliveryStatus,
        /// Provider error code.
        #[serde(default)]
        error_code: Option<i64>,
        /// Provider error message.
        #[serde(default)]
        error_message: Option<String>,
        /// Documentation link for the error code.
        #[serde(default)]
        more_info: Option<String>,
        /// The provider's own status name, when kept.
        #[serde(default)]
        provider_status: Option<String>,
        /// The provider account.
        #[serde(default)]
        account_sid: Option<String>,
    },
    /// [`WebhookEvent::Call`].
    Call(ExpectedCall),
    /// [`WebhookEvent::Other`].
    Other {
        /// The provider's event type.
        event_type: String,
        /// The provider's event id.
        #[serde(default)]
        event_id: Option<String>,
    },
}

impl ExpectedEvent {
    /// The neutral form of an event a provider produced (drops the gateway's id and
    /// `received_at`); `None` for a kind this crate does not know yet.
    pub fn from_event(event: &WebhookEvent) -> Option<Self> {
        Some(match event {
            WebhookEvent::Message(m) => ExpectedEvent::Message {
                provider_sid: m.provider_sid.clone(),
                account_sid: m.account_sid.clone(),
                channel: m.channel,
                from: m.from.clone(),
                to: m.to.clone(),
                body: m.body.clone(),
                media: m.media.clone(),
                num_segments: m.num_segments,
                extra: m.extra.clone(),
            },
            WebhookEvent::Status(s) => ExpectedEvent::Status {
                provider_sid: s.provider_sid.clone(),
                status: s.status,
                error_code: s.error_code,
                error_message: s.error_message.clone(),
                more_info: s.more_info.clone(),
                provider_status: s.provider_status.clone(),
                account_sid: s.account_sid.clone(),
            },
            WebhookEvent::Call(call) => ExpectedEvent::Call(ExpectedCall::from_event(call)?),
            WebhookEvent::Other {
                event_type,
                event_id,
            } => ExpectedEvent::Other {
                event_type: event_type.clone(),
                event_id: event_id.clone(),
            },
            _ => return None,
        })
    }
}

/// Which [`CallEvent`] a call event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallEventKind {
    /// [`CallEvent::Incoming`].
    Incoming,
    /// [`CallEvent::Progress`].
    Progress,
    /// [`CallEvent::Gather`].
    Gather,
    /// [`CallEvent::Status`].
    Status,
    /// [`CallEvent::Resume`].
    Resume,
    /// [`CallEvent::Transfer`].
    Transfer,
    /// [`CallEvent::MachineDetection`] (its `status` is `in-progress`: the call was
    /// answered).
    MachineDetection,
}

/// The value of a time field that is the gateway's clock when the webhook arrived
/// (a new call's `started_at` when the provider sends no start time), not a time the
/// provider sent: the runner accepts any instant between just before and just after it
/// handed the request over.
pub const RECEIVED: &str = "received";

/// A neutral call event ([`WebhookEvent::Call`]), every field compared exactly.
///
/// One flat shape for the five kinds; the fields a kind does not have stay absent
/// (`null`): `from`, `to`, `direction`, the times and `extra` come from the [`Call`]
/// (or, for `status`, from the update, which has `duration_secs`, `sequence`,
/// `timestamp`, `account` and `extra` but no parties); `speech`, `confidence` and `digits`
/// only on `gather`; `plan` only on `resume` (as JSON when it is JSON text, else the
/// string). `action` is the call's [`ACTION_EXTRA`], taken out of `extra`. Times are UTC
/// RFC 3339 (`2023-11-14T22:13:20Z`), or [`RECEIVED`].
///
/// ```
/// use telephony_conformance::{CallEventKind, ExpectedEvent};
/// let event: ExpectedEvent = serde_json::from_str(r#"{"kind": "call", "event": "gather",
///     "call_id": "CA1", "status": "in-progress", "from": "+15550005678", "to": "+15550001234",
///     "direction": "inbound", "speech": "yes please", "confidence": 0.92}"#)?;
/// let ExpectedEvent::Call(call) = event else { panic!() };
/// assert_eq!((call.event, call.confidence), (CallEventKind::Gather, Some(0.92)));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExpectedCall {
    /// Which event.
    pub event: CallEventKind,
    /// The provider's call id.
    pub call_id: String,
    /// The call's status.
    pub status: CallStatus,
    /// The provider account.
    #[serde(default)]
    pub account: Option<String>,
    /// The caller.
    #[serde(default)]
    pub from: Option<String>,
    /// The callee.
    #[serde(default)]
    pub to: Option<String>,
    /// Who placed the call.
    #[serde(default)]
    pub direction: Option<CallDirection>,
    /// When the call started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it was answered.
    #[serde(default)]
    pub answered_at: Option<String>,
    /// When it ended.
    #[serde(default)]
    pub ended_at: Option<String>,
    /// Recognised speech (`gather`).
    #[serde(default)]
    pub speech: Option<String>,
    /// The recogniser's confidence (`gather`).
    #[serde(default)]
    pub confidence: Option<f32>,
    /// Keys pressed (`gather`).
    #[serde(default)]
    pub digits: Option<String>,
    /// Call length in seconds (`status`).
    #[serde(default)]
    pub duration_secs: Option<u64>,
    /// The provider's event counter (`status`).
    #[serde(default)]
    pub sequence: Option<u32>,
    /// When the provider says the change happened (`status`).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The rest of the plan (`resume`).
    #[serde(default)]
    pub plan: Option<Value>,
    /// The action URL of the verb that led to the event ([`ACTION_EXTRA`]).
    #[serde(default)]
    pub action: Option<String>,
    /// Every other parameter.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
    /// How a transfer went (`transfer`): `answered`, `busy`, `no-answer`, `failed`,
    /// `canceled`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// The provider's id of the leg that rang the transfer's target (`transfer`).
    #[serde(default)]
    pub target_call_id: Option<String>,
    /// Who answered (`machine_detection`): `human`, `machine`, `machine_beep`,
    /// `machine_no_beep`, `fax`, `unknown`.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// The provider's own detection value (`machine_detection`).
    #[serde(default)]
    pub provider_value: Option<String>,
    /// How long detection took, in ms (`machine_detection`).
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

fn time_text(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(|t| rfc3339::format(t.to_offset(UtcOffset::UTC)))
}

impl ExpectedCall {
    fn blank(event: CallEventKind, call_id: &str, status: CallStatus) -> Self {
        ExpectedCall {
            event,
            call_id: call_id.to_string(),
            status,
            account: None,
            from: None,
            to: None,
            direction: None,
            started_at: None,
            answered_at: None,
            ended_at: None,
            speech: None,
            confidence: None,
            digits: None,
            duration_secs: None,
            sequence: None,
            timestamp: None,
            plan: None,
            action: None,
            extra: BTreeMap::new(),
            outcome: None,
            target_call_id: None,
            answered_by: None,
            provider_value: None,
            duration_ms: None,
        }
    }

    fn with_call(event: CallEventKind, call: &Call) -> Self {
        let mut extra = call.extra.clone();
        let action = extra.remove(ACTION_EXTRA);
        ExpectedCall {
            account: call.account.clone(),
            from: Some(call.from.clone()),
            to: Some(call.to.clone()),
            direction: Some(call.direction),
            started_at: time_text(call.started_at),
            answered_at: time_text(call.answered_at),
            ended_at: time_text(call.ended_at),
            action,
            extra,
            ..ExpectedCall::blank(event, &call.call_id, call.status)
        }
    }

    /// The neutral form of a call event; `None` for a kind this crate does not know yet.
    pub fn from_event(event: &CallEvent) -> Option<Self> {
        Some(match event {
            CallEvent::Incoming(call) => ExpectedCall::with_call(CallEventKind::Incoming, call),
            CallEvent::Progress(call) => ExpectedCall::with_call(CallEventKind::Progress, call),
            CallEvent::Gather {
                call,
                speech,
                digits,
            } => ExpectedCall {
                speech: speech.as_ref().map(|s| s.text.clone()),
                confidence: speech.as_ref().and_then(|s| s.confidence),
                digits: digits.clone(),
                ..ExpectedCall::with_call(CallEventKind::Gather, call)
            },
            CallEvent::Resume { call, plan } => ExpectedCall {
                plan: Some(
                    serde_json::from_str(plan).unwrap_or_else(|_| Value::String(plan.clone())),
                ),
                ..ExpectedCall::with_call(CallEventKind::Resume, call)
            },
            CallEvent::Transfer {
                call,
                outcome,
                target_call_id,
            } => ExpectedCall {
                outcome: Some(outcome.as_str().to_string()),
                target_call_id: target_call_id.clone(),
                ..ExpectedCall::with_call(CallEventKind::Transfer, call)
            },
            CallEvent::Status(update) => {
                let mut extra = update.extra.clone();
                let action = extra.remove(ACTION_EXTRA);
                ExpectedCall {
                    account: update.account.clone(),
                    duration_secs: update.duration_secs,
                    sequence: update.sequence,
                    timestamp: time_text(update.timestamp),
                    action,
                    extra,
                    ..ExpectedCall::blank(CallEventKind::Status, &update.call_id, update.status)
                }
            }
            CallEvent::MachineDetection(d) => ExpectedCall {
                account: d.account.clone(),
                timestamp: time_text(d.timestamp),
                answered_by: Some(d.answered_by.as_str().to_string()),
                provider_value: d.raw.clone(),
                duration_ms: d.duration_ms,
                ..ExpectedCall::blank(
                    CallEventKind::MachineDetection,
                    &d.call_id,
                    CallStatus::InProgress,
                )
            },
            _ => return None,
        })
    }

    /// Replaces every time within `[from, to]` (the gateway's clock around the request)
    /// with [`RECEIVED`].
    pub(crate) fn mark_received(&mut self, from: OffsetDateTime, to: OffsetDateTime) {
        for field in [
            &mut self.started_at,
            &mut self.answered_at,
            &mut self.ended_at,
            &mut self.timestamp,
        ] {
            let within = field
                .as_deref()
                .and_then(|t| rfc3339::parse(t).ok())
                .is_some_and(|t| t >= from && t <= to);
            if within {
                *field = Some(RECEIVED.to_string());
            }
        }
    }
}

/// The stable short name of a refusal used in cases: the variant and its key field.
///
/// ```
/// use telephony_conformance::error_name;
/// use telephony_core::WebhookError;
/// assert_eq!(error_name(&WebhookError::MissingField("From")), "MissingField:From");
/// assert_eq!(error_name(&WebhookError::InvalidSignature { url: "u".into() }), "InvalidSignature");
/// ```
pub fn error_name(e: &WebhookError) -> String {
    match e {
        WebhookError::MissingSignature(h) => format!("MissingSignature:{h}"),
        WebhookError::MalformedSignature { header, .. } => format!("MalformedSignature:{header}"),
        WebhookError::StaleTimestamp { timestamp, .. } => format!("StaleTimestamp:{timestamp}"),
        WebhookError::InvalidSignature { .. } => "InvalidSignature".into(),
        WebhookError::UnsupportedMediaType { got, .. } => format!("UnsupportedMediaType:{got}"),
        WebhookError::Malformed(_) => "Malformed".into(),
        WebhookError::MissingField(f) => format!("MissingField:{f}"),
        WebhookError::InvalidField { field, value } => format!("InvalidField:{field}={value}"),
        WebhookError::Unsupported => "Unsupported".into(),
        other => format!("Unknown:{other:?}"),
    }
}
