//! A Telnyx-compatible local server for tests, examples and the gateway's sandbox mode.
//!
//! It speaks the part of the Messaging API v2 and of Call Control the gateway uses, with
//! Telnyx's bearer authentication, error shape and status codes, and it POSTs webhooks
//! signed with Ed25519 exactly as Telnyx does (`telnyx-signature-ed25519` and
//! `telnyx-timestamp` over `"{timestamp}|{body}"`), with its own key pair: configure the
//! gateway's `telnyx.publicKey` with [`Simulator::public_key_base64`].
//!
//! | route | answer |
//! |---|---|
//! | `POST /v2/messages` | 200 `{"data": message}` with `to[0].status` `queued`, then signed webhooks (`message.sent`, `message.finalized`) |
//! | `POST /v2/messages` | 200 `{"data": message}` with `to[0].status` `queued`, then signed webhooks; a `from` that is not one of the account's numbers in a messaging profile is 422 (40305) once the account has numbers |
//! | `POST /v2/messages/long_code` | the same, `from` required |
//! | `GET /v2/messages/{id}` | 200 `{"data": message}` in its current state |
//! | `GET /v2/detail_records?filter[record_type]=messaging…` | 200 `{"data": [record…], "meta": {…}}`: a message detail record per message (filters `direction`, `cli`, `cld`, `created_at[gte]`/`[lte]`; `sort`; `page[number]`, `page[size]`) |
//! | `GET /v2/phone_numbers?filter[phone_number]=…` | 200 `{"data": [number…], "meta": …}` (numbers containing the filter) |
//! | `GET /v2/phone_numbers/messaging` | 200 every number's messaging settings (by profile, number, part of a number; sorted by number) |
//! | `GET /v2/phone_numbers/{id}/messaging` | 200 `{"data": messaging settings}` (profile, SMS/MMS features) |
//! | `GET /v2/messaging_profiles` | 200 the profiles (by name) |
//! | `GET /v2/messaging_profiles/{id}` | 200 `{"data": profile}` |
//! | `PATCH /v2/messaging_profiles/{id}` | 200 `{"data": profile}` after applying `webhook_url` / `webhook_api_version` |
//! | `GET /v2/call_control_applications/{id}` | 200 `{"data": application}` (`record_type` `call_control_application`, `application_name`, `webhook_event_url`, `webhook_event_failover_url`, `webhook_api_version` `2`, …); 404 (10005) |
//! | `PATCH /v2/call_control_applications/{id}` | 200 `{"data": application}` after applying `application_name` and `webhook_event_url` (both required: 422, 10004) and `webhook_event_failover_url`; later calls use the new URLs ([`Simulator::call_control_app`], [`Simulator::call_control_app_updates`]) |
//! | `POST /v2/calls` (dial) | 200 `{"data":{"call_control_id":"v3:…","call_leg_id","call_session_id","is_alive":false,"record_type":"call"}}`, then `call.initiated` (`outgoing`), then `call.answered` or `call.hangup` (see [Outbound calls](#outbound-calls)); 422 naming the field (`connection_id` 10004/10015, `to`/`from` 10004/10016, `timeout_secs` 5–600, `time_limit_secs`, `answering_machine_detection`, `stream_*`) |
//! | `GET /v2/calls/{call_control_id}` | 200 `{"data":{"call_control_id","call_leg_id","call_session_id","client_state","is_alive","call_duration","start_time","end_time"(once ended),"record_type":"call"}}`; an ended call answers too (`is_alive: false`); 404 (10005) for an unknown id |
//! | `POST /v2/calls/{call_control_id}/actions/{name}` | 200 `{"data":{"result":"ok"}}` for the commands below; 422 (90018 "Call has already ended") once the call ended; 422 (10004 missing, 10015 invalid, `source.pointer` naming the field) for a bad body; 400 (10023) for a body that is not a JSON object; 422 (10015) for a command the call's state does not allow (anything but `answer`/`reject`/`hangup`/`client_state_update` before the answer); 404 (10005) naming an unknown command or call |
//! | `PUT /v2/calls/{call_control_id}/actions/client_state_update` | as above (POST is taken too) |
//! | `GET /v2/messaging_profiles/{id}/phone_numbers` | 200 the profile's numbers |
//! | another method on one of these | 501 (10015) naming it |
//! | a list parameter not listed | 400 (10015) naming it |
//! | `POST /_simulator/calls` | not Telnyx's: the simulator's own control for another process (`telephony simulate call` beside a Telnyx sandbox): rings the Call Control application with `{"from","to","script"}` and answers once the call ended with [`call_summary`]; bearer auth |
//! | anything else | 404, code 10005 |
//!
//! Lists answer `meta` (`page_number`, `page_size`, `total_pages`, `total_results`) and take
//! `page[number]`, `page[size]`. [`SIMULATED_RESOURCES`] lists every resource with its
//! methods and filters, as the README's "Simulated resources" table does.
//!
//! Numbers and profiles exist once added with [`Simulator::add_number`] and
//! [`Simulator::add_messaging_profile`]; [`Simulator::profile_updates`] lists the changes.
//!
//! Errors use Telnyx's body, `{"errors":[{"code":"10004","title":"…","detail":"…","source":{"pointer":"/to"}}]}`:
//! wrong or missing bearer key → 401 (10009); not JSON → 415 (10014) or 400 (10023);
//! validation → 422 (10004 missing `to`/sender/`text`, 40310 invalid `to`, 10015 too many
//! media or too long a text). Sending to [`OPTED_OUT_RECIPIENT`] answers 409 with 40300
//! ("Blocked due to STOP message"). Other failures are queued with [`Simulator::inject`].
//!
//! [`InboundSms`] with [`Simulator::signed_inbound`] / [`Simulator::post_inbound`] builds,
//! signs and posts the `message.received` webhook Telnyx would send to a gateway.
//!
//! # Call Control
//!
//! The simulator plays Telnyx's side of Call Control against whatever application sits at
//! a Call Control application's `webhook_event_url`
//! ([`SimulatorConfig::with_connection`]). Every event is POSTed as Telnyx's envelope,
//! `{"data":{"event_type","id","occurred_at","payload":{…},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"…"}}`,
//! signed, one at a time and in order per call; one not answered 2xx is retried
//! ([`VoiceConfig::webhook_attempts`], `meta.attempt` counting), then sent to the
//! application's failover URL, before the call's next event goes. Every payload carries
//! `call_control_id`, `call_leg_id`, `call_session_id`, `connection_id`, `from`, `to` and
//! `client_state` (the last one a command set, `null` before).
//!
//! - **Inbound**: [`Simulator::place_inbound_call`] posts `call.initiated`
//!   (`direction: "incoming"`, `state: "parked"`); the call stays parked until the
//!   application sends `answer` (→ `call.answered`), `reject` (`cause` `CALL_REJECTED` →
//!   `call.hangup` `call_rejected`/603, `USER_BUSY` → `user_busy`/486) or `hangup`. With
//!   no command within [`VoiceConfig::first_command_timeout`] (real time) it ends
//!   `timeout`.
//! - **Commands** (each takes `client_state`, base64, echoed by every later event of the
//!   call until changed, and `command_id`: a repeat is answered 200 and ignored):
//!
//! | command | what happens |
//! |---|---|
//! | `answer` | `call.answered`; `webhook_url` becomes the call's event URL; `stream_url` + `stream_*` open a media stream |
//! | `hangup` | `call.hangup` `normal_clearing` (`hangup_source` the application's side: `callee` of an incoming call, `caller` of a dialed one; before a dialed call answers: `originator_cancel`/487) |
//! | `reject` | see above (incoming calls that ring only) |
//! | `speak` | `payload` and `voice` required (422 naming the missing one), `payload_type` text/ssml, `language`; queued behind earlier audio; `call.speak.started`, then `call.speak.ended` (`status: "completed"`) 400 ms of clock per word later |
//! | `playback_start` | `audio_url` or `media_name`; queued; `call.playback.started`/`.ended` (`media_url`, `overlay`, `status`), 1 s of clock; `playback_stop` ends it `cancelled` and drops queued playbacks |
//! | `gather`, `gather_using_speak`, `gather_using_audio` | the prompt (if any) is queued like audio and heard; then the gather listens: the party's next keys end it with `call.gather.ended` `digits` (cut at `terminating_digit` `#` or `maximum_digits`) and `status` `valid` (or `invalid`: fewer than `minimum_digits`, a key outside `valid_digits`); none within `timeout_millis` (default 60000; `initial_timeout_millis` first) → `timeout`; `gather_stop` → `cancelled` |
//! | `transcription_start` / `_stop` | while on, the party's words become `call.transcription` with `transcription_data.{transcript, confidence (when scripted), is_final, transcription_track: "inbound"}` |
//! | `streaming_start` / `_stop` | see [Media streaming](#media-streaming); `streaming.started`, `streaming.stopped` (`stream_url`), or `streaming.failed` (`failure_reason: "connection_failed"`) |
//! | `send_dtmf` | `digits` (0-9 A-D * # w W) recorded in [`CallOutcome::dtmf_sent`] |
//! | `client_state_update` | sets `client_state` only |
//!
//! - **The party** (the caller of an inbound call, the callee of an outbound one) follows
//!   its [`CallScript`]: once the call is answered, something listens (a gather, a
//!   transcription, an open stream), the application has settled (see the clock below:
//!   it answers the party's last words before the party goes on) and its audio has played
//!   (or after [`CallScript::interrupt_after_ms`] of it), it takes its next input: speech (400 ms a
//!   word) goes to a running transcription (partial speech as `is_final: false`), keys
//!   (200 ms each) to a listening gather, else `call.dtmf.received` (`digit`) per key, and
//!   as `dtmf` frames to open streams; audio goes to open streams (after an
//!   `interrupt_after_ms` with a bidirectional stream open and nothing else playing, the
//!   party waits until that much of the application's stream audio has played, then goes
//!   on: the caller barges in mid-sentence); `silence` lets a
//!   listening gather time out; `wait_ms` passes time. When the inputs run out the party
//!   stays on the line, or hangs up with [`CallScript::hang_up_when_done`]
//!   (`normal_clearing`, `hangup_source` `caller`/`callee`); [`Simulator::hang_up_party`]
//!   hangs up at once.
//! - **Hang-up**: what plays ends with `status: "call_hangup"` (speak, playback, gather),
//!   streams stop (`streaming.stopped`), then `call.hangup` with `hangup_cause`,
//!   `hangup_source`, `sip_hangup_cause` (`unspecified` when none), `start_time`,
//!   `end_time`, `state: "hangup"`. [`Simulator::drop_call_events`] loses an event type
//!   on the way (recorded `dropped`), for reaper tests that ask `GET /v2/calls/{id}`.
//!
//! Time on a call is simulated: its clock (milliseconds since the call started) moves from
//! one scheduled moment to the next (a speak's end, the party's words, a gather's timeout,
//! ringing), each step taking [`VoiceConfig::simulated_second`]-paced real time (default:
//! none), and only once the call's events are delivered and
//! [`VoiceConfig::command_settle`] (100 ms) has passed since the last delivery or command,
//! so that what an application does in answer to an event lands at that event's moment.
//! While
//! nothing is scheduled the call waits for a command and its clock stands still (unless
//! the pace is not zero). `call_duration` and `time_limit_secs` (default
//! 14400 s; `hangup_cause: "time_limit"`) use this clock.
//!
//! ## Outbound calls
//!
//! After `POST /v2/calls` the call (`direction: "outgoing"`, `state: "bridging"`) rings
//! [`VoiceConfig::ring_ms`] (2 s), then the callee, per
//! [`SimulatorConfig::with_callee_outcome`], answers ([`CalleeOutcome::Answer`], the
//! default: `call.answered`, then the callee's script, [`Simulator::script_next_call`]), is
//! busy (`call.hangup` `user_busy`, SIP 486, source `callee`), cannot be reached
//! (`not_found`, 404, `callee`), or does not answer (after `timeout_secs`, default 30:
//! `timeout`, 487, source `unknown`). `answering_machine_detection` is validated and
//! recorded ([`Simulator::dial_requests`]); once the callee answers, the
//! [`Answerer`] set with [`SimulatorConfig::with_answerer`] (a person by default) decides
//! the `call.machine.detection.ended` / `call.machine.greeting.ended` events that follow
//! (see [`Answerer`]), each when the call's clock reaches its moment (on an unpaced clock,
//! the default, only while something plays, listens or waits: never while the call only
//! waits for a command). `send_digits_on_answer` is checked like `send_dtmf`'s `digits` and,
//! on the answer, recorded in [`CallOutcome::dtmf_sent`].
//!
//! ## Media streaming
//!
//! A stream (`streaming_start`, or `stream_url` on `answer` or dial) opens a WebSocket to
//! `stream_url` (`ws://` only: the simulator has no TLS), with header
//! [`STREAM_AUTH_HEADER`] when `stream_auth_token` is given, and sends `connected`
//! (`version` `1.0.0`), `start` (top-level `stream_id`; `start.call_control_id`,
//! `call_session_id`, `from`, `to`, `client_state`, `custom_parameters` as an object,
//! `media_format: {"encoding": "PCMU" (or stream_codec), "sample_rate": 8000, "channels": 1}`),
//! the party's audio as `media` (`media.{track: "inbound", chunk, timestamp, payload}`,
//! 160-byte 20 ms frames; `sequence_number`, `chunk` and `timestamp` are strings), its keys
//! as `dtmf` (`dtmf.digit`), and `stop` at the end. With `stream_bidirectional_mode` the
//! application's `media` (`media.payload`, base64) plays in order at the codec's rate on
//! the simulated clock, a `mark` comes back once the audio before it played, and `clear`
//! drops the audio not played and sends the pending marks back. Everything is in
//! [`CallOutcome::streams`] ([`StreamRecord`]).
//!
//! ## What a test gets back
//!
//! [`CallOutcome`] ([`Simulator::call_outcome`], [`Simulator::wait_for_call`]): every
//! command (name, body, status), every event with its deliveries, what was heard,
//! gathers, transcriptions, streams, the hangup cause and source, the duration.
//! [`CallScript`], [`CallerInput`], [`CalleeOutcome`] and [`audio`] are the ones the
//! Twilio simulator uses (crate `telephony-simulator-voice`), so tests read the same on
//! both providers.

mod amd;
mod auth;
mod call_commands;
mod call_control_apps;
mod call_driver;
mod call_records;
mod call_state;
mod call_webhooks;
mod calls;
mod config;
mod dates;
mod detail_records;
mod errors;
mod events;
mod ids;
mod inbound;
mod inventory;
mod listings;
mod media_stream;
mod messages;
mod numbers;
mod paging;
mod recordings;
mod router;
mod running;
mod sandbox_calls;
mod simulator;
mod state;
mod surface;
mod voice_config;
mod webhooks;

pub use call_records::{
    CallEventRecord, CallOutcome, CommandRecord, DeliveryAttempt, DriveError, GatherRecord, Heard,
    InboundCall, TranscriptionRecord,
};
pub use config::{Injection, OPTED_OUT_RECIPIENT, POOL_SENDER, SimulatorConfig};
pub use ids::new_uuid;
pub use inbound::InboundSms;
pub use inventory::{ProfileUpdate, SimNumber};
pub use media_stream::{STREAM_AUTH_HEADER, StreamRecord};
pub use recordings::{RecordingRecord, recording_wav};
pub use running::RunningSimulator;
pub use sandbox_calls::call_summary;
pub use simulator::Simulator;
pub use surface::{PAGING_PARAMETERS, SIMULATED_RESOURCES, SimulatedResource};
pub use telephony_simulator_voice::{Answerer, CallScript, CalleeOutcome, CallerInput, audio};
pub use voice_config::{CallControlApp, VoiceConfig};
pub use webhooks::{SignedWebhook, WebhookRecord};
