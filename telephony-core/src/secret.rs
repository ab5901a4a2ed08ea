//! [`Secret`]: a string that never shows itself in `Debug` or `Display`.

use std::fmt;

/// A credential (auth token, API key secret, admin token) that is redacted when printed.
///
/// ```
/// use telephony_core::Secret;
/// let s = Secret::new("abc123");
/// assert_eq!(format!("{s:?}"), "[redacted]");
/// assert_eq!(s.expose(), "abc123");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value; call only where it is needed (signing, auth headers).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True if the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// Deserializes from a string, or from an integer taken as its decimal digits (an
/// all-digit token set through an environment variable arrives as a number).
///
/// Any other value is refused with an error that names the expected type but never shows
/// the value (serde's usual "invalid type: floating point `1.5`" would):
///
/// ```
/// use telephony_core::Secret;
/// let s: Secret = serde_json::from_str("918273645546372819").unwrap();
/// assert_eq!(s.expose(), "918273645546372819");
/// let err = serde_json::from_str::<Secret>("3.25").unwrap_err().to_string();
/// assert!(!err.contains("3.25"), "{err}");
/// ```
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl SecretVisitor {
    fn refuse<E: serde::de::Error>(what: &str) -> E {
        E::custom(format_args!(
            "invalid type: found {what}, expected a string (the value is a secret and is not shown)"
        ))
    }
}

impl<'de> serde::de::Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(Self::refuse("a boolean"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(Self::refuse("a floating point number"))
    }

    fn visit_char<E: serde::de::Error>(self, v: char) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        Err(Self::refuse("bytes"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Secret, E> {
        Err(Self::refuse("null"))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Secret, E> {
        Err(Self::refuse("null"))
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Secret, D::Error> {
        d.deserialize_any(SecretVisitor)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(Self::refuse("a list"))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(Self::refuse("a map"))
    }
}

impl serde::Serialize for Secret {
    /// Serializes as `"[redacted]"` so a printed config never leaks it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}
