//! Erasing one phone number: every message, send, call, approval and queued event that
//! names it, in one transaction, while an opt-out keeps blocking sends as a keyed hash.

use std::fmt;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::phone::PhoneNumber;

use super::StoreError;

/// The name under which a store keeps its [`OptOutKey`] (a row of its `store_keys` table).
pub const OPT_OUT_KEY_NAME: &str = "opt_out_hash";

/// What [`OptOutKey::hash`] puts before the hex digest, so a stored hash can never be
/// mistaken for (or collide with) an E.164 number, which starts with `+`.
pub const OPT_OUT_HASH_PREFIX: &str = "hmac-sha256:";

/// The per-store secret key that turns an erased number's opt-out into a keyed hash
/// (HMAC-SHA256), generated once by the store and kept in the store itself.
///
/// The hash still blocks sends: [`PolicyStore::is_opted_out`](super::PolicyStore::is_opted_out)
/// hashes the number it is asked about with the same key and matches either form. Keeping
/// the key with the data (rather than in the configuration) means it cannot be lost or
/// changed apart from the opt-outs it protects, so an erased STOP never silently stops
/// blocking; every replica of a shared store uses the same key; a backup carries it.
///
/// ```
/// use telephony_core::PhoneNumber;
/// use telephony_core::store::{OPT_OUT_HASH_PREFIX, OptOutKey};
///
/// let key = OptOutKey::from_bytes(&[7u8; 32]).unwrap();
/// let n: PhoneNumber = "+15557654321".parse().unwrap();
/// let h = key.hash(&n);
/// assert!(h.starts_with(OPT_OUT_HASH_PREFIX));
/// assert_eq!(h.len(), OPT_OUT_HASH_PREFIX.len() + 64);
/// assert_eq!(h, key.hash(&n));
/// assert_ne!(h, OptOutKey::from_bytes(&[8u8; 32]).unwrap().hash(&n));
/// assert_eq!(format!("{key:?}"), "OptOutKey([redacted])");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OptOutKey([u8; 32]);

impl OptOutKey {
    /// Key length in bytes.
    pub const LEN: usize = 32;

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut key = [0u8; Self::LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        OptOutKey(key)
    }

    /// A stored key; [`StoreError::Corrupt`] unless it is [`LEN`](Self::LEN) bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let key: [u8; Self::LEN] = bytes.try_into().map_err(|_| StoreError::Corrupt {
            what: "store_keys.key",
            reason: format!(
                "the opt-out key is {} bytes, expected {}",
                bytes.len(),
                Self::LEN
            ),
        })?;
        Ok(OptOutKey(key))
    }

    /// The key, to store it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The stored form of an erased opt-out: [`OPT_OUT_HASH_PREFIX`] and the lowercase hex
    /// HMAC-SHA256 of the E.164 number under this key.
    pub fn hash(&self, number: &PhoneNumber) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 takes a key of any length");
        mac.update(number.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(OPT_OUT_HASH_PREFIX.len() + 64);
        out.push_str(OPT_OUT_HASH_PREFIX);
        for b in digest {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

impl fmt::Debug for OptOutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OptOutKey([redacted])")
    }
}

/// What [`ErasureStore::forget`] removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ForgetReport {
    /// Inbound messages from or to the number (their dispatch state with them).
    pub inbound_messages: u64,
    /// Sends (receipts, with their status history and provider ids) to or from it.
    pub sends: u64,
    /// Of those sends, the ones still in the outbox (queued, retrying or held): they will
    /// not be sent.
    pub queued_sends: u64,
    /// Calls from or to it.
    pub calls: u64,
    /// Status history entries of those calls.
    pub call_status_changes: u64,
    /// Transcript turns of those calls.
    pub call_turns: u64,
    /// Pairing requests from it (any status).
    pub pairing_requests: u64,
    /// Its approval through pairing (0 or 1).
    pub approved_senders: u64,
    /// Its first-contact approval (0 or 1).
    pub approved_contacts: u64,
    /// Events for the forward URL (delivered or not) about messages from or to it.
    pub forward_events: u64,
    /// Its opt-out, replaced by a keyed hash that still blocks sends (0 or 1).
    pub opt_outs_hashed: u64,
    /// Recording metadata of those calls (the audio stays with the provider: delete it
    /// there).
    #[serde(default)]
    pub call_recordings: u64,
}

impl ForgetReport {
    /// Records removed (every count but [`opt_outs_hashed`](Self::opt_outs_hashed), which
    /// is kept in another form, and [`queued_sends`](Self::queued_sends), which are
    /// counted in [`sends`](Self::sends)).
    ///
    /// ```
    /// use telephony_core::store::ForgetReport;
    /// let mut r = ForgetReport::default();
    /// r.inbound_messages = 2;
    /// r.sends = 1;
    /// r.queued_sends = 1;
    /// r.opt_outs_hashed = 1;
    /// assert_eq!(r.removed(), 3);
    /// ```
    pub fn removed(&self) -> u64 {
        self.inbound_messages
            + self.sends
            + self.calls
            + self.call_status_changes
            + self.call_turns
            + self.call_recordings
            + self.pairing_requests
            + self.approved_senders
            + self.approved_contacts
            + self.forward_events
    }

    /// The sum of two reports (several accounts).
    pub fn plus(&self, other: &ForgetReport) -> ForgetReport {
        ForgetReport {
            inbound_messages: self.inbound_messages + other.inbound_messages,
            sends: self.sends + other.sends,
            queued_sends: self.queued_sends + other.queued_sends,
            calls: self.calls + other.calls,
            call_status_changes: self.call_status_changes + other.call_status_changes,
            call_turns: self.call_turns + other.call_turns,
            pairing_requests: self.pairing_requests + other.pairing_requests,
            approved_senders: self.approved_senders + other.approved_senders,
            approved_contacts: self.approved_contacts + other.approved_contacts,
            forward_events: self.forward_events + other.forward_events,
            opt_outs_hashed: self.opt_outs_hashed + other.opt_outs_hashed,
            call_recordings: self.call_recordings + other.call_recordings,
        }
    }
}

/// The forms under which a number is stored in message and call columns: the E.164 number
/// and its WhatsApp address (`whatsapp:+1…`).
pub fn stored_forms(number: &PhoneNumber) -> [String; 2] {
    [number.as_str().to_string(), format!("whatsapp:{number}")]
}

/// Erasing one phone number (a data subject's request).
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::erasure`](crate::store_suite::erasure).
#[async_trait]
pub trait ErasureStore: Send + Sync + 'static {
    /// Removes every trace of `number`, in one transaction, and says what was removed:
    ///
    /// - inbound messages from it or to it (as `+1…` or `whatsapp:+1…`), with their
    ///   dispatch and retry state;
    /// - sends to it or from it: receipts, their status history and provider ids, and
    ///   their outbox entries (queued, retrying or held sends are cancelled), and status
    ///   callbacks kept for their provider ids;
    /// - calls from it or to it, with their status history, transcript, kept answer,
    ///   stream tokens and status callbacks kept for their ids;
    /// - its pairing requests, its approval through pairing and as a contact;
    /// - events for the forward URL whose message is from or to it (`data.from`,
    ///   `data.to`), delivered or not.
    ///
    /// An opt-out is not removed, because honouring STOP is a legal duty: it is replaced
    /// by the number's keyed hash ([`OptOutKey::hash`]), which
    /// [`is_opted_out`](super::PolicyStore::is_opted_out) still matches, so sending to the
    /// number stays refused. A number with no data is not an error (every count is 0).
    async fn forget(&self, number: &PhoneNumber) -> Result<ForgetReport, StoreError>;
}
