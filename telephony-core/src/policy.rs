//! Sender policies: who may reach the application (`inboundPolicy`, `allowFrom`).
//!
//! | policy | unknown sender | `allowFrom` requirement |
//! |---|---|---|
//! | `pairing` (default) | gets a pairing code; held until the owner approves | none |
//! | `allowlist` | blocked | at least one number |
//! | `open` | accepted | must contain `"*"` |
//! | `disabled` | blocked (everyone is) | none |
//!
//! ```
//! use telephony_core::policy::{AllowList, InboundPolicy};
//! let list = AllowList::parse(&["sms:+1 (555) 765-4321".to_string()])?;
//! assert!(list.contains(&"+15557654321".parse().unwrap()));
//! InboundPolicy::Allowlist.check(&list)?;
//! assert!(InboundPolicy::Open.check(&list).is_err()); // open needs "*"
//! # Ok::<(), telephony_core::policy::PolicyError>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;

use crate::address::Address;
use crate::phone::PhoneNumber;

/// The inbound sender policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundPolicy {
    /// Unknown senders must be approved with a pairing code.
    #[default]
    Pairing,
    /// Only `allowFrom` numbers (and approved pairings).
    Allowlist,
    /// Everyone; requires `allowFrom: ["*"]`.
    Open,
    /// Nobody.
    Disabled,
}

impl InboundPolicy {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            InboundPolicy::Pairing => "pairing",
            InboundPolicy::Allowlist => "allowlist",
            InboundPolicy::Open => "open",
            InboundPolicy::Disabled => "disabled",
        }
    }

    /// Checks the policy's rule about `allowFrom`.
    pub fn check(self, allow: &AllowList) -> Result<(), PolicyError> {
        match self {
            InboundPolicy::Allowlist if allow.is_empty() => Err(PolicyError::AllowlistEmpty),
            InboundPolicy::Open if !allow.wildcard() => Err(PolicyError::OpenWithoutWildcard),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for InboundPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An `allowFrom` entry is not a phone number.
    #[error("allowFrom entry {entry:?} is not an E.164 phone number: {reason}")]
    BadEntry {
        /// The entry as configured.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// `allowlist` with no entries would block everyone.
    #[error("inboundPolicy \"allowlist\" requires at least one number in allowFrom")]
    AllowlistEmpty,
    /// `open` must be spelled out.
    #[error("inboundPolicy \"open\" requires allowFrom to contain \"*\" (to make public access explicit)")]
    OpenWithoutWildcard,
}

/// The normalized `allowFrom` list: exact E.164 numbers, plus the `"*"` wildcard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    numbers: BTreeSet<PhoneNumber>,
    wildcard: bool,
}

impl AllowList {
    /// Normalizes entries (`sms:`/`twilio:` prefixes and punctuation accepted) to E.164.
    pub fn parse(entries: &[String]) -> Result<Self, PolicyError> {
        let mut list = AllowList::default();
        for e in entries {
            if e.trim() == "*" {
                list.wildcard = true;
                continue;
            }
            let addr = Address::parse(e).map_err(|err| PolicyError::BadEntry {
                entry: e.clone(),
                reason: match err {
                    crate::AddressError::Number { source, .. } => source.to_string(),
                    other => other.to_string(),
                },
            })?;
            list.numbers.insert(addr.number().clone());
        }
        Ok(list)
    }

    /// True if the number is listed (exact match on the normalized number; no suffix matching).
    pub fn contains(&self, n: &PhoneNumber) -> bool {
        self.numbers.contains(n)
    }

    /// True if `"*"` was listed.
    pub fn wildcard(&self) -> bool {
        self.wildcard
    }

    /// True if no number and no wildcard is listed.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty() && !self.wildcard
    }

    /// The listed numbers.
    pub fn numbers(&self) -> impl Iterator<Item = &PhoneNumber> {
        self.numbers.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn normalizes_and_matches_exactly() {
        let l = AllowList::parse(&s(&[
            "sms:+1 (555) 765-4321",
            "twilio:+44 7911 123456",
            "+15550000001",
        ]))
        .unwrap();
        let got: Vec<&str> = l.numbers().map(|n| n.as_str()).collect();
        assert_eq!(got, ["+15550000001", "+15557654321", "+447911123456"]);
        assert!(l.contains(&"+15557654321".parse().unwrap()));
        // No suffix matching: the same national digits in another country are different.
        assert!(!l.contains(&"+445557654321".parse().unwrap()));
        assert!(!l.contains(&"+155576543210".parse().unwrap()));
        assert!(!l.wildcard());
    }

    #[test]
    fn rules() {
        assert_eq!(
            InboundPolicy::Allowlist.check(&AllowList::default()),
            Err(PolicyError::AllowlistEmpty)
        );
        assert_eq!(
            InboundPolicy::Open.check(&AllowList::parse(&s(&["+15550000001"])).unwrap()),
            Err(PolicyError::OpenWithoutWildcard)
        );
        assert_eq!(
            InboundPolicy::Open.check(&AllowList::parse(&s(&["*"])).unwrap()),
            Ok(())
        );
        assert_eq!(InboundPolicy::Pairing.check(&AllowList::default()), Ok(()));
        assert_eq!(InboundPolicy::Disabled.check(&AllowList::default()), Ok(()));
        assert_eq!(
            AllowList::parse(&s(&["5557654321"])).unwrap_err().to_string(),
            "allowFrom entry \"5557654321\" is not an E.164 phone number: phone number \"5557654321\" has no country code: write it in E.164 form with a leading '+' and the country code, e.g. +15551234567"
        );
    }
}
