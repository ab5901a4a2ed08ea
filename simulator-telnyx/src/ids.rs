//! Random identifiers in Telnyx's format (UUID v4).

use rand::Rng;

/// A random UUID v4, lowercase, e.g. `40385f64-5717-4562-b3fc-2c963f66afa6` (Telnyx
/// message and event ids look like this).
///
/// ```
/// let id = telephony_telnyx_simulator::new_uuid();
/// assert_eq!(id.len(), 36);
/// assert_eq!(&id[14..15], "4");
/// ```
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::thread_rng().r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A random 19-digit numeric id, as Telnyx gives phone numbers and connections
/// (`1293384261075731499`).
pub(crate) fn new_numeric_id() -> String {
    let n: u64 =
        rand::thread_rng().gen_range(1_000_000_000_000_000_000..10_000_000_000_000_000_000);
    n.to_string()
}
