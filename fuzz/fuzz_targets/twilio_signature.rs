//! `X-Twilio-Signature` validation: form webhooks (`validate`) and JSON webhooks signed
//! over a URL carrying `bodySHA256` (`validate_body`). Properties: no panic on any URL,
//! parameters or signature; what `compute` signs validates; a JSON body hashed into the
//! URL validates, and the same URL with another body does not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use telephony_twilio::RequestValidator;

fuzz_target!(|input: (String, String, Vec<(String, String)>, Vec<u8>, String)| {
    let (token, url, params, body, signature) = input;
    let v = RequestValidator::new(token);
    // Arbitrary signatures never panic.
    let _ = v.validate(&url, &params, &signature);
    let _ = v.validate_body(&url, &body, &signature);

    let good = v.compute(&url, &params);
    assert!(v.validate(&url, &params, &good), "computed signature refused for {url:?}");

    if url.contains("bodySHA256") || url.contains('#') {
        return;
    }
    let hex: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    let signed_url = format!("{url}{sep}bodySHA256={hex}");
    let sig = v.compute(&signed_url, &[]);
    assert!(
        v.validate_body(&signed_url, &body, &sig),
        "body signature refused for {signed_url:?}"
    );
    let mut other = body.clone();
    other.push(b' ');
    assert!(!v.validate_body(&signed_url, &other, &sig), "another body accepted");
});
