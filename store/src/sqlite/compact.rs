//! Compact encodings for the inbox's largest columns (SQLite), lossless: every value reads
//! back exactly as it was written.
//!
//! **Keys** (`inbox.id`, `inbox.provider_sid`, `inbox.account_sid`, columns of type `ANY`):
//! a string of one of three shapes is stored as a BLOB of its bytes, anything else as TEXT.
//!
//! | shape | example | stored as |
//! |---|---|---|
//! | `msg_` + 28 lowercase hex digits (the gateway's message ids) | `msg_01a24f7ebb3b7da1d382e23b2bff` | 14 bytes |
//! | two ASCII capitals + 32 lowercase hex digits (Twilio SIDs) | `SM6ae8e97f64123d260000000000000000` | 18 bytes: the capitals, then 16 |
//! | a lowercase canonical UUID (Telnyx ids) | `40385f64-5717-4562-b3fc-2c963f66afa6` | 16 bytes |
//!
//! The blob's length tells the shapes apart, so packing is one-to-one: a UNIQUE column stays
//! unique, and a lookup binds the packed form ([`Key::pack`]). Migration 0012 packs rows
//! stored before it with the same rules in SQL.
//!
//! **Extras** (`inbox.extra_json`, type `ANY`): the provider's parameters that have no field
//! of their own ([`InboundMessage::extra`](telephony_core::InboundMessage::extra)) are a
//! BLOB: a version byte (1), then per entry a tag byte:
//!
//! - `0x00`: the key follows (varint length, UTF-8 bytes), then the value;
//! - `0x01..=0x7F`: the key is [`KEYS`]`[tag - 1]`, then the value;
//! - `0x80..=0xFF`: the entry is [`PAIRS`]`[tag - 0x80]`, key and value.
//!
//! A value is a varint `n`: `0` means "the message's provider SID" (Twilio repeats it as
//! `SmsSid` and `SmsMessageSid`), else `n - 1` UTF-8 bytes follow. Rows written before
//! migration 0012 keep their JSON text, which still reads back. Both dictionaries are part of
//! the file format: entries may be appended, never changed or removed.

use std::collections::BTreeMap;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteRow, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Row, Sqlite, Type, TypeInfo, ValueRef};
use telephony_core::StoreError;

use super::codec::corrupt;

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

/// A key column's value as stored: packed bytes, or the text itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Blob(Vec<u8>),
    Text(String),
}

impl Key {
    /// The stored form of `s` (see the [module docs](self)).
    pub(crate) fn pack(s: &str) -> Key {
        let b = s.as_bytes();
        if b.len() == 32 && s.starts_with("msg_") {
            if let Some(bytes) = lower_hex(&b[4..]) {
                return Key::Blob(bytes);
            }
        }
        if b.len() == 34 && b[0].is_ascii_uppercase() && b[1].is_ascii_uppercase() {
            if let Some(bytes) = lower_hex(&b[2..]) {
                let mut out = Vec::with_capacity(18);
                out.extend_from_slice(&b[..2]);
                out.extend_from_slice(&bytes);
                return Key::Blob(out);
            }
        }
        if b.len() == 36 && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') {
            let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
            if hex.len() == 32 {
                if let Some(bytes) = lower_hex(&hex) {
                    return Key::Blob(bytes);
                }
            }
        }
        Key::Text(s.to_string())
    }

    /// The string a stored blob stands for, if it is one of the packed shapes.
    pub(crate) fn unpack(bytes: &[u8]) -> Option<String> {
        match bytes.len() {
            14 => Some(format!("msg_{}", hex(bytes))),
            18 if bytes[0].is_ascii_uppercase() && bytes[1].is_ascii_uppercase() => Some(format!(
                "{}{}{}",
                char::from(bytes[0]),
                char::from(bytes[1]),
                hex(&bytes[2..])
            )),
            16 => {
                let h = hex(bytes);
                Some(format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ))
            }
            _ => None,
        }
    }
}

fn lower_hex(digits: &[u8]) -> Option<Vec<u8>> {
    if digits.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    digits
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

impl Type<Sqlite> for Key {
    fn type_info() -> SqliteTypeInfo {
        <Vec<u8> as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <Vec<u8> as Type<Sqlite>>::compatible(ty) || <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Key {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        match self {
            Key::Blob(b) => <Vec<u8> as Encode<'q, Sqlite>>::encode_by_ref(b, buf),
            Key::Text(s) => <String as Encode<'q, Sqlite>>::encode_by_ref(s, buf),
        }
    }

    fn produces(&self) -> Option<SqliteTypeInfo> {
        Some(match self {
            Key::Blob(_) => <Vec<u8> as Type<Sqlite>>::type_info(),
            Key::Text(_) => <String as Type<Sqlite>>::type_info(),
        })
    }
}

impl<'r> Decode<'r, Sqlite> for Key {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        match stored_value(value)? {
            Stored::Null => Err("NULL where a key belongs".into()),
            Stored::Text(s) => Ok(Key::Text(s.to_string())),
            Stored::Blob(b) => Ok(Key::Blob(b.to_vec())),
        }
    }
}

impl Key {
    /// The string a stored value stands for; names the column in the error.
    pub(crate) fn into_string(self, what: &'static str) -> Result<String, StoreError> {
        match self {
            Key::Text(s) => Ok(s),
            Key::Blob(b) => Key::unpack(&b).ok_or_else(|| {
                corrupt(what, format!("a {}-byte blob is not a packed key", b.len()))
            }),
        }
    }
}

fn stored_value(raw: SqliteValueRef<'_>) -> Result<Stored<'_>, BoxDynError> {
    if raw.is_null() {
        return Ok(Stored::Null);
    }
    let name = raw.type_info().name().to_string();
    match name.as_str() {
        "TEXT" => Ok(Stored::Text(<&str as Decode<Sqlite>>::decode(raw)?)),
        "BLOB" => Ok(Stored::Blob(<&[u8] as Decode<Sqlite>>::decode(raw)?)),
        other => Err(format!("a {other} where text or a blob belongs").into()),
    }
}

/// Reads a stored value as text or bytes, whichever it is.
enum Stored<'r> {
    Null,
    Text(&'r str),
    Blob(&'r [u8]),
}

fn stored<'r>(row: &'r SqliteRow, what: &'static str) -> Result<Stored<'r>, StoreError> {
    let column = what.rsplit_once('.').map_or(what, |(_, c)| c);
    let raw: SqliteValueRef<'r> = row.try_get_raw(column).map_err(|e| corrupt(what, e))?;
    stored_value(raw).map_err(|e| corrupt(what, e))
}

/// Reads a key column (see [`Key`]).
pub(crate) fn get_key(row: &SqliteRow, what: &'static str) -> Result<String, StoreError> {
    get_key_opt(row, what)?.ok_or_else(|| corrupt(what, "NULL in a NOT NULL column"))
}

/// Reads a nullable key column.
pub(crate) fn get_key_opt(
    row: &SqliteRow,
    what: &'static str,
) -> Result<Option<String>, StoreError> {
    match stored(row, what)? {
        Stored::Null => Ok(None),
        Stored::Text(s) => Ok(Some(s.to_string())),
        Stored::Blob(b) => Key::unpack(b)
            .map(Some)
            .ok_or_else(|| corrupt(what, format!("a {}-byte blob is not a packed key", b.len()))),
    }
}

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

/// Reads the extras column: the compact blob, or JSON text written before migration 0012.
pub(crate) fn get_extra(
    row: &SqliteRow,
    what: &'static str,
    provider_sid: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    match stored(row, what)? {
        Stored::Null => Err(corrupt(what, "NULL in a NOT NULL column")),
        Stored::Text(json) => super::codec::from_json(what, json),
        Stored::Blob(b) => decode_extra(b, provider_sid).map_err(|why| corrupt(what, why)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pack_to_their_bytes_and_back() {
        for (s, len) in [
            ("msg_01a24f7ebb3b7da1d382e23b2bff", Some(14)),
            ("SM6ae8e97f64123d260000000000000000", Some(18)),
            ("AC00000000000000000000000000000024", Some(18)),
            ("40385f64-5717-4562-b3fc-2c963f66afa6", Some(16)),
            // Not the shapes: kept as text.
            ("msg_01A24F7EBB3B7DA1D382E23B2BFF", None),
            ("SM1", None),
            ("sm6ae8e97f64123d260000000000000000", None),
            ("40385F64-5717-4562-B3FC-2C963F66AFA6", None),
            ("40385f64x5717-4562-b3fc-2c963f66afa6", None),
            ("msg_in_SMdead", None),
            ("", None),
        ] {
            match Key::pack(s) {
                Key::Blob(b) => {
                    assert_eq!(Some(b.len()), len, "{s}");
                    assert_eq!(Key::unpack(&b).as_deref(), Some(s));
                }
                Key::Text(t) => {
                    assert_eq!(len, None, "{s}");
                    assert_eq!(t, s);
                }
            }
        }
        assert_eq!(
            Key::pack("SM6ae8e97f64123d260000000000000000"),
            Key::Blob(
                [
                    b"SM".as_slice(),
                    &[0x6a, 0xe8, 0xe9, 0x7f, 0x64, 0x12, 0x3d, 0x26],
                    &[0; 8]
                ]
                .concat()
            )
        );
    }

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
}
