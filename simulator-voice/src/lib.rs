//! What the Twilio and Telnyx simulators share about a simulated call, so that a test
//! reads the same on both providers:
//!
//! - [`CallScript`] and [`CallerInput`]: what the simulated caller (or callee) says,
//!   presses, plays and waits for, in order;
//! - [`CalleeOutcome`]: how a dialed number answers (answers, busy, no answer, fails);
//! - [`Answerer`]: who picks up, for answering-machine detection (person, machine with or
//!   without a beep, fax);
//! - [`audio`]: 8 kHz μ-law (G.711, Telnyx's `PCMU`) helpers: encode, decode, test tones,
//!   WAV files.
//!
//! Both `telephony-twilio-simulator` and `telephony-telnyx-simulator` re-export these
//! items, so tests name them through the simulator they drive.
//!
//! ```
//! use telephony_simulator_voice::{CallScript, CallerInput, CalleeOutcome};
//! let script = CallScript::new().say("Book a table").press("1#").hang_up_when_done();
//! assert_eq!(script.inputs[1], CallerInput::Digits("1#".into()));
//! assert_eq!(CalleeOutcome::default(), CalleeOutcome::Answer);
//! ```

mod answerer;
pub mod audio;
mod script;

pub use answerer::{Answerer, DETECTION_MS};
pub use script::{CallScript, CalleeOutcome, CallerInput};
