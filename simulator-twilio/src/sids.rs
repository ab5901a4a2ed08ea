//! Twilio resource identifiers: a two-letter prefix and 32 hex digits.

use rand::Rng;

/// A new random Message SID: `"SM"` + 32 lowercase hex digits.
///
/// ```
/// let sid = telephony_twilio_simulator::new_message_sid();
/// assert_eq!(sid.len(), 34);
/// assert!(sid.starts_with("SM"));
/// ```
pub fn new_message_sid() -> String {
    new_sid("SM")
}

/// `prefix` + 32 lowercase hex digits.
pub(crate) fn new_sid(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    let mut s = String::with_capacity(prefix.len() + 32);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
