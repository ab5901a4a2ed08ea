//! Parsing Twilio messaging webhooks (already decoded form parameters) into core events.
//!
//! Two kinds of request arrive on the messaging routes (PROTOCOL §2.1, §2.2):
//!
//! - an **inbound message** (the number's `SmsUrl`): `MessageSid`, `From`, `To`, `Body`,
//!   `NumMedia` + `MediaUrl{N}`/`MediaContentType{N}`, `NumSegments`, `AccountSid`, and a
//!   changing set of extras (geo fields, `ProfileName`, `WaId`, `OptOutType`, …);
//! - a **status callback** (`StatusCallback` of a sent message): recognised by the
//!   `MessageStatus` parameter.
//!
//! Requests with `CallSid` and no message SID are voice webhooks, parsed by
//! [`crate::voice_webhook`].
//!
//! Twilio adds parameters without notice, so unknown keys never cause errors: on inbound
//! messages they are kept in [`InboundMessage::extra`].
//!
//! Everything here is pure: signature checks and content types are handled by
//! [`TwilioProvider::handle_webhook`](crate::provider::TwilioProvider), which calls
//! [`decode_form`] and then [`parse_event`].

use std::collections::BTreeMap;

use telephony_core::{
    Channel, DeliveryStatus, InboundMessage, Media, MessageId, StatusUpdate, WebhookError,
    WebhookEvent,
};
use time::OffsetDateTime;

use crate::voice_webhook::parse_call_event;

/// Decodes an `application/x-www-form-urlencoded` body into name/value pairs, in order,
/// keeping repeated names.
///
/// `+` decodes to a space and `%XX` to the byte `XX`; a `%` not followed by two hex digits
/// is kept literally (as browsers and Twilio's SDKs do). Unlike a lossy decoder, a name or
/// value whose decoded bytes are not UTF-8 is an error ([`WebhookError::Malformed`])
/// rather than being silently changed to U+FFFD.
///
/// ```
/// use telephony_twilio::webhook::decode_form;
/// let pairs = decode_form(b"Body=1+%2B+1&To=%2B15550001111&Flag").unwrap();
/// assert_eq!(pairs, vec![
///     ("Body".to_string(), "1 + 1".to_string()),
///     ("To".to_string(), "+15550001111".to_string()),
///     ("Flag".to_string(), String::new()),
/// ]);
/// assert!(decode_form(b"Body=%FF").is_err());
/// ```
pub fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, WebhookError> {
    form_strings(decode_form_bytes(body))
}

/// The UTF-8 step of [`decode_form`], on pairs from [`decode_form_bytes`].
pub(crate) fn form_strings(
    raw: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Vec<(String, String)>, WebhookError> {
    let mut pairs = Vec::with_capacity(raw.len());
    for (index, (name, value)) in raw.into_iter().enumerate() {
        let name = String::from_utf8(name).map_err(|_| {
            WebhookError::Malformed(format!(
                "parameter #{} has a name that is not UTF-8",
                index + 1
            ))
        })?;
        let value = String::from_utf8(value).map_err(|_| {
            WebhookError::Malformed(format!("parameter {name:?} has a value that is not UTF-8"))
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Decodes an `application/x-www-form-urlencoded` body into raw name/value bytes, in
/// order, keeping repeated names; never fails.
///
/// The same rules as [`decode_form`] without the UTF-8 step: the signature is checked on
/// these bytes, before a body that is not UTF-8 is refused.
///
/// ```
/// use telephony_twilio::webhook::decode_form_bytes;
/// assert_eq!(
///     decode_form_bytes(b"Body=%FF+x&Flag"),
///     vec![(b"Body".to_vec(), b"\xff x".to_vec()), (b"Flag".to_vec(), Vec::new())]
/// );
/// ```
pub fn decode_form_bytes(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    body.split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &piece[piece.len()..]),
            };
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// `+` → space, `%XX` → byte.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = input.get(i + 1).copied().and_then(hex);
                let lo = input.get(i + 2).copied().and_then(hex);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Parses Twilio's message status name (`message_enum_status`) into a [`DeliveryStatus`].
///
/// Returns `None` for anything Twilio does not send, including the gateway-only `pending`.
///
/// ```
/// use telephony_core::DeliveryStatus;
/// use telephony_twilio::webhook::parse_message_status;
/// assert_eq!(parse_message_status("undelivered"), Some(DeliveryStatus::Undelivered));
/// assert_eq!(parse_message_status("partially_delivered"), Some(DeliveryStatus::PartiallyDelivered));
/// assert_eq!(parse_message_status("pending"), None);
/// assert_eq!(parse_message_status("Delivered"), None);
/// ```
pub fn parse_message_status(s: &str) -> Option<DeliveryStatus> {
    match s.parse::<DeliveryStatus>() {
        Ok(DeliveryStatus::Pending) | Err(_) => None,
        Ok(status) => Some(status),
    }
}

/// The parameters of one request, with lookups.
pub(crate) struct Params<'a> {
    pub(crate) params: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// The first value of `name`, if present (possibly empty).
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, if present and not empty.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&'a str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// True if `name` is present at all.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.params.iter().any(|(k, _)| k == name)
    }
}

/// Message SID parameters, preferred first (`SmsMessageSid` and `SmsSid` are legacy aliases).
const INBOUND_SID_KEYS: [&str; 3] = ["MessageSid", "SmsMessageSid", "SmsSid"];

/// Classifies and parses one messaging webhook.
///
/// - `MessageStatus` present ⇒ [`WebhookEvent::Status`] (PROTOCOL §2.2): `MessageSid`
///   (falling back to `SmsSid`) is required; `MessageStatus` must be one of Twilio's
///   statuses ([`parse_message_status`]); `ErrorCode`, when present and not empty, must be
///   an integer.
/// - `CallSid` present without a message SID ⇒ a voice webhook, [`WebhookEvent::Call`]
///   (PROTOCOL §2.3, §2.4; see [`parse_call_event`]).
/// - otherwise ⇒ [`WebhookEvent::Message`] (PROTOCOL §2.1): a message SID (`MessageSid`,
///   else `SmsMessageSid`, else `SmsSid`) and `From` are required and non-empty; `To` and
///   `Body` default to `""`; the channel is WhatsApp when `From` starts with `whatsapp:`;
///   media come from `NumMedia` and `MediaUrl{N}`/`MediaContentType{N}`; every parameter
///   not consumed this way is kept in `extra` (first value when a name repeats).
///
/// `NumSegments` is informational: an empty value gives `None`, and a non-numeric one
/// gives `None` and stays in `extra`, so a message is never refused for it.
///
/// ```
/// use telephony_core::WebhookEvent;
/// use telephony_twilio::webhook::{decode_form, parse_event};
///
/// let params = decode_form(b"MessageSid=SM1&From=%2B15550001111&To=%2B15550002222&Body=Hi&FromCity=OSLO").unwrap();
/// let WebhookEvent::Message(m) = parse_event(&params, time::OffsetDateTime::UNIX_EPOCH)? else { panic!() };
/// assert_eq!((m.provider_sid.as_str(), m.from.as_str(), m.body.as_str()), ("SM1", "+15550001111", "Hi"));
/// assert_eq!(m.extra["FromCity"], "OSLO");
/// # Ok::<(), telephony_core::WebhookError>(())
/// ```
pub fn parse_event(
    params: &[(String, String)],
    received_at: OffsetDateTime,
) -> Result<WebhookEvent, WebhookError> {
    let p = Params { params };
    if let Some(status) = p.get("MessageStatus") {
        return parse_status(&p, status).map(WebhookEvent::Status);
    }
    let sid = INBOUND_SID_KEYS.iter().find_map(|k| p.non_empty(k));
    if sid.is_none() && p.has("CallSid") {
        if p.has("RecordingStatus") {
            return crate::voice_webhook::parse_recording_callback(params, received_at);
        }
        return parse_call_event(params, received_at).map(WebhookEvent::Call);
    }
    parse_inbound(&p, sid, received_at).map(WebhookEvent::Message)
}

/// A status callback (§2.2).
fn parse_status(p: &Params<'_>, status: &str) -> Result<StatusUpdate, WebhookError> {
    let provider_sid = p
        .non_empty("MessageSid")
        .or_else(|| p.non_empty("SmsSid"))
        .ok_or(WebhookError::MissingField("MessageSid"))?;
    let status = parse_message_status(status).ok_or_else(|| WebhookError::InvalidField {
        field: "MessageStatus",
        value: status.to_string(),
    })?;
    let error_code = match p.non_empty("ErrorCode") {
        None => None,
        Some(raw) => Some(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| WebhookError::InvalidField {
                    field: "ErrorCode",
                    value: raw.to_string(),
                })?,
        ),
    };
    Ok(StatusUpdate {
        error_code,
        error_message: p.non_empty("ErrorMessage").map(str::to_string),
        account_sid: p.non_empty("AccountSid").map(str::to_string),
        more_info: error_code.map(error_docs_url),
        ..StatusUpdate::new(provider_sid, status)
    })
}

/// Twilio's documentation page for an error code.
pub fn error_docs_url(code: i64) -> String {
    format!("https://www.twilio.com/docs/errors/{code}")
}

/// An inbound message (§2.1).
fn parse_inbound(
    p: &Params<'_>,
    sid: Option<&str>,
    received_at: OffsetDateTime,
) -> Result<InboundMessage, WebhookError> {
    let provider_sid = sid.ok_or(WebhookError::MissingField("MessageSid"))?;
    let from = p
        .non_empty("From")
        .ok_or(WebhookError::MissingField("From"))?;
    let channel = if has_prefix_ignore_case(from, "whatsapp:") {
        Channel::Whatsapp
    } else {
        Channel::Sms
    };

    let mut consumed: Vec<String> = ["From", "To", "Body", "NumMedia", "AccountSid"]
        .iter()
        .chain(INBOUND_SID_KEYS.iter())
        .map(|k| k.to_string())
        .collect();

    let media = parse_media(p, &mut consumed)?;

    let num_segments = match p.get("NumSegments") {
        None => None,
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(n) => {
                consumed.push("NumSegments".into());
                Some(n)
            }
            Err(_) if raw.is_empty() => {
                consumed.push("NumSegments".into());
                None
            }
            // Informational only: keep the odd value in `extra` rather than refuse the message.
            Err(_) => None,
        },
    };

    let mut extra = BTreeMap::new();
    for (k, v) in p.params {
        if !consumed.iter().any(|c| c == k) && !extra.contains_key(k) {
            extra.insert(k.clone(), v.clone());
        }
    }

    Ok(InboundMessage {
        id: MessageId::generate(),
        provider_sid: provider_sid.to_string(),
        account_sid: p.non_empty("AccountSid").map(str::to_string),
        channel,
        from: from.to_string(),
        to: p.get("To").unwrap_or_default().to_string(),
        body: p.get("Body").unwrap_or_default().to_string(),
        media,
        num_segments,
        received_at,
        extra,
    })
}

/// `NumMedia` + `MediaUrl{N}`/`MediaContentType{N}`.
///
/// With `NumMedia` present, each `MediaUrl{N}` for `N < NumMedia` must be present and not
/// empty (else `InvalidField { field: "NumMedia" }`: the count does not match the URLs).
/// Without `NumMedia`, consecutive `MediaUrl0`, `MediaUrl1`, … are taken.
fn parse_media(p: &Params<'_>, consumed: &mut Vec<String>) -> Result<Vec<Media>, WebhookError> {
    let raw_count = p.get("NumMedia");
    let invalid_count = || WebhookError::InvalidField {
        field: "NumMedia",
        value: raw_count.unwrap_or_default().to_string(),
    };
    let declared = match raw_count {
        None => None,
        Some(raw) => Some(raw.trim().parse::<u32>().map_err(|_| invalid_count())?),
    };
    let mut media = Vec::new();
    for n in 0u32.. {
        if declared.is_some_and(|d| n >= d) {
            break;
        }
        let url_key = format!("MediaUrl{n}");
        let Some(url) = p.non_empty(&url_key) else {
            match declared {
                Some(_) => return Err(invalid_count()),
                None => break,
            }
        };
        let type_key = format!("MediaContentType{n}");
        let content_type = p.non_empty(&type_key).map(str::to_string);
        media.push(Media {
            url: url.to_string(),
            content_type,
            size: None,
        });
        consumed.push(url_key);
        consumed.push(type_key);
    }
    Ok(media)
}

/// `s` starts with the ASCII `prefix`, ignoring ASCII case.
fn has_prefix_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn message(list: &[(&str, &str)]) -> InboundMessage {
        match parse_event(&pairs(list), OffsetDateTime::UNIX_EPOCH).unwrap() {
            WebhookEvent::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn decode_form_rules() {
        assert_eq!(
            decode_form(b"a=1&&b=&c&=d&e=x=y&%41%2b=%zz%4").unwrap(),
            pairs(&[
                ("a", "1"),
                ("b", ""),
                ("c", ""),
                ("", "d"),
                ("e", "x=y"),
                ("A+", "%zz%4")
            ])
        );
        assert_eq!(decode_form(b"").unwrap(), vec![]);
        assert_eq!(
            decode_form(b"B=%C3%A9%F0%9F%91%8D").unwrap(),
            pairs(&[("B", "é👍")])
        );
        assert!(matches!(
            decode_form(b"B=%C3"),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            decode_form(b"%FF=1"),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            decode_form(b"B=\xff"),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn every_twilio_status_parses() {
        for s in [
            "queued",
            "sending",
            "sent",
            "failed",
            "delivered",
            "undelivered",
            "receiving",
            "received",
            "accepted",
            "scheduled",
            "read",
            "partially_delivered",
            "canceled",
        ] {
            assert_eq!(parse_message_status(s).unwrap().as_str(), s);
        }
        assert_eq!(parse_message_status(""), None);
        assert_eq!(parse_message_status("pending"), None);
    }

    #[test]
    fn status_error_code_empty_is_none() {
        let ev = parse_event(
            &pairs(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "sent"),
                ("ErrorCode", ""),
            ]),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let WebhookEvent::Status(s) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(s.error_code, None);
        assert_eq!(s.status, DeliveryStatus::Sent);
    }

    #[test]
    fn status_without_sid_is_missing_field() {
        let err = parse_event(
            &pairs(&[("MessageStatus", "sent")]),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap_err();
        assert_eq!(err, WebhookError::MissingField("MessageSid"));
    }

    #[test]
    fn media_without_num_media_takes_consecutive_urls() {
        let m = message(&[
            ("MessageSid", "MM1"),
            ("From", "+15550001111"),
            ("MediaUrl0", "https://a/0"),
            ("MediaUrl1", "https://a/1"),
            ("MediaUrl3", "https://a/3"),
        ]);
        assert_eq!(m.media.len(), 2);
        assert_eq!(
            m.extra.get("MediaUrl3").map(String::as_str),
            Some("https://a/3")
        );
        assert!(!m.extra.contains_key("MediaUrl0"));
    }

    #[test]
    fn num_media_larger_than_urls_is_invalid() {
        let err = parse_event(
            &pairs(&[
                ("MessageSid", "MM1"),
                ("From", "+15550001111"),
                ("NumMedia", "2"),
                ("MediaUrl0", "https://a/0"),
            ]),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap_err();
        assert_eq!(
            err,
            WebhookError::InvalidField {
                field: "NumMedia",
                value: "2".into()
            }
        );
    }

    #[test]
    fn num_segments_is_lenient() {
        let m = message(&[("MessageSid", "SM1"), ("From", "+1"), ("NumSegments", "")]);
        assert_eq!(m.num_segments, None);
        assert!(m.extra.is_empty());
        let m = message(&[
            ("MessageSid", "SM1"),
            ("From", "+1"),
            ("NumSegments", "two"),
        ]);
        assert_eq!(m.num_segments, None);
        assert_eq!(m.extra["NumSegments"], "two");
    }

    #[test]
    fn repeated_names_keep_first_value_in_extra() {
        let m = message(&[
            ("MessageSid", "SM1"),
            ("From", "+1"),
            ("X", "first"),
            ("X", "second"),
        ]);
        assert_eq!(m.extra["X"], "first");
        assert_eq!(m.extra.len(), 1);
    }

    #[test]
    fn whatsapp_prefix_is_case_insensitive_and_kept_verbatim() {
        let m = message(&[("MessageSid", "SM1"), ("From", "WhatsApp:+15550001111")]);
        assert_eq!(m.channel, Channel::Whatsapp);
        assert_eq!(m.from, "WhatsApp:+15550001111");
        let m = message(&[("MessageSid", "SM1"), ("From", "whats")]);
        assert_eq!(m.channel, Channel::Sms);
    }

    #[test]
    fn call_sid_with_message_sid_is_a_message() {
        let m = message(&[("MessageSid", "SM1"), ("From", "+1"), ("CallSid", "CA1")]);
        assert_eq!(m.extra["CallSid"], "CA1");
    }
}
