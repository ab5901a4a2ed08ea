//! Provider conformance, courier style: one table-driven suite every provider runs.
//!
//! A provider's suite is folders of JSON cases of three kinds:
//!
//! * **webhook cases** ([`WebhookCase`]): a request the provider sends the gateway (URL,
//!   headers, raw body), how it is signed, and the expected HTTP answer, refusal name,
//!   acknowledgement and neutral events. [`run_webhook_cases`] feeds each one to
//!   [`Provider::handle_webhook`](telephony_core::Provider::handle_webhook).
//! * **send cases** ([`SendCase`]): a message to send, what the provider's REST API
//!   answers, the one request the provider must make and the receipt or error it must
//!   return. [`run_send_cases`] answers from a [`MockProviderApi`] on loopback.
//! * **voice cases** ([`VoiceCase`]): a neutral `VoiceResponse` (and the call it runs on)
//!   in, the provider's exact answer out: the markup
//!   [`Provider::render_voice`](telephony_core::Provider::render_voice) returns (Twilio's
//!   TwiML), or the exact HTTP requests
//!   [`Provider::run_voice`](telephony_core::Provider::run_voice) makes against the mock
//!   API and its [`VoiceRun`](telephony_core::voice::VoiceRun) (Telnyx Call Control), or
//!   the exact refusal. [`run_voice_cases`] runs them. Voice behaviour is shared: the
//!   cases in [`shared_cases("voice")`](shared_cases) carry one expectation per provider
//!   (keyed by [`Provider::name`](telephony_core::Provider::name)), and every provider that
//!   runs the folder must have one in every case, so both providers run the same cases.
//!
//! The runners collect every failure and panic once with a report naming each case's
//! label, what it got and what it wanted.
//!
//! # Case files
//!
//! Every `*.json` file of a folder is read, sorted by name; each holds an array of cases.
//! Labels are unique across the folder. A webhook case:
//!
//! ```json
//! {
//!   "label": "inbound SMS",
//!   "request": {"method": "POST", "url": "https://gw.example.com/telephony/webhook",
//!               "headers": {"Content-Type": "application/x-www-form-urlencoded"},
//!               "body": "MessageSid=SM1&From=%2B15550005678&To=%2B15550001234&Body=hi"},
//!   "signature": "valid",
//!   "check": "verify",
//!   "now": 1700000000,
//!   "expect": {"http_status": 200,
//!              "ack": {"content_type": "text/xml", "body": "<Response></Response>"},
//!              "events": [{"kind": "message", "provider_sid": "SM1", "channel": "sms",
//!                          "from": "+15550005678", "to": "+15550001234", "body": "hi"}]}
//! }
//! ```
//!
//! `signature` is `"valid"` (the provider's signer hook computes it), `"missing"`,
//! `{"literal": {"Header": "value"}}` (verbatim), or `{"valid_for": {"url": …, "body": …,
//! "now": …}}` (the signer signs something other than what is sent: another URL, a
//! tampered body, a stale clock). Headers written in `request.headers` win over computed
//! ones. A refusal names the error as [`error_name`] spells it (`MissingField:From`,
//! `StaleTimestamp:1699999000`, …) and has no events.
//!
//! A webhook that is about a call expects call events ([`ExpectedCall`]), one flat shape
//! for the five kinds of [`CallEvent`](telephony_core::voice::CallEvent), every field
//! compared (absent means `null`):
//!
//! ```json
//! {"kind": "call", "event": "gather", "call_id": "v3:abc", "status": "in-progress",
//!  "account": null, "from": "", "to": "", "direction": "unknown",
//!  "started_at": null, "answered_at": null, "ended_at": null,
//!  "speech": "book a table", "confidence": 0.977219, "digits": null,
//!  "action": "https://gw.example.com/telephony/voice?turn=1",
//!  "extra": {"event_type": "call.transcription", "telnyx.event_id": "…"}}
//! ```
//!
//! `event` is `incoming`, `progress`, `gather`, `status` (with `duration_secs`,
//! `sequence`, `timestamp`, no parties) or `resume` (with `plan`, compared as JSON).
//! `action` is the call's [`ACTION_EXTRA`](telephony_core::voice::ACTION_EXTRA), out of
//! `extra`. Times are UTC RFC 3339, or [`RECEIVED`] (`"received"`) for a time the provider
//! took from the gateway's clock (a new call without a start time): the runner accepts
//! any instant around the request.
//!
//! A send case:
//!
//! ```json
//! {
//!   "label": "plain SMS",
//!   "message": {"to": "+15550005678", "body": "hi", "media_urls": []},
//!   "options": {"status_callback": "https://gw.example.com/telephony/status"},
//!   "provider_answer": {"status": 200, "headers": {}, "json": {"data": {"id": "m1"}}},
//!   "expect_request": {"method": "POST", "path": "/v2/messages",
//!                      "headers": {"authorization": "Bearer KEY"},
//!                      "body": {"json": {"to": "+15550005678", "text": "hi"}}},
//!   "expect": {"receipt": {"sid": "m1", "status": "queued"}}
//! }
//! ```
//!
//! `expect_request.body` is `{"form": [["To", "+1…"], …]}` (ordered pairs, repeated keys
//! kept), `{"json": …}` (compared as JSON values) or `{"raw": "…"}`. A send that must
//! fail before the network says `"expect_no_request": true` and has no `provider_answer`.
//! An error expectation is `{"error": {"kind": "api", "http_status": 429, "code": 20429,
//! "retryable": true, "opted_out": false, "retry_after_secs": 2}}`.
//!
//! A voice case (the verbs are `{"say": {"text", "voice", "language", "loop"}}`,
//! `{"play": {"url", "loop"}}`, `{"pause": {"seconds"}}`, `{"gather": {"speech", "dtmf",
//! "action", "timeout", "speech_timeout": "auto" | n, "hints", "language",
//! "finish_on_key", "num_digits", "prompts": [say | play | pause]}}`, `{"record": {"action",
//! "max_length", "transcribe", "timeout", "status_callback"}}`, `{"record_call": {"channels",
//! "status_callback"}}`, `{"dial": {"number", "caller_id", "timeout", "action"}}`,
//! `{"redirect": {"url", "method"}}`, `"hangup"`, `{"reject": "busy" | "rejected"}`,
//! `{"stream": {"url", "name", "parameters": [["k", "v"]]}}`, `{"relay": {"url",
//! "language", "voice", "welcome_greeting", "interruptible", "parameters"}}`):
//!
//! ```json
//! {
//!   "label": "say, then hang up",
//!   "response": [{"say": {"text": "Hello", "voice": "alice"}}, "hangup"],
//!   "call": {"call_id": "v3:call-1", "from": "+15550005678", "to": "+15550001234",
//!            "direction": "inbound", "status": "in-progress",
//!            "extra": {"telnyx.event_id": "ev-1"}},
//!   "expect": {
//!     "twilio": {"markup": {"content_type": "text/xml",
//!                "body": "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"alice\">Hello</Say><Hangup/></Response>"}},
//!     "telnyx": {"requests": [{"method": "POST", "path": "/v2/calls/v3:call-1/actions/speak",
//!                              "body": {"json": {"payload": "Hello", "payload_type": "text", "voice": "female",
//!                                                "client_state": {"w": "speak", "p": [{"k": "hangup"}]},
//!                                                "command_id": "ev-1.<hash>.1"}}}],
//!                "run": "done", "same_on_redelivery": true}
//!   }
//! }
//! ```
//!
//! An expectation is `{"markup": …}` (a markup provider), `{"requests": […], "run": …}`
//! (a commands provider; `run` is `"done"`, `"call_ended"`, `{"redirect": url}` or
//! `{"error": …}` as in send cases; `answers` lists what the mock API answers, request by
//! request, the last repeating; `same_on_redelivery` runs the case twice and requires the
//! same bytes), or `{"render_error": "…"}` (the exact refusal, nothing run). A commands
//! provider's JSON bodies go through its [`VoiceHooks::normalize_json`] hook before they
//! are compared, so cases read an encoded `client_state` decoded and a hashed
//! `command_id` by its shape, as above (Telnyx's hook).
//!
//! # Adding a provider
//!
//! Add `tests/conformance/webhooks/*.json` and `tests/conformance/send/*.json` to the
//! provider's crate, an expectation under the provider's name to every case of
//! `cases/voice/` (for a voice provider), and one test file, `tests/conformance.rs`:
//!
//! ```no_run
//! use std::path::Path;
//! use telephony_conformance::{
//!     run_send_cases, run_voice_cases, run_webhook_cases, shared_cases, CaseEnv, VoiceHooks,
//!     WebhookRequestParts,
//! };
//! # #[derive(Debug)] struct AcmeProvider;
//! # #[async_trait::async_trait] impl telephony_core::Provider for AcmeProvider {
//! #   async fn send(&self, _: &telephony_core::OutboundMessage, _: &telephony_core::SendOptions)
//! #     -> Result<telephony_core::ProviderReceipt, telephony_core::ProviderError> {
//! #     Err(telephony_core::ProviderError::NotConfigured("doc".into())) } }
//! # impl AcmeProvider { fn new(_: &str, _: &str, _: time::OffsetDateTime) -> Self { AcmeProvider } }
//! # fn acme_signature(_: &WebhookRequestParts, _: time::OffsetDateTime) -> Vec<(String, String)> { vec![] }
//!
//! fn cases(kind: &str) -> std::path::PathBuf {
//!     Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance").join(kind)
//! }
//!
//! /// The provider under test: the mock API's URL, fixed credentials, the case's clock.
//! fn acme(env: &CaseEnv) -> AcmeProvider {
//!     AcmeProvider::new(&env.api_base_url, "test-key", env.now)
//! }
//!
//! #[test]
//! fn webhooks() {
//!     run_webhook_cases(cases("webhooks"), acme, |req, now| acme_signature(req, now));
//! }
//!
//! #[tokio::test]
//! async fn sends() {
//!     run_send_cases(cases("send"), acme).await;
//! }
//!
//! #[tokio::test]
//! async fn voice() {
//!     // A markup provider; a commands provider gives its API's success answer instead.
//!     run_voice_cases(shared_cases("voice"), acme, &VoiceHooks::markup()).await;
//! }
//! ```
//!
//! The factory must make the provider take [`CaseEnv::now`] as its clock (for timestamp
//! windows) and make exactly one HTTP attempt per send. Run one folder alone while
//! writing cases with [`check_webhook_cases`] / [`check_send_cases`] /
//! [`check_voice_cases`], which return the [`Report`] instead of panicking.

mod env;
mod load;
mod mock_api;
mod report;
mod run_send;
mod run_voice;
mod run_webhook;
mod send_case;
mod voice_case;
mod webhook_case;

pub use env::{CaseEnv, DEFAULT_NOW, NO_API_URL, WebhookRequestParts};
pub use load::{
    CaseSource, LoadError, Loaded, load_send_cases, load_voice_cases, load_webhook_cases,
};
pub use mock_api::{MockProviderApi, RecordedRequest};
pub use report::{Failure, Report};
pub use run_send::{SEND_TIMEOUT, check_send_cases, run_send_cases};
pub use run_voice::{VOICE_TIMEOUT, VoiceHooks, check_voice_cases, run_voice_cases, shared_cases};
pub use run_webhook::{
    build_request, check_webhook_cases, run_webhook_cases, run_wrong_signer_cases,
};
pub use send_case::{
    CaseMessage, CaseOptions, ErrorKind, ExpectedBody, ExpectedError, ExpectedReceipt,
    ExpectedRequest, ProviderAnswer, SendCase, SendExpect,
};
pub use voice_case::{
    AutoWord, CaseCall, CaseDial, CaseGather, CaseMethod, CasePause, CasePlay, CasePrompt,
    CaseRecord, CaseRecordCall, CaseRedirect, CaseRejectReason, CaseRelay, CaseSay,
    CaseSpeechTimeout, CaseStream, CaseUpdate, CaseVerb, ExpectedRun, VoiceCase, VoiceExpect,
};
pub use webhook_case::{
    CallEventKind, CaseRequest, Check, ExpectedAck, ExpectedCall, ExpectedEvent, RECEIVED,
    SignatureSpec, SignedAs, WebhookCase, WebhookExpect, error_name,
};
