//! Answering-machine detection: what to ask the provider for ([`MachineDetection`]) and
//! what it found ([`AnsweredBy`], [`MachineDetected`]).

use std::fmt;

use time::OffsetDateTime;

/// How an outbound call asks the provider to detect answering machines.
///
/// ```
/// use telephony_core::voice::MachineDetection;
/// assert_eq!(MachineDetection::parse("wait-for-beep"), Some(MachineDetection::WaitForBeep));
/// assert_eq!(MachineDetection::Detect.as_str(), "detect");
/// assert_eq!(MachineDetection::parse("maybe"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MachineDetection {
    /// Tell a person from a machine as soon as possible (Twilio `MachineDetection=Enable`,
    /// Telnyx `answering_machine_detection: "detect"`).
    Detect,
    /// Also wait for a machine's greeting to end, usually at the beep, so a message can be
    /// left after it (Twilio `DetectMessageEnd`, Telnyx `detect_beep`).
    WaitForBeep,
}

impl MachineDetection {
    /// `detect` or `wait-for-beep`.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineDetection::Detect => "detect",
            MachineDetection::WaitForBeep => "wait-for-beep",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "detect" => Some(MachineDetection::Detect),
            "wait-for-beep" => Some(MachineDetection::WaitForBeep),
            _ => None,
        }
    }
}

/// Who (or what) answered an outbound call, as the provider's detection found.
///
/// The names are the gateway's own, the same for every provider; each provider's values
/// map onto them (Twilio `AnsweredBy`: `machine_start` → `machine`, `machine_end_beep` →
/// `machine_beep`, `machine_end_silence`/`machine_end_other` → `machine_no_beep`; Telnyx
/// `not_sure` → `unknown`, `greeting.ended` `beep_detected` → `machine_beep`).
///
/// ```
/// use telephony_core::voice::AnsweredBy;
/// assert_eq!(AnsweredBy::parse("machine_beep"), Some(AnsweredBy::MachineBeep));
/// assert!(AnsweredBy::MachineNoBeep.is_machine());
/// assert!(!AnsweredBy::Fax.is_machine());
/// assert_eq!(AnsweredBy::Human.to_string(), "human");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnsweredBy {
    /// A person.
    Human,
    /// An answering machine (its greeting's end not waited for).
    Machine,
    /// An answering machine whose greeting ended with a beep: a message left now is
    /// recorded.
    MachineBeep,
    /// An answering machine whose greeting ended without a beep (silence, or the
    /// detection gave up waiting).
    MachineNoBeep,
    /// A fax machine.
    Fax,
    /// The provider could not tell.
    Unknown,
}

impl AnsweredBy {
    const ALL: [AnsweredBy; 6] = [
        AnsweredBy::Human,
        AnsweredBy::Machine,
        AnsweredBy::MachineBeep,
        AnsweredBy::MachineNoBeep,
        AnsweredBy::Fax,
        AnsweredBy::Unknown,
    ];

    /// The stored name: `human`, `machine`, `machine_beep`, `machine_no_beep`, `fax`,
    /// `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnsweredBy::Human => "human",
            AnsweredBy::Machine => "machine",
            AnsweredBy::MachineBeep => "machine_beep",
            AnsweredBy::MachineNoBeep => "machine_no_beep",
            AnsweredBy::Fax => "fax",
            AnsweredBy::Unknown => "unknown",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// True for the three answering-machine results.
    pub fn is_machine(self) -> bool {
        matches!(
            self,
            AnsweredBy::Machine | AnsweredBy::MachineBeep | AnsweredBy::MachineNoBeep
        )
    }

    /// True when the machine's greeting is over (a message left now is heard by the
    /// recording).
    pub fn greeting_ended(self) -> bool {
        matches!(self, AnsweredBy::MachineBeep | AnsweredBy::MachineNoBeep)
    }
}

impl fmt::Display for AnsweredBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A detection result for a call ([`CallEvent::MachineDetection`](super::CallEvent)).
///
/// A call asked to [`WaitForBeep`](MachineDetection::WaitForBeep) may get two: `machine`
/// first (Telnyx), then `machine_beep` when the greeting ends.
///
/// ```
/// use telephony_core::voice::{AnsweredBy, MachineDetected};
/// let d = MachineDetected::new("CA1", AnsweredBy::MachineBeep).duration_ms(4120);
/// assert_eq!((d.call_id.as_str(), d.answered_by, d.duration_ms), ("CA1", AnsweredBy::MachineBeep, Some(4120)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MachineDetected {
    /// The provider's call id.
    pub call_id: String,
    /// What answered.
    pub answered_by: AnsweredBy,
    /// How long the detection took, when the provider says (Twilio
    /// `MachineDetectionDuration`).
    pub duration_ms: Option<u64>,
    /// The provider account.
    pub account: Option<String>,
    /// When the provider says it happened.
    pub timestamp: Option<OffsetDateTime>,
    /// The provider's own value (`machine_end_beep`, `beep_detected`, …).
    pub raw: Option<String>,
}

impl MachineDetected {
    /// A result with only a call id and what answered.
    pub fn new(call_id: impl Into<String>, answered_by: AnsweredBy) -> Self {
        MachineDetected {
            call_id: call_id.into(),
            answered_by,
            duration_ms: None,
            account: None,
            timestamp: None,
            raw: None,
        }
    }

    /// Sets how long the detection took.
    pub fn duration_ms(mut self, ms: u64) -> Self {
        self.duration_ms = Some(ms);
        self
    }

    /// Sets the provider's own value.
    pub fn raw(mut self, raw: impl Into<String>) -> Self {
        self.raw = Some(raw.into());
        self
    }
}
