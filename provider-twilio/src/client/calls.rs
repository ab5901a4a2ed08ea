//! Calls: create one (by URL or inline TwiML), hang it up, fetch it; the create form, its
//! validation, and Twilio's limits on a call.

use reqwest::Method;
use telephony_core::ProviderError;
use telephony_core::voice::MachineDetection;

use super::transport::{Attempts, TwilioClient, decode, path_segment};
use crate::resources::CallResource;

/// Twilio's limit on the `Twiml` parameter of a call, in characters.
pub const MAX_TWIML_CHARS: usize = 4000;

/// Twilio's limit on a call's ring `Timeout`, in seconds.
pub const MAX_RING_TIMEOUT_SECS: u32 = 600;

/// Twilio's "resource not found": hanging up a call that already ended answers it.
pub const NOT_FOUND_CODE: i64 = 20404;

/// Twilio's "call is not in progress" (21220): an update of a call that has ended.
pub const CALL_NOT_IN_PROGRESS_CODE: i64 = 21220;

/// The `StatusCallbackEvent` values sent with every call that has a `StatusCallback`, one
/// form field each, in this order.
pub const CALL_STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// What Twilio does when the call is answered: fetch TwiML from a URL, or run this TwiML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallInstructions {
    /// `Url`: Twilio requests TwiML from it.
    Url(String),
    /// `Twiml`: at most [`MAX_TWIML_CHARS`] characters.
    Twiml(String),
}

/// The form of `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`.
///
/// With a `StatusCallback`, all four [`CALL_STATUS_EVENTS`] are asked for (without any,
/// Twilio only sends `completed`). Optional values that are `None` or empty are not sent.
/// Machine detection is always asynchronous (`AsyncAmd=true`: the call runs its TwiML at
/// once) and its result goes to the status callback (`AsyncAmdStatusCallback`).
///
/// ```
/// use telephony_core::voice::MachineDetection;
/// use telephony_twilio::client::{CallInstructions, CreateCall};
/// let req = CreateCall {
///     to: "+15550005678".into(),
///     from: "+15550001234".into(),
///     instructions: CallInstructions::Url("https://gw.example.com/voice".into()),
///     status_callback: Some("https://gw.example.com/voice/status".into()),
///     timeout: Some(30),
///     time_limit: None,
///     machine_detection: Some(MachineDetection::Detect),
///     send_digits: None,
///     record: Some(telephony_core::voice::RecordingChannels::Dual),
///     recording_status_callback: Some("https://gw.example.com/voice/status".into()),
/// };
/// let form = req.to_form();
/// assert_eq!(form, vec![
///     ("To", "+15550005678".to_string()),
///     ("From", "+15550001234".to_string()),
///     ("Url", "https://gw.example.com/voice".to_string()),
///     ("StatusCallback", "https://gw.example.com/voice/status".to_string()),
///     ("StatusCallbackEvent", "initiated".to_string()),
///     ("StatusCallbackEvent", "ringing".to_string()),
///     ("StatusCallbackEvent", "answered".to_string()),
///     ("StatusCallbackEvent", "completed".to_string()),
///     ("Timeout", "30".to_string()),
///     ("MachineDetection", "Enable".to_string()),
///     ("AsyncAmd", "true".to_string()),
///     ("AsyncAmdStatusCallback", "https://gw.example.com/voice/status".to_string()),
///     ("Record", "true".to_string()),
///     ("RecordingChannels", "dual".to_string()),
///     ("RecordingStatusCallback", "https://gw.example.com/voice/status".to_string()),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCall {
    /// `To`: E.164 number, `sip:…` or `client:…`.
    pub to: String,
    /// `From`: a Twilio number (or verified caller ID).
    pub from: String,
    /// `Url` or `Twiml`.
    pub instructions: CallInstructions,
    /// `StatusCallback`, with the four `StatusCallbackEvent`s.
    pub status_callback: Option<String>,
    /// `Timeout`: seconds to let it ring (Twilio: default 60, at most 600).
    pub timeout: Option<u32>,
    /// `TimeLimit`: the longest the call may last, in seconds.
    pub time_limit: Option<u32>,
    /// `MachineDetection`: `Enable` or `DetectMessageEnd` (wait for the beep), with
    /// `AsyncAmd=true` and `AsyncAmdStatusCallback` (the `StatusCallback`).
    pub machine_detection: Option<MachineDetection>,
    /// `SendDigits`: keys to press once the call is answered (`w` half a second, `W` one
    /// second). Twilio ignores `MachineDetection` on a call with digits.
    pub send_digits: Option<String>,
    /// `Record=true` with `RecordingChannels` (`mono` or `dual`).
    pub record: Option<telephony_core::voice::RecordingChannels>,
    /// `RecordingStatusCallback` (only with `record`): where Twilio announces the
    /// finished recording (`RecordingStatusCallbackEvent` stays Twilio's `completed`).
    pub recording_status_callback: Option<String>,
}

impl CreateCall {
    /// The form pairs to send, in a stable order.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", self.to.clone()), ("From", self.from.clone())];
        match &self.instructions {
            CallInstructions::Url(url) => form.push(("Url", url.clone())),
            CallInstructions::Twiml(twiml) => form.push(("Twiml", twiml.clone())),
        }
        if let Some(url) = self.status_callback.as_deref().filter(|u| !u.is_empty()) {
            form.push(("StatusCallback", url.to_string()));
            for event in CALL_STATUS_EVENTS {
                form.push(("StatusCallbackEvent", event.to_string()));
            }
        }
        if let Some(t) = self.timeout {
            form.push(("Timeout", t.to_string()));
        }
        if let Some(t) = self.time_limit {
            form.push(("TimeLimit", t.to_string()));
        }
        if let Some(detection) = self.machine_detection {
            let mode = match detection {
                MachineDetection::WaitForBeep => "DetectMessageEnd",
                _ => "Enable",
            };
            form.push(("MachineDetection", mode.to_string()));
            form.push(("AsyncAmd", "true".to_string()));
            if let Some(url) = self.status_callback.as_deref().filter(|u| !u.is_empty()) {
                form.push(("AsyncAmdStatusCallback", url.to_string()));
            }
        }
        if let Some(digits) = self.send_digits.as_deref().filter(|d| !d.is_empty()) {
            form.push(("SendDigits", digits.to_string()));
        }
        if let Some(channels) = self.record {
            form.push(("Record", "true".to_string()));
            let channels = match channels {
                telephony_core::voice::RecordingChannels::Dual => "dual",
                _ => "mono",
            };
            form.push(("RecordingChannels", channels.to_string()));
            if let Some(url) = self
                .recording_status_callback
                .as_deref()
                .filter(|u| !u.is_empty())
            {
                form.push(("RecordingStatusCallback", url.to_string()));
            }
        }
        form
    }

    /// Checks what Twilio would reject, without a network call: `To`, `From` and the
    /// `Url`/`Twiml` non-empty, `Twiml` at most [`MAX_TWIML_CHARS`] characters and a
    /// document [`check_twiml`](crate::twiml::check_twiml) accepts (well-formed XML with a
    /// `<Response>` root; else Twilio's error 12100 when the call is answered), `Timeout`
    /// 1..=[`MAX_RING_TIMEOUT_SECS`], `TimeLimit` at least 1. Failures are
    /// [`ProviderError::InvalidMessage`] (not retryable).
    ///
    /// ```
    /// use telephony_twilio::client::{CallInstructions, CreateCall};
    /// let req = CreateCall {
    ///     to: "+15550005678".into(),
    ///     from: "+15550001234".into(),
    ///     instructions: CallInstructions::Twiml("x".repeat(4001)),
    ///     status_callback: None, timeout: None, time_limit: None, machine_detection: None,
    ///     send_digits: None,
    ///     record: None, recording_status_callback: None,
    /// };
    /// assert_eq!(
    ///     req.validate().unwrap_err().to_string(),
    ///     "invalid message: the call's TwiML is 4001 characters long; Twilio accepts at most 4000"
    /// );
    /// let req = CreateCall { instructions: CallInstructions::Twiml("<Response><Say>Hi</Response>".into()), ..req };
    /// assert_eq!(
    ///     req.validate().unwrap_err().to_string(),
    ///     "invalid message: the call's TwiML is not a document Twilio can parse (error 12100): \
    ///      line 1, column 18: ill-formed document: expected `</Say>`, but `</Response>` was found"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::InvalidMessage(m));
        if self.to.trim().is_empty() {
            return invalid("the callee (To) is empty".into());
        }
        if self.from.trim().is_empty() {
            return invalid("the caller ID (From) is empty".into());
        }
        match &self.instructions {
            CallInstructions::Url(url) if url.trim().is_empty() => {
                return invalid("the call's instructions URL is empty".into());
            }
            CallInstructions::Twiml(twiml) => {
                let chars = twiml.chars().count();
                if chars > MAX_TWIML_CHARS {
                    return invalid(format!(
                        "the call's TwiML is {chars} characters long; Twilio accepts at most {MAX_TWIML_CHARS}"
                    ));
                }
                if let Err(e) = crate::twiml::check_twiml(twiml) {
                    return invalid(format!(
                        "the call's TwiML is not a document Twilio can parse (error 12100): {e}"
                    ));
                }
            }
            CallInstructions::Url(_) => {}
        }
        if let Some(t) = self.timeout {
            if !(1..=MAX_RING_TIMEOUT_SECS).contains(&t) {
                return invalid(format!(
                    "the ring timeout is {t} s; Twilio accepts 1 to {MAX_RING_TIMEOUT_SECS}"
                ));
            }
        }
        if self.time_limit == Some(0) {
            return invalid("the call's time limit is 0 s".into());
        }
        Ok(())
    }
}

impl TwilioClient {
    /// Places a call: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`.
    ///
    /// The request is [validated](CreateCall::validate) first (nothing goes on the network
    /// if it fails). One HTTP attempt, never retried here: a create is not idempotent.
    pub async fn create_call(&self, req: &CreateCall) -> Result<CallResource, ProviderError> {
        req.validate()?;
        let path = format!(
            "/2010-04-01/Accounts/{}/Calls.json",
            path_segment(&self.config().account_sid)
        );
        let form = req.to_form();
        let (_, body) = self
            .execute(Method::POST, &path, &[], Some(&form), Attempts::One)
            .await?;
        let call: CallResource = decode(&body, "Call")?;
        tracing::debug!(sid = %call.sid, status = ?call.status, "Twilio accepted the call");
        Ok(call)
    }

    /// Hangs up a call: `POST …/Calls/{Sid}.json` with `Status=completed`.
    ///
    /// Returns the updated call, or `None` when Twilio answers 404 with error
    /// [`NOT_FOUND_CODE`] (20404): the call has already ended, which is what was wanted.
    /// Any other error is returned. One HTTP attempt, like a create.
    pub async fn hang_up_call(&self, sid: &str) -> Result<Option<CallResource>, ProviderError> {
        let path = self.call_path(sid)?;
        let form = [("Status", "completed".to_string())];
        match self
            .execute(Method::POST, &path, &[], Some(&form), Attempts::One)
            .await
        {
            Ok((_, body)) => decode(&body, "Call").map(Some),
            Err(e) if e.http_status() == Some(404) && e.code() == Some(NOT_FOUND_CODE) => {
                tracing::debug!(sid, "Twilio: the call had already ended (20404)");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces what a live call does: `POST …/Calls/{Sid}.json` with `Twiml` (the
    /// running TwiML stops, this document runs). `None` when the call has ended: Twilio
    /// answers 404 / 20404 (no such call) or 21220 (the call is not in progress). One HTTP
    /// attempt (an update is not idempotent for the caller).
    pub async fn update_call_twiml(
        &self,
        sid: &str,
        twiml: &str,
    ) -> Result<Option<CallResource>, ProviderError> {
        let path = self.call_path(sid)?;
        let form = [("Twiml", twiml.to_string())];
        match self
            .execute(Method::POST, &path, &[], Some(&form), Attempts::One)
            .await
        {
            Ok((_, body)) => decode(&body, "Call").map(Some),
            Err(e) if e.http_status() == Some(404) && e.code() == Some(NOT_FOUND_CODE) => {
                tracing::debug!(sid, "Twilio: the call to update has ended (20404)");
                Ok(None)
            }
            Err(e) if e.code() == Some(CALL_NOT_IN_PROGRESS_CODE) => {
                tracing::debug!(sid, "Twilio: the call to update is not in progress (21220)");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Fetches one call: `GET …/Calls/{Sid}.json` (retried like every read).
    pub async fn fetch_call(&self, sid: &str) -> Result<CallResource, ProviderError> {
        let path = self.call_path(sid)?;
        let (_, body) = self
            .execute(Method::GET, &path, &[], None, Attempts::Configured)
            .await?;
        decode(&body, "Call")
    }

    /// Downloads a recording's audio: `GET /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.wav`
    /// (or `.mp3`), with the client's basic auth, retried like every read. The URL is
    /// built from the configured API base and the recording SID, never taken from a
    /// callback, so the credentials only ever go to Twilio.
    pub async fn fetch_recording_media(
        &self,
        sid: &str,
        format: &str,
    ) -> Result<bytes::Bytes, ProviderError> {
        if sid.trim().is_empty() {
            return Err(ProviderError::InvalidMessage(
                "the recording SID is empty".into(),
            ));
        }
        let ext = match format {
            "mp3" => "mp3",
            _ => "wav",
        };
        let path = format!(
            "/2010-04-01/Accounts/{}/Recordings/{}.{ext}",
            path_segment(&self.config().account_sid),
            path_segment(sid)
        );
        let (_, body) = self
            .execute(Method::GET, &path, &[], None, Attempts::Configured)
            .await?;
        Ok(body)
    }

    fn call_path(&self, sid: &str) -> Result<String, ProviderError> {
        if sid.trim().is_empty() {
            return Err(ProviderError::InvalidMessage(
                "the call SID is empty".into(),
            ));
        }
        Ok(format!(
            "/2010-04-01/Accounts/{}/Calls/{}.json",
            path_segment(&self.config().account_sid),
            path_segment(sid)
        ))
    }
}
