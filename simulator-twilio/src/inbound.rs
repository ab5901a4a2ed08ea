//! Fake inbound SMS/MMS webhooks, signed exactly like Twilio signs them.

use telephony_twilio::signature::RequestValidator;

use crate::recipients::country_of;
use crate::sids::new_message_sid;

/// An inbound SMS/MMS as Twilio would POST it to a number's `SmsUrl` (PROTOCOL §2.1).
///
/// Used by `telephony simulate sms`, the load generator and tests to drive a webhook
/// handler without Twilio.
///
/// ```
/// use telephony_twilio_simulator::InboundSms;
/// use telephony_twilio::RequestValidator;
///
/// let sms = InboundSms::new("AC00000000000000000000000000000000", "+15550001111", "+15550002222", "hi");
/// let url = "https://gw.example.com/telephony/webhook";
/// let (body, signature) = sms.signed("the-auth-token", url);
/// // Send `body` with `Content-Type: application/x-www-form-urlencoded` and
/// // `X-Twilio-Signature: <signature>`; the receiver validates it like this:
/// let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
/// assert!(RequestValidator::new("the-auth-token").validate(url, &params, &signature));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// `AC…` of the receiving account.
    pub account_sid: String,
    /// The sender (`+1555…`, `whatsapp:+1555…`).
    pub from: String,
    /// Our number it was sent to.
    pub to: String,
    /// The text.
    pub body: String,
    /// `MessageSid`; `None` generates a fresh `SM…` every time [`form`](Self::form) is
    /// called, so set it (or use [`InboundSms::new`]) when the SID must be stable.
    pub message_sid: Option<String>,
    /// Attachments as `(url, content type)`, sent as `MediaUrlN`/`MediaContentTypeN`.
    pub media: Vec<(String, String)>,
}

impl InboundSms {
    /// A text message with a freshly generated, fixed `MessageSid` and no media.
    pub fn new(
        account_sid: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        InboundSms {
            account_sid: account_sid.into(),
            from: from.into(),
            to: to.into(),
            body: body.into(),
            message_sid: Some(new_message_sid()),
            media: Vec::new(),
        }
    }

    /// Adds an attachment.
    pub fn with_media(mut self, url: impl Into<String>, content_type: impl Into<String>) -> Self {
        self.media.push((url.into(), content_type.into()));
        self
    }

    /// The form parameters Twilio sends, in Twilio's order: `ToCountry`, `ToState`,
    /// `SmsMessageSid`, `NumMedia`, `ToCity`, `FromZip`, `SmsSid`, `FromState`,
    /// `SmsStatus=received`, `FromCity`, `Body`, `FromCountry`, `To`, `ToZip`,
    /// `NumSegments`, `MessageSid`, `AccountSid`, `From`, `ApiVersion=2010-04-01`, then
    /// `MediaContentTypeN`/`MediaUrlN` for each attachment.
    ///
    /// Geo fields are best effort, as with Twilio: the country for a few country codes
    /// (`+1` → `US`, `+44` → `GB`, …), city/state/zip empty.
    pub fn form(&self) -> Vec<(String, String)> {
        let sid = self.message_sid.clone().unwrap_or_else(new_message_sid);
        let segments = crate::segments::count(&self.body);
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut out = vec![
            p("ToCountry", country_of(&self.to)),
            p("ToState", ""),
            p("SmsMessageSid", &sid),
            p("NumMedia", &self.media.len().to_string()),
            p("ToCity", ""),
            p("FromZip", ""),
            p("SmsSid", &sid),
            p("FromState", ""),
            p("SmsStatus", "received"),
            p("FromCity", ""),
            p("Body", &self.body),
            p("FromCountry", country_of(&self.from)),
            p("To", &self.to),
            p("ToZip", ""),
            p("NumSegments", &segments.to_string()),
            p("MessageSid", &sid),
            p("AccountSid", &self.account_sid),
            p("From", &self.from),
            p("ApiVersion", "2010-04-01"),
        ];
        for (i, (url, content_type)) in self.media.iter().enumerate() {
            out.push((format!("MediaContentType{i}"), content_type.clone()));
            out.push((format!("MediaUrl{i}"), url.clone()));
        }
        out
    }

    /// The url-encoded request body and its `X-Twilio-Signature` for a POST to `url`
    /// (the exact URL string the receiver validates against), signed with `auth_token`.
    pub fn signed(&self, auth_token: &str, url: &str) -> (String, String) {
        let params = self.form();
        let body = serde_urlencoded::to_string(&params).unwrap_or_default();
        let signature = RequestValidator::new(auth_token).compute(url, &params);
        (body, signature)
    }
}

/// How long Twilio waits for a messaging webhook's answer before giving up (11200).
pub const SMS_WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// What came of [`Simulator::deliver_sms`](crate::Simulator::deliver_sms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsDelivery {
    /// The message's SID in the log.
    pub message_sid: String,
    /// The webhook's HTTP status; `None` when there was no answer (no connection, or none
    /// within [`SMS_WEBHOOK_TIMEOUT`]).
    pub http_status: Option<u16>,
    /// `Some(11200)` when the webhook could not be reached or did not answer 2xx.
    pub error_code: Option<i64>,
}

impl crate::simulator::Simulator {
    /// Delivers an inbound SMS/MMS as Twilio does: POSTs it, signed with this account's
    /// auth token, to `url` (a number's `SmsUrl`) and records it in the message log
    /// (`GET …/Messages.json`: direction `inbound`, status `received`). A delivery that
    /// fails (no connection, no answer within [`SMS_WEBHOOK_TIMEOUT`], or an answer that is
    /// not 2xx) is logged with Twilio's error 11200, "HTTP retrieval failure", as Twilio's
    /// message log shows it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use telephony_twilio_simulator::{InboundSms, Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// let sms = InboundSms::new(&sim.config().account_sid, "+15550001111", "+15550002222", "hi");
    /// // Nothing listens on port 9: the delivery fails with 11200.
    /// let d = sim.deliver_sms(&sms, "http://127.0.0.1:9/telephony/webhook").await;
    /// assert_eq!((d.http_status, d.error_code), (None, Some(11200)));
    /// assert_eq!(sim.message(&d.message_sid).unwrap().error_code, Some(11200));
    /// # }
    /// ```
    pub async fn deliver_sms(&self, sms: &InboundSms, url: &str) -> SmsDelivery {
        let mut sms = sms.clone();
        let sid = sms.message_sid.get_or_insert_with(new_message_sid).clone();
        let (body, signature) = sms.signed(self.config().auth_token.expose(), url);
        let answer = self
            .http()
            .post(self.delivery_url(url))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header("X-Twilio-Signature", signature)
            .body(body)
            .timeout(SMS_WEBHOOK_TIMEOUT)
            .send()
            .await;
        let http_status = match answer {
            Ok(r) => Some(r.status().as_u16()),
            Err(e) => {
                tracing::info!(message_sid = %sid, error = %crate::signed_post::describe(e), "simulator: inbound SMS webhook unreachable (11200)");
                None
            }
        };
        let failed = !http_status.is_some_and(|s| (200..300).contains(&s));
        let error_code = failed.then_some(11200);
        let now = crate::dates::rfc2822(time::OffsetDateTime::now_utc());
        let uri = format!(
            "/2010-04-01/Accounts/{}/Messages/{sid}",
            self.config().account_sid
        );
        let resource = telephony_twilio::resources::MessageResource {
            sid: sid.clone(),
            account_sid: Some(self.config().account_sid.clone()),
            api_version: Some("2010-04-01".to_string()),
            body: Some(sms.body.clone()),
            date_created: Some(now.clone()),
            date_sent: Some(now.clone()),
            date_updated: Some(now),
            direction: Some("inbound".to_string()),
            error_code,
            error_message: failed.then(|| "HTTP retrieval failure".to_string()),
            from: Some(sms.from.clone()),
            messaging_service_sid: None,
            num_media: Some(sms.media.len().to_string()),
            num_segments: Some(crate::segments::count(&sms.body).to_string()),
            price: None,
            price_unit: Some("USD".to_string()),
            status: Some("received".to_string()),
            subresource_uris: None,
            to: Some(sms.to.clone()),
            uri: Some(format!("{uri}.json")),
        };
        self.lock().insert(resource);
        SmsDelivery {
            message_sid: sid,
            http_status,
            error_code,
        }
    }
}
