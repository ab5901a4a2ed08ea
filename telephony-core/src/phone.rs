//! E.164 phone numbers.

use std::fmt;
use std::str::FromStr;

/// Why a string is not an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneNumberError {
    /// The input was empty or only punctuation.
    #[error("phone number is empty")]
    Empty,
    /// Digits without a leading `+` and country code.
    #[error(
        "phone number {0:?} has no country code: write it in E.164 form with a leading '+' and the country code, e.g. +15551234567"
    )]
    MissingCountryCode(String),
    /// A character that is not a digit or tolerated punctuation.
    #[error("phone number {input:?} contains {found:?}, which is not a digit")]
    InvalidCharacter {
        /// The rejected input.
        input: String,
        /// The first offending character.
        found: char,
    },
    /// Too few or too many digits for E.164.
    #[error(
        "phone number {input:?} has {digits} digits; E.164 numbers have 7 to 15 digits after the '+'"
    )]
    BadLength {
        /// The rejected input.
        input: String,
        /// How many digits it had.
        digits: usize,
    },
    /// Country codes never start with 0.
    #[error("phone number {0:?} starts with 0 after the '+'; country codes start with 1-9")]
    LeadingZero(String),
}

/// A phone number in strict E.164 form: `+` then 7 to 15 digits, the first non-zero.
///
/// Spaces, dashes, dots and parentheses inside the number are tolerated and removed.
/// A number without a leading `+` is an error rather than being guessed at, so
/// `5551234567` is never silently turned into `+5551234567`.
///
/// Numbers are checked for being *possible* (structure and length), not assigned:
/// fictional test numbers such as `+15551234567` are accepted.
///
/// ```
/// use telephony_core::PhoneNumber;
///
/// let n: PhoneNumber = "+1 (555) 123-4567".parse()?;
/// assert_eq!(n.as_str(), "+15551234567");
/// assert!("5551234567".parse::<PhoneNumber>().is_err());
/// # Ok::<(), telephony_core::PhoneNumberError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses and normalizes a number; see the type docs for the accepted forms.
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = input.trim();
        let mut out = String::with_capacity(16);
        let mut saw_plus = false;
        for (i, c) in trimmed.char_indices() {
            match c {
                '+' if !saw_plus && out.is_empty() && i == leading_punct_len(trimmed) => {
                    saw_plus = true;
                    out.push('+');
                }
                '0'..='9' => {
                    if !saw_plus {
                        return Err(PhoneNumberError::MissingCountryCode(input.to_string()));
                    }
                    out.push(c);
                }
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                other => {
                    return Err(PhoneNumberError::InvalidCharacter {
                        input: input.to_string(),
                        found: other,
                    });
                }
            }
        }
        let digits = out.len().saturating_sub(1);
        if !saw_plus {
            return Err(PhoneNumberError::Empty);
        }
        if digits == 0 {
            return Err(PhoneNumberError::Empty);
        }
        if out.as_bytes()[1] == b'0' {
            return Err(PhoneNumberError::LeadingZero(input.to_string()));
        }
        if !(7..=15).contains(&digits) {
            return Err(PhoneNumberError::BadLength {
                input: input.to_string(),
                digits,
            });
        }
        Ok(PhoneNumber(out))
    }

    /// The normalized E.164 string, e.g. `+15551234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe for logs: the country code area and last two digits, e.g. `+1555*****67`.
    pub fn redacted(&self) -> String {
        let s = &self.0;
        let keep_head = 5.min(s.len());
        let keep_tail = 2.min(s.len() - keep_head);
        format!(
            "{}{}{}",
            &s[..keep_head],
            "*".repeat(s.len() - keep_head - keep_tail),
            &s[s.len() - keep_tail..]
        )
    }
}

// `(+1) 555…` has punctuation before the plus; allow only punctuation there.
fn leading_punct_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !matches!(c, ' ' | '(' | '\u{a0}'))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.0)
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s)
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for PhoneNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhoneNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164_and_tolerated_punctuation() {
        for (input, want) in [
            ("+15551234567", "+15551234567"),
            (" +1 555 123 4567 ", "+15551234567"),
            ("+1-555-123-4567", "+15551234567"),
            ("+1.555.123.4567", "+15551234567"),
            ("+1 (555) 123-4567", "+15551234567"),
            ("+447911123456", "+447911123456"),
            ("+2901234", "+2901234"),
            ("+123456789012345", "+123456789012345"),
        ] {
            assert_eq!(PhoneNumber::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn national_numbers_are_an_error_that_says_so() {
        let err = PhoneNumber::parse("5551234567").unwrap_err();
        assert_eq!(
            err,
            PhoneNumberError::MissingCountryCode("5551234567".into())
        );
        assert!(err.to_string().contains("no country code"));
        assert!(err.to_string().contains("\"5551234567\""));
        assert!(matches!(
            PhoneNumber::parse("(555) 123-4567"),
            Err(PhoneNumberError::MissingCountryCode(_))
        ));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::Empty));
        assert_eq!(PhoneNumber::parse("+"), Err(PhoneNumberError::Empty));
        assert_eq!(
            PhoneNumber::parse("+1555abc4567"),
            Err(PhoneNumberError::InvalidCharacter {
                input: "+1555abc4567".into(),
                found: 'a'
            })
        );
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneNumberError::BadLength {
                input: "+1234567890123456".into(),
                digits: 16
            })
        );
        assert_eq!(
            PhoneNumber::parse("+123456"),
            Err(PhoneNumberError::BadLength {
                input: "+123456".into(),
                digits: 6
            })
        );
        assert_eq!(
            PhoneNumber::parse("+0155512345"),
            Err(PhoneNumberError::LeadingZero("+0155512345".into()))
        );
        assert!(PhoneNumber::parse("+1555+1234567").is_err());
    }

    #[test]
    fn redacted_hides_the_middle() {
        let n = PhoneNumber::parse("+15551234567").unwrap();
        assert_eq!(n.redacted(), "+1555*****67");
    }

    #[test]
    fn serde_round_trip_validates() {
        let n: PhoneNumber = serde_json::from_str("\"+1 555 123 4567\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+15551234567\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"5551234567\"").is_err());
    }
}
