//! The Twilio form-body parser used for every webhook (`decode_form`), then the message,
//! status and call event parsers on what it accepts. Properties: no panic; whatever
//! `decode_form` accepts survives an encode/decode round trip unchanged.
//! (A first run found the harness's own mistake: it expected `=` to be dropped.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use telephony_twilio::voice_webhook::parse_call_event;
use telephony_twilio::webhook::{decode_form, parse_event};

fuzz_target!(|data: &[u8]| {
    let Ok(pairs) = decode_form(data) else {
        return;
    };
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let _ = parse_event(&pairs, now);
    let _ = parse_call_event(&pairs, now);
    let encoded = serde_urlencoded::to_string(&pairs).expect("pairs of strings encode");
    let again = decode_form(encoded.as_bytes()).expect("an encoded form decodes");
    // Empty pieces (`a=1&&b=2`, a bare `&`) were skipped on the way in; every pair that
    // was kept, `=` (empty name and value) included, comes back as it was.
    assert_eq!(again, pairs, "round trip of {encoded:?}");
});
