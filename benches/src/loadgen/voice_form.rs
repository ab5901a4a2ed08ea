//! Twilio's voice webhooks as the simulator sends them, and the default flow's answers.
//!
//! Shared by `loadgen --voice` and the `voice` criterion bench (included with `#[path]`).
//!
//! - [`call_form`]: the 25 parameters of every request for TwiML, alphabetical, as
//!   `telephony_twilio_simulator`'s call driver builds them (`driver::webhook_params`,
//!   PROTOCOL §2.3; it is crate-private there, so its layout is repeated here);
//! - [`gather_form`]: the same with `SpeechResult` and `Confidence` appended, as the
//!   driver posts a speech `<Gather>` result to its `action`;
//! - [`status_form`]: the `completed` status callback of an inbound call (§2.4), as the
//!   simulator's `callback_params` builds it (a phone number's status callback gets
//!   `completed` only, `SequenceNumber` 0).
//!
//! [`greeting`] and [`closing`] are what the gateway's default flow answers (no Rust voice
//! handler, default `voice.*` texts), built with the public API the way
//! `telephony_serve::voice` builds them; rendered with
//! [`telephony_twilio::twiml::voice_response`] they are the exact bytes expected.

#![allow(dead_code)] // Each includer uses its own part.

use telephony_core::voice::{Gather, SpeechTimeout, VoiceResponse};
use telephony_serve::VoiceSettings;

/// What the caller says in every call.
pub(crate) const SPEECH: &str = "I would like to book a table for two tomorrow at seven";
/// The recognizer's confidence sent with it.
pub(crate) const CONFIDENCE: &str = "0.91";

/// Pairs from string slices.
fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The country the simulator reports for the numbers used here (`+1…`).
fn country_of(number: &str) -> &'static str {
    if number.starts_with("+1") { "US" } else { "" }
}

/// Every request for TwiML about an inbound call `sid` from `from` to `to`, with
/// `CallStatus` = `status` (`ringing` for the first request, `in-progress` after).
pub(crate) fn call_form(
    account: &str,
    sid: &str,
    from: &str,
    to: &str,
    status: &str,
) -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", account),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", status),
        ("Called", to),
        ("CalledCity", ""),
        ("CalledCountry", country_of(to)),
        ("CalledState", ""),
        ("CalledZip", ""),
        ("Caller", from),
        ("CallerCity", ""),
        ("CallerCountry", country_of(from)),
        ("CallerState", ""),
        ("CallerZip", ""),
        ("Direction", "inbound"),
        ("From", from),
        ("FromCity", ""),
        ("FromCountry", country_of(from)),
        ("FromState", ""),
        ("FromZip", ""),
        ("To", to),
        ("ToCity", ""),
        ("ToCountry", country_of(to)),
        ("ToState", ""),
        ("ToZip", ""),
    ])
}

/// A speech `<Gather>` result: [`call_form`] (`in-progress`) + `SpeechResult` + `Confidence`.
pub(crate) fn gather_form(account: &str, sid: &str, from: &str, to: &str) -> Vec<(String, String)> {
    let mut p = call_form(account, sid, from, to, "in-progress");
    p.extend(pairs(&[
        ("SpeechResult", SPEECH),
        ("Confidence", CONFIDENCE),
    ]));
    p
}

/// The `completed` status callback of an inbound call that lasted `secs` seconds;
/// `timestamp` is RFC 2822.
pub(crate) fn status_form(
    account: &str,
    sid: &str,
    from: &str,
    to: &str,
    timestamp: &str,
    secs: u64,
) -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", sid),
        ("AccountSid", account),
        ("From", from),
        ("To", to),
        ("CallStatus", "completed"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", "0"),
        ("Timestamp", timestamp),
        ("CallDuration", &secs.to_string()),
        ("Duration", &secs.div_ceil(60).to_string()),
    ])
}

/// The URL a call's first gather posts to: `{base}?call={sid}&turn=1` (`base` is the URL
/// the incoming call was signed for, without a query).
pub(crate) fn gather_url(base: &str, sid: &str) -> String {
    format!("{base}?call={sid}&turn=1")
}

/// The default flow's answer to a new call: greeting in a speech gather, one re-prompt,
/// closing, hang-up.
pub(crate) fn greeting(base: &str, sid: &str) -> VoiceResponse {
    let v = VoiceSettings::default();
    let gather = |action: String| {
        Gather::new()
            .speech()
            .speech_timeout(SpeechTimeout::Auto)
            .action(action)
    };
    VoiceResponse::new()
        .gather(gather(gather_url(base, sid)).say(v.say(&v.greeting)))
        .gather(gather(format!("{base}?call={sid}&turn=1&retry=1")).say(v.say(&v.reprompt)))
        .say(v.say(&v.closing))
        .hangup()
}

/// The default flow's answer to a gather result with speech: the closing, hang-up.
pub(crate) fn closing() -> VoiceResponse {
    let v = VoiceSettings::default();
    VoiceResponse::new().say(v.say(&v.closing)).hangup()
}
