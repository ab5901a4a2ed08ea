//! Pairing: an unknown sender gets a code; the owner approves it and the number joins the allowlist.

use time::OffsetDateTime;

use crate::phone::PhoneNumber;

/// The characters of a pairing code: no `0/O`, `1/I` to avoid misreading.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a pairing code.
pub const CODE_LEN: usize = 8;

/// A new pairing code from the operating system's CSPRNG.
///
/// ```
/// let code = telephony_core::pairing::new_code();
/// assert_eq!(code.len(), 8);
/// assert!(code.bytes().all(|b| telephony_core::pairing::CODE_ALPHABET.contains(&b)));
/// ```
pub fn new_code() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Normalizes a code typed by a person: trimmed, upper-cased.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Where a pairing request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PairingStatus {
    /// Waiting for the owner.
    Pending,
    /// Approved; the sender is on the allowlist.
    Approved,
    /// Rejected by the owner.
    Rejected,
    /// Not answered in time.
    Expired,
}

impl PairingStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PairingStatus::Pending => "pending",
            PairingStatus::Approved => "approved",
            PairingStatus::Rejected => "rejected",
            PairingStatus::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Expired]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A pairing request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairingRequest {
    /// The code the sender was given.
    pub code: String,
    /// The sender.
    pub sender: PhoneNumber,
    /// Its status.
    pub status: PairingStatus,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it expires if not answered.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Limits on pairing requests (cost control: each request sends one SMS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairingLimits {
    /// How long a code is valid.
    pub ttl: std::time::Duration,
    /// Pending requests allowed at once.
    pub max_pending: usize,
    /// Requests created per rolling hour.
    pub max_per_hour: usize,
}

impl Default for PairingLimits {
    fn default() -> Self {
        PairingLimits {
            ttl: std::time::Duration::from_secs(3600),
            max_pending: 3,
            max_per_hour: 3,
        }
    }
}

/// Result of asking the store for a pairing request for a sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingOutcome {
    /// A new request was created; send the code.
    Created(PairingRequest),
    /// The sender already has a pending request; keep its code, send nothing.
    Existing(PairingRequest),
    /// Too many pending requests or too many this hour; drop, send nothing.
    Limited,
}

/// Result of approving or rejecting a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingResolution {
    /// Done; for approvals the sender is now on the stored allowlist.
    Resolved(PairingRequest),
    /// No request has this code.
    NotFound,
    /// The request expired before it was answered.
    Expired(PairingRequest),
    /// The request was already approved or rejected.
    AlreadyResolved(PairingRequest),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_differ() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| new_code()).collect();
        assert_eq!(codes.len(), 200);
        for c in &codes {
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{c}");
        }
        assert_eq!(CODE_ALPHABET.len(), 32);
        assert_eq!(normalize_code(" abcd2345 "), "ABCD2345");
    }
}
