//! Voice: calls, what a call webhook says ([`CallEvent`]), and what to answer
//! ([`VoiceResponse`]).
//!
//! Everything here is provider-neutral. A provider parses its voice webhooks into
//! [`WebhookEvent::Call`](crate::WebhookEvent::Call) and renders a [`VoiceResponse`] in
//! its own markup with [`Provider::render_voice`](crate::Provider::render_voice), or, for a
//! provider driven by commands, as a plan carried out by
//! [`Provider::run_voice`](crate::Provider::run_voice) (see [`VoiceControl`]); the gateway
//! only sees these types.
//!
//! ```
//! use telephony_core::voice::{CallEvent, Gather, SpeechTimeout, VoiceResponse};
//!
//! fn answer(event: &CallEvent) -> VoiceResponse {
//!     match event {
//!         CallEvent::Incoming(_) => VoiceResponse::new().gather(
//!             Gather::new()
//!                 .speech()
//!                 .speech_timeout(SpeechTimeout::Auto)
//!                 .action("https://gw.example.com/voice/gather")
//!                 .say("Hello! How can I help?"),
//!         ),
//!         CallEvent::Gather { speech: Some(s), .. } => {
//!             VoiceResponse::new().say(format!("You said {}", s.text)).hangup()
//!         }
//!         _ => VoiceResponse::new().hangup(),
//!     }
//! }
//! # let _ = answer;
//! ```

mod call;
mod control;
mod dtmf;
mod dtmf_tones;
mod error;
mod event;
mod machine;
mod outbound;
mod realtime;
mod recording;
mod response;
mod session;
mod transfer;

pub use call::{Call, CallDirection, CallStatus, UnknownCallStatus};
pub use control::{ACTION_EXTRA, VoiceControl, VoiceRun};
pub use dtmf::{Digits, DigitsError, MAX_DIGITS};
pub use dtmf_tones::{GAP_MS, TONE_MS, dtmf_frequencies, dtmf_pcm};
pub use error::VoiceError;
pub use event::{CallEvent, CallStatusUpdate, SpeechResult};
pub use machine::{AnsweredBy, MachineDetected, MachineDetection};
pub use outbound::{CallAnswer, OutboundCall};
pub use realtime::{
    AudioFrame, Realtime, RealtimeError, RelayCommand, RelayEvent, RelaySetup, RelayVerb,
    StreamCommand, StreamEvent, StreamStart, StreamVerb,
};
pub use recording::{
    CallRecording, RecordCall, RecordingChannels, RecordingMedia, UnknownRecordingChannels,
};
pub use response::{
    Dial, Gather, GatherPrompt, Play, Record, Redirect, RejectReason, Say, SpeechTimeout, Verb,
    VoiceResponse,
};
pub use session::{Session, SessionChannel, SessionReply, SessionState};
pub use transfer::{CallUpdate, TransferOutcome, TransferTargetError, transfer_target};
