//! Fake inbound SMS/MMS webhooks, signed exactly like Twilio signs them.

use rand::Rng;

use crate::signature::RequestValidator;

/// A new random Message SID: `"SM"` + 32 lowercase hex digits.
///
/// ```
/// let sid = telephony_twilio::simulator::new_message_sid();
/// assert_eq!(sid.len(), 34);
/// assert!(sid.starts_with("SM"));
/// ```
pub fn new_message_sid() -> String {
    new_sid("SM")
}

/// `prefix` + 32 lowercase hex digits.
pub(crate) fn new_sid(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    let mut s = String::with_capacity(prefix.len() + 32);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// An inbound SMS/MMS as Twilio would POST it to a number's `SmsUrl` (PROTOCOL §2.1).
///
/// Used by `telephony simulate sms`, the load generator and tests to drive a webhook
/// handler without Twilio.
///
/// ```
/// use telephony_twilio::simulator::InboundSms;
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
        let segments = super::segments::count(&self.body);
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

/// Best-effort ISO country of an E.164 number (optionally `channel:`-prefixed).
pub(crate) fn country_of(number: &str) -> &'static str {
    let n = number.rsplit(':').next().unwrap_or(number);
    const TABLE: &[(&str, &str)] = &[
        ("+1", "US"),
        ("+44", "GB"),
        ("+33", "FR"),
        ("+49", "DE"),
        ("+34", "ES"),
        ("+39", "IT"),
        ("+31", "NL"),
        ("+61", "AU"),
        ("+81", "JP"),
        ("+55", "BR"),
        ("+52", "MX"),
        ("+91", "IN"),
    ];
    TABLE
        .iter()
        .find(|(prefix, _)| n.starts_with(prefix))
        .map(|(_, c)| *c)
        .unwrap_or("")
}
