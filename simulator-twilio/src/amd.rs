//! Asynchronous answering-machine detection (`MachineDetection` with `AsyncAmd=true`):
//! once the call is answered, the callee's [`Answerer`] decides what is reported, and when,
//! to `AsyncAmdStatusCallback` (signed, recorded among the call callbacks as event `amd`).
//! Synchronous detection (`AsyncAmd` absent or false) is not simulated: the call runs as
//! if none was asked for.

use telephony_core::redact::redact_url;
use telephony_simulator_voice::{Answerer, DETECTION_MS};

use crate::call_events::wait_or_end;
use crate::call_state::is_terminal;
use crate::form::first;
use crate::records::CallCallbackRecord;
use crate::signed_post::send_signed;
use crate::simulator::Simulator;

/// What a create asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detection {
    /// `DetectMessageEnd` rather than `Enable`.
    pub(crate) message_end: bool,
    /// `AsyncAmdStatusCallback`.
    pub(crate) callback: String,
}

/// The create's asynchronous detection, if it asked for one with somewhere to report it
/// (without `AsyncAmdStatusCallback` Twilio keeps the result on the call only, warning
/// 21262). `SendDigits` turns detection off, as on Twilio. A `MachineDetection` other than
/// `Enable` or `DetectMessageEnd` is Twilio's 21626-style 400, returned as `Err`.
pub(crate) fn requested(params: &[(String, String)]) -> Result<Option<Detection>, String> {
    let Some(mode) = first(params, "MachineDetection") else {
        return Ok(None);
    };
    let message_end = match mode.as_str() {
        "Enable" => false,
        "DetectMessageEnd" => true,
        other => {
            return Err(format!(
                "Invalid MachineDetection {other:?}: use Enable or DetectMessageEnd"
            ));
        }
    };
    if first(params, "SendDigits").is_some() {
        return Ok(None);
    }
    let is_async = first(params, "AsyncAmd").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(match first(params, "AsyncAmdStatusCallback") {
        Some(callback) if is_async => Some(Detection {
            message_end,
            callback,
        }),
        _ => None,
    })
}

/// `AnsweredBy` and when (simulated ms after the answer), for this answerer.
fn verdict(d: &Detection, answerer: Answerer) -> (&'static str, u64) {
    match answerer {
        Answerer::Human => ("human", DETECTION_MS),
        Answerer::Fax => ("fax", DETECTION_MS),
        Answerer::Unknown => ("unknown", DETECTION_MS),
        Answerer::Machine { .. } if !d.message_end => ("machine_start", DETECTION_MS),
        Answerer::Machine {
            greeting_ms,
            beep: true,
        } => ("machine_end_beep", greeting_ms),
        Answerer::Machine { greeting_ms, .. } => ("machine_end_silence", greeting_ms),
    }
}

/// Reports the detection for answered call `sid` when its time comes (unless the call
/// ended before).
pub(crate) fn spawn(sim: Simulator, sid: String, to: String, d: Detection) {
    tokio::spawn(async move {
        let (answered_by, at_ms) = verdict(&d, sim.answerer(&to));
        wait_or_end(&sim, &sid, sim.paced(at_ms)).await;
        let account = {
            let state = sim.lock();
            match state.calls.call(&sid) {
                Some(c) if !is_terminal(c) => c.account_sid.clone().unwrap_or_default(),
                _ => return,
            }
        };
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let params = vec![
            p("CallSid", &sid),
            p("AccountSid", &account),
            p("AnsweredBy", answered_by),
            p("MachineDetectionDuration", &at_ms.to_string()),
        ];
        let (signature, http_status, error) = send_signed(&sim, &d.callback, &params).await;
        match &error {
            None => {
                tracing::debug!(call_sid = %sid, answered_by, url = %redact_url(&d.callback), "simulator: AMD callback delivered")
            }
            Some(e) => {
                tracing::warn!(call_sid = %sid, answered_by, error = %e, "simulator: AMD callback failed (not retried)")
            }
        }
        sim.lock().calls.callbacks.push(CallCallbackRecord {
            call_sid: sid,
            event: "amd".into(),
            call_status: String::new(),
            url: d.callback,
            params,
            signature,
            http_status,
            error,
            dropped: false,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn what_is_reported_when() {
        let enable = Detection {
            message_end: false,
            callback: "u".into(),
        };
        let end = Detection {
            message_end: true,
            ..enable.clone()
        };
        let beeping = Answerer::machine_beeping_after(5000);
        let silent = Answerer::Machine {
            greeting_ms: 6000,
            beep: false,
        };
        assert_eq!(verdict(&enable, Answerer::Human), ("human", 2400));
        assert_eq!(verdict(&enable, beeping), ("machine_start", 2400));
        assert_eq!(verdict(&end, beeping), ("machine_end_beep", 5000));
        assert_eq!(verdict(&end, silent), ("machine_end_silence", 6000));
        assert_eq!(verdict(&end, Answerer::Fax), ("fax", 2400));
    }

    #[test]
    fn only_async_detection_with_a_callback_is_reported() {
        let ok = form(&[
            ("MachineDetection", "DetectMessageEnd"),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", "https://a/s"),
        ]);
        assert_eq!(
            requested(&ok),
            Ok(Some(Detection {
                message_end: true,
                callback: "https://a/s".into()
            }))
        );
        assert_eq!(requested(&ok[..2]), Ok(None));
        let mut digits = ok.clone();
        digits.push(("SendDigits".into(), "1".into()));
        assert_eq!(requested(&digits), Ok(None));
        assert_eq!(
            requested(&form(&[("MachineDetection", "Maybe")])),
            Err("Invalid MachineDetection \"Maybe\": use Enable or DetectMessageEnd".into())
        );
        assert_eq!(requested(&[]), Ok(None));
    }
}
