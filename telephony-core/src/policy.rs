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
    #[error(
        "inboundPolicy \"open\" requires allowFrom to contain \"*\" (to make public access explicit)"
    )]
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

/// What a [`Policy`] decided about a sender (a texter or a caller).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Let them through to the application.
    Accept,
    /// Refuse them (messages are stored `blocked`, calls get a reject), with the reason.
    Block(String),
    /// Let them through if they were approved through pairing; otherwise do `otherwise`.
    IfApproved(Unlisted),
}

/// What happens to a sender who is neither listed nor approved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unlisted {
    /// Offer pairing: a code the owner must approve (texted, and spoken on a call).
    Pair,
    /// Refuse, with the reason.
    Block(String),
}

/// Who may reach the application, for messages and calls alike.
///
/// The gateway asks the policy about every inbound message and every inbound call before
/// the application sees it; pairing requests and approvals live in the store. The
/// standard policies of `inboundPolicy`/`allowFrom` are [`StandardPolicy`]; implement
/// this trait for anything else (office hours, a CRM lookup, …).
///
/// ```
/// use telephony_core::policy::{Admission, AllowList, InboundPolicy, Policy, StandardPolicy, Unlisted};
/// let policy = StandardPolicy::new(InboundPolicy::Pairing, AllowList::parse(&["+15550001111".into()])?)?;
/// assert_eq!(policy.admit(Some(&"+15550001111".parse().unwrap())), Admission::Accept);
/// assert_eq!(policy.admit(Some(&"+15550002222".parse().unwrap())), Admission::IfApproved(Unlisted::Pair));
/// assert!(matches!(policy.admit(None), Admission::Block(_)));
/// # Ok::<(), telephony_core::policy::PolicyError>(())
/// ```
pub trait Policy: Send + Sync + 'static {
    /// Decides about a sender: their E.164 number, or `None` when the provider gave
    /// something else (a short code, an anonymous caller).
    fn admit(&self, sender: Option<&PhoneNumber>) -> Admission;

    /// The policy's name, for logs and `telephony status` (e.g. `pairing`).
    fn name(&self) -> &str;
}

/// `inboundPolicy` with its `allowFrom` list (seeds 001–003):
///
/// | policy | listed | anyone else |
/// |---|---|---|
/// | `pairing` | accepted | accepted if approved, otherwise offered pairing |
/// | `allowlist` | accepted | accepted if approved, otherwise blocked |
/// | `open` | accepted | accepted |
/// | `disabled` | blocked | blocked |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardPolicy {
    policy: InboundPolicy,
    allow: AllowList,
}

impl StandardPolicy {
    /// The policy, after checking its rule about `allowFrom` ([`InboundPolicy::check`]).
    pub fn new(policy: InboundPolicy, allow: AllowList) -> Result<Self, PolicyError> {
        policy.check(&allow)?;
        Ok(StandardPolicy { policy, allow })
    }

    /// The policy without the `allowFrom` rule check (for tests and tools that report it).
    pub fn unchecked(policy: InboundPolicy, allow: AllowList) -> Self {
        StandardPolicy { policy, allow }
    }

    /// The policy kind.
    pub fn kind(&self) -> InboundPolicy {
        self.policy
    }

    /// The allowlist.
    pub fn allow(&self) -> &AllowList {
        &self.allow
    }
}

impl Default for StandardPolicy {
    /// `pairing` with an empty allowlist.
    fn default() -> Self {
        StandardPolicy::unchecked(InboundPolicy::Pairing, AllowList::default())
    }
}

impl Policy for StandardPolicy {
    fn admit(&self, sender: Option<&PhoneNumber>) -> Admission {
        match self.policy {
            InboundPolicy::Disabled => {
                return Admission::Block("inboundPolicy is \"disabled\"".into());
            }
            InboundPolicy::Open => return Admission::Accept,
            InboundPolicy::Pairing | InboundPolicy::Allowlist => {}
        }
        let Some(n) = sender else {
            return Admission::Block("the sender is not a phone number".into());
        };
        if self.allow.wildcard() || self.allow.contains(n) {
            return Admission::Accept;
        }
        Admission::IfApproved(if self.policy == InboundPolicy::Pairing {
            Unlisted::Pair
        } else {
            Unlisted::Block("sender is not in allowFrom".into())
        })
    }

    fn name(&self) -> &str {
        self.policy.as_str()
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
    fn standard_policy_table() {
        let listed: PhoneNumber = "+15550000001".parse().unwrap();
        let other: PhoneNumber = "+15550000002".parse().unwrap();
        let list = AllowList::parse(&s(&["+15550000001"])).unwrap();
        let p = |kind, list: &AllowList| StandardPolicy::unchecked(kind, list.clone());
        let pairing = p(InboundPolicy::Pairing, &list);
        assert_eq!(pairing.admit(Some(&listed)), Admission::Accept);
        assert_eq!(
            pairing.admit(Some(&other)),
            Admission::IfApproved(Unlisted::Pair)
        );
        assert_eq!(
            pairing.admit(None),
            Admission::Block("the sender is not a phone number".into())
        );
        let allowlist = p(InboundPolicy::Allowlist, &list);
        assert_eq!(allowlist.admit(Some(&listed)), Admission::Accept);
        assert_eq!(
            allowlist.admit(Some(&other)),
            Admission::IfApproved(Unlisted::Block("sender is not in allowFrom".into()))
        );
        let open = p(InboundPolicy::Open, &AllowList::parse(&s(&["*"])).unwrap());
        assert_eq!(open.admit(Some(&other)), Admission::Accept);
        assert_eq!(open.admit(None), Admission::Accept);
        let disabled = p(InboundPolicy::Disabled, &list);
        assert_eq!(
            disabled.admit(Some(&listed)),
            Admission::Block("inboundPolicy is \"disabled\"".into())
        );
        // The wildcard admits everyone under pairing too.
        let star = p(
            InboundPolicy::Pairing,
            &AllowList::parse(&s(&["*"])).unwrap(),
        );
        assert_eq!(star.admit(Some(&other)), Admission::Accept);
        assert_eq!(pairing.name(), "pairing");
        assert_eq!(
            StandardPolicy::new(InboundPolicy::Allowlist, AllowList::default()),
            Err(PolicyError::AllowlistEmpty)
        );
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
            AllowList::parse(&s(&["5557654321"]))
                .unwrap_err()
                .to_string(),
            "allowFrom entry \"5557654321\" is not an E.164 phone number: phone number \"5557654321\" has no country code: write it in E.164 form with a leading '+' and the country code, e.g. +15551234567"
        );
    }
}
