//! Answering-machine detection on dialed calls (`answering_machine_detection`): once the
//! callee answers, its [`Answerer`] decides which `call.machine.*` events follow, and when
//! (see [`Answerer`] for the table).

use telephony_simulator_voice::{Answerer, DETECTION_MS};

/// One detection event due at a simulated moment: (`at` ms, event type, `result`).
pub(crate) type Due = (u64, &'static str, &'static str);

/// The events detection `mode` sends for `answerer`, on a call answered at `answered_ms`,
/// in order. `detect_words`/`greeting_end` behave as `detect_beep` and `premium` as
/// `detect` here; `disabled` (or no mode) sends nothing.
pub(crate) fn schedule(mode: &str, answerer: Answerer, answered_ms: u64) -> Vec<Due> {
    let detection_ended = "call.machine.detection.ended";
    let waits_for_greeting = matches!(mode, "detect_beep" | "detect_words" | "greeting_end");
    if !(waits_for_greeting || matches!(mode, "detect" | "premium")) {
        return Vec::new();
    }
    let first = answered_ms + DETECTION_MS;
    match answerer {
        Answerer::Human => vec![(first, detection_ended, "human")],
        Answerer::Unknown => vec![(first, detection_ended, "not_sure")],
        // Basic detection has no fax result.
        Answerer::Fax => vec![(first, detection_ended, "machine")],
        Answerer::Machine { greeting_ms, beep } => {
            let mut out = vec![(first, detection_ended, "machine")];
            // `detect_beep` sends the greeting's end only on a beep; the others always.
            if waits_for_greeting && (beep || mode != "detect_beep") {
                let result = if beep { "beep_detected" } else { "ended" };
                out.push((
                    (answered_ms + greeting_ms).max(first),
                    "call.machine.greeting.ended",
                    result,
                ));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_per_mode_and_answerer() {
        let beeping = Answerer::machine_beeping_after(5000);
        let silent = Answerer::Machine {
            greeting_ms: 5000,
            beep: false,
        };
        assert_eq!(
            schedule("detect", Answerer::Human, 100),
            [(2500, "call.machine.detection.ended", "human")]
        );
        assert_eq!(
            schedule("detect", beeping, 0),
            [(2400, "call.machine.detection.ended", "machine")]
        );
        assert_eq!(
            schedule("detect_beep", beeping, 1000),
            [
                (3400, "call.machine.detection.ended", "machine"),
                (6000, "call.machine.greeting.ended", "beep_detected")
            ]
        );
        assert_eq!(
            schedule("detect_beep", silent, 0),
            [(2400, "call.machine.detection.ended", "machine")]
        );
        assert_eq!(
            schedule("greeting_end", silent, 0),
            [
                (2400, "call.machine.detection.ended", "machine"),
                (5000, "call.machine.greeting.ended", "ended")
            ]
        );
        assert_eq!(
            schedule("detect_beep", Answerer::Fax, 0),
            [(2400, "call.machine.detection.ended", "machine")]
        );
        assert!(schedule("disabled", beeping, 0).is_empty());
    }
}
