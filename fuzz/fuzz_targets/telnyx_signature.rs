//! The Telnyx Ed25519 webhook verifier. Properties: no panic on any public key, header
//! values, body or clock; what the signer signs verifies at its timestamp; a changed body
//! does not.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use telephony_telnyx::{WebhookSigner, WebhookVerifier};

fuzz_target!(|input: ([u8; 32], String, i64, Vec<u8>, String, String, String, i64)| {
    let (seed, url, timestamp, body, key, signature, ts_header, now) = input;
    let _ = WebhookVerifier::from_base64(&key);

    let signer = WebhookSigner::from_seed(seed);
    let verifier =
        WebhookVerifier::from_base64(&signer.public_key_base64()).expect("a signer's key loads");

    // Arbitrary headers never panic.
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::try_from(signature.as_str()) {
        headers.insert("telnyx-signature-ed25519", v);
    }
    if let Ok(v) = HeaderValue::try_from(ts_header.as_str()) {
        headers.insert("telnyx-timestamp", v);
    }
    let _ = verifier.verify(&url, &headers, &body, now);

    // Telnyx timestamps are Unix seconds, digits only: the verifier refuses a sign, so the
    // round trip is checked on non-negative times (a first run flagged a negative one).
    let timestamp = timestamp & i64::MAX;
    let signed = signer.headers(timestamp, &body);
    assert!(
        verifier.verify(&url, &signed, &body, timestamp).is_ok(),
        "own signature refused at t={timestamp}"
    );
    let mut other = body.clone();
    other.push(b'!');
    assert!(verifier.verify(&url, &signed, &other, timestamp).is_err());
});
