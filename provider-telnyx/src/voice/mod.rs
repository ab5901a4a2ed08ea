//! Telnyx voice through Call Control: the gateway's neutral [`VoiceResponse`]s carried
//! out as commands, Telnyx's call events as neutral [`CallEvent`]s, and media streaming.
//!
//! Call Control is imperative: Telnyx POSTs an event for everything that happens on a
//! call and the application acts with `POST /v2/calls/{call_control_id}/actions/{command}`.
//! So [`TelnyxProvider`](crate::TelnyxProvider) is a
//! [`VoiceControl::Commands`](telephony_core::voice::VoiceControl) provider:
//!
//! - [`render`] turns a response into a plan of [`Step`]s (refusing, by name, what Call
//!   Control cannot do the way the response asks);
//! - [`Provider::run_voice`](telephony_core::Provider::run_voice) answers a parked
//!   inbound call (or rejects it), then sends the first step's command (`speak`,
//!   `playback_start`, `gather_using_speak` + `transcription_start`, `streaming_start`,
//!   `hangup`, …) with the rest of the plan in `client_state` ([`CallState`]);
//! - [`parse_call_event`] reads the event that ends a step (`call.speak.ended`,
//!   `call.gather.ended`, a final `call.transcription`, …) back into a
//!   [`CallEvent::Resume`] with the rest, or a [`CallEvent::Gather`] with the caller's
//!   answer and the gather's action URL.
//!
//! Everything a call needs travels in its `client_state`, so any replica can take its
//! next event. Commands carry a `command_id` derived from the event and the plan, so a
//! redelivered event does not run them twice. A command refused because the call ended
//! (error 90018) ends the plan quietly.
//!
//! | `VoiceResponse` verb | Call Control |
//! |---|---|
//! | `Say` | `speak` (voice: the `Say`'s, mapped by [`tts_voice`], else `telnyx.ttsVoice`) |
//! | `Play` | `playback_start` |
//! | `Pause` | a key `gather` nobody answers, as Telnyx's own timer (at most [`MAX_PAUSE_SECS`]; a key press ends it early) |
//! | `Gather` | `gather_using_speak` / `gather_using_audio` / `gather` (keys, and the timeout), plus `transcription_start` for speech |
//! | `Hangup`, end of the response | `hangup` |
//! | `Reject` | `reject` (`CALL_REJECTED` / `USER_BUSY`) before the answer, else `hangup` |
//! | `Redirect` | the gateway answers the URL itself |
//! | `Stream` | `streaming_start` (bidirectional RTP, PCMU) |
//! | `Dial` | `transfer` (the new leg's events are the outcome) |
//! | `Record`, relay | refused when rendered |
//!
//! [`VoiceResponse`]: telephony_core::voice::VoiceResponse
//! [`CallEvent`]: telephony_core::voice::CallEvent
//! [`CallEvent::Resume`]: telephony_core::voice::CallEvent::Resume
//! [`CallEvent::Gather`]: telephony_core::voice::CallEvent::Gather

mod events;
mod plan;
mod realtime;
mod run;

pub use events::{
    EVENT_ID_EXTRA, GATHERING_EXTRA, RECORDINGS_API, TRANSCRIBING_EXTRA, answered_by,
    hangup_status, is_call_event, parse_call_event,
};
pub use plan::{
    CallState, DEFAULT_GATHER_TIMEOUT_SECS, DEFAULT_RECORD_MAX_SECS, DEFAULT_RECORD_TIMEOUT_SECS,
    GatherStep, Step, Wait, decode_plan, encode_plan, render,
};
pub use run::{MAX_PAUSE_SECS, tts_voice};
pub(crate) use run::{run, run_update};
