//! `telephony simulate sms` and `telephony simulate call`: the provider's webhooks, signed
//! as it signs them, sent to the running gateway.

use std::time::Duration;

use serde_json::json;
use telephony::providers;

use crate::context::{CliError, Context};
use crate::output;

pub(super) async fn sms(
    ctx: Context,
    from: String,
    to: Option<String>,
    text: String,
    message_sid: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let from = telephony_core::PhoneNumber::parse(&from)
        .map_err(|e| CliError::config(format!("--from: {e}")))?;
    let rt = ctx.runtime()?.ok_or_else(|| {
        CliError::failure(format!(
            "no running gateway found (no {} in {}); start one with `telephony serve` (or `telephony serve --sandbox`)",
            telephony::runtime::RUNTIME_FILE,
            ctx.data_dir().display()
        ))
    })?;
    let kind: telephony::config::ProviderKind = rt.provider.parse().map_err(CliError::failure)?;
    let to = match to {
        Some(t) => telephony_core::PhoneNumber::parse(&t)
            .map_err(|e| CliError::config(format!("--to: {e}")))?
            .to_string(),
        None => ctx
            .config
            .from_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| providers::sandbox_from(kind).to_string()),
    };
    // Signed as the provider signs it: over the public webhook URL; delivered to the local
    // listener.
    let webhook = providers::simulated_inbound(&rt, &ctx.config, &from, &to, &text, message_sid)
        .map_err(CliError::config)?;
    let sid = webhook.message_id.clone();
    let target = providers::local_delivery(&rt, &ctx.config.serve.path).target(&rt.webhook_url);
    let mut request = reqwest::Client::new().post(&target);
    for (name, value) in &webhook.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let resp = request
        .body(webhook.body)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| CliError::failure(format!("could not post to {target}: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    // The gateway acknowledges once the message is stored; its dispatch worker decides
    // (pairing, allowlist, …) a moment later. Wait for that, so that the next command
    // (`telephony inbox`) shows what became of it.
    let dispatched = if status.is_success() {
        dispatched_state(&ctx, &sid).await
    } else {
        None
    };
    if json {
        output::print_json(&json!({
            "url": target,
            "status": status.as_u16(),
            "messageSid": sid,
            "response": text,
            "state": dispatched.as_ref().map(|(state, _)| state.clone()),
            "note": dispatched.as_ref().and_then(|(_, note)| note.clone()),
        }));
    } else {
        println!("posted inbound SMS {sid} to {target}: HTTP {status}");
        match &dispatched {
            Some((state, _)) if state == "queued" => println!(
                "  still queued after {}s: `telephony inbox` shows what becomes of it",
                DISPATCH_WAIT.as_secs()
            ),
            Some((state, Some(note))) => println!("  dispatched: {state} ({note})"),
            Some((state, None)) => println!("  dispatched: {state}"),
            None => {}
        }
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "gateway answered HTTP {status}: {}",
            text.trim()
        )))
    }
}

/// How long `simulate sms` waits for the gateway to dispatch the message it posted.
const DISPATCH_WAIT: Duration = Duration::from_secs(10);

/// The inbox state (and note) of the message with provider id `sid` once the gateway
/// has dispatched it, or `queued` when it has not within [`DISPATCH_WAIT`]; `None` when
/// the admin API cannot tell (no admin token here, another version).
async fn dispatched_state(ctx: &Context, sid: &str) -> Option<(String, Option<String>)> {
    let admin = ctx.admin().await.ok().flatten()?;
    let deadline = tokio::time::Instant::now() + DISPATCH_WAIT;
    loop {
        let list: telephony_serve::api::InboxList =
            admin.get("/telephony/inbox?limit=50").await.ok()?;
        let entry = list
            .messages
            .iter()
            .rev()
            .find(|e| e.message.provider_sid == sid);
        if let Some(e) = entry {
            let state = e.state.as_str();
            if state != "queued" || tokio::time::Instant::now() >= deadline {
                return Some((state.to_string(), e.note.clone()));
            }
        } else if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The caller's side of `simulate call`: each kind of input in its own list, and the
/// order the kinds came in on the command line.
pub(crate) struct CallerInputs {
    pub speech: Vec<String>,
    pub presses: Vec<String>,
    pub tones: Vec<String>,
    pub wavs: Vec<std::path::PathBuf>,
    pub speech_like: Vec<u64>,
    pub interrupts: Vec<u64>,
    pub order: Vec<crate::InputKind>,
}

impl CallerInputs {
    /// The script: the inputs in command-line order (anything the argv scan missed, say
    /// through an alias, after them, kind by kind), then 3 simulated seconds on the line
    /// and a hang-up (a relay or stream would otherwise wait for the caller forever).
    fn script(self) -> Result<telephony_twilio_simulator::CallScript, CliError> {
        use crate::InputKind;
        let mut speech = self.speech.into_iter();
        let mut presses = self.presses.into_iter();
        let mut tones = self.tones.into_iter();
        let mut wavs = self.wavs.into_iter();
        let mut speech_like = self.speech_like.into_iter();
        let mut interrupts = self.interrupts.into_iter();
        let mut inputs: Vec<CallerInput> = Vec::new();
        let mut take = |kind: InputKind| -> Option<CallerInput> {
            Some(match kind {
                InputKind::Speech => CallerInput::Speech(speech.next()?),
                InputKind::Press => CallerInput::Press(presses.next()?),
                InputKind::Tone => CallerInput::Tone(tones.next()?),
                InputKind::Wav => CallerInput::Wav(wavs.next()?),
                InputKind::SpeechLike => CallerInput::SpeechLike(speech_like.next()?),
                InputKind::Interrupt => CallerInput::Interrupt(interrupts.next()?),
            })
        };
        inputs.extend(self.order.into_iter().filter_map(&mut take));
        for kind in [
            InputKind::Speech,
            InputKind::Press,
            InputKind::Tone,
            InputKind::Wav,
            InputKind::SpeechLike,
            InputKind::Interrupt,
        ] {
            while let Some(input) = take(kind) {
                inputs.push(input);
            }
        }
        let mut script = telephony_twilio_simulator::CallScript::new();
        for input in inputs {
            script = match input {
                CallerInput::Speech(text) => script.say(text),
                CallerInput::Press(digits) => script.press(digits),
                CallerInput::Tone(spec) => {
                    let (hz, ms) = parse_tone(&spec)?;
                    script.tone(hz, ms)
                }
                CallerInput::Wav(path) => script
                    .wav(&path)
                    .map_err(|e| CliError::config(format!("--send-wav {}: {e}", path.display())))?,
                CallerInput::SpeechLike(ms) => script.audio(speech_like_mulaw(ms)),
                CallerInput::Interrupt(ms) => script.interrupt_after_ms(ms),
            };
        }
        Ok(script.wait_ms(3000).hang_up_when_done())
    }
}

/// One caller input as given on the command line.
enum CallerInput {
    Speech(String),
    Press(String),
    Tone(String),
    Wav(std::path::PathBuf),
    SpeechLike(u64),
    Interrupt(u64),
}

/// `--send-tone HZ[:MS]`: a frequency in Hz (1–3999, below the 8 kHz rate's Nyquist
/// limit) and milliseconds (1–600000, default 1000).
fn parse_tone(s: &str) -> Result<(f64, u64), CliError> {
    let bad = || {
        CliError::config(format!(
            "--send-tone {s:?}: expected HZ or HZ:MS, e.g. 440 or 440:500 (1-3999 Hz, 1-600000 ms)"
        ))
    };
    let (hz, ms) = match s.split_once(':') {
        Some((hz, ms)) => (hz, ms.parse::<u64>().map_err(|_| bad())?),
        None => (s, 1000),
    };
    let hz: f64 = hz.parse().map_err(|_| bad())?;
    if !(1.0..4000.0).contains(&hz) || !(1..=600_000).contains(&ms) {
        return Err(bad());
    }
    Ok((hz, ms))
}

/// `ms` milliseconds of speech-like 8 kHz μ-law audio: syllables of a voiced sound (a
/// gliding fundamental around 140 Hz with two formant-like harmonics, rising and falling
/// in loudness) separated by short pauses, about four syllables a second. Not words: it
/// exercises voice activity detection, echo and barge-in the way speech would.
fn speech_like_mulaw(ms: u64) -> Vec<u8> {
    const RATE: f64 = 8000.0;
    const SYLLABLE: usize = 200 * 8; // samples
    const PAUSE: usize = 60 * 8;
    let total = (ms as usize) * 8;
    let mut pcm = Vec::with_capacity(total);
    let mut phase = 0.0_f64;
    let mut syllable = 0usize;
    while pcm.len() < total {
        let f0 = 120.0 + 40.0 * ((syllable % 5) as f64 / 4.0);
        for i in 0..SYLLABLE {
            let t = i as f64 / SYLLABLE as f64;
            let envelope = (std::f64::consts::PI * t).sin();
            let glide = f0 * (1.0 + 0.1 * (t - 0.5));
            phase += 2.0 * std::f64::consts::PI * glide / RATE;
            let v = phase.sin() + 0.5 * (3.0 * phase).sin() + 0.3 * (7.0 * phase).sin();
            pcm.push((envelope * v / 1.8 * 12_000.0) as i16);
        }
        pcm.extend(std::iter::repeat_n(0i16, PAUSE));
        syllable += 1;
    }
    pcm.truncate(total);
    let mut out = Vec::with_capacity(total);
    telephony_core::audio::encode_mulaw_into(&pcm, &mut out);
    out
}

pub(super) async fn call(
    ctx: Context,
    from: String,
    to: Option<String>,
    inputs: CallerInputs,
    no_status_callback: bool,
    json: bool,
) -> Result<(), CliError> {
    use telephony_twilio_simulator::{CallEnd, InboundCall, Simulator, SimulatorConfig};
    let from = telephony_core::PhoneNumber::parse(&from)
        .map_err(|e| CliError::config(format!("--from: {e}")))?;
    let sends_audio = !(inputs.tones.is_empty()
        && inputs.wavs.is_empty()
        && inputs.speech_like.is_empty()
        && inputs.interrupts.is_empty());
    let script = inputs.script()?;
    let rt = ctx.runtime()?.ok_or_else(|| {
        CliError::failure(format!(
            "no running gateway found (no {} in {}); start one with `telephony serve --sandbox --voice`",
            telephony::runtime::RUNTIME_FILE,
            ctx.data_dir().display()
        ))
    })?;
    if rt.provider == "telnyx" {
        let mut script = script;
        if !sends_audio {
            // Telnyx's simulator does not wait for the gateway's commands as Twilio's waits
            // for its TwiML: without audio to echo, the caller stays on the line until the
            // gateway ends the call (or listens again, when the caller hangs up), instead
            // of leaving after 3 simulated seconds whatever the gateway is doing.
            if let Some(telephony_twilio_simulator::CallerInput::Wait { .. }) = script.inputs.back()
            {
                script.inputs.pop_back();
            }
        }
        return telnyx_call(&ctx, &rt, &from, to, script, json).await;
    }
    if rt.provider != "twilio" {
        return Err(CliError::config(format!(
            "simulate call plays Twilio or Telnyx; the running gateway uses {}",
            rt.provider
        )));
    }
    let (account_sid, token) = if rt.sandbox {
        (
            rt.sandbox_account_sid.clone().unwrap_or_default(),
            rt.sandbox_auth_token.clone().unwrap_or_default(),
        )
    } else {
        let token = ctx.config.twilio.auth_token.clone().ok_or_else(|| {
            CliError::config(
                "twilio.authToken (or TWILIO_AUTH_TOKEN) is needed to sign the webhooks",
            )
        })?;
        (
            ctx.config.twilio.account_sid.clone().unwrap_or_default(),
            token.expose().to_string(),
        )
    };
    let to = match to {
        Some(t) => telephony_core::PhoneNumber::parse(&t)
            .map_err(|e| CliError::config(format!("--to: {e}")))?
            .to_string(),
        None => ctx
            .config
            .from_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| {
                providers::sandbox_from(telephony::config::ProviderKind::Twilio).to_string()
            }),
    };
    // The simulated clock runs 50 times faster than real time, so an application
    // answering over HTTP is heard. Audio goes at the pace of a real call instead: the
    // gateway may proxy it to an application (stream mode), a hop the simulator's clock
    // cannot wait for, so the echoes need real time to come back.
    let config = if sends_audio {
        SimulatorConfig::new(account_sid, token)
            .with_simulated_second(Duration::from_secs(1))
            .with_realtime_sync(false)
    } else {
        SimulatorConfig::new(account_sid, token).with_simulated_second(Duration::from_millis(20))
    };
    let sim = Simulator::new(config);
    // Signed for the public URL, delivered to the listener (as in `simulate sms`).
    sim.deliver_via(
        &providers::public_base(&rt, &ctx.config.serve.path),
        &format!("http://{}", rt.public_addr),
    );
    let mut call = InboundCall::new(from.to_string(), to, rt.webhook_url.clone()).script(script);
    if !no_status_callback {
        call = call.status_callback(rt.status_url.clone());
    }
    let outcome = sim
        .place_inbound_call(call)
        .await
        .map_err(|e| CliError::failure(format!("could not place the simulated call: {e}")))?;
    let rejected = outcome.ended_by == Some(CallEnd::Rejected);
    if json {
        output::print_json(&json!({
            "callSid": outcome.call_sid,
            "status": outcome.status,
            "rejected": rejected,
            "answered": outcome.answered,
            "durationSecs": outcome.duration_secs,
            "heard": outcome.heard(),
            "relayReplies": outcome.relays.iter().flat_map(|r| r.reply_texts()).collect::<Vec<_>>(),
            "streams": outcome.streams.iter().map(|st| json!({
                "framesSent": st.media_frames_sent,
                "audioBytesSent": st.sent_audio.len(),
                "framesReceived": st.media_frames_received,
                "audioBytesReceived": st.received_audio.len(),
                "marksReceived": st.marks.len(),
                "marksEchoed": st.echoed_marks(),
                "marksCleared": st.marks.iter().filter(|m| m.cleared).map(|m| m.name.clone()).collect::<Vec<_>>(),
                "alerts": st.alert_codes(),
            })).collect::<Vec<_>>(),
            "gathers": outcome.gathers.iter().map(|g| json!({
                "verb": g.verb,
                "input": format!("{:?}", g.input),
                "action": g.action,
            })).collect::<Vec<_>>(),
            "documents": outcome.documents.iter().map(|d| json!({
                "url": d.url,
                "method": d.method,
                "httpStatus": d.http_status,
                "contentType": d.content_type,
                "body": d.body,
            })).collect::<Vec<_>>(),
            "error": outcome.error.as_ref().map(|e| json!({"code": e.code, "message": e.message, "url": e.url})),
        }));
    } else if rejected {
        println!(
            "simulated call {} from {from} to {}: rejected ({})",
            outcome.call_sid, rt.webhook_url, outcome.status,
        );
    } else {
        println!(
            "simulated call {} from {from} to {}: {} after {}s",
            outcome.call_sid,
            rt.webhook_url,
            outcome.status,
            outcome.duration_secs.unwrap_or(0)
        );
        for line in outcome.heard() {
            println!("  heard: {line}");
        }
        for r in &outcome.relays {
            for reply in r.reply_texts() {
                println!("  relay said: {reply}");
            }
        }
        for st in &outcome.streams {
            println!(
                "  stream: sent {} frames ({} bytes of audio); received {} frames ({} bytes of audio), {} marks ({} echoed once played)",
                st.media_frames_sent,
                st.sent_audio.len(),
                st.media_frames_received,
                st.received_audio.len(),
                st.marks.len(),
                st.marks
                    .iter()
                    .filter(|m| m.echoed_at_ms.is_some() && !m.cleared)
                    .count()
            );
            let cleared: Vec<&str> = st
                .marks
                .iter()
                .filter(|m| m.cleared)
                .map(|m| m.name.as_str())
                .collect();
            if !st.clears.is_empty() {
                println!(
                    "  barge-in: {} clear(s); marks cleared before they played: {}",
                    st.clears.len(),
                    if cleared.is_empty() {
                        "none".to_string()
                    } else {
                        cleared.join(", ")
                    }
                );
            }
        }
        if let Some(e) = &outcome.error {
            println!("  Twilio error {}: {}", e.code, e.message);
        }
    }
    if rejected {
        return Err(CliError::failure(format!(
            "the gateway rejected the call ({}); if voice is off, turn it on: voice.enabled: true, or `telephony serve --sandbox --voice`",
            reject_verb(&outcome)
        )));
    }
    match &outcome.error {
        None => Ok(()),
        Some(e) => Err(CliError::failure(format!(
            "the call failed with Twilio error {}: {}",
            e.code, e.message
        ))),
    }
}

/// `simulate call` against a Telnyx sandbox: the gateway's commands go to the sandbox's
/// simulator, in the server's process, so that simulator places the call
/// (`POST /_simulator/calls`) and says what happened.
async fn telnyx_call(
    ctx: &Context,
    rt: &telephony::runtime::RuntimeInfo,
    from: &telephony_core::PhoneNumber,
    to: Option<String>,
    script: telephony_twilio_simulator::CallScript,
    json: bool,
) -> Result<(), CliError> {
    let (Some(sim_url), Some(key)) = (rt.simulator_url.as_deref(), rt.sandbox_api_key.as_deref())
    else {
        return Err(CliError::config(
            "simulate call on Telnyx needs the sandbox (`telephony serve --sandbox --provider telnyx --voice`): a real Telnyx account's calls are placed by Telnyx",
        ));
    };
    let to = match to {
        Some(t) => telephony_core::PhoneNumber::parse(&t)
            .map_err(|e| CliError::config(format!("--to: {e}")))?
            .to_string(),
        None => ctx
            .config
            .from_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| {
                providers::sandbox_from(telephony::config::ProviderKind::Telnyx).to_string()
            }),
    };
    let url = format!("{}/_simulator/calls", sim_url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(key)
        .json(&json!({ "from": from.to_string(), "to": to, "script": script }))
        .send()
        .await
        .map_err(|e| {
            CliError::failure(format!(
                "could not reach the sandbox's simulator at {url}: {e}"
            ))
        })?;
    let status = response.status();
    let summary: serde_json::Value = response.json().await.map_err(|e| {
        CliError::failure(format!(
            "the sandbox's simulator answered {status} without a summary: {e}"
        ))
    })?;
    if !status.is_success() {
        return Err(CliError::failure(format!(
            "the sandbox's simulator could not place the call ({status}): {}",
            summary["errors"][0]["detail"]
                .as_str()
                .unwrap_or("no detail")
        )));
    }
    let id = summary["call_control_id"].as_str().unwrap_or_default();
    let cause = summary["hangup_cause"].as_str().unwrap_or("none");
    let rejected = summary["answered"] == false && cause == "call_rejected";
    if json {
        output::print_json(&json!({
            "callControlId": id,
            "rejected": rejected,
            "answered": summary["answered"],
            "hangupCause": summary["hangup_cause"],
            "durationSecs": summary["duration_secs"],
            "heard": summary["heard"],
            "commands": summary["commands"],
            "streams": summary["streams"],
        }));
    } else if rejected {
        println!("simulated call {id} from {from} to {to}: rejected ({cause})");
    } else {
        println!(
            "simulated call {id} from {from} to {to}: {cause} after {}s",
            summary["duration_secs"].as_u64().unwrap_or(0)
        );
        for line in summary["heard"].as_array().into_iter().flatten() {
            println!("  heard: {}", line.as_str().unwrap_or_default());
        }
        for st in summary["streams"].as_array().into_iter().flatten() {
            println!(
                "  stream: sent {} frames; received {} frames ({} bytes of audio), {} marks ({} echoed once played)",
                st["frames_sent"],
                st["frames_received"],
                st["audio_bytes_received"],
                st["marks_received"].as_array().map_or(0, Vec::len),
                st["marks_echoed"].as_array().map_or(0, Vec::len)
                    - st["marks_cleared"].as_array().map_or(0, Vec::len),
            );
            if st["clears"].as_u64().unwrap_or(0) > 0 {
                let cleared: Vec<&str> = st["marks_cleared"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str())
                    .collect();
                println!(
                    "  barge-in: {} clear(s); marks cleared before they played: {}",
                    st["clears"],
                    if cleared.is_empty() {
                        "none".to_string()
                    } else {
                        cleared.join(", ")
                    }
                );
            }
        }
    }
    if rejected {
        return Err(CliError::failure(
            "the gateway rejected the call; if voice is off, turn it on: voice.enabled: true, or `telephony serve --sandbox --provider telnyx --voice`",
        ));
    }
    Ok(())
}

/// The `<Reject …/>` element of the last document the call ran, as written.
fn reject_verb(outcome: &telephony_twilio_simulator::CallOutcome) -> String {
    outcome
        .documents
        .iter()
        .rev()
        .find_map(|d| {
            let start = d.body.find("<Reject")?;
            let end = start + d.body[start..].find('>')? + 1;
            Some(d.body[start..end].to_string())
        })
        .unwrap_or_else(|| "<Reject/>".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tones_are_hz_and_optional_milliseconds() {
        assert_eq!(parse_tone("440").unwrap(), (440.0, 1000));
        assert_eq!(parse_tone("1000:250").unwrap(), (1000.0, 250));
        for bad in ["", "x", "440:", "440:0", "0", "4000", "440:600001", "-5"] {
            assert_eq!(
                parse_tone(bad).unwrap_err().code,
                crate::EXIT_CONFIG,
                "{bad}"
            );
        }
    }

    #[test]
    fn speech_like_audio_has_syllables_and_pauses() {
        // 8 kHz: 8 bytes a millisecond.
        let audio = speech_like_mulaw(1000);
        assert_eq!(audio.len(), 8000);
        let pcm: Vec<i16> = audio
            .iter()
            .map(|&b| telephony_core::audio::mulaw_to_linear(b))
            .collect();
        // Loud in the middle of the first syllable (100 ms in), silent in the pause after
        // it (200-260 ms), loud again in the next one.
        let peak = |from_ms: usize, to_ms: usize| {
            pcm[from_ms * 8..to_ms * 8]
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap()
        };
        assert!(peak(90, 110) > 4000, "{}", peak(90, 110));
        assert!(peak(205, 255) < 16, "{}", peak(205, 255));
        assert!(peak(350, 370) > 4000, "{}", peak(350, 370));
    }

    #[test]
    fn inputs_keep_the_command_line_order() {
        use crate::InputKind;
        let inputs = CallerInputs {
            speech: vec!["hello".into()],
            presses: vec!["1".into()],
            tones: vec!["440:20".into()],
            wavs: vec![],
            speech_like: vec![20],
            interrupts: vec![800],
            order: vec![
                InputKind::Tone,
                InputKind::Press,
                InputKind::Interrupt,
                InputKind::SpeechLike,
                InputKind::Speech,
            ],
        };
        let script = inputs.script().unwrap();
        use telephony_twilio_simulator::CallerInput as In;
        assert!(matches!(&script.inputs[0], In::Audio(a) if a.len() == 160));
        assert_eq!(script.inputs[1], In::Digits("1".into()));
        assert_eq!(script.inputs[2], In::Interrupt { after_ms: 800 });
        assert!(matches!(&script.inputs[3], In::Audio(a) if a.len() == 160));
        assert_eq!(
            script.inputs[4],
            In::Speech {
                text: "hello".into(),
                confidence: None
            }
        );
        assert_eq!(script.inputs[5], In::Wait { ms: 3000 });
        assert!(script.hang_up_when_done);
    }
}
