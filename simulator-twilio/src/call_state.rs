//! What the simulator keeps about calls: resources, metadata, the driver's log.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use telephony_twilio::resources::CallResource;
use time::OffsetDateTime;

use crate::recipients::same_recipient;
use crate::records::{CallCallbackRecord, CallCreateRecord};
use crate::script::{
    CallEnd, CallError, CallOutcome, CallScript, DocumentRecord, GatherRecord, Heard,
};

/// Twilio's longest call, in seconds (4 hours): the `TimeLimit` when none is given.
pub(crate) const DEFAULT_TIME_LIMIT_SECS: u64 = 14_400;

/// What the driver did on a call, for [`CallOutcome`].
#[derive(Debug, Default)]
pub(crate) struct DriveLog {
    pub(crate) documents: Vec<DocumentRecord>,
    pub(crate) transcript: Vec<Heard>,
    pub(crate) gathers: Vec<GatherRecord>,
    pub(crate) error: Option<CallError>,
    pub(crate) streams: Vec<crate::records::StreamRecord>,
    pub(crate) relays: Vec<crate::records::RelayRecord>,
    pub(crate) ended_by: Option<CallEnd>,
    /// The simulator is done with the call (ended, last callback sent).
    pub(crate) finished: bool,
}

/// What the simulator keeps about a call besides its resource.
#[derive(Debug, Default)]
pub(crate) struct CallMeta {
    pub(crate) status_callback: Option<String>,
    /// The `StatusCallbackEvent` values asked for (empty: only `completed`, like Twilio).
    pub(crate) events: Vec<String>,
    /// The next `SequenceNumber`.
    pub(crate) sequence: u32,
    pub(crate) answered_at: Option<OffsetDateTime>,
    /// The simulated clock: milliseconds of call time since the answer.
    pub(crate) clock_ms: u64,
    /// A paced wait in progress: when it started and how many simulated milliseconds it
    /// covers (see [`SimulatorConfig::simulated_second`](crate::SimulatorConfig::simulated_second)).
    pub(crate) waiting: Option<(Instant, u64)>,
    /// Woken when the call ends, so that a paced wait stops at once.
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// `SipResponseCode` for the `completed` callback (busy, no-answer, failed).
    pub(crate) sip_response_code: Option<u16>,
    /// Instructions a live update (`POST …/Calls/{Sid}.json` with `Twiml` or `Url`)
    /// put in place of the running ones; the driver takes them at its next step.
    pub(crate) replacement: Option<crate::driver::Instructions>,
    pub(crate) log: DriveLog,
    /// When the call was created (real time; an inbound call's first webhook follows at
    /// once).
    pub(crate) created: Option<Instant>,
}

/// Calls, by SID.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    pub(crate) calls: Vec<CallResource>,
    index: HashMap<String, usize>,
    pub(crate) meta: HashMap<String, CallMeta>,
    pub(crate) create_requests: Vec<CallCreateRecord>,
    /// `POST …/Calls/{Sid}.json` forms, with the SID, in arrival order.
    pub(crate) update_requests: Vec<(String, Vec<(String, String)>)>,
    pub(crate) callbacks: Vec<CallCallbackRecord>,
    pub(crate) dropped_events: Vec<String>,
    /// Scripts for the next outbound calls, by callee (see [`Simulator::script_next_call`]).
    pub(crate) scripts: Vec<(String, VecDeque<CallScript>)>,
}

impl CallState {
    pub(crate) fn call(&self, sid: &str) -> Option<&CallResource> {
        self.index.get(sid).map(|&i| &self.calls[i])
    }

    pub(crate) fn call_mut(&mut self, sid: &str) -> Option<&mut CallResource> {
        let i = *self.index.get(sid)?;
        self.calls.get_mut(i)
    }

    /// Stores a new call.
    pub(crate) fn insert(&mut self, resource: CallResource, meta: CallMeta) {
        self.index.insert(resource.sid.clone(), self.calls.len());
        self.meta.insert(resource.sid.clone(), meta);
        self.calls.push(resource);
    }

    /// The script queued for the next call to `to`, if any.
    pub(crate) fn take_script(&mut self, to: &str) -> Option<CallScript> {
        let (_, queue) = self
            .scripts
            .iter_mut()
            .find(|(number, q)| !q.is_empty() && same_recipient(number, to))?;
        queue.pop_front()
    }

    /// What a test sees of a call: its resource and the driver's log.
    pub(crate) fn outcome(&self, sid: &str) -> Option<CallOutcome> {
        let call = self.call(sid)?;
        let meta = self.meta.get(sid)?;
        let log = &meta.log;
        Some(CallOutcome {
            call_sid: call.sid.clone(),
            direction: call.direction.clone().unwrap_or_default(),
            status: call.status.clone().unwrap_or_default(),
            duration_secs: call.duration.as_deref().and_then(|d| d.parse().ok()),
            answered: meta.answered_at.is_some(),
            ended_by: log.ended_by,
            finished: log.finished,
            documents: log.documents.clone(),
            transcript: log.transcript.clone(),
            gathers: log.gathers.clone(),
            error: log.error.clone(),
            streams: log.streams.clone(),
            relays: log.relays.clone(),
        })
    }
}

/// Whether a call has ended.
pub(crate) fn is_terminal(c: &CallResource) -> bool {
    !matches!(
        c.status.as_deref(),
        Some("queued") | Some("ringing") | Some("in-progress")
    )
}
