//! [`Digits`]: keys to press into a call (DTMF out), with pauses.

use std::fmt;

/// The most keys (and pauses) one [`Digits`] may hold: Twilio's limit on `SendDigits`.
pub const MAX_DIGITS: usize = 32;

/// Keys to press into a call, checked: `0`–`9`, `A`–`D`, `*`, `#`, and the pauses `w`
/// (half a second) and `W` (one second); at most [`MAX_DIGITS`] characters, at least one
/// key.
///
/// ```
/// use telephony_core::voice::Digits;
/// let d = Digits::parse("1234wW#").unwrap();
/// assert_eq!(d.as_str(), "1234wW#");
/// assert_eq!(Digits::parse("12x").unwrap_err().to_string(),
///     "invalid digits \"12x\": 'x' at position 3 is not a key (0-9, A-D, *, #) or a pause (w, W)");
/// assert!(Digits::parse("ww").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digits(String);

/// Why a string is not [`Digits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigitsError {
    /// A character that is neither a key nor a pause.
    #[error(
        "invalid digits {input:?}: {found:?} at position {position} is not a key (0-9, A-D, *, #) or a pause (w, W)"
    )]
    BadCharacter {
        /// What was given.
        input: String,
        /// The offending character.
        found: char,
        /// Its position, from 1.
        position: usize,
    },
    /// Only pauses, or nothing.
    #[error("invalid digits {input:?}: no key to press")]
    NoKey {
        /// What was given.
        input: String,
    },
    /// Longer than [`MAX_DIGITS`].
    #[error("invalid digits: {len} characters, at most {MAX_DIGITS}")]
    TooLong {
        /// The length given.
        len: usize,
    },
}

impl Digits {
    /// Checks `s` (see [`Digits`]).
    pub fn parse(s: &str) -> Result<Self, DigitsError> {
        let len = s.chars().count();
        if len > MAX_DIGITS {
            return Err(DigitsError::TooLong { len });
        }
        for (i, c) in s.chars().enumerate() {
            if !(Self::is_key(c) || c == 'w' || c == 'W') {
                return Err(DigitsError::BadCharacter {
                    input: s.to_string(),
                    found: c,
                    position: i + 1,
                });
            }
        }
        if !s.chars().any(Self::is_key) {
            return Err(DigitsError::NoKey { input: s.into() });
        }
        Ok(Digits(s.to_string()))
    }

    fn is_key(c: char) -> bool {
        c.is_ascii_digit() || matches!(c, 'A'..='D' | '*' | '#')
    }

    /// The digits as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The keys only, without pauses (what the callee hears as tones).
    ///
    /// ```
    /// use telephony_core::voice::Digits;
    /// assert_eq!(Digits::parse("w1W2#").unwrap().keys(), "12#");
    /// ```
    pub fn keys(&self) -> String {
        self.0.chars().filter(|c| Self::is_key(*c)).collect()
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Digits {
    type Err = DigitsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digits::parse(s)
    }
}
