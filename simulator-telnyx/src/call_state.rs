//! What the simulator keeps about calls: each call's identity and state, the channel to
//! the task that drives it, and its log (the [`CallOutcome`] in the making).

use std::collections::{HashMap, HashSet, VecDeque};

use rand::Rng;
use telephony_simulator_voice::CallScript;
use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedSender;

use crate::call_driver::Command;
use crate::call_records::{
    CallEventRecord, CallOutcome, CommandRecord, GatherRecord, Heard, TranscriptionRecord,
};
use crate::media_stream::StreamRecord;

/// Telnyx's longest call leg when no `time_limit_secs` is given: 4 hours.
pub(crate) const DEFAULT_TIME_LIMIT_SECS: u64 = 14_400;

/// A `call_control_id` as Telnyx writes them: `v3:` and 54 URL-safe characters.
pub(crate) fn new_call_control_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    let tail: String = (0..54)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("v3:{tail}")
}

/// One call.
#[derive(Debug)]
pub(crate) struct CallRecord {
    pub(crate) call_control_id: String,
    pub(crate) call_leg_id: String,
    pub(crate) call_session_id: String,
    pub(crate) connection_id: String,
    /// `incoming` or `outgoing`.
    pub(crate) direction: &'static str,
    pub(crate) from: String,
    pub(crate) to: String,
    /// `parked`, `bridging`, `answered`, `hangup`.
    pub(crate) state: &'static str,
    pub(crate) answered: bool,
    pub(crate) client_state: Option<String>,
    /// Where its events go now.
    pub(crate) webhook_url: String,
    pub(crate) failover_url: Option<String>,
    pub(crate) start_time: OffsetDateTime,
    pub(crate) end_time: Option<OffsetDateTime>,
    /// The simulated clock: ms since the call started.
    pub(crate) clock_ms: u64,
    pub(crate) answered_ms: Option<u64>,
    pub(crate) hangup_cause: Option<String>,
    pub(crate) hangup_source: Option<String>,
    /// `command_id`s seen (repeats are ignored).
    pub(crate) command_ids: HashSet<String>,
    /// The driver's inbox; `None` once it stopped.
    pub(crate) commands: Option<UnboundedSender<Command>>,
    pub(crate) finished: bool,
    /// A transfer's new leg: the call it was transferred from (bridged once answered).
    pub(crate) transferred_from: Option<String>,
    pub(crate) log: CallLog,
    /// When the call was created (real time; an inbound call's `call.initiated` follows
    /// at once).
    pub(crate) created: std::time::Instant,
}

/// Everything recorded on a call.
#[derive(Debug, Default)]
pub(crate) struct CallLog {
    pub(crate) commands: Vec<CommandRecord>,
    pub(crate) events: Vec<CallEventRecord>,
    pub(crate) heard: Vec<Heard>,
    pub(crate) gathers: Vec<GatherRecord>,
    pub(crate) transcriptions: Vec<TranscriptionRecord>,
    pub(crate) dtmf_sent: Vec<String>,
    pub(crate) streams: Vec<StreamRecord>,
    pub(crate) notes: Vec<String>,
}

impl CallRecord {
    /// Whether commands can still act on it.
    pub(crate) fn alive(&self) -> bool {
        self.state != "hangup"
    }

    /// `call_duration`: seconds since the answer, on the simulated clock.
    pub(crate) fn duration_secs(&self) -> u64 {
        self.answered_ms
            .map(|at| self.clock_ms.saturating_sub(at) / 1000)
            .unwrap_or(0)
    }

    pub(crate) fn outcome(&self) -> CallOutcome {
        CallOutcome {
            call_control_id: self.call_control_id.clone(),
            call_leg_id: self.call_leg_id.clone(),
            call_session_id: self.call_session_id.clone(),
            direction: self.direction.to_string(),
            from: self.from.clone(),
            to: self.to.clone(),
            state: self.state.to_string(),
            answered: self.answered,
            hangup_cause: self.hangup_cause.clone(),
            hangup_source: self.hangup_source.clone(),
            duration_secs: self.duration_secs(),
            finished: self.finished,
            commands: self.log.commands.clone(),
            events: self.log.events.clone(),
            transcript: self.log.heard.clone(),
            gathers: self.log.gathers.clone(),
            transcriptions: self.log.transcriptions.clone(),
            dtmf_sent: self.log.dtmf_sent.clone(),
            streams: self.log.streams.clone(),
            notes: self.log.notes.clone(),
        }
    }
}

/// Every call, by `call_control_id`.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    pub(crate) calls: HashMap<String, CallRecord>,
    /// `call_control_id`s, oldest first.
    pub(crate) order: Vec<String>,
    /// Event types never sent (see `Simulator::drop_call_events`).
    pub(crate) dropped_events: Vec<String>,
    /// Scripts for the callees of the next outbound calls, by number.
    pub(crate) scripts: Vec<(String, VecDeque<CallScript>)>,
    /// Every `POST /v2/calls` body received, refused ones too.
    pub(crate) dial_requests: Vec<serde_json::Value>,
    /// The Call Control applications (loaded from the settings on first use).
    pub(crate) apps: Vec<crate::voice_config::CallControlApp>,
    pub(crate) apps_loaded: bool,
    /// Every `PATCH /v2/call_control_applications/{id}` body applied.
    pub(crate) app_updates: Vec<serde_json::Value>,
}

impl CallState {
    pub(crate) fn insert(&mut self, call: CallRecord) {
        self.order.push(call.call_control_id.clone());
        self.calls.insert(call.call_control_id.clone(), call);
    }

    pub(crate) fn get(&self, id: &str) -> Option<&CallRecord> {
        self.calls.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut CallRecord> {
        self.calls.get_mut(id)
    }

    /// The next script queued for callee `to`, or a silent one.
    pub(crate) fn take_script(&mut self, to: &str) -> CallScript {
        self.scripts
            .iter_mut()
            .find(|(n, _)| {
                match (
                    telephony_core::PhoneNumber::parse(n),
                    telephony_core::PhoneNumber::parse(to),
                ) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => n == to,
                }
            })
            .and_then(|(_, q)| q.pop_front())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_control_ids_look_like_telnyx_ones() {
        let id = new_call_control_id();
        assert_eq!(id.len(), 57);
        assert!(id.starts_with("v3:"));
        assert!(
            id[3..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(id, new_call_control_id());
    }
}
