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
//! **Extras** (`inbox.extra_json`, type `ANY`): the compact blob of [`crate::extras`]; rows
//! written before migration 0012 keep their JSON text, which still reads back.

use std::collections::BTreeMap;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteRow, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Row, Sqlite, Type, TypeInfo, ValueRef};
use telephony_core::StoreError;

use super::codec::corrupt;

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

/// Reads the extras column: the compact blob, or JSON text written before migration 0012.
pub(crate) fn get_extra(
    row: &SqliteRow,
    what: &'static str,
    provider_sid: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    match stored(row, what)? {
        Stored::Null => Err(corrupt(what, "NULL in a NOT NULL column")),
        Stored::Text(json) => super::codec::from_json(what, json),
        Stored::Blob(b) => {
            crate::extras::decode_extra(b, provider_sid).map_err(|why| corrupt(what, why))
        }
    }
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
}
