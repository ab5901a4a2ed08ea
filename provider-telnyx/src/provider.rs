//! [`TelnyxProvider`]: the [`telephony_core::Provider`] implementation for Telnyx.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use telephony_core::voice::{
    Call, CallAnswer, CallDirection, CallStatus, CallUpdate, MachineDetection, OutboundCall,
    Realtime, VoiceControl, VoiceError, VoiceResponse, VoiceRun,
};
use telephony_core::{
    DeliveryStatus, OutboundMessage, Provider, ProviderError, ProviderLimits, ProviderReceipt,
    SendOptions, SignatureCheck, WebhookError, WebhookEvent, WebhookRequest, WebhookResponse,
};
use time::OffsetDateTime;

use crate::client::{CreateMessage, LIMITS, TelnyxClient};
use crate::config::TelnyxConfig;
use crate::signature::WebhookVerifier;
use crate::webhook::{map_status, parse_event};

/// The only content type Telnyx's webhooks use.
const JSON_CONTENT_TYPE: &str = "application/json";

/// The clock webhook timestamps are checked against, in Unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Telnyx as a [`Provider`]: sends through the Messaging API and verifies and parses
/// webhooks. `Debug` never shows the API key.
///
/// ```no_run
/// use telephony_core::{OutboundMessage, Provider, SendOptions};
/// use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = TelnyxConfig::new("KEY…")
///     .public_key("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
///     .from_number("+15550001234".parse()?);
/// let telnyx = TelnyxProvider::new(config)?;
/// let msg = OutboundMessage::new("+15550005678".parse()?, "Hello!");
/// let receipt = telnyx
///     .send(&msg, &SendOptions::with_status_callback("https://gw.example.com/telephony/status"))
///     .await?;
/// println!("{} is {}", receipt.sid, receipt.status);
/// # Ok(())
/// # }
/// ```
///
/// Webhooks (no network needed; the clock is injected):
///
/// ```
/// use std::sync::Arc;
/// use telephony_core::{Provider, SignatureCheck, WebhookEvent, WebhookRequest};
/// use telephony_telnyx::{TelnyxConfig, TelnyxProvider, WebhookSigner};
///
/// let signer = WebhookSigner::from_seed([1; 32]);
/// let telnyx = TelnyxProvider::new(
///     TelnyxConfig::new("KEY1").public_key(signer.public_key_base64()).messaging_profile_id("p1"),
/// )?
/// .with_clock(Arc::new(|| 1_700_000_010));
/// let body = br#"{"data":{"event_type":"message.finalized","id":"e1","payload":{"id":"m1",
///     "to":[{"phone_number":"+15550005678","status":"delivered"}]}}}"#;
/// let req = WebhookRequest {
///     url: "https://gw.example.com/telephony/webhook".into(),
///     method: http::Method::POST,
///     headers: signer.headers(1_700_000_000, body),
///     body: body.to_vec().into(),
/// };
/// let WebhookEvent::Status(u) = telnyx.handle_webhook(&req, SignatureCheck::Verify)? else { panic!() };
/// assert_eq!((u.provider_sid.as_str(), u.status.as_str()), ("m1", "delivered"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TelnyxProvider {
    client: TelnyxClient,
    verifier: WebhookVerifier,
    clock: Clock,
}

impl fmt::Debug for TelnyxProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.client.config();
        f.debug_struct("TelnyxProvider")
            .field("from_number", &config.from_number)
            .field("messaging_profile_id", &config.messaging_profile_id)
            .field(
                "api_base_url",
                &telephony_core::redact::redact_url(&config.api_base_url),
            )
            .finish_non_exhaustive()
    }
}

fn system_clock() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl TelnyxProvider {
    /// A provider for this account, after [`TelnyxConfig::validate`]: the API key, the
    /// webhook public key (an account without it could not tell real webhooks from
    /// forged ones) and a sender are required ([`ProviderError::NotConfigured`]).
    pub fn new(config: TelnyxConfig) -> Result<Self, ProviderError> {
        config.validate()?;
        let verifier = config.verifier()?;
        let client = TelnyxClient::new(config)?;
        Ok(TelnyxProvider {
            client,
            verifier,
            clock: Arc::new(system_clock),
        })
    }

    /// Uses `clock` (Unix seconds) instead of the system clock for webhook timestamps.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The REST client.
    pub fn client(&self) -> &TelnyxClient {
        &self.client
    }

    /// The webhook signature verifier (keyed with the configured public key).
    pub fn verifier(&self) -> &WebhookVerifier {
        &self.verifier
    }

    /// The `POST /v2/messages` body for an outbound message (no network call).
    ///
    /// `from` is the configured number and `messaging_profile_id` the configured profile;
    /// both are sent when both are set, and `from` is left out when only the profile is
    /// (Telnyx picks from its pool). The status callback becomes `webhook_url`.
    pub fn create_request(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<CreateMessage, ProviderError> {
        let config = self.client.config();
        let from = config.from_number.as_ref().map(|n| n.to_string());
        let profile = config.profile().map(str::to_string);
        if from.is_none() && profile.is_none() {
            return Err(ProviderError::NotConfigured(
                "set fromNumber or telnyx.messagingProfileId".into(),
            ));
        }
        Ok(CreateMessage {
            from,
            to: msg.to.to_string(),
            text: Some(msg.body.clone()).filter(|b| !b.is_empty()),
            media_urls: msg.media_urls.clone(),
            messaging_profile_id: profile,
            webhook_url: opts.status_callback.clone(),
        })
    }
}

#[async_trait]
impl Provider for TelnyxProvider {
    /// One attempt (the outbox retries); the receipt has `data.id`, the status of
    /// `data.to[0]`, the sender Telnyx used and `data.parts`.
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        let request = self.create_request(msg, opts)?;
        let message = self.client.create_message(&request).await?;
        Ok(receipt_of(message))
    }

    /// Looks the message up in the message detail records and reads candidates' text
    /// ([`TelnyxClient::find_sent_message`](crate::TelnyxClient::find_sent_message)).
    async fn find_sent(
        &self,
        msg: &OutboundMessage,
        since: time::OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        let request = self.create_request(msg, &SendOptions::default())?;
        let query = crate::client::SentMessageQuery {
            to: request.to,
            from: request.from,
            messaging_profile_id: request.messaging_profile_id,
            text: request.text.unwrap_or_default(),
            media: request.media_urls.len(),
            since,
        };
        Ok(self.client.find_sent_message(&query).await?.map(receipt_of))
    }

    fn name(&self) -> &'static str {
        "telnyx"
    }

    /// The number (`GET /v2/phone_numbers?filter[phone_number]=…`), its SMS/MMS features
    /// (`GET /v2/phone_numbers/{id}/messaging`) and its messaging profile
    /// (`GET /v2/messaging_profiles/{id}`) as the [service](telephony_core::numbers::ServiceConfig)
    /// whose `webhook_url` receives its messages. `voice` is true when the number has a
    /// voice connection; voice URLs are not read (see [`crate::numbers`]).
    async fn number_config(
        &self,
        number: &telephony_core::PhoneNumber,
    ) -> Result<Option<telephony_core::numbers::NumberConfig>, ProviderError> {
        crate::numbers::number_config(&self.client, number).await
    }

    /// Points the number's messaging profile at `targets.messaging_url`
    /// (`PATCH /v2/messaging_profiles/{id}` with `webhook_url`, and `webhook_api_version`
    /// `"2"`, only what differs). A number the account does not have, or one without a
    /// messaging profile, is [`ProviderError::NotConfigured`] and nothing is changed.
    /// Voice targets are not applied (see [`crate::numbers`]).
    async fn configure_number(
        &self,
        number: &telephony_core::PhoneNumber,
        targets: &telephony_core::numbers::WebhookTargets,
    ) -> Result<Vec<telephony_core::numbers::SettingChange>, ProviderError> {
        crate::numbers::configure_number(&self.client, number, targets).await
    }

    /// The sender number when one is configured (Telnyx sends from it), else the
    /// messaging profile id (Telnyx picks the number from the profile).
    fn sender(&self, _msg: &OutboundMessage) -> Option<String> {
        let config = self.client.config();
        match &config.from_number {
            Some(n) => Some(n.to_string()),
            None => config.profile().map(str::to_string),
        }
    }

    /// 10 media URLs and 1530 characters (10 parts) per message.
    fn limits(&self) -> ProviderLimits {
        LIMITS
    }

    /// Checks (in this order) the content type (`application/json`), unless told to skip
    /// it the Ed25519 signature and timestamp against the raw body, and only then parses
    /// the JSON.
    fn handle_webhook(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<WebhookEvent, WebhookError> {
        let content_type = match req.headers.get(http::header::CONTENT_TYPE) {
            None => String::new(),
            Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        };
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case(JSON_CONTENT_TYPE) {
            return Err(WebhookError::UnsupportedMediaType {
                got: content_type,
                expected: JSON_CONTENT_TYPE,
            });
        }
        if check == SignatureCheck::Verify {
            self.verifier
                .verify(&req.url, &req.headers, &req.body, (self.clock)())?;
        }
        parse_event(&req.body, OffsetDateTime::now_utc())
    }

    /// Call Control: events are acknowledged and the gateway acts with commands.
    fn voice_control(&self) -> VoiceControl {
        VoiceControl::Commands
    }

    /// The response as a Call Control plan ([`crate::voice::render`]), JSON.
    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        let plan = crate::voice::render(response)?;
        Ok(WebhookResponse {
            content_type: "application/json",
            body: crate::voice::encode_plan(&plan).into(),
        })
    }

    /// Carries the plan out with commands ([`crate::voice`]).
    async fn run_voice(&self, call: &Call, plan: &[u8]) -> Result<VoiceRun, ProviderError> {
        let steps = crate::voice::decode_plan(plan)
            .map_err(|e| ProviderError::protocol(self.name(), e.to_string()))?;
        crate::voice::run(&self.client, call, steps).await
    }

    /// `POST /v2/calls` through `telnyx.connectionId`. A [`CallAnswer::Response`] is
    /// rendered into a plan that starts when the callee answers (in `client_state`); a
    /// [`CallAnswer::Url`] is where Telnyx sends the call's events (`webhook_url`), and the
    /// gateway is asked what to do on `call.answered`. Raw markup cannot run on Call
    /// Control and is refused before any network call.
    async fn place_call(&self, call: &OutboundCall) -> Result<Call, ProviderError> {
        let config = self.client.config();
        let connection = config.connection()?;
        let from = match &call.from {
            Some(f) => f.clone(),
            None => config
                .from_number
                .as_ref()
                .map(|n| n.to_string())
                .ok_or_else(|| {
                    ProviderError::NotConfigured(
                        "set fromNumber (Telnyx needs a caller id to place a call)".into(),
                    )
                })?,
        };
        let mut body = serde_json::json!({
            "connection_id": connection,
            "to": call.to,
            "from": from,
        });
        let webhook_url = match &call.answer {
            CallAnswer::Url(url) => Some(url.clone()),
            CallAnswer::Response(response) => {
                let plan = crate::voice::render(response)
                    .map_err(|e| ProviderError::InvalidMessage(e.to_string()))?;
                let state = crate::voice::CallState::new(
                    crate::voice::Wait::Answer,
                    &plan.into_iter().collect(),
                );
                body["client_state"] = serde_json::json!(state.encode());
                call.status_callback.clone()
            }
            CallAnswer::Markup(_) => {
                return Err(ProviderError::InvalidMessage(
                    "raw markup (TwiML) cannot run on Telnyx Call Control; answer with a VoiceResponse".into(),
                ));
            }
            _ => {
                return Err(ProviderError::InvalidMessage(
                    "this kind of call answer is not supported on Telnyx".into(),
                ));
            }
        };
        if let Some(url) = webhook_url.or_else(|| call.status_callback.clone()) {
            body["webhook_url"] = serde_json::json!(url);
        }
        if let Some(t) = call.ring_timeout_secs {
            body["timeout_secs"] = serde_json::json!(t.clamp(5, 600));
        }
        if let Some(t) = call.time_limit_secs {
            body["time_limit_secs"] = serde_json::json!(t.clamp(30, 14_400));
        }
        if let Some(detection) = call.machine_detection {
            let mode = match detection {
                MachineDetection::WaitForBeep => "detect_beep",
                _ => "detect",
            };
            body["answering_machine_detection"] = serde_json::json!(mode);
        }
        if let Some(digits) = &call.send_digits {
            body["send_digits_on_answer"] = serde_json::json!(digits.as_str());
        }
        if let Some(channels) = call.record {
            // Recorded from the answer; `call.recording.saved` goes to the call's webhook.
            body["record"] = serde_json::json!("record-from-answer");
            body["record_channels"] = serde_json::json!(channels.as_str());
            body["record_format"] = serde_json::json!("wav");
        }
        let answer = self.client.dial(body).await?;
        let mut placed = Call::new(
            answer.call_control_id,
            from,
            call.to.clone(),
            CallDirection::Outbound,
            CallStatus::Queued,
        );
        for (k, v) in [
            ("call_leg_id", answer.call_leg_id),
            ("call_session_id", answer.call_session_id),
        ] {
            if let Some(v) = v {
                placed.extra.insert(k.to_string(), v);
            }
        }
        Ok(placed)
    }

    fn realtime(&self) -> Option<&dyn Realtime> {
        Some(self)
    }

    /// `streaming_stop` for the stream, keeping the call's state, so its
    /// `streaming.stopped` resumes the plan; a call that already ended is a success.
    async fn stream_closed(&self, call_id: &str, stream_id: &str) -> Result<(), ProviderError> {
        match self
            .client
            .call_command(
                call_id,
                "streaming_stop",
                serde_json::json!({ "stream_id": stream_id }),
            )
            .await
        {
            Err(e) if e.code() == Some(crate::client::CALL_ENDED_CODE) => Ok(()),
            other => other,
        }
    }

    /// `GET /v2/recordings/{id}` with the API key for a fresh download link, then the
    /// audio (see [`TelnyxClient::download_recording`](crate::TelnyxClient::download_recording)).
    async fn fetch_recording(
        &self,
        recording: &telephony_core::voice::CallRecording,
    ) -> Result<telephony_core::voice::RecordingMedia, ProviderError> {
        self.client
            .download_recording(&recording.recording_id, &recording.format)
            .await
    }

    /// `hangup`; a call that already ended (error 90018) is a success.
    async fn hang_up(&self, call_id: &str) -> Result<(), ProviderError> {
        match self
            .client
            .call_command(call_id, "hangup", serde_json::json!({}))
            .await
        {
            Err(e) if e.code() == Some(crate::client::CALL_ENDED_CODE) => Ok(()),
            other => other,
        }
    }

    /// Stops what plays or listens on the call (`playback_stop`, `gather_stop`,
    /// `transcription_stop`, with a state that waits for nothing, so their end events do
    /// not resume the old plan), then runs the rendered plan.
    async fn replace_call_response(
        &self,
        call_id: &str,
        response: &VoiceResponse,
    ) -> Result<VoiceRun, ProviderError> {
        let plan = crate::voice::render(response)
            .map_err(|e| ProviderError::InvalidMessage(e.to_string()))?;
        crate::voice::run_update(&self.client, call_id, plan.into_iter().collect()).await
    }

    /// `send_dtmf` with the digits (`w`/`W` pauses as given).
    async fn send_digits(
        &self,
        call_id: &str,
        digits: &telephony_core::voice::Digits,
    ) -> Result<(), ProviderError> {
        self.client
            .call_command(
                call_id,
                "send_dtmf",
                serde_json::json!({ "digits": digits.as_str() }),
            )
            .await
    }

    /// `GET /v2/calls/{id}`: alive is `in-progress`; an ended call (or one Telnyx no
    /// longer knows: 404) is `completed`, with `call_duration` when given.
    async fn fetch_call(&self, call_id: &str) -> Result<Call, ProviderError> {
        let resource = match self.client.get_call(call_id).await {
            Ok(r) => r,
            Err(ProviderError::Api { status: 404, .. }) => {
                return Ok(Call::new(
                    call_id,
                    "",
                    "",
                    CallDirection::Unknown,
                    CallStatus::Completed,
                ));
            }
            Err(e) => return Err(e),
        };
        let status = if resource.is_alive {
            CallStatus::InProgress
        } else {
            CallStatus::Completed
        };
        let mut call = Call::new(call_id, "", "", CallDirection::Unknown, status);
        call.started_at = resource
            .start_time
            .as_deref()
            .and_then(|t| telephony_core::rfc3339::parse(t).ok());
        call.ended_at = resource
            .end_time
            .as_deref()
            .and_then(|t| telephony_core::rfc3339::parse(t).ok());
        if let Some(d) = resource.call_duration {
            call.extra.insert("call_duration".into(), d.to_string());
        }
        Ok(call)
    }

    /// A response runs on the live call in place of what it does: `gather_stop`,
    /// `transcription_stop` and `playback_stop` first (best effort), then the plan, its
    /// first `speak` with `stop: "all"`. `hangup` for [`CallUpdate::Hangup`]; raw markup
    /// is refused (Call Control has none). An ended call (90018) is
    /// [`VoiceRun::CallEnded`].
    async fn update_call(
        &self,
        call_id: &str,
        update: &CallUpdate,
    ) -> Result<VoiceRun, ProviderError> {
        let response = match update {
            CallUpdate::Hangup => {
                return match self
                    .client
                    .call_command(call_id, "hangup", serde_json::json!({}))
                    .await
                {
                    Ok(()) => Ok(VoiceRun::Done),
                    Err(e) if e.code() == Some(crate::client::CALL_ENDED_CODE) => {
                        Ok(VoiceRun::CallEnded)
                    }
                    Err(e) => Err(e),
                };
            }
            CallUpdate::Response(r) => r.clone(),
            CallUpdate::Say(s) => VoiceResponse::new().say(s.clone()),
            other => {
                return Err(ProviderError::InvalidMessage(format!(
                    "a {} update cannot run on Telnyx Call Control (it has no markup): update with a say or a response",
                    other.kind()
                )));
            }
        };
        let steps = crate::voice::render(&response)
            .map_err(|e| ProviderError::InvalidMessage(e.to_string()))?;
        crate::voice::run_update(&self.client, call_id, steps.into_iter().collect()).await
    }
}

/// The receipt of a message Telnyx created (by this send, or found in its records).
fn receipt_of(message: crate::resources::MessageResource) -> ProviderReceipt {
    let raw = message.to.first().and_then(|t| t.status.as_deref());
    // The message exists at Telnyx now: failing the send over an unexpected status
    // would make the outbox send it again, so an unknown status reads as `queued`.
    let status = raw.and_then(map_status).unwrap_or_else(|| {
        tracing::warn!(id = %message.id, status = ?raw, "Telnyx accepted a message with an unexpected status; recording it as queued");
        DeliveryStatus::Queued
    });
    ProviderReceipt {
        sid: message.id,
        status,
        from: message
            .from
            .map(|f| f.phone_number)
            .filter(|n| !n.is_empty()),
        num_segments: message.parts.filter(|&p| p > 0),
        price: None,
        price_unit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    fn base() -> TelnyxConfig {
        TelnyxConfig::new("KEY-SECRET").public_key(KEY)
    }

    fn msg() -> OutboundMessage {
        OutboundMessage::new("+15550005678".parse().unwrap(), "hi")
    }

    #[test]
    fn from_and_profile() {
        let p = TelnyxProvider::new(base().messaging_profile_id("prof")).unwrap();
        let req = p.create_request(&msg(), &SendOptions::default()).unwrap();
        assert_eq!(
            (req.from, req.messaging_profile_id.as_deref()),
            (None, Some("prof"))
        );
        let p = TelnyxProvider::new(
            base()
                .messaging_profile_id("prof")
                .from_number("+15550001234".parse().unwrap()),
        )
        .unwrap();
        let req = p
            .create_request(
                &msg().with_media("https://e/x.jpg"),
                &SendOptions::with_status_callback("https://gw/s"),
            )
            .unwrap();
        assert_eq!(
            req,
            CreateMessage {
                from: Some("+15550001234".into()),
                to: "+15550005678".into(),
                text: Some("hi".into()),
                media_urls: vec!["https://e/x.jpg".into()],
                messaging_profile_id: Some("prof".into()),
                webhook_url: Some("https://gw/s".into()),
            }
        );
    }

    #[test]
    fn sender_is_the_number_else_the_profile() {
        let msg = OutboundMessage::new("+15557654321".parse().unwrap(), "hi");
        let both = TelnyxProvider::new(
            base()
                .from_number("+15550001234".parse().unwrap())
                .messaging_profile_id("prof"),
        )
        .unwrap();
        assert_eq!(both.sender(&msg).as_deref(), Some("+15550001234"));
        let profile = TelnyxProvider::new(base().messaging_profile_id(" prof ")).unwrap();
        assert_eq!(profile.sender(&msg).as_deref(), Some("prof"));
    }

    #[test]
    fn name_limits_ack_and_debug() {
        let p = TelnyxProvider::new(base().messaging_profile_id("prof")).unwrap();
        assert_eq!(p.name(), "telnyx");
        assert_eq!(p.limits(), ProviderLimits::new(10, 1530));
        let ack = p.webhook_ack();
        assert!(ack.body.is_empty());
        let shown = format!("{p:?} {p:#?} {:?}", p.client());
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
