//! The JSON the gateway reads from providers: Telnyx webhooks, and Twilio's Media Streams
//! and ConversationRelay messages. Property: no panic, whatever the bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use telephony_core::voice::Realtime;
use telephony_twilio::{TwilioConfig, TwilioProvider};

fn twilio() -> &'static TwilioProvider {
    static P: OnceLock<TwilioProvider> = OnceLock::new();
    P.get_or_init(|| {
        TwilioProvider::new(TwilioConfig::new(
            "AC0123456789abcdef0123456789abcdef",
            "token",
        ))
        .expect("a provider without a sender still decodes")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = telephony_telnyx::webhook::parse_event(data, time::OffsetDateTime::UNIX_EPOCH);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = twilio().decode_stream(text);
        let _ = twilio().decode_relay(text);
    }
});
