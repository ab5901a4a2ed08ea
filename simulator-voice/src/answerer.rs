//! [`Answerer`]: who (or what) picks up an outbound call, as the providers' answering-machine
//! detection reports it.

/// Simulated milliseconds detection takes to tell a person, a fax or nothing from the
/// start of the answer (Twilio's default `MachineDetectionSpeechThreshold`, 2400 ms).
pub const DETECTION_MS: u64 = 2400;

/// Who picks up an answered outbound call, for answering-machine detection: set it per
/// number with each simulator's `SimulatorConfig::with_answerer`. Numbers not listed are
/// answered by a person. Without detection asked for, it changes nothing.
///
/// What each provider reports (simulated time from the answer):
///
/// | answerer | Twilio `Enable` | Twilio `DetectMessageEnd` | Telnyx `detect` | Telnyx `detect_beep` |
/// |---|---|---|---|---|
/// | `Human` | `human` at [`DETECTION_MS`] | the same | `call.machine.detection.ended` `human` | the same |
/// | `Machine` | `machine_start` at [`DETECTION_MS`] | `machine_end_beep` (or `machine_end_silence`) at `greeting_ms` | `machine` | `machine`, then `call.machine.greeting.ended` `beep_detected` at `greeting_ms` (a beep only) |
/// | `Fax` | `fax` | `fax` | `machine` (basic detection has no fax result) | the same |
/// | `Unknown` | `unknown` | `unknown` | `not_sure` | the same |
///
/// ```
/// use telephony_simulator_voice::Answerer;
/// assert_eq!(Answerer::default(), Answerer::Human);
/// let m = Answerer::machine_beeping_after(4000);
/// assert_eq!(m, Answerer::Machine { greeting_ms: 4000, beep: true });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Answerer {
    /// A person (the default).
    #[default]
    Human,
    /// An answering machine whose greeting lasts `greeting_ms`, then beeps or not.
    Machine {
        /// How long the greeting lasts, in simulated milliseconds from the answer.
        greeting_ms: u64,
        /// Whether it ends with a beep.
        beep: bool,
    },
    /// A fax machine.
    Fax,
    /// Something detection cannot tell.
    Unknown,
}

impl Answerer {
    /// A machine whose greeting beeps after `greeting_ms`.
    pub fn machine_beeping_after(greeting_ms: u64) -> Self {
        Answerer::Machine {
            greeting_ms,
            beep: true,
        }
    }
}
