//! What several test modules share: the RFC 8032 test key and the webhook body signed
//! with it in Telnyx's documentation vector.

/// RFC 8032 section 7.1, test 1: the private seed, hex.
pub(crate) const SEED_HEX: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// Its public key, base64 (as the Telnyx portal shows one).
pub(crate) const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// The webhook body of the signature vector, byte for byte (read at compile time, so the
/// test binary does not depend on where the checkout is).
pub(crate) const VECTOR_BODY: &[u8] = include_bytes!("../../testdata/rfc8032-vector-body.json");

/// 32 bytes from 64 hex digits.
pub(crate) fn seed_from_hex(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex seed");
    }
    out
}
