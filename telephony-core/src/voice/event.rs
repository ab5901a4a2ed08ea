//! [`CallEvent`]: what a voice webhook told the gateway.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::call::{Call, CallStatus};
use super::transfer::TransferOutcome;

/// A voice webhook, parsed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallEvent {
    /// A new call is ringing (or queued) and asks what to do: answer with a
    /// [`VoiceResponse`](crate::voice::VoiceResponse).
    Incoming(Call),
    /// A call in progress asks what to do next (a redirect, or the provider fetching
    /// instructions for a call it placed or a verb's `action`): answer with a
    /// `VoiceResponse`.
    Progress(Call),
    /// The result of a [`Gather`](crate::voice::Gather): what the caller said and/or typed.
    Gather {
        /// The call.
        call: Call,
        /// What was said, when speech was gathered and recognised.
        speech: Option<SpeechResult>,
        /// The keys pressed (without the finishing key).
        digits: Option<String>,
    },
    /// A call changed status (a status callback); a terminal status means it hung up.
    Status(CallStatusUpdate),
    /// A provider driven by commands ([`VoiceControl::Commands`](crate::voice::VoiceControl))
    /// finished a step of a plan (a speech ended, the call was answered) and the rest is
    /// to be carried out: hand `plan` to [`Provider::run_voice`](crate::Provider::run_voice).
    Resume {
        /// The call.
        call: Call,
        /// The rest of the plan, in the provider's own encoding.
        plan: String,
    },
    /// How a transfer went (a [`Dial`](crate::voice::Dial) the handler answered with, or
    /// a transfer made from outside): answer with what the call does next (apologise, try
    /// someone else). After [`TransferOutcome::Answered`] the call belongs to the person
    /// it was handed to: a markup provider (Twilio) runs the answer when that leg ends, a
    /// commands provider (Telnyx) bridged the legs and the answer is not run.
    ///
    /// ```
    /// use telephony_core::voice::{Call, CallDirection, CallEvent, CallStatus, TransferOutcome};
    /// let call = Call::new("CA1", "+15550005678", "+15550001234", CallDirection::Inbound, CallStatus::InProgress);
    /// let ev = CallEvent::Transfer { call, outcome: TransferOutcome::Busy, target_call_id: None };
    /// assert_eq!(ev.call_id(), "CA1");
    /// ```
    Transfer {
        /// The call that was transferred (the caller's leg).
        call: Call,
        /// How it went.
        outcome: TransferOutcome,
        /// The provider's id of the leg that rang the target, when it said.
        target_call_id: Option<String>,
    },
    /// The provider's answering-machine detection on a call placed with
    /// [`OutboundCall::machine_detection`](crate::voice::OutboundCall): who answered. The
    /// call goes on while this is handled (the gateway asks for asynchronous detection);
    /// act on it through the gateway (hang up, or say a message after the beep).
    ///
    /// ```
    /// use telephony_core::voice::{AnsweredBy, CallEvent, MachineDetected};
    /// let ev = CallEvent::MachineDetection(MachineDetected::new("CA1", AnsweredBy::MachineBeep));
    /// assert_eq!(ev.call_id(), "CA1");
    /// assert!(!ev.is_hangup());
    /// ```
    MachineDetection(super::machine::MachineDetected),
    /// A recording is ready (the provider's "recording ready" callback): the gateway
    /// stores its metadata with the call and forwards a `call.recording` event. `then` is
    /// what the call does next when the recording ended a step of a command-driven plan
    /// (a Telnyx turn recording: a [`CallEvent::Resume`]); `None` otherwise.
    ///
    /// ```
    /// use telephony_core::voice::{CallEvent, CallRecording};
    /// let rec = CallRecording::new("RE1", "CA1", time::OffsetDateTime::UNIX_EPOCH);
    /// let ev = CallEvent::Recording { recording: rec, then: None };
    /// assert_eq!(ev.call_id(), "CA1");
    /// assert!(!ev.is_hangup());
    /// ```
    Recording {
        /// The recording's metadata.
        recording: super::recording::CallRecording,
        /// The event to handle after the recording is stored.
        then: Option<Box<CallEvent>>,
    },
}

impl CallEvent {
    /// The provider's call id.
    pub fn call_id(&self) -> &str {
        match self {
            CallEvent::Incoming(c)
            | CallEvent::Progress(c)
            | CallEvent::Gather { call: c, .. }
            | CallEvent::Resume { call: c, .. }
            | CallEvent::Transfer { call: c, .. } => &c.call_id,
            CallEvent::Status(s) => &s.call_id,
            CallEvent::MachineDetection(d) => &d.call_id,
            CallEvent::Recording { recording, .. } => &recording.call_id,
        }
    }

    /// True for a status update that ends the call.
    ///
    /// ```
    /// use telephony_core::voice::{CallEvent, CallStatus, CallStatusUpdate};
    /// let ev = CallEvent::Status(CallStatusUpdate::new("CA1", CallStatus::Completed));
    /// assert!(ev.is_hangup());
    /// assert_eq!(ev.call_id(), "CA1");
    /// ```
    pub fn is_hangup(&self) -> bool {
        matches!(self, CallEvent::Status(s) if s.status.is_terminal())
    }
}

/// Recognised speech.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SpeechResult {
    /// The transcript.
    pub text: String,
    /// The recogniser's confidence, 0.0–1.0, when the provider sent one.
    pub confidence: Option<f32>,
}

impl SpeechResult {
    /// A transcript with an optional confidence.
    pub fn new(text: impl Into<String>, confidence: Option<f32>) -> Self {
        SpeechResult {
            text: text.into(),
            confidence,
        }
    }
}

/// A call status callback.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallStatusUpdate {
    /// The provider's call id.
    pub call_id: String,
    /// The new status.
    pub status: CallStatus,
    /// How long the call lasted, in seconds (on the terminal update).
    pub duration_secs: Option<u64>,
    /// The provider's event counter: updates may arrive out of order, use this (or
    /// [`CallStatus::can_advance_to`]) to order them.
    pub sequence: Option<u32>,
    /// When the provider says the change happened.
    pub timestamp: Option<OffsetDateTime>,
    /// The provider account.
    pub account: Option<String>,
    /// Every parameter the provider sent that is not a field above.
    pub extra: BTreeMap<String, String>,
}

impl CallStatusUpdate {
    /// An update with only an id and a status.
    pub fn new(call_id: impl Into<String>, status: CallStatus) -> Self {
        CallStatusUpdate {
            call_id: call_id.into(),
            status,
            duration_secs: None,
            sequence: None,
            timestamp: None,
            account: None,
            extra: BTreeMap::new(),
        }
    }
}
