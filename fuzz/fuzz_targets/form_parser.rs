//! The Twilio form-body parser used for every webhook (`decode_form`), then the message,
//! status and call event parsers on what it accepts. Properties: no panic; whatever
//! `decode_form` accepts survives an encode/decode round trip unchanged.
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
    // Empty pieces (`a=1&&b=2`, a bare `&`) are skipped, and so is an empty name with
    // an empty value; anything else comes back as it was.
    let kept: Vec<_> = pairs
        .iter()
        .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
        .cloned()
        .collect();
    assert_eq!(again, kept, "round trip of {encoded:?}");
});
