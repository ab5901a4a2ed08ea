//! Carrying out a plan with Call Control commands.

use serde_json::{Value, json};
use std::collections::VecDeque;
use telephony_core::ProviderError;
use telephony_core::voice::{Call, CallDirection, CallStatus, VoiceRun};

use super::events::{EVENT_ID_EXTRA, GATHERING_EXTRA, TRANSCRIBING_EXTRA};
use super::plan::{CallState, GatherStep, Step, Wait, encode_plan};
use crate::client::{CALL_ENDED_CODE, TelnyxClient};

/// The longest `<Pause>` (one hour); a longer one is cut to this.
pub const MAX_PAUSE_SECS: u32 = 3600;

/// A Twilio-style voice name as Telnyx's: `Polly.Joanna` → `AWS.Polly.Joanna`,
/// `alice`/`woman` → `female`, `man` → `male`; Telnyx names pass unchanged; none is
/// `default`.
///
/// ```
/// use telephony_telnyx::voice::tts_voice;
/// assert_eq!(tts_voice(Some("Polly.Amy-Neural"), "AWS.Polly.Joanna"), "AWS.Polly.Amy-Neural");
/// assert_eq!(tts_voice(Some("alice"), "AWS.Polly.Joanna"), "female");
/// assert_eq!(tts_voice(Some("Telnyx.KokoroTTS.af"), "x"), "Telnyx.KokoroTTS.af");
/// assert_eq!(tts_voice(None, "AWS.Polly.Joanna"), "AWS.Polly.Joanna");
/// ```
pub fn tts_voice(voice: Option<&str>, default: &str) -> String {
    match voice.map(str::trim).filter(|v| !v.is_empty()) {
        None => default.to_string(),
        Some(v) if v.starts_with("Polly.") => format!("AWS.{v}"),
        Some("alice" | "woman") => "female".into(),
        Some("man") => "male".into(),
        Some(v) => v.to_string(),
    }
}

/// The Telnyx transcription engine's language for a gather's BCP 47 tag: its primary
/// language subtag, lower case (`en-US` → `en`, `sv-SE` → `sv`). The engine takes ISO
/// 639-1 codes (telnyx-node `TelnyxTranscriptionLanguage`: `en`, `sv`, …, `haw`,
/// `auto_detect`), not the region-qualified tags `<Gather language>` uses; `None` for an
/// empty tag.
fn transcription_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
    if tag.trim() == "auto_detect" {
        return Some("auto_detect".into());
    }
    (!primary.is_empty()).then(|| primary.to_ascii_lowercase())
}

/// Makes `command_id`s: the same event and plan give the same ids, so a redelivered
/// event's commands are ignored by Telnyx instead of run twice.
struct CommandIds {
    base: String,
    n: u32,
}

impl CommandIds {
    fn new(call: &Call, plan: &VecDeque<Step>) -> Self {
        let plan_text = encode_plan(&plan.iter().cloned().collect::<Vec<_>>());
        // FNV-1a: a stable hash (std's is seeded per process).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in plan_text.bytes().chain(call.call_id.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let event = call
            .extra
            .get(EVENT_ID_EXTRA)
            .cloned()
            .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
        CommandIds {
            base: format!("{event}.{h:016x}"),
            n: 0,
        }
    }

    fn next(&mut self) -> String {
        self.n += 1;
        format!("{}.{}", self.base, self.n)
    }
}

struct Runner<'a> {
    client: &'a TelnyxClient,
    call_id: &'a str,
    ids: CommandIds,
}

enum Sent {
    Ok,
    Ended,
}

impl Runner<'_> {
    async fn send(&mut self, command: &str, mut body: Value) -> Result<Sent, ProviderError> {
        if let Value::Object(map) = &mut body {
            map.insert("command_id".into(), Value::String(self.ids.next()));
        }
        match self.client.call_command(self.call_id, command, body).await {
            Ok(()) => {
                tracing::debug!(call_sid = %self.call_id, command, "Telnyx accepted a call command");
                Ok(Sent::Ok)
            }
            Err(e) if e.code() == Some(CALL_ENDED_CODE) => {
                tracing::info!(call_sid = %self.call_id, command, "the call has already ended; nothing more to do");
                Ok(Sent::Ended)
            }
            Err(e) => Err(e),
        }
    }

    /// Best effort: stopping what may already have stopped. Without a `client_state`, so
    /// the state the answer's first command set stays: a late result of the stopped
    /// gather arrives with it and is not read as an answer.
    async fn stop_all(&mut self, commands: &[&'static str]) {
        for &command in commands {
            if let Err(e) = self.send(command, json!({})).await {
                tracing::debug!(call_sid = %self.call_id, command, error = %e, "stop command refused (already stopped?)");
            }
        }
    }
}

fn ended(sent: Sent) -> VoiceRun {
    match sent {
        Sent::Ok => VoiceRun::Done,
        Sent::Ended => VoiceRun::CallEnded,
    }
}

fn gather_body(g: &GatherStep, voice: &str, state: &str) -> (&'static str, Value) {
    let mut body = json!({
        "minimum_digits": 1,
        "maximum_digits": g.digits.unwrap_or(128).clamp(1, 128),
        "terminating_digit": g.finish.clone().unwrap_or_else(|| "#".into()),
        "valid_digits": "0123456789*#",
        "timeout_millis": u64::from(g.timeout) * 1000,
        "client_state": state,
    });
    let command = if let Some(text) = &g.say {
        body["payload"] = json!(text);
        body["voice"] = json!(voice);
        // Telnyx repeats the prompt up to 3 times by default; a gather asks once, as on
        // Twilio.
        body["maximum_tries"] = json!(1);
        if matches!(voice, "female" | "male") {
            body["service_level"] = json!("basic");
        }
        if let Some(l) = &g.language {
            body["language"] = json!(l);
        }
        "gather_using_speak"
    } else if let Some(url) = &g.audio {
        body["audio_url"] = json!(url);
        body["maximum_tries"] = json!(1);
        "gather_using_audio"
    } else {
        body["initial_timeout_millis"] = json!(u64::from(g.timeout) * 1000);
        "gather"
    };
    (command, body)
}

/// Runs `plan` on `call` (see [`Provider::run_voice`](telephony_core::Provider::run_voice)).
pub(crate) async fn run(
    client: &TelnyxClient,
    call: &Call,
    plan: VecDeque<Step>,
) -> Result<VoiceRun, ProviderError> {
    run_with(client, call, plan, false).await
}

/// Runs `plan` on a live call in place of what it does (a live update): what a gather,
/// transcription or playback left running is stopped first, carrying a state that waits
/// for nothing (so their ends resume no plan), and a first `speak` cuts the speech in
/// progress (`stop: "all"`).
pub(crate) async fn run_update(
    client: &TelnyxClient,
    call_id: &str,
    plan: VecDeque<Step>,
) -> Result<VoiceRun, ProviderError> {
    let call = Call::new(
        call_id,
        "",
        "",
        CallDirection::Unknown,
        CallStatus::InProgress,
    );
    let mut r = Runner {
        client,
        call_id,
        ids: CommandIds::new(&call, &plan),
    };
    let state = CallState::new(Wait::Nothing, &VecDeque::new()).encode();
    for command in ["gather_stop", "transcription_stop"] {
        match r.send(command, json!({ "client_state": state })).await {
            Ok(Sent::Ended) => return Ok(VoiceRun::CallEnded),
            Ok(Sent::Ok) => {}
            Err(e) => {
                tracing::debug!(call_sid = %call_id, command, error = %e, "stop command refused (nothing running?)")
            }
        }
    }
    match r
        .send(
            "playback_stop",
            json!({ "stop": "all", "client_state": state }),
        )
        .await
    {
        Ok(Sent::Ended) => return Ok(VoiceRun::CallEnded),
        Ok(Sent::Ok) => {}
        Err(e) => {
            tracing::debug!(call_sid = %call_id, error = %e, "playback_stop refused (nothing playing?)")
        }
    }
    run_with(client, &call, plan, true).await
}

async fn run_with(
    client: &TelnyxClient,
    call: &Call,
    plan: VecDeque<Step>,
    interrupt: bool,
) -> Result<VoiceRun, ProviderError> {
    let default_voice = client.config().tts_voice.clone();
    let mut r = Runner {
        client,
        call_id: &call.call_id,
        ids: CommandIds::new(call, &plan),
    };
    // What a finished gather left running is stopped once the answer's first command
    // went out: the caller hears the reply after one round trip, not three.
    let stops: Vec<&'static str> = [
        call.extra
            .contains_key(GATHERING_EXTRA)
            .then_some("gather_stop"),
        call.extra
            .contains_key(TRANSCRIBING_EXTRA)
            .then_some("transcription_stop"),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Unless the answer itself starts by listening (a gather, or a pause, which is a key
    // gather): stops sent after it would end the new gather instead of the old one, and
    // the call would wait for nothing. Then they go first.
    let listens_first = plan
        .iter()
        .find(|s| {
            !matches!(
                s,
                Step::Pause { secs: 0 } | Step::RecordCall { .. } | Step::SendDigits { .. }
            )
        })
        .is_some_and(|s| matches!(s, Step::Pause { .. } | Step::Gather(_)));
    if listens_first && !stops.is_empty() {
        r.stop_all(&stops).await;
    }
    let run = run_plan(&mut r, call, plan, &default_voice, interrupt).await;
    if !listens_first
        && !stops.is_empty()
        && matches!(run, Ok(VoiceRun::Done | VoiceRun::Redirect(_)))
    {
        r.stop_all(&stops).await;
    }
    run
}

/// The plan's first step that needs the provider (and the pauses before it).
async fn run_plan(
    r: &mut Runner<'_>,
    call: &Call,
    mut plan: VecDeque<Step>,
    default_voice: &str,
    interrupt: bool,
) -> Result<VoiceRun, ProviderError> {
    let parked = call.direction == CallDirection::Inbound
        && matches!(call.status, CallStatus::Ringing | CallStatus::Queued);
    if parked {
        return Ok(ended(match plan.front() {
            Some(Step::Reject { busy }) => {
                let cause = if *busy { "USER_BUSY" } else { "CALL_REJECTED" };
                r.send("reject", json!({ "cause": cause })).await?
            }
            None | Some(Step::Hangup) => r.send("hangup", json!({})).await?,
            Some(_) => {
                let state = CallState::new(Wait::Answer, &plan).encode();
                r.send("answer", json!({ "client_state": state })).await?
            }
        }));
    }
    loop {
        let Some(step) = plan.pop_front() else {
            // The end of a response ends the call, as in TwiML.
            return Ok(ended(r.send("hangup", json!({})).await?));
        };
        let sent = match step {
            Step::Speak {
                text,
                voice,
                language,
            } => {
                let state = CallState::new(Wait::Speak, &plan).encode();
                let mut body = json!({
                    "payload": text,
                    "payload_type": "text",
                    "voice": tts_voice(voice.as_deref(), default_voice),
                    "client_state": state,
                });
                if let Some(l) = language {
                    body["language"] = json!(l);
                }
                // `female`/`male` are the basic service level's voices.
                if matches!(body["voice"].as_str(), Some("female" | "male")) {
                    body["service_level"] = json!("basic");
                }
                if interrupt {
                    // A live update: what the call is saying stops for it.
                    body["stop"] = json!("all");
                }
                r.send("speak", body).await?
            }
            Step::Play { url, loops } => {
                let state = CallState::new(Wait::Play, &plan).encode();
                r.send(
                    "playback_start",
                    json!({ "audio_url": url, "loop": loops, "client_state": state }),
                )
                .await?
            }
            Step::Pause { secs } => {
                if secs == 0 {
                    continue;
                }
                // Call Control has no pause: a key gather that nobody answers is Telnyx's
                // own timer, so no replica holds the call while it waits.
                let state = CallState::new(Wait::Pause, &plan).encode();
                let millis = u64::from(secs.min(MAX_PAUSE_SECS)) * 1000;
                r.send(
                    "gather",
                    json!({
                        "minimum_digits": 1,
                        "maximum_digits": 1,
                        "timeout_millis": millis,
                        "initial_timeout_millis": millis,
                        "client_state": state,
                    }),
                )
                .await?
            }
            Step::Gather(g) => {
                let mut state = CallState::new(Wait::Gather, &plan);
                state.a = Some(g.action.clone());
                state.t = g.speech;
                let state = state.encode();
                // The key gather first (it plays the prompt), then the transcription: the
                // caller answers after hearing the prompt, when both listen.
                let voice = tts_voice(g.voice.as_deref(), default_voice);
                let (command, body) = gather_body(&g, &voice, &state);
                if let Sent::Ended = r.send(command, body).await? {
                    return Ok(VoiceRun::CallEnded);
                }
                if g.speech {
                    let mut body = json!({
                        "transcription_engine": "Telnyx",
                        "transcription_tracks": "inbound",
                        "client_state": state,
                    });
                    if let Some(l) = g.language.as_deref().and_then(transcription_language) {
                        body["transcription_engine_config"] = json!({ "language": l });
                    }
                    r.send("transcription_start", body).await?
                } else {
                    Sent::Ok
                }
            }
            Step::Hangup | Step::Reject { .. } => r.send("hangup", json!({})).await?,
            Step::RecordCall { channels } => {
                // Runs in the background until the call ends; the next step goes at once.
                // No client_state: the next step's command sets the call's state.
                match r
                    .send(
                        "record_start",
                        json!({ "format": "wav", "channels": channels }),
                    )
                    .await?
                {
                    Sent::Ok => continue,
                    Sent::Ended => return Ok(VoiceRun::CallEnded),
                }
            }
            Step::Record { max, timeout } => {
                let state = CallState::new(Wait::Record, &plan).encode();
                r.send(
                    "record_start",
                    json!({
                        "format": "wav",
                        "channels": "single",
                        "max_length": max,
                        "timeout_secs": timeout,
                        "play_beep": true,
                        "client_state": state,
                    }),
                )
                .await?
            }
            Step::Redirect { url } => return Ok(VoiceRun::Redirect(url)),
            Step::Transfer {
                to,
                from,
                timeout,
                action,
            } => {
                // The new leg carries where its outcome goes; this call waits for nothing
                // until then (the outcome's answer runs on it).
                let mut target = CallState::new(Wait::Transfer, &VecDeque::new());
                target.a = Some(action);
                target.o = Some(call.call_id.clone());
                let mut body = json!({
                    "to": to,
                    "client_state": CallState::new(Wait::Nothing, &VecDeque::new()).encode(),
                    "target_leg_client_state": target.encode(),
                });
                if let Some(from) = from {
                    body["from"] = json!(from);
                }
                if let Some(t) = timeout {
                    body["timeout_secs"] = json!(t);
                }
                r.send("transfer", body).await?
            }
            Step::SendDigits { digits } => {
                if let Sent::Ended = r.send("send_dtmf", json!({ "digits": digits })).await? {
                    return Ok(VoiceRun::CallEnded);
                }
                continue;
            }
            Step::Stream { url, params } => {
                let state = CallState::new(Wait::Stream, &plan).encode();
                let custom: Vec<Value> = params
                    .iter()
                    .map(|(name, value)| json!({ "name": name, "value": value }))
                    .collect();
                r.send(
                    "streaming_start",
                    json!({
                        "stream_url": url,
                        "stream_track": "inbound_track",
                        "stream_codec": "PCMU",
                        "stream_bidirectional_mode": "rtp",
                        "stream_bidirectional_codec": "PCMU",
                        "stream_bidirectional_sampling_rate": 8000,
                        "custom_parameters": custom,
                        "client_state": state,
                    }),
                )
                .await?
            }
        };
        return Ok(ended(sent));
    }
}

#[cfg(test)]
mod tests {
    use super::transcription_language;

    #[test]
    fn transcription_languages_are_iso_639_1() {
        for (tag, want) in [
            ("en-US", Some("en")),
            ("sv-SE", Some("sv")),
            ("pt-BR", Some("pt")),
            ("EN", Some("en")),
            ("haw-US", Some("haw")),
            ("auto_detect", Some("auto_detect")),
            (" ", None),
        ] {
            assert_eq!(transcription_language(tag).as_deref(), want, "{tag}");
        }
    }
}
