//! A Twilio-compatible local server for tests, examples and the gateway's `--sandbox` mode.
//!
//! It speaks the part of Twilio's 2010-04-01 REST API the gateway uses, with Twilio's
//! authentication, validation errors (real codes and messages), magic test numbers and
//! response shapes, and it POSTs status callbacks signed with `X-Twilio-Signature` just as
//! Twilio does. Routes, all under `/2010-04-01/Accounts/{AccountSid}`:
//!
//! | route | answer |
//! |---|---|
//! | `POST /Messages.json` | 201 [`MessageResource`](telephony_twilio::resources::MessageResource), then status callbacks `queued` → `sent` → final |
//! | `GET /Messages/{Sid}.json` | 200 [`MessageResource`](telephony_twilio::resources::MessageResource) or 404 (20404) |
//! | `POST /Messages/{Sid}.json` `Body=` | 200, the body redacted (`Status=canceled`: 30409, nothing is scheduled; anything else 30400) |
//! | `DELETE /Messages/{Sid}.json` | 204 once the message is final, else 409 (20009) |
//! | `GET /Messages.json?To=&From=&DateSent=&DateSent<=&DateSent>=&PageSize=&Page=` | 200 a page of messages, newest first |
//! | `GET /Messages/{Sid}/Media.json`, `GET`/`DELETE /Messages/{Sid}/Media/{Sid}.json` | the message's `ME…` media, one per `MediaUrl` |
//! | `POST /Calls.json` | 201 [`CallResource`](telephony_twilio::resources::CallResource) (`CA…`, `queued`), then status callbacks `initiated` → `ringing` → `answered` (`in-progress`), the call's TwiML run (see below), `completed` |
//! | `GET /Calls.json?To=&From=&ParentCallSid=&Status=&StartTime…&EndTime…` | 200 a page of calls, newest first |
//! | `POST /Calls/{Sid}.json` `Status=completed` | 200, the call ends (`completed`; `canceled` before answer), its TwiML stops and the `completed` callback is sent; 404 (20404) if it already ended |
//! | `GET /Calls/{Sid}.json` | 200 [`CallResource`](telephony_twilio::resources::CallResource) (an ended call too) or 404 (20404) |
//! | `GET /2010-04-01/Accounts/{AccountSid}.json` | 200 the account (never its auth token) |
//! | another method on one of these | 501 (20004) naming it |
//! | a list parameter not listed | 400 (20001) naming it |
//! | anything else | 404 (20404) |
//!
//! (Routes under `/2010-04-01/Accounts/{AccountSid}`; numbers and Messaging Services too:
//! [`SIMULATED_RESOURCES`] lists every resource with its methods and filters, as the
//! README's "Simulated resources" table does.)
//!
//! Every route needs HTTP basic auth (`AccountSid:AuthToken` or an `SK…:secret` API key),
//! else 401 (20003). Errors use Twilio's body:
//! `{"code":21211,"message":"…","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`.
//!
//! Recipient test numbers (as with Twilio test credentials): `+15005550001` → 21211,
//! `+15005550002` → 21612, `+15005550004` → 21610, `+15005550009` → 21614. Other failures
//! can be queued with [`Simulator::inject`].
//!
//! [`InboundSms`] builds and signs the inbound-SMS webhook Twilio would send to a gateway.
//!
//! # Driven calls
//!
//! Calls run their TwiML as Twilio would, against the gateway's real webhooks:
//!
//! - **Inbound**: [`Simulator::place_inbound_call`] rings one of the account's numbers: it
//!   POSTs the signed voice webhook (`CallStatus=ringing`, `Direction=inbound`) to the
//!   number's voice URL and runs the answer.
//! - **Outbound**: after `POST /Calls.json` the simulated callee rings and answers (or is
//!   busy, does not answer, cannot be reached: [`SimulatorConfig::with_callee_outcome`]);
//!   once answered, the inline `Twiml` runs, or the `Url` is requested (signed POST,
//!   `Direction=outbound-api`, `CallStatus=in-progress`; `Method=GET` honored). The
//!   callee receives the create's `SendDigits` (in the transcript as [`Heard::Digits`]);
//!   with `MachineDetection` and `AsyncAmd=true` the callee's [`Answerer`]
//!   ([`SimulatorConfig::with_answerer`]) decides the `AnsweredBy` POSTed, signed, to
//!   `AsyncAmdStatusCallback` (see [`Answerer`] for what and when).
//!
//! Either way the verbs run in order ([`parse_twiml`] tells how a document is read):
//! `<Say>`/`<Play>` (and `<Play digits>`, as [`Heard::Digits`]) are recorded in the transcript, `<Pause>` advances the call's clock,
//! `<Gather>` takes the next input of the call's [`CallScript`] (speech, digits or
//! silence) and POSTs the result, signed, to its `action` (relative URLs resolved against
//! the current document's; the current document's URL by default), silence falls through
//! to the next verb, `<Record>` posts a fake recording, `<Dial>` posts `DialCallStatus` to
//! its `action`, `<Redirect>` requests its URL, `<Hangup/>` and the end of the document
//! end the call `completed`, and `<Reject>` before the answer ends it `busy`
//! (`reason="busy"`) or `no-answer` (Twilio's documented statuses for a rejected call).
//! An answer that is not 2xx or has no `Content-Type` is Twilio's error 11200, one that is
//! not `text/xml`/`application/xml` is 12300, and a document that does not parse (bad XML,
//! no `<Response>` root, an unknown verb) is 12100: the call ends, `failed` if it was never
//! answered, else `completed`. More than [`MAX_CALL_DOCUMENTS`] documents on one call end
//! it with 14106. Everything done is kept in a [`CallOutcome`]
//! ([`Simulator::call_outcome`]).
//!
//! Time on a call is simulated: each verb advances the call's clock (a `<Say>` 400 ms per
//! word, a `<Play>` 1 s, a `<Pause>` its length, a silent `<Gather>` its `timeout`);
//! `CallDuration` and `TimeLimit` (default 14400 s) use that clock, and
//! [`SimulatorConfig::simulated_second`] says how much real time a simulated second takes
//! (default none: calls run as fast as the webhooks answer).
//!
//! # Real-time sessions
//!
//! `<Connect><Stream>` (a bidirectional Media Stream, VOICE.md §6) and
//! `<Connect><ConversationRelay>` (§7) open a WebSocket to the application, and the
//! simulator plays Twilio's side of the protocol on it:
//!
//! - **The upgrade** is signed as Twilio signs it: header `x-twilio-signature` =
//!   base64(HMAC-SHA1(auth token, URL)) over the URL as written in the TwiML with a
//!   `wss://` scheme and no parameters (a `<Stream>` URL without its query string, which
//!   Twilio drops). Verify it with [`RequestValidator`](telephony_twilio::RequestValidator) and an
//!   empty parameter list. The simulator has no TLS: it connects to `ws://` URLs (a note
//!   in the record says Twilio would refuse one) and a `wss://` one fails to open.
//! - **A stream** sends `connected`, `start` (with the `<Parameter>`s as
//!   `customParameters`), the script's audio as `media` frames (160 bytes, 20 ms each),
//!   its key presses as `dtmf`, and `stop` when the call ends; it plays the application's
//!   `media` at 8000 bytes a second, echoes each `mark` once the audio before it has
//!   played, and on `clear` drops the audio not played and echoes the pending marks at
//!   once. Anything else the application sends is alert 31951. When the application closes
//!   the socket, Twilio requests `<Connect action>` if there is one, else goes on with the
//!   verbs after `<Connect>`; a socket that does not open is alert 31920, and the call
//!   goes on the same way.
//! - **A relay** sends `setup`, speaks the welcome greeting, sends the caller's words as
//!   `prompt`s once the application has stopped speaking, keys as `dtmf` (with
//!   `dtmfDetection`) and `interrupt`s. It speaks the application's `text` tokens at
//!   400 ms a word, and records `play`, `sendDigits` and `language`. On `end` it closes
//!   the socket and requests `<Connect action>` with `SessionId`, `SessionStatus=ended`
//!   and `HandoffData`, signed (without an action it goes on with the next verb). Each
//!   malformed message is alert 64107 (and an `error` message to the application); ten
//!   in a row close the socket with 1007 (alert 64105). A socket that ends any other way
//!   (or never opens) fails the call with 64105, as Twilio does not reconnect.
//!
//! Everything is recorded in [`CallOutcome::streams`] ([`StreamRecord`]) and
//! [`CallOutcome::relays`] ([`RelayRecord`]): every message both ways with its time,
//! audio, marks, clears, replies, interrupts, alerts.
//!
//! A session has its own clock (milliseconds since the socket opened), which also moves
//! the call's. It jumps from one event to the next (the caller's next frame or prompt, a
//! mark's audio played through, an interrupt's moment), each jump taking
//! [`simulated_second`](SimulatorConfig::simulated_second)-paced real time. Before the
//! clock moves, whenever the simulator has sent something, it sends a WebSocket **ping**
//! and reads until its **pong**: WebSocket libraries answer a ping when the application
//! reads it, after what it sent in answer to the messages before, so everything an
//! application sends in answer to a message arrives at that message's simulated time, on
//! any machine. The times in the records are exact, and tests can assert them. (An
//! application that never reads pings is waited for 5 s once; then the simulator stops
//! pinging and notes it.) The application must go on reading after a ping (axum and
//! tungstenite deliver pings as messages and answer them themselves): one that stops at
//! the first non-text frame needs [`SimulatorConfig::with_realtime_sync`]`(false)`.
//!
//! ```
//! use axum::extract::ws::{Message, WebSocketUpgrade};
//! use axum::routing::{any, post};
//! use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let host = listener.local_addr()?.to_string();
//! let twiml = format!(
//!     r#"<Response><Connect><ConversationRelay url="ws://{host}/relay"/></Connect></Response>"#
//! );
//! // An agent that answers the first prompt, then ends the session.
//! let app = axum::Router::new()
//!     .route("/voice", post(move || async move { ([("content-type", "text/xml")], twiml) }))
//!     .route("/relay", any(|ws: WebSocketUpgrade| async move {
//!         ws.on_upgrade(|mut socket| async move {
//!             // Not `while let Some(Ok(Message::Text(..)))`: pings come too.
//!             while let Some(Ok(msg)) = socket.recv().await {
//!                 let Message::Text(text) = msg else { continue };
//!                 if text.contains(r#""type":"prompt""#) {
//!                     for reply in [
//!                         r#"{"type":"text","token":"Table for ","last":false}"#,
//!                         r#"{"type":"text","token":"two, booked.","last":true}"#,
//!                         r#"{"type":"end","handoffData":"booked"}"#,
//!                     ] {
//!                         socket.send(Message::Text(reply.into())).await.unwrap();
//!                     }
//!                 }
//!             }
//!         })
//!     }));
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let sim = Simulator::new(SimulatorConfig::generate());
//! let outcome = sim
//!     .place_inbound_call(
//!         InboundCall::new("+15550005678", "+15550001234", format!("http://{host}/voice"))
//!             .script(CallScript::new().prompt("A table for two")),
//!     )
//!     .await?;
//! let relay = &outcome.relays[0];
//! assert_eq!(relay.sent_types(), ["setup", "prompt"]);
//! assert_eq!(relay.sent[1].at_ms, 1600); // four words, 400 ms each
//! assert_eq!(relay.reply_texts(), ["Table for two, booked."]);
//! assert_eq!(relay.end.as_ref().unwrap().handoff_data.as_deref(), Some("booked"));
//! assert_eq!(outcome.status, "completed");
//! # Ok(())
//! # }
//! ```

mod account;
mod amd;
mod auth;
mod call_events;
mod call_list;
mod call_state;
mod callbacks;
mod calls;
mod config;
mod dates;
mod driver;
mod errors;
mod form;
mod inbound;
mod inbound_calls;
mod media;
mod messages;
mod numbers;
mod paging;
mod recipients;
mod recordings;
mod records;
mod relay;
mod router;
mod running;
mod script;
mod segments;
mod session;
mod sids;
mod signed_post;
mod simulator;
mod state;
mod stream;
mod surface;
mod time_filter;
mod verbs;

/// 8 kHz μ-law audio helpers (from `telephony-simulator-voice`, shared with the Telnyx
/// simulator).
pub use telephony_simulator_voice::audio;

pub use config::{Injection, MAX_CALL_DOCUMENTS, MESSAGING_SERVICE_SENDER, SimulatorConfig};
pub use inbound::{InboundSms, SMS_WEBHOOK_TIMEOUT, SmsDelivery};
pub use recordings::{RecordingRecord, recording_wav};
pub use records::{
    Alert, CallCallbackRecord, CallCreateRecord, CallbackRecord, ClearRecord, CreateRequestRecord,
    LanguageChange, MarkRecord, RelayEnd, RelayInterrupt, RelayPlay, RelayRecord, RelayReply,
    SessionEnd, SettingsUpdate, StreamRecord, TimedMessage,
};
pub use running::RunningSimulator;
pub use script::{
    Answerer, CallEnd, CallError, CallOutcome, CallScript, CalleeOutcome, CallerInput,
    DocumentRecord, DriveError, GatherRecord, Heard, InboundCall,
};
pub use sids::new_message_sid;
pub use simulator::Simulator;
pub use surface::{PAGING_PARAMETERS, SIMULATED_RESOURCES, SimulatedResource};
pub use verbs::{
    ConnectRelay, ConnectStream, DialVerb, GatherVerb, PlayVerb, RecordVerb, SayVerb,
    StartRecording, TwimlVerb, parse_twiml,
};
