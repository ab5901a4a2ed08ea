//! [`OutboundCall`]: a call the gateway asks a provider to place, and what to do when it
//! is answered ([`CallAnswer`]).

use super::dtmf::Digits;
use super::machine::MachineDetection;
use super::response::VoiceResponse;

/// What the provider does once an outbound call is answered.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallAnswer {
    /// Run these instructions (the provider renders them in its own markup).
    Response(VoiceResponse),
    /// Fetch instructions from this URL (a voice webhook of the gateway's).
    Url(String),
    /// Run this document, written in the provider's own markup (TwiML for Twilio), sent
    /// as it is. The provider checks what it can before any request (for Twilio: that it
    /// is well-formed XML with a `<Response>` root, and its length); a provider without
    /// such markup refuses it.
    ///
    /// ```
    /// use telephony_core::voice::{CallAnswer, OutboundCall};
    /// let call = OutboundCall::new(
    ///     "+15550005678",
    ///     CallAnswer::Markup("<Response><Say>Hi</Say></Response>".into()),
    /// );
    /// assert!(matches!(call.answer, CallAnswer::Markup(ref doc) if doc.starts_with("<Response>")));
    /// ```
    Markup(String),
}

/// A call to place with [`Provider::place_call`](crate::Provider::place_call).
///
/// `from` falls back to the provider's configured caller ID when `None`. Times are whole
/// seconds; `None` leaves the provider's default.
///
/// ```
/// use telephony_core::voice::{CallAnswer, Digits, MachineDetection, OutboundCall, VoiceResponse};
///
/// let call = OutboundCall::new("+15550005678", CallAnswer::Response(VoiceResponse::new().say("Hi").hangup()))
///     .from("+15550001234")
///     .status_callback("https://gw.example.com/voice/status")
///     .ring_timeout_secs(30)
///     .time_limit_secs(600)
///     .machine_detection(MachineDetection::WaitForBeep);
/// assert_eq!(call.to, "+15550005678");
/// assert_eq!(call.from.as_deref(), Some("+15550001234"));
/// assert_eq!((call.ring_timeout_secs, call.time_limit_secs), (Some(30), Some(600)));
/// assert_eq!(call.machine_detection, Some(MachineDetection::WaitForBeep));
///
/// let by_url = OutboundCall::new("+15550005678", CallAnswer::Url("https://gw.example.com/voice".into()))
///     .send_digits(Digits::parse("ww1234#").unwrap());
/// assert_eq!(by_url.from, None);
/// assert_eq!(by_url.status_callback, None);
/// assert_eq!(by_url.machine_detection, None);
/// assert_eq!(by_url.send_digits.map(|d| d.to_string()).as_deref(), Some("ww1234#"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OutboundCall {
    /// The callee (E.164, or a provider address such as `sip:…`).
    pub to: String,
    /// The caller ID; `None` uses the provider's configured number.
    pub from: Option<String>,
    /// What to do when the callee answers.
    pub answer: CallAnswer,
    /// Where the provider posts the call's status changes.
    pub status_callback: Option<String>,
    /// How long to let it ring before giving up (`no-answer`).
    pub ring_timeout_secs: Option<u32>,
    /// The longest the call may last once answered.
    pub time_limit_secs: Option<u32>,
    /// Ask the provider to detect answering machines (asynchronously: the call goes on and
    /// the result arrives as a [`CallEvent::MachineDetection`](super::CallEvent)).
    pub machine_detection: Option<MachineDetection>,
    /// Keys to press once the callee answers (Twilio `SendDigits`, Telnyx
    /// `send_digits_on_answer`). Twilio ignores machine detection on a call with digits.
    pub send_digits: Option<Digits>,
    /// Record the whole call from the answer, in one channel or two; the finished
    /// recording is announced to `recording_callback`.
    pub record: Option<super::recording::RecordingChannels>,
    /// Where the provider announces the finished recording (the gateway fills in its
    /// status URL when `None`).
    pub recording_callback: Option<String>,
}

impl OutboundCall {
    /// A call to `to` answered with `answer`; everything else at the provider's defaults.
    pub fn new(to: impl Into<String>, answer: CallAnswer) -> Self {
        OutboundCall {
            to: to.into(),
            from: None,
            answer,
            status_callback: None,
            ring_timeout_secs: None,
            time_limit_secs: None,
            machine_detection: None,
            send_digits: None,
            record: None,
            recording_callback: None,
        }
    }

    /// Sets the caller ID.
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// Sets the status callback URL.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Sets the ring timeout.
    pub fn ring_timeout_secs(mut self, secs: u32) -> Self {
        self.ring_timeout_secs = Some(secs);
        self
    }

    /// Sets the time limit.
    pub fn time_limit_secs(mut self, secs: u32) -> Self {
        self.time_limit_secs = Some(secs);
        self
    }

    /// Asks for answering-machine detection.
    pub fn machine_detection(mut self, detection: MachineDetection) -> Self {
        self.machine_detection = Some(detection);
        self
    }

    /// Presses these keys once the callee answers.
    pub fn send_digits(mut self, digits: Digits) -> Self {
        self.send_digits = Some(digits);
        self
    }

    /// Records the whole call from the answer, in `channels`.
    ///
    /// ```
    /// use telephony_core::voice::{CallAnswer, OutboundCall, RecordingChannels};
    /// let call = OutboundCall::new("+15550005678", CallAnswer::Url("https://gw.example.com/v".into()))
    ///     .record(RecordingChannels::Dual)
    ///     .recording_callback("https://gw.example.com/telephony/status");
    /// assert_eq!(call.record, Some(RecordingChannels::Dual));
    /// assert_eq!(call.recording_callback.as_deref(), Some("https://gw.example.com/telephony/status"));
    /// ```
    pub fn record(mut self, channels: super::recording::RecordingChannels) -> Self {
        self.record = Some(channels);
        self
    }

    /// Where the provider announces the finished recording.
    pub fn recording_callback(mut self, url: impl Into<String>) -> Self {
        self.recording_callback = Some(url.into());
        self
    }
}
