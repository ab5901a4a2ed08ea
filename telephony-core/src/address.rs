//! Send targets: `+1555…`, `sms:+1…`, `twilio:+1…`, `twilio-sms:+1…`, `telephony:+1…`, `whatsapp:+1…`.

use std::fmt;
use std::str::FromStr;

use crate::phone::{PhoneNumber, PhoneNumberError};

/// The channel a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Channel {
    /// Carrier SMS/MMS.
    Sms,
    /// WhatsApp through the provider (Twilio's `whatsapp:` addresses).
    Whatsapp,
    /// A phone call: inbound entries on this channel are call transcripts (what a caller
    /// said), sent back as SMS. Addresses never parse to it.
    Voice,
}

/// Why a send target could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The prefix before `:` is not one we know.
    #[error(
        "unknown address prefix {prefix:?} in {input:?}; use a bare E.164 number or one of sms:, twilio:, twilio-sms:, telephony:, whatsapp:"
    )]
    UnknownPrefix {
        /// The whole input.
        input: String,
        /// The prefix that was not recognized.
        prefix: String,
    },
    /// The number part is not E.164.
    #[error("invalid address {input:?}: {source}")]
    Number {
        /// The whole input.
        input: String,
        /// What was wrong with the number.
        #[source]
        source: PhoneNumberError,
    },
}

/// A parsed send target: a channel and an E.164 number.
///
/// ```
/// use telephony_core::{Address, Channel};
///
/// let a: Address = "twilio-sms:+1 555-000-5678".parse()?;
/// assert_eq!(a.channel(), Channel::Sms);
/// assert_eq!(a.number().as_str(), "+15550005678");
/// assert_eq!(a.to_string(), "+15550005678");
/// let w: Address = "whatsapp:+15550005678".parse()?;
/// assert_eq!(w.to_string(), "whatsapp:+15550005678");
/// # Ok::<(), telephony_core::AddressError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    channel: Channel,
    number: PhoneNumber,
}

impl Address {
    /// An SMS address for a number.
    pub fn sms(number: PhoneNumber) -> Self {
        Address {
            channel: Channel::Sms,
            number,
        }
    }

    /// A WhatsApp address for a number.
    pub fn whatsapp(number: PhoneNumber) -> Self {
        Address {
            channel: Channel::Whatsapp,
            number,
        }
    }

    /// Parses a target string; see the type docs.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let (channel, rest) = match trimmed.split_once(':') {
            None => (Channel::Sms, trimmed),
            Some((prefix, rest)) => {
                let channel = match prefix.trim().to_ascii_lowercase().as_str() {
                    "sms" | "twilio" | "twilio-sms" | "telephony" | "tel" => Channel::Sms,
                    "whatsapp" => Channel::Whatsapp,
                    _ => {
                        return Err(AddressError::UnknownPrefix {
                            input: input.to_string(),
                            prefix: prefix.to_string(),
                        });
                    }
                };
                (channel, rest)
            }
        };
        let number = PhoneNumber::parse(rest).map_err(|source| AddressError::Number {
            input: input.to_string(),
            source,
        })?;
        Ok(Address { channel, number })
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The E.164 number.
    pub fn number(&self) -> &PhoneNumber {
        &self.number
    }
}

impl fmt::Display for Address {
    /// The provider form: `+1555…` for SMS, `whatsapp:+1555…` for WhatsApp.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.channel {
            Channel::Sms => write!(f, "{}", self.number),
            Channel::Whatsapp => write!(f, "whatsapp:{}", self.number),
            Channel::Voice => write!(f, "{}", self.number),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Address::parse(&s)
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for input in [
            "+15550005678",
            "sms:+15550005678",
            "twilio:+15550005678",
            "twilio-sms:+15550005678",
            "telephony:+15550005678",
            "SMS:+1 (555) 000-5678",
            "  twilio:+1.555.000.5678 ",
        ] {
            let a = Address::parse(input).unwrap();
            assert_eq!(a.channel(), Channel::Sms, "{input}");
            assert_eq!(a.to_string(), "+15550005678", "{input}");
        }
        let w = Address::parse("whatsapp:+15550005678").unwrap();
        assert_eq!(w.channel(), Channel::Whatsapp);
        assert_eq!(w.to_string(), "whatsapp:+15550005678");
    }

    #[test]
    fn errors_name_the_value() {
        let e = Address::parse("imessage:+15550005678").unwrap_err();
        assert_eq!(
            e,
            AddressError::UnknownPrefix {
                input: "imessage:+15550005678".into(),
                prefix: "imessage".into()
            }
        );
        let e = Address::parse("sms:5550005678").unwrap_err();
        assert!(e.to_string().contains("\"sms:5550005678\""), "{e}");
        assert!(e.to_string().contains("no country code"), "{e}");
    }
}
