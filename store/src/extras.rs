//! The compact encoding of an inbound message's extras (the provider's parameters without a
//! field of their own, [`InboundMessage::extra`](telephony_core::InboundMessage::extra)),
//! shared by both backends: SQLite keeps it in a column of type `ANY`, PostgreSQL in a
//! `BYTEA`. Lossless: every map reads back exactly as it was written.
//!
//! A version byte (1), then per entry a tag byte:
//!
//! - `0x00`: the key follows (varint length, UTF-8 bytes), then the value;
//! - `0x01..=0x7F`: the key is [`KEYS`]`[tag - 1]`, then the value;
//! - `0x80..=0xFF`: the entry is [`PAIRS`]`[tag - 0x80]`, key and value.
//!
//! A value is a varint `n`: `0` means "the message's provider SID" (Twilio repeats it as
//! `SmsSid` and `SmsMessageSid`), else `n - 1` UTF-8 bytes follow. Rows written before the
//! encoding existed hold JSON text (`{…}`), which [`decode_stored`] still reads. Both
//! dictionaries are part of the stored format: entries may be appended, never changed or
//! removed.

use std::collections::BTreeMap;

/// Keys of provider parameters, by tag (`tag - 1`). Append only.
pub(crate) const KEYS: &[&str] = &[
    // Twilio Messaging webhooks.
    "ApiVersion",
    "SmsStatus",
    "SmsSid",
    "SmsMessageSid",
    "MessageSid",
    "MessagingServiceSid",
    "FromCity",
    "FromState",
    "FromZip",
    "FromCountry",
    "ToCity",
    "ToState",
    "ToZip",
    "ToCountry",
    "ProfileName",
    "WaId",
    "Forwarded",
    "FrequentlyForwarded",
    "ButtonText",
    "ButtonPayload",
    "OptOutType",
    "MessageType",
    "ChannelMetadata",
    "Latitude",
    "Longitude",
    "Address",
    "Label",
    "ReferralBody",
    "ReferralHeadline",
    "ReferralSourceId",
    "ReferralSourceType",
    "ReferralSourceUrl",
    "ReferralMediaId",
    "ReferralMediaContentType",
    "ReferralMediaUrl",
    "ReferralNumMedia",
    "ReferralCtwaClid",
    "OriginalRepliedMessageSender",
    "OriginalRepliedMessageSid",
    "MediaContentType0",
    "MediaUrl0",
    "NumSegments",
    // Telnyx message.received.
    "event_id",
    "event_type",
    "occurred_at",
    "type",
    "direction",
    "encoding",
    "messaging_profile_id",
    "received_at",
    "from_carrier",
    "from_line_type",
    "meta_attempt",
    "meta_delivered_to",
];

/// Whole entries, by tag (`tag - 0x80`). Append only.
pub(crate) const PAIRS: &[(&str, &str)] = &[
    ("ApiVersion", "2010-04-01"),
    ("SmsStatus", "received"),
    ("FromCity", ""),
    ("FromState", ""),
    ("FromZip", ""),
    ("FromCountry", ""),
    ("ToCity", ""),
    ("ToState", ""),
    ("ToZip", ""),
    ("ToCountry", ""),
    ("FromCountry", "US"),
    ("ToCountry", "US"),
    ("FromCountry", "CA"),
    ("ToCountry", "CA"),
    ("FromCountry", "GB"),
    ("ToCountry", "GB"),
    ("MessageType", "text"),
    ("Forwarded", "false"),
    ("FrequentlyForwarded", "false"),
    ("event_type", "message.received"),
    ("type", "SMS"),
    ("type", "MMS"),
    ("direction", "inbound"),
    ("encoding", "GSM-7"),
    ("encoding", "UCS-2"),
    ("meta_attempt", "1"),
];

const EXTRA_VERSION: u8 = 1;

/// The stored form of a message's extras.
pub(crate) fn encode_extra(extra: &BTreeMap<String, String>, provider_sid: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + extra.len() * 4);
    out.push(EXTRA_VERSION);
    for (k, v) in extra {
        if let Some(i) = PAIRS.iter().position(|(pk, pv)| pk == k && pv == v) {
            out.push(0x80 + tag(i));
            continue;
        }
        match KEYS.iter().position(|key| key == k) {
            Some(i) => out.push(1 + tag(i)),
            None => {
                out.push(0);
                put_bytes(&mut out, k.as_bytes(), 0);
            }
        }
        if !provider_sid.is_empty() && v == provider_sid {
            put_varint(&mut out, 0);
        } else {
            put_bytes(&mut out, v.as_bytes(), 1);
        }
    }
    out
}

fn tag(i: usize) -> u8 {
    // Both dictionaries are shorter than 128 entries (checked by a test).
    u8::try_from(i).unwrap_or(u8::MAX)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8], bias: u64) {
    put_varint(out, bytes.len() as u64 + bias);
    out.extend_from_slice(bytes);
}

/// Decodes [`encode_extra`]'s bytes; says what is wrong with bytes it cannot read.
pub(crate) fn decode_extra(
    bytes: &[u8],
    provider_sid: &str,
) -> Result<BTreeMap<String, String>, String> {
    let (&version, mut rest) = bytes.split_first().ok_or("empty extras")?;
    if version != EXTRA_VERSION {
        return Err(format!("unknown extras format {version}"));
    }
    let mut out = BTreeMap::new();
    while let Some((&t, after)) = rest.split_first() {
        rest = after;
        let key = match t {
            0 => take_str(&mut rest, 0)?.ok_or("a literal key without bytes")?,
            1..=0x7f => KEYS
                .get(usize::from(t - 1))
                .ok_or_else(|| format!("unknown key tag {t}"))?
                .to_string(),
            _ => {
                let (k, v) = PAIRS
                    .get(usize::from(t - 0x80))
                    .ok_or_else(|| format!("unknown entry tag {t}"))?;
                out.insert((*k).to_string(), (*v).to_string());
                continue;
            }
        };
        let value = take_str(&mut rest, 1)?.unwrap_or_else(|| provider_sid.to_string());
        out.insert(key, value);
    }
    Ok(out)
}

fn take_varint(rest: &mut &[u8]) -> Result<u64, String> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, after) = rest.split_first().ok_or("truncated length")?;
        *rest = after;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err("length too long".into())
}

/// A length-prefixed string (`bias` added to the length); `None` for the marker 0 when
/// `bias` is 1.
fn take_str(rest: &mut &[u8], bias: u64) -> Result<Option<String>, String> {
    let n = take_varint(rest)?;
    if bias == 1 && n == 0 {
        return Ok(None);
    }
    let len = usize::try_from(n - bias).map_err(|_| "length too long")?;
    if rest.len() < len {
        return Err("truncated value".into());
    }
    let (s, after) = rest.split_at(len);
    *rest = after;
    String::from_utf8(s.to_vec())
        .map(Some)
        .map_err(|_| "a value that is not UTF-8".into())
}

/// Decodes a stored extras value: the compact form, or the JSON text of rows written before
/// it (a JSON object starts with `{`, the compact form with its version byte).
#[cfg(feature = "postgres")]
pub(crate) fn decode_stored(
    bytes: &[u8],
    provider_sid: &str,
) -> Result<BTreeMap<String, String>, String> {
    if bytes.first() == Some(&b'{') {
        return serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"));
    }
    decode_extra(bytes, provider_sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_fit_their_tags_and_have_no_duplicates() {
        assert!(KEYS.len() < 0x7f && PAIRS.len() <= 0x80);
        for (i, k) in KEYS.iter().enumerate() {
            assert!(!KEYS[..i].contains(k), "{k} twice");
        }
        for (i, p) in PAIRS.iter().enumerate() {
            assert!(!PAIRS[..i].contains(p), "{p:?} twice");
        }
    }

    #[test]
    fn extras_round_trip_and_shrink() {
        let sid = "SM6ae8e97f64123d260000000000000000";
        let twilio: BTreeMap<String, String> = [
            ("ApiVersion", "2010-04-01"),
            ("FromCity", ""),
            ("FromCountry", "US"),
            ("FromState", "CA"),
            ("FromZip", "94105"),
            ("SmsMessageSid", sid),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("ToCity", "OSLO"),
            ("ToCountry", "NO"),
            ("ToState", ""),
            ("ToZip", ""),
            ("X-Unknown", "ünïcode, \"quoted\"\n"),
            ("", "empty key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let bytes = encode_extra(&twilio, sid);
        assert_eq!(decode_extra(&bytes, sid).unwrap(), twilio);
        let json = serde_json::to_string(&twilio).unwrap();
        assert!(
            bytes.len() * 3 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
        // The provider SID marker is only used for the SID itself.
        let other = BTreeMap::from([("SmsSid".to_string(), "SMother".to_string())]);
        assert_eq!(
            decode_extra(&encode_extra(&other, sid), sid).unwrap(),
            other
        );
        assert_eq!(
            decode_extra(&encode_extra(&BTreeMap::new(), ""), "").unwrap(),
            BTreeMap::new()
        );
        // With no SID to refer to, an empty value stays an empty value.
        let empty = BTreeMap::from([("SmsSid".to_string(), String::new())]);
        assert_eq!(decode_extra(&encode_extra(&empty, ""), "").unwrap(), empty);
    }

    #[test]
    fn damaged_extras_are_refused_with_a_reason() {
        assert_eq!(decode_extra(&[], "").unwrap_err(), "empty extras");
        assert_eq!(
            decode_extra(&[9], "").unwrap_err(),
            "unknown extras format 9"
        );
        assert_eq!(
            decode_extra(&[1, 0x7e], "").unwrap_err(),
            "unknown key tag 126"
        );
        assert_eq!(
            decode_extra(&[1, 0xff], "").unwrap_err(),
            "unknown entry tag 255"
        );
        assert_eq!(
            decode_extra(&[1, 1, 5, b'a'], "").unwrap_err(),
            "truncated value"
        );
        assert_eq!(decode_extra(&[1, 1], "").unwrap_err(), "truncated length");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn stored_json_of_earlier_rows_still_reads() {
        let json = br#"{"FromCity":"OSLO","SmsSid":"SM1"}"#;
        let got = decode_stored(json, "SM1").unwrap();
        assert_eq!(got["FromCity"], "OSLO");
        assert_eq!(got["SmsSid"], "SM1");
        assert!(
            decode_stored(b"{oops", "")
                .unwrap_err()
                .starts_with("invalid JSON")
        );
    }
}
