//! A [`VoiceResponse`] as a Call Control *plan*: the steps to carry out in order, and the
//! per-call state (`client_state`) that carries the rest of the plan from one event to
//! the next.
//!
//! Rendering refuses, with the verb's name, what Call Control cannot do the way the
//! response asks (a `<Record transcribe>`, a relay, a gather prompt mixing speech and
//! audio), so a handler learns it when it answers, not when a caller hears silence. A
//! `<Dial>` is a `transfer`: the new leg carries the state that names the call it came
//! from and where its outcome goes (`target_leg_client_state`).

use std::collections::VecDeque;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use telephony_core::voice::{
    GatherPrompt, RejectReason, SpeechTimeout, Verb, VoiceError, VoiceResponse,
};

use crate::client::PROVIDER;

/// Seconds a gather waits for input when the response does not say (Twilio's default,
/// so a response means the same on both providers).
pub const DEFAULT_GATHER_TIMEOUT_SECS: u32 = 5;

/// Longest turn recording when the response does not say (Twilio's `<Record maxLength>`
/// default: one hour).
pub const DEFAULT_RECORD_MAX_SECS: u32 = 3600;

/// Seconds of silence that end a turn recording when the response does not say (Twilio's
/// `<Record timeout>` default).
pub const DEFAULT_RECORD_TIMEOUT_SECS: u32 = 5;

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Step {
    /// `speak`, then wait for `call.speak.ended`.
    Speak {
        /// The text.
        text: String,
        /// The voice (the configured default when `None`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
        /// The language.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
    },
    /// `playback_start`, then wait for `call.playback.ended`.
    Play {
        /// The audio's URL.
        url: String,
        /// Times to play it.
        loops: u32,
    },
    /// Silence: a key `gather` that only waits (Call Control has no pause), then the next
    /// step.
    Pause {
        /// Seconds.
        secs: u32,
    },
    /// Listen for speech and/or keys.
    Gather(GatherStep),
    /// `hangup`.
    Hangup,
    /// `reject` (a call not answered yet) or `hangup` (an answered one).
    Reject {
        /// `busy` rather than `rejected`.
        busy: bool,
    },
    /// Ask the gateway for the next response at this URL.
    Redirect {
        /// The URL.
        url: String,
    },
    /// `record_start` for the rest of the call (WAV, `channels` `single` or `dual`), then
    /// the next step at once: the recording ends with the call.
    RecordCall {
        /// `single` or `dual`.
        channels: String,
    },
    /// A turn recording: `record_start` (single channel, WAV, a beep) that ends on
    /// `timeout` seconds of silence or after `max` seconds, then wait for
    /// `call.recording.saved`.
    Record {
        /// Longest recording, seconds.
        max: u32,
        /// Silence that ends it, seconds.
        timeout: u32,
    },
    /// `streaming_start` (bidirectional μ-law), then wait for `streaming.stopped`.
    Stream {
        /// The WebSocket URL.
        url: String,
        /// Custom parameters (they arrive in the `start` frame).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        params: Vec<(String, String)>,
    },
    /// `transfer` to a number or SIP URI; the new leg's events report the outcome.
    Transfer {
        /// The target (E.164 or `sip:`).
        to: String,
        /// The caller id the target sees (Telnyx's default: the call's `to`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// Seconds to ring.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<u32>,
        /// Where the outcome goes (the gateway's own parameters live in its query).
        action: String,
    },
    /// `send_dtmf` (`w` half a second, `W` one second), then the next step at once:
    /// Telnyx sends no event when the tones end.
    SendDigits {
        /// The digits, checked ([`Digits`](telephony_core::voice::Digits)).
        digits: String,
    },
}

/// A gather: its prompt, what it listens for, and where the result goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatherStep {
    /// The spoken prompt (one `gather_using_speak`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// The prompt's voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// An audio prompt (one `gather_using_audio`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<String>,
    /// Listen for speech (`transcription_start` beside the key gather).
    pub speech: bool,
    /// Seconds to wait for input after the prompt.
    pub timeout: u32,
    /// The key that ends the digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<String>,
    /// How many digits end the gather.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<u32>,
    /// The speech language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where the result goes (the gateway's own parameters live in its query).
    pub action: String,
}

/// What a call is waiting for, kept in `client_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// `call.answered`.
    Answer,
    /// `call.speak.ended`.
    Speak,
    /// `call.playback.ended`.
    Play,
    /// A gather's result: `call.gather.ended` or a final `call.transcription`.
    Gather,
    /// `streaming.stopped`.
    Stream,
    /// The `call.gather.ended` that ends a pause.
    Pause,
    /// `call.recording.saved` of a turn recording.
    Record,
    /// Nothing (the call is being hung up).
    Nothing,
    /// On a transfer's new leg: its answer or hang-up is the transfer's outcome.
    Transfer,
}

/// The state a call carries at Telnyx (base64 JSON in `client_state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallState {
    /// What the call waits for.
    pub w: Wait,
    /// The rest of the plan, run when it comes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub p: Vec<Step>,
    /// The pending gather's action URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    /// A transcription runs for the pending gather.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub t: bool,
    /// On a transfer's new leg: the `call_control_id` of the call that was transferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<String>,
}

/// The prefix that marks a `client_state` as the gateway's (other apps' states are
/// ignored rather than misread).
const STATE_PREFIX: &str = "tg1:";

impl CallState {
    /// Waits for `w`, then runs `rest`.
    pub fn new(w: Wait, rest: &VecDeque<Step>) -> Self {
        CallState {
            w,
            p: rest.iter().cloned().collect(),
            a: None,
            t: false,
            o: None,
        }
    }

    /// The `client_state` value: base64 of `tg1:` + JSON.
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// use telephony_telnyx::voice::{CallState, Step, Wait};
    /// let state = CallState::new(Wait::Speak, &VecDeque::from([Step::Hangup]));
    /// let wire = state.encode();
    /// assert_eq!(CallState::decode(&wire), Some(state));
    /// assert_eq!(CallState::decode("aGF2ZSBhIG5pY2UgZGF5ID1d"), None); // someone else's
    /// ```
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        STANDARD.encode(format!("{STATE_PREFIX}{json}"))
    }

    /// Reads a `client_state`; `None` when it is not the gateway's.
    pub fn decode(wire: &str) -> Option<CallState> {
        let bytes = STANDARD.decode(wire.trim()).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        serde_json::from_str(text.strip_prefix(STATE_PREFIX)?).ok()
    }
}

/// A plan's wire form (the body [`render`] returns and [`CallEvent::Resume`] carries).
///
/// [`CallEvent::Resume`]: telephony_core::voice::CallEvent::Resume
pub fn encode_plan(steps: &[Step]) -> String {
    serde_json::to_string(steps).unwrap_or_else(|_| "[]".into())
}

/// Reads a plan.
pub fn decode_plan(bytes: &[u8]) -> Result<VecDeque<Step>, VoiceError> {
    serde_json::from_slice(bytes).map_err(|e| VoiceError::Invalid {
        provider: PROVIDER,
        reason: format!("not a Telnyx call plan: {e}"),
    })
}

fn refuse(verb: &str, why: &str) -> VoiceError {
    VoiceError::Invalid {
        provider: PROVIDER,
        reason: format!("<{verb}> {why} on Telnyx Call Control"),
    }
}

/// Turns a response into a plan. `<Say loop>` and `<Play loop>` repeat; a `<Redirect>`
/// ends the plan (what follows it never runs, as in TwiML); an empty response hangs up.
///
/// ```
/// use telephony_core::voice::{Gather, VoiceResponse};
/// use telephony_telnyx::voice::{render, Step};
/// let plan = render(&VoiceResponse::new().say("Hi").hangup())?;
/// assert_eq!(plan, [Step::Speak { text: "Hi".into(), voice: None, language: None }, Step::Hangup]);
/// let err = render(&VoiceResponse::new().dial("+15550005678")).unwrap_err();
/// assert_eq!(err.to_string(), "provider telnyx cannot render this voice response: <Dial> needs an action URL (the gateway fills it in) on Telnyx Call Control");
/// # Ok::<(), telephony_core::voice::VoiceError>(())
/// ```
pub fn render(response: &VoiceResponse) -> Result<Vec<Step>, VoiceError> {
    let mut plan = Vec::new();
    for verb in response.verbs() {
        match verb {
            Verb::Say(s) => {
                for _ in 0..s.loop_count.unwrap_or(1).max(1) {
                    plan.push(Step::Speak {
                        text: s.text.clone(),
                        voice: s.voice.clone(),
                        language: s.language.clone(),
                    });
                }
            }
            Verb::Play(p) => plan.push(Step::Play {
                url: p.url.clone(),
                loops: p.loop_count.unwrap_or(1).max(1),
            }),
            Verb::Pause { seconds } => plan.push(Step::Pause { secs: *seconds }),
            Verb::Gather(g) => {
                let mut step = GatherStep {
                    say: None,
                    voice: None,
                    audio: None,
                    speech: g.speech,
                    timeout: g.timeout.unwrap_or(DEFAULT_GATHER_TIMEOUT_SECS).max(1),
                    finish: g.finish_on_key.clone().filter(|k| !k.is_empty()),
                    digits: g.num_digits,
                    language: g.language.clone(),
                    action: g.action.clone().ok_or_else(|| {
                        refuse("Gather", "needs an action URL (the gateway fills it in)")
                    })?,
                };
                if let Some(SpeechTimeout::Seconds(s)) = g.speech_timeout {
                    // Call Control's transcription ends an utterance by itself; the
                    // speech timeout bounds the wait for the first words instead.
                    step.timeout = step.timeout.max(s);
                }
                let mut texts: Vec<&str> = Vec::new();
                for prompt in &g.prompts {
                    match prompt {
                        GatherPrompt::Say(s) => {
                            texts.push(&s.text);
                            if step.voice.is_none() {
                                step.voice = s.voice.clone();
                            }
                            if step.language.is_none() {
                                step.language = s.language.clone();
                            }
                        }
                        GatherPrompt::Play(p) => {
                            if step.audio.is_some() {
                                return Err(refuse(
                                    "Gather",
                                    "with more than one <Play> prompt is not supported",
                                ));
                            }
                            step.audio = Some(p.url.clone());
                        }
                        GatherPrompt::Pause { .. } => {}
                        _ => return Err(refuse("Gather", "has a prompt that is not supported")),
                    }
                }
                if !texts.is_empty() && step.audio.is_some() {
                    return Err(refuse(
                        "Gather",
                        "mixing <Say> and <Play> prompts is not supported",
                    ));
                }
                if !texts.is_empty() {
                    step.say = Some(texts.join(" "));
                }
                plan.push(Step::Gather(step));
            }
            Verb::Hangup => plan.push(Step::Hangup),
            Verb::Reject(reason) => plan.push(Step::Reject {
                busy: *reason == RejectReason::Busy,
            }),
            Verb::Redirect(r) => {
                plan.push(Step::Redirect { url: r.url.clone() });
                break;
            }
            Verb::Stream(s) => plan.push(Step::Stream {
                url: s
                    .url
                    .clone()
                    .ok_or_else(|| refuse("Stream", "needs a url (the gateway fills it in)"))?,
                params: s.parameters.clone(),
            }),
            Verb::Dial(d) => {
                plan.push(Step::Transfer {
                    to: d.number.trim().to_string(),
                    from: d.caller_id.clone(),
                    timeout: d.timeout,
                    action: d.action.clone().ok_or_else(|| {
                        refuse("Dial", "needs an action URL (the gateway fills it in)")
                    })?,
                });
                // As in TwiML, what follows a <Dial action> never runs: the outcome asks
                // for the next answer.
                break;
            }
            Verb::SendDigits(d) => plan.push(Step::SendDigits {
                digits: d.to_string(),
            }),
            Verb::Record(r) => {
                if r.transcribe {
                    return Err(refuse(
                        "Record",
                        "with transcribe is not supported (record_start has no transcription)",
                    ));
                }
                plan.push(Step::Record {
                    max: r
                        .max_length_secs
                        .unwrap_or(DEFAULT_RECORD_MAX_SECS)
                        .clamp(1, 14_400),
                    timeout: r.timeout_secs.unwrap_or(DEFAULT_RECORD_TIMEOUT_SECS),
                });
                // As in TwiML, a <Record action> continues at its action: what follows
                // it never runs.
                if let Some(action) = &r.action {
                    plan.push(Step::Redirect {
                        url: action.clone(),
                    });
                    break;
                }
            }
            Verb::RecordCall(r) => plan.push(Step::RecordCall {
                channels: r.channels.as_str().to_string(),
            }),
            Verb::Relay(_) => {
                return Err(refuse(
                    "Connect><ConversationRelay",
                    "is not supported (use voice.mode \"stream\")",
                ));
            }
            _ => return Err(refuse("unknown", "is not supported")),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony_core::voice::{Gather, Say, StreamVerb};

    #[test]
    fn the_default_flow_renders_and_round_trips() {
        let r = VoiceResponse::new()
            .gather(
                Gather::new()
                    .speech()
                    .action("https://gw/v?call=c&turn=1")
                    .say(Say::new("Hello").voice("Polly.Amy")),
            )
            .say(Say::new("Bye").loop_count(2))
            .hangup();
        let plan = render(&r).unwrap();
        assert_eq!(
            plan,
            [
                Step::Gather(GatherStep {
                    say: Some("Hello".into()),
                    voice: Some("Polly.Amy".into()),
                    audio: None,
                    speech: true,
                    timeout: 5,
                    finish: None,
                    digits: None,
                    language: None,
                    action: "https://gw/v?call=c&turn=1".into(),
                }),
                Step::Speak {
                    text: "Bye".into(),
                    voice: None,
                    language: None
                },
                Step::Speak {
                    text: "Bye".into(),
                    voice: None,
                    language: None
                },
                Step::Hangup,
            ]
        );
        let wire = encode_plan(&plan);
        assert_eq!(decode_plan(wire.as_bytes()).unwrap(), plan);
        let mut state = CallState::new(Wait::Gather, &plan.iter().cloned().collect());
        state.a = Some("https://gw/v?call=c&turn=1".into());
        state.t = true;
        assert_eq!(CallState::decode(&state.encode()), Some(state));
    }

    #[test]
    fn what_call_control_cannot_do_is_refused_by_name() {
        let cases = [
            (
                VoiceResponse::new().record(telephony_core::voice::Record::new().transcribe(true)),
                "<Record> with transcribe is not supported (record_start has no transcription) on Telnyx Call Control",
            ),
            (
                VoiceResponse::new().gather(Gather::new().say("a")),
                "<Gather> needs an action URL (the gateway fills it in) on Telnyx Call Control",
            ),
            (
                VoiceResponse::new().gather(Gather::new().action("u").say("a").play("x")),
                "<Gather> mixing <Say> and <Play> prompts is not supported on Telnyx Call Control",
            ),
            (
                VoiceResponse::new().stream(StreamVerb::new()),
                "<Stream> needs a url (the gateway fills it in) on Telnyx Call Control",
            ),
        ];
        for (r, want) in cases {
            match render(&r) {
                Err(VoiceError::Invalid { reason, .. }) => assert_eq!(reason, want),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn records_render_as_record_steps() {
        use telephony_core::voice::{Record, RecordCall, RecordingChannels};
        let plan = render(
            &VoiceResponse::new()
                .record_call(RecordCall::new(RecordingChannels::Dual))
                .say("Leave a message")
                .record(
                    Record::new()
                        .max_length(30)
                        .action("https://gw/v?call=c&turn=2"),
                )
                .say("never"),
        )
        .unwrap();
        assert_eq!(
            plan,
            [
                Step::RecordCall {
                    channels: "dual".into()
                },
                Step::Speak {
                    text: "Leave a message".into(),
                    voice: None,
                    language: None
                },
                Step::Record {
                    max: 30,
                    timeout: 5
                },
                Step::Redirect {
                    url: "https://gw/v?call=c&turn=2".into()
                },
            ]
        );
        let plan = render(
            &VoiceResponse::new()
                .record(Record::new().timeout_secs(2))
                .hangup(),
        )
        .unwrap();
        assert_eq!(
            plan,
            [
                Step::Record {
                    max: 3600,
                    timeout: 2
                },
                Step::Hangup
            ]
        );
    }

    #[test]
    fn a_redirect_ends_the_plan() {
        let plan = render(&VoiceResponse::new().pause(1).redirect("u").say("never")).unwrap();
        assert_eq!(
            plan,
            [Step::Pause { secs: 1 }, Step::Redirect { url: "u".into() }]
        );
        assert!(decode_plan(b"{").is_err());
    }
}
