//! [`TwilioProvider`]: the [`telephony_core::Provider`] implementation for Twilio.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use telephony_core::voice::{
    Call, CallAnswer, CallUpdate, OutboundCall, Realtime, VoiceError, VoiceResponse, VoiceRun,
};
use telephony_core::{
    Channel, OutboundMessage, Provider, ProviderError, ProviderReceipt, SendOptions,
    SignatureCheck, WebhookError, WebhookEvent, WebhookRequest, WebhookResponse,
};
use time::OffsetDateTime;

use crate::client::{CallInstructions, CreateCall, CreateMessage, TwilioClient};
use crate::config::TwilioConfig;
use crate::signature::{Rejection, RequestValidator};
use crate::twiml::{EMPTY_RESPONSE, realtime_url_problem, voice_response};
use crate::webhook::{decode_form_bytes, form_strings, parse_event, parse_message_status};
use telephony_core::redact::redact_url;

/// The header Twilio puts its webhook signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The only content type Twilio's messaging webhooks use.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Twilio as a [`Provider`]: sends through the REST API and verifies and parses webhooks.
///
/// Its `Debug` output never shows the auth token or API key secret.
///
/// ```no_run
/// use telephony_core::{OutboundMessage, Provider, SendOptions};
/// use telephony_twilio::{TwilioConfig, TwilioProvider};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = TwilioConfig::new("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "your_auth_token")
///     .from_number("+15550001234".parse()?);
/// let twilio = TwilioProvider::new(config)?;
/// let msg = OutboundMessage::new("+15550005678".parse()?, "Hello!");
/// let receipt = twilio
///     .send(&msg, &SendOptions::with_status_callback("https://gw.example.com/telephony/status"))
///     .await?;
/// println!("{} is {}", receipt.sid, receipt.status);
/// # Ok(())
/// # }
/// ```
///
/// Webhooks (no network needed):
///
/// ```
/// use telephony_core::{Provider, SignatureCheck, WebhookEvent, WebhookRequest};
/// use telephony_twilio::{TwilioConfig, TwilioProvider};
///
/// let twilio = TwilioProvider::new(TwilioConfig::new("AC1", "token"))?;
/// let url = "https://gw.example.com/telephony/webhook";
/// let body = "MessageSid=SM1&From=%2B15550005678&To=%2B15550001234&Body=Hi";
/// let params: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
/// let mut headers = http::HeaderMap::new();
/// headers.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
/// headers.insert("x-twilio-signature", twilio.validator().compute(url, &params).parse().unwrap());
/// let req = WebhookRequest { url: url.into(), method: http::Method::POST, headers, body: body.into() };
/// let WebhookEvent::Message(m) = twilio.handle_webhook(&req, SignatureCheck::Verify)? else { panic!() };
/// assert_eq!(m.body, "Hi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TwilioProvider {
    client: TwilioClient,
    validator: RequestValidator,
}

impl fmt::Debug for TwilioProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.client.config();
        f.debug_struct("TwilioProvider")
            .field("account_sid", &config.account_sid)
            .field("from_number", &config.from_number)
            .field("messaging_service_sid", &config.messaging_service_sid)
            .field(
                "api_base_url",
                &telephony_core::redact::redact_url(&config.api_base_url),
            )
            .finish_non_exhaustive()
    }
}

/// What a Twilio request's signature covers.
#[derive(Clone, Copy)]
pub(crate) enum Signed<'a> {
    /// A form body: the URL and every decoded parameter (raw bytes).
    Form(&'a [(Vec<u8>, Vec<u8>)]),
    /// Any other body: the URL alone, plus the body's `bodySHA256`.
    Body(&'a [u8]),
    /// No body (a WebSocket upgrade): the URL alone.
    UrlOnly,
}

impl Signed<'_> {
    /// The `kind` log field.
    fn kind(&self) -> &'static str {
        match self {
            Signed::Form(_) => "form",
            Signed::Body(_) => "json-body",
            Signed::UrlOnly => "url-only",
        }
    }
}

impl TwilioProvider {
    /// A response as the TwiML document of a live call update.
    fn render_twiml(&self, response: &VoiceResponse) -> Result<String, ProviderError> {
        let rendered = self
            .render_voice(response)
            .map_err(|e| ProviderError::InvalidMessage(e.to_string()))?;
        Ok(String::from_utf8_lossy(&rendered.body).into_owned())
    }

    /// A provider for this account.
    ///
    /// The auth token is required even when REST calls use an API key, because webhook
    /// signatures are always made with it: an empty token would make every signature
    /// forgeable, so it is refused ([`ProviderError::NotConfigured`]). A missing sender is
    /// only reported when sending.
    pub fn new(config: TwilioConfig) -> Result<Self, ProviderError> {
        if config.auth_token.is_empty() {
            return Err(ProviderError::NotConfigured(
                "twilio.authToken is not set (it is needed to verify webhook signatures)".into(),
            ));
        }
        let validator = RequestValidator::new(config.auth_token.expose());
        let client = TwilioClient::new(config)?;
        Ok(TwilioProvider { client, validator })
    }

    /// The REST client.
    pub fn client(&self) -> &TwilioClient {
        &self.client
    }

    /// The webhook signature validator (keyed with the account's auth token).
    pub fn validator(&self) -> &RequestValidator {
        &self.validator
    }

    /// Checks `X-Twilio-Signature` on `req` for what `signed` says was signed, and logs
    /// why at `warn` when it fails: the header that is missing or malformed, or the URL
    /// variants tried (query values and passwords redacted) and, for JSON bodies, the
    /// `bodySHA256` check. Neither the token nor the presented signature is logged.
    pub(crate) fn check_signature(
        &self,
        req: &WebhookRequest,
        signed: Signed<'_>,
    ) -> Result<(), WebhookError> {
        let kind = signed.kind();
        let Some(header) = req
            .headers
            .get(SIGNATURE_HEADER)
            .filter(|v| !v.as_bytes().is_empty())
        else {
            tracing::warn!(
                kind,
                url = %redact_url(&req.url),
                missing_header = SIGNATURE_HEADER,
                "rejected a Twilio request: no signature header"
            );
            return Err(WebhookError::MissingSignature(SIGNATURE_HEADER));
        };
        let verdict = match header.to_str() {
            Err(_) => Err(Rejection::Malformed("not visible ASCII".into())),
            Ok(signature) => {
                let signature = signature.trim();
                match signed {
                    Signed::Form(params) => self.validator.verify_form(&req.url, params, signature),
                    Signed::Body(body) => self.validator.verify_body(&req.url, body, signature),
                    Signed::UrlOnly => {
                        let none: [(&[u8], &[u8]); 0] = [];
                        self.validator.verify_form(&req.url, &none, signature)
                    }
                }
            }
        };
        match verdict {
            Ok(()) => Ok(()),
            Err(Rejection::Malformed(reason)) => {
                tracing::warn!(
                    kind,
                    url = %redact_url(&req.url),
                    malformed_header = SIGNATURE_HEADER,
                    reason = %reason,
                    "rejected a Twilio request: malformed signature header"
                );
                Err(WebhookError::MalformedSignature {
                    header: SIGNATURE_HEADER,
                    reason,
                })
            }
            Err(Rejection::Mismatch(m)) => {
                let tried: Vec<String> = m.variants_tried.iter().map(|u| redact_url(u)).collect();
                match (signed, m.body_hash) {
                    (Signed::Form(params), _) => tracing::warn!(
                        kind,
                        variants_tried = ?tried,
                        params = params.len(),
                        "rejected a Twilio request: signature does not match any URL variant (check publicUrl against the URL configured at Twilio)"
                    ),
                    (_, Some(body_hash)) => tracing::warn!(
                        kind,
                        url = %redact_url(&req.url),
                        variants_tried = ?tried,
                        body_hash = body_hash.as_str(),
                        "rejected a Twilio request: URL signature or bodySHA256 does not match"
                    ),
                    (_, None) => tracing::warn!(
                        kind,
                        variants_tried = ?tried,
                        "rejected a Twilio request: signature does not match any URL variant (check publicUrl against the URL configured at Twilio)"
                    ),
                }
                Err(WebhookError::InvalidSignature {
                    url: redact_url(&req.url),
                })
            }
        }
    }

    /// The Messages.json form for an outbound message (no network call).
    ///
    /// A configured Messaging Service wins over the sender number: only
    /// `MessagingServiceSid` is sent then. Otherwise `From` is the number, with the
    /// `whatsapp:` prefix for WhatsApp recipients.
    pub fn create_request(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<CreateMessage, ProviderError> {
        let config = self.client.config();
        let service = config
            .messaging_service_sid
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let (from, messaging_service_sid) = match (service, &config.from_number) {
            (Some(service), _) => (None, Some(service.to_string())),
            (None, Some(number)) => {
                let from = match msg.to.channel() {
                    Channel::Whatsapp => format!("whatsapp:{number}"),
                    _ => number.to_string(),
                };
                (Some(from), None)
            }
            (None, None) => {
                return Err(ProviderError::NotConfigured(
                    "set fromNumber or twilio.messagingServiceSid".into(),
                ));
            }
        };
        Ok(CreateMessage {
            to: msg.to.to_string(),
            from,
            messaging_service_sid,
            body: Some(msg.body.clone()).filter(|b| !b.is_empty()),
            media_urls: msg.media_urls.clone(),
            status_callback: opts.status_callback.clone(),
        })
    }

    /// The Calls.json form for an outbound call (no network call).
    ///
    /// `From` is the call's, else the configured number (else
    /// [`ProviderError::NotConfigured`]). A [`CallAnswer::Response`] is rendered as TwiML
    /// like [`render_voice`](Provider::render_voice) does (an empty response hangs up; a
    /// stream or relay URL Twilio cannot use is [`ProviderError::InvalidMessage`]); a
    /// [`CallAnswer::Markup`] is sent as `Twiml` unchanged (it is checked when the call is
    /// placed: see [`CreateCall::validate`](crate::CreateCall::validate)).
    ///
    /// ```
    /// use telephony_core::voice::{CallAnswer, OutboundCall, VoiceResponse};
    /// use telephony_twilio::client::CallInstructions;
    /// use telephony_twilio::{TwilioConfig, TwilioProvider};
    /// let twilio = TwilioProvider::new(TwilioConfig::new("AC1", "token").from_number("+15550001234".parse()?))?;
    /// let call = OutboundCall::new("+15550005678", CallAnswer::Response(VoiceResponse::new().say("Hi")));
    /// let req = twilio.call_request(&call)?;
    /// assert_eq!(req.from, "+15550001234");
    /// assert_eq!(req.instructions, CallInstructions::Twiml(
    ///     r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi</Say></Response>"#.into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_request(&self, call: &OutboundCall) -> Result<CreateCall, ProviderError> {
        let from = match (&call.from, &self.client.config().from_number) {
            (Some(from), _) if !from.trim().is_empty() => from.clone(),
            (_, Some(number)) => number.to_string(),
            _ => {
                return Err(ProviderError::NotConfigured(
                    "set fromNumber (or the call's from) to place calls".into(),
                ));
            }
        };
        let instructions = match &call.answer {
            CallAnswer::Url(url) => CallInstructions::Url(url.clone()),
            CallAnswer::Response(response) if response.is_empty() => {
                CallInstructions::Twiml(voice_response(&VoiceResponse::new().hangup()))
            }
            CallAnswer::Response(response) => {
                if let Some(reason) = realtime_url_problem(response) {
                    return Err(ProviderError::InvalidMessage(reason));
                }
                CallInstructions::Twiml(voice_response(response))
            }
            CallAnswer::Markup(twiml) => CallInstructions::Twiml(twiml.clone()),
            other => {
                return Err(ProviderError::InvalidMessage(format!(
                    "Twilio cannot answer a call with {other:?}"
                )));
            }
        };
        Ok(CreateCall {
            to: call.to.clone(),
            from,
            instructions,
            status_callback: call.status_callback.clone(),
            timeout: call.ring_timeout_secs,
            time_limit: call.time_limit_secs,
            machine_detection: call.machine_detection,
            send_digits: call.send_digits.as_ref().map(|d| d.to_string()),
            record: call.record,
            recording_status_callback: call.record.and(
                call.recording_callback
                    .clone()
                    .or(call.status_callback.clone()),
            ),
        })
    }
}

#[async_trait]
impl Provider for TwilioProvider {
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        let request = self.create_request(msg, opts)?;
        let resource = self.client.create_message(&request).await?;
        receipt_of(resource)
    }

    /// Looks the message up in the message log
    /// ([`TwilioClient::find_sent_message`](crate::TwilioClient::find_sent_message)) with the
    /// `To`, sender, body and number of media its create request has.
    async fn find_sent(
        &self,
        msg: &OutboundMessage,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        let request = self.create_request(msg, &SendOptions::default())?;
        let query = crate::client::SentMessageQuery {
            to: request.to,
            from: request.from,
            messaging_service_sid: request.messaging_service_sid,
            body: request.body.unwrap_or_default(),
            media: request.media_urls.len(),
            since,
        };
        match self.client.find_sent_message(&query).await? {
            Some(resource) => receipt_of(resource).map(Some),
            None => Ok(None),
        }
    }

    fn name(&self) -> &'static str {
        "twilio"
    }

    /// The configured Messaging Service SID when there is one (Twilio picks the number from
    /// its pool), else the sender number (also for WhatsApp: one number, one limit).
    fn sender(&self, _msg: &OutboundMessage) -> Option<String> {
        let config = self.client.config();
        let service = config
            .messaging_service_sid
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match service {
            Some(sid) => Some(sid.to_string()),
            None => config.from_number.as_ref().map(|n| n.to_string()),
        }
    }

    /// `POST …/Calls.json` with [`call_request`](TwilioProvider::call_request)'s form;
    /// one attempt. TwiML over 4000 characters, or a [`CallAnswer::Markup`] that is not
    /// well-formed XML with a `<Response>` root, is refused before any request
    /// ([`ProviderError::InvalidMessage`] naming the line, column and problem).
    async fn place_call(&self, call: &OutboundCall) -> Result<Call, ProviderError> {
        let request = self.call_request(call)?;
        self.client.create_call(&request).await?.to_call()
    }

    /// `POST …/Calls/{Sid}.json` with `Status=completed`; a 404 with error 20404 (the call
    /// already ended) is a success.
    async fn hang_up(&self, call_id: &str) -> Result<(), ProviderError> {
        self.client.hang_up_call(call_id).await.map(|_| ())
    }

    /// `POST …/Calls/{Sid}.json`: `Twiml` with the rendered response (or the given
    /// TwiML, checked first: a malformed document is refused before any request), or
    /// `Status=completed` for [`CallUpdate::Hangup`]. 404 / 20404 is
    /// [`VoiceRun::CallEnded`].
    async fn update_call(
        &self,
        call_id: &str,
        update: &CallUpdate,
    ) -> Result<VoiceRun, ProviderError> {
        let twiml = match update {
            CallUpdate::Hangup => {
                return Ok(match self.client.hang_up_call(call_id).await? {
                    Some(_) => VoiceRun::Done,
                    None => VoiceRun::CallEnded,
                });
            }
            CallUpdate::Twiml(doc) => {
                crate::twiml::check_twiml(doc).map_err(|e| {
                    ProviderError::InvalidMessage(format!("the TwiML is not valid: {e}"))
                })?;
                doc.clone()
            }
            CallUpdate::Response(r) => self.render_twiml(r)?,
            CallUpdate::Say(s) => self.render_twiml(&VoiceResponse::new().say(s.clone()))?,
            other => {
                return Err(ProviderError::InvalidMessage(format!(
                    "a {} update is not supported on Twilio",
                    other.kind()
                )));
            }
        };
        Ok(
            match self.client.update_call_twiml(call_id, &twiml).await? {
                Some(_) => VoiceRun::Done,
                None => VoiceRun::CallEnded,
            },
        )
    }

    /// `GET …/Calls/{Sid}.json`, mapped with [`CallResource::to_call`](crate::resources::CallResource::to_call).
    async fn fetch_call(&self, call_id: &str) -> Result<Call, ProviderError> {
        self.client.fetch_call(call_id).await?.to_call()
    }

    /// `POST …/Calls/{Sid}.json` with the rendered `Twiml`. Twilio's "not in progress"
    /// (21220) and "not found" (20404) answers are [`VoiceRun::CallEnded`].
    async fn replace_call_response(
        &self,
        call_id: &str,
        response: &VoiceResponse,
    ) -> Result<telephony_core::voice::VoiceRun, ProviderError> {
        if let Some(reason) = realtime_url_problem(response) {
            return Err(ProviderError::InvalidMessage(reason));
        }
        match self
            .client
            .update_call_twiml(call_id, &voice_response(response))
            .await?
        {
            Some(_) => Ok(telephony_core::voice::VoiceRun::Done),
            None => {
                tracing::info!(call_sid = %call_id, "the call had already ended; not updated");
                Ok(telephony_core::voice::VoiceRun::CallEnded)
            }
        }
    }

    /// `GET …/Recordings/{Sid}.wav` (`.mp3` for an MP3 recording) with basic auth: see
    /// [`TwilioClient::fetch_recording_media`](crate::TwilioClient::fetch_recording_media).
    async fn fetch_recording(
        &self,
        recording: &telephony_core::voice::CallRecording,
    ) -> Result<telephony_core::voice::RecordingMedia, ProviderError> {
        let format = if recording.format == "mp3" {
            "mp3"
        } else {
            "wav"
        };
        let bytes = self
            .client
            .fetch_recording_media(&recording.recording_id, format)
            .await?;
        let content_type = if format == "mp3" {
            "audio/mpeg"
        } else {
            "audio/x-wav"
        };
        Ok(telephony_core::voice::RecordingMedia::new(
            content_type,
            bytes,
        ))
    }

    /// The IncomingPhoneNumber (`IncomingPhoneNumbers.json?PhoneNumber=`), and the
    /// configured Messaging Service's inbound settings when the gateway sends through one.
    async fn number_config(
        &self,
        number: &telephony_core::PhoneNumber,
    ) -> Result<Option<telephony_core::numbers::NumberConfig>, ProviderError> {
        crate::numbers::number_config(&self.client, number).await
    }

    /// Sets `SmsUrl`/`SmsMethod` (or, with a Messaging Service that does not defer to the
    /// number, the service's `InboundRequestUrl`/`InboundMethod`), and with voice
    /// `VoiceUrl`/`VoiceMethod`/`StatusCallback`/`StatusCallbackMethod`; only what differs.
    async fn configure_number(
        &self,
        number: &telephony_core::PhoneNumber,
        targets: &telephony_core::numbers::WebhookTargets,
    ) -> Result<Vec<telephony_core::numbers::SettingChange>, ProviderError> {
        crate::numbers::configure_number(&self.client, number, targets).await
    }

    /// The message log (`GET …/Messages.json?To=<number>`): inbound messages whose
    /// error code is 11200 (the webhook was unreachable, timed out or did not answer 2xx).
    async fn recent_webhook_failures(
        &self,
        number: &telephony_core::PhoneNumber,
        look_back: u32,
    ) -> Result<Vec<telephony_core::numbers::WebhookFailure>, ProviderError> {
        crate::numbers::recent_webhook_failures(&self.client, number, look_back).await
    }

    /// 10 media URLs and 1600 characters per message.
    fn limits(&self) -> telephony_core::ProviderLimits {
        crate::client::LIMITS
    }

    /// Parses a messaging or voice webhook.
    ///
    /// Unless told to skip it, the `X-Twilio-Signature` is checked first, before anything
    /// else about the request is looked at:
    ///
    /// - a form body (`application/x-www-form-urlencoded`) is signed over `req.url` plus
    ///   every received parameter;
    /// - any other body (Twilio's JSON webhooks) is signed over `req.url` alone, and its
    ///   SHA-256 must equal the URL's `bodySHA256` query parameter (a URL without one is
    ///   refused).
    ///
    /// Only then: a body that is not form-encoded is refused
    /// ([`WebhookError::UnsupportedMediaType`], 415: the gateway has no use for Twilio's
    /// JSON webhooks), names and values must be UTF-8 ([`WebhookError::Malformed`]), and
    /// the parameters are parsed. A refused signature is logged at `warn` with the header
    /// that was missing or malformed, or the URL variants that were tried (redacted by
    /// [`redact_url`]); never the token or the signature.
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
        let is_form = essence.eq_ignore_ascii_case(FORM_CONTENT_TYPE);
        let raw = if is_form {
            decode_form_bytes(&req.body)
        } else {
            Vec::new()
        };
        if check == SignatureCheck::Verify {
            let signed = if is_form {
                Signed::Form(&raw)
            } else {
                Signed::Body(&req.body)
            };
            self.check_signature(req, signed)?;
        }
        if !is_form {
            if check == SignatureCheck::Verify {
                tracing::warn!(
                    url = %redact_url(&req.url),
                    content_type = %content_type,
                    "refused a verified Twilio webhook that is not form-encoded: the gateway only uses form-encoded messaging and voice webhooks"
                );
            }
            return Err(WebhookError::UnsupportedMediaType {
                got: content_type,
                expected: FORM_CONTENT_TYPE,
            });
        }
        let params = form_strings(raw)?;
        parse_event(&params, OffsetDateTime::now_utc())
    }

    /// Media Streams and ConversationRelay (see [`crate::realtime`]).
    fn realtime(&self) -> Option<&dyn Realtime> {
        Some(self)
    }

    fn webhook_ack(&self) -> WebhookResponse {
        WebhookResponse {
            content_type: "text/xml",
            body: Bytes::from_static(EMPTY_RESPONSE.as_bytes()),
        }
    }

    /// TwiML in twilio-node's style ([`voice_response`]), as `text/xml`.
    ///
    /// An empty response is answered `<Response><Hangup/></Response>`, never an empty
    /// document: users of the voice plugins we replace saw empty `<Response>`s on calls
    /// end in errors 11200/15003/31951 and calls left unanswered, so "nothing to say"
    /// hangs up explicitly.
    ///
    /// ```
    /// use telephony_core::{voice::VoiceResponse, Provider};
    /// use telephony_twilio::{TwilioConfig, TwilioProvider};
    /// let twilio = TwilioProvider::new(TwilioConfig::new("AC1", "token"))?;
    /// let answer = twilio.render_voice(&VoiceResponse::new())?;
    /// assert_eq!(answer.content_type, "text/xml");
    /// assert_eq!(&answer.body[..], br#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A `<Stream>` or `<ConversationRelay>` whose URL Twilio cannot use (none, not
    /// `wss://`, or with a query string, which Twilio strips) is refused with
    /// [`VoiceError::Invalid`] naming the problem (see [`realtime_url_problem`]).
    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        if let Some(reason) = realtime_url_problem(response) {
            return Err(VoiceError::Invalid {
                provider: "twilio",
                reason,
            });
        }
        let body = if response.is_empty() {
            voice_response(&VoiceResponse::new().hangup())
        } else {
            voice_response(response)
        };
        Ok(WebhookResponse {
            content_type: crate::twiml::CONTENT_TYPE,
            body: Bytes::from(body),
        })
    }
}

/// The receipt of a Message resource Twilio created (by this send, or found in the log).
fn receipt_of(
    resource: crate::resources::MessageResource,
) -> Result<ProviderReceipt, ProviderError> {
    let status_text = resource.status.as_deref().unwrap_or_default();
    let status = parse_message_status(status_text).ok_or_else(|| {
        ProviderError::protocol(
            "twilio",
            format!(
                "message {} was created with unknown status {status_text:?}",
                resource.sid
            ),
        )
    })?;
    // Twilio reports "0" segments for Messaging Service sends that it has not
    // segmented yet (status `accepted`/`scheduled`): that means "not known yet",
    // not "zero segments", so it becomes None. An unparseable count is also None:
    // the message was accepted, and failing the send over a counter would invite
    // a duplicate.
    let num_segments = resource
        .num_segments
        .as_deref()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .filter(|&n| n > 0);
    Ok(ProviderReceipt {
        sid: resource.sid,
        status,
        from: resource.from,
        num_segments,
        price: resource.price,
        price_unit: resource.price_unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(config: TwilioConfig) -> TwilioProvider {
        TwilioProvider::new(config).unwrap()
    }

    fn base() -> TwilioConfig {
        TwilioConfig::new("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "token-SECRET")
    }

    #[test]
    fn messaging_service_wins_over_from_number() {
        let p = provider(
            base()
                .from_number("+15550001234".parse().unwrap())
                .messaging_service_sid("MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        );
        let msg = OutboundMessage::new("+15550005678".parse().unwrap(), "hi");
        let req = p.create_request(&msg, &SendOptions::default()).unwrap();
        assert_eq!(req.from, None);
        assert_eq!(
            req.messaging_service_sid.as_deref(),
            Some("MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        );
        let form = req.to_form();
        assert!(form.iter().all(|(k, _)| *k != "From"), "{form:?}");
    }

    #[test]
    fn whatsapp_from_gets_prefix() {
        let p = provider(base().from_number("+15550001234".parse().unwrap()));
        let msg = OutboundMessage::new("whatsapp:+15550005678".parse().unwrap(), "hi")
            .with_media("https://e/x.jpg");
        let req = p
            .create_request(&msg, &SendOptions::with_status_callback("https://gw/s"))
            .unwrap();
        assert_eq!(
            req,
            CreateMessage {
                to: "whatsapp:+15550005678".into(),
                from: Some("whatsapp:+15550001234".into()),
                messaging_service_sid: None,
                body: Some("hi".into()),
                media_urls: vec!["https://e/x.jpg".into()],
                status_callback: Some("https://gw/s".into()),
            }
        );
        let sms = OutboundMessage::new("+15550005678".parse().unwrap(), "");
        let req = p.create_request(&sms, &SendOptions::default()).unwrap();
        assert_eq!(req.from.as_deref(), Some("+15550001234"));
        assert_eq!(req.body, None);
    }

    #[test]
    fn no_sender_is_not_configured() {
        let p = provider(base().messaging_service_sid("  "));
        let msg = OutboundMessage::new("+15550005678".parse().unwrap(), "hi");
        match p.create_request(&msg, &SendOptions::default()) {
            Err(ProviderError::NotConfigured(m)) => {
                assert_eq!(m, "set fromNumber or twilio.messagingServiceSid")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_auth_token_is_refused() {
        let err =
            TwilioProvider::new(TwilioConfig::new("AC1", "").api_key("SK1", "s")).unwrap_err();
        assert!(matches!(err, ProviderError::NotConfigured(_)), "{err:?}");
    }

    #[test]
    fn ack_is_exact() {
        let ack = provider(base()).webhook_ack();
        assert_eq!(ack.content_type, "text/xml");
        assert_eq!(
            &ack.body[..],
            br#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
        );
    }

    #[test]
    fn sender_is_the_messaging_service_else_the_number() {
        let msg = OutboundMessage::new("whatsapp:+15557654321".parse().unwrap(), "hi");
        let number = provider(base().from_number("+15550001234".parse().unwrap()));
        assert_eq!(number.sender(&msg).as_deref(), Some("+15550001234"));
        let service = provider(
            base()
                .from_number("+15550001234".parse().unwrap())
                .messaging_service_sid(" MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb "),
        );
        assert_eq!(
            service.sender(&msg).as_deref(),
            Some("MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        );
        assert_eq!(
            provider(base().messaging_service_sid("  ")).sender(&msg),
            None
        );
    }

    #[test]
    fn name_and_debug() {
        let p = provider(base().api_key("SK1", "key-SECRET"));
        assert_eq!(p.name(), "twilio");
        let shown = format!("{p:?} {p:#?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("ACaaaa"), "{shown}");
    }
}
