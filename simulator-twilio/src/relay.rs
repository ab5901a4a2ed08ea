//! Twilio's side of ConversationRelay (`<Connect><ConversationRelay>`, VOICE.md §7).
//!
//! Twilio sends `setup`, then the caller's words as `prompt`s, keys as `dtmf` (with
//! `dtmfDetection`), and `interrupt` when the caller talks over the application's speech.
//! The application's `text` tokens are "spoken" on the session clock at 400 ms a word, in
//! order, one reply after another (a reply is the tokens up to `last: true`); a `play`
//! takes 1 s a loop. The caller waits for the application to stop speaking before saying
//! a prompt (400 ms a word, the prompt sent when the last word is said). An `end` closes
//! the socket and hands the call to `<Connect action>`. A message Twilio cannot read is
//! alert 64107 (and an `error` message to the application); ten in a row close the
//! socket with 1007 and alert 64105.

use std::collections::VecDeque;

use serde::Serialize;

use crate::records::{
    Alert, LanguageChange, RelayEnd, RelayInterrupt, RelayPlay, RelayReply, SessionEnd,
    TimedMessage,
};
use crate::script::CallerInput;
use crate::session::{Incoming, Next, Out, Protocol, Recorder, json, ordered_map, quote};
use crate::verbs::{ConnectRelay, speech_interrupts};

/// Simulated milliseconds per spoken word (the application's and the caller's).
const MS_PER_WORD: u64 = 400;
/// Simulated milliseconds per `play` loop.
const PLAY_MS: u64 = 1000;
/// Malformed messages in a row that make Twilio close the socket.
const MALFORMED_LIMIT: u32 = 10;

/// Something the application says, on the session clock.
#[derive(Debug)]
struct Utterance {
    /// The reply it speaks (index in the record's replies), if it is one.
    reply: Option<usize>,
    /// When it starts being spoken.
    start: u64,
    /// The text (a reply's so far).
    text: String,
    /// When each word is said to the end.
    word_ends: Vec<u64>,
    /// When it ends (its last word's end, or a `play`'s length).
    end: u64,
    interruptible: bool,
    /// Interrupted (or dropped behind an interrupted one): nothing more of it is spoken.
    cut: bool,
}

/// The caller saying a prompt.
#[derive(Debug)]
struct CallerSpeech {
    words: Vec<String>,
    /// When the caller started.
    started: u64,
    /// Words said (and sent as partials) so far.
    said: usize,
    /// Whether the whole prompt is final (`last: true`) or only partial.
    last: bool,
    /// Send each word's partial transcript.
    partials: bool,
}

#[derive(Serialize)]
struct Setup<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "sessionId")]
    session_id: &'a str,
    #[serde(rename = "accountSid")]
    account_sid: &'a str,
    #[serde(rename = "callSid")]
    call_sid: &'a str,
    from: &'a str,
    to: &'a str,
    direction: &'a str,
    #[serde(rename = "callStatus")]
    call_status: &'static str,
    #[serde(rename = "customParameters", serialize_with = "ordered_map")]
    custom_parameters: &'a [(String, String)],
}

/// The call, as `setup` describes it.
pub(crate) struct CallInfo {
    pub(crate) account_sid: String,
    pub(crate) call_sid: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// `inbound` or `outbound`.
    pub(crate) direction: String,
}

/// The Twilio side of one relay session.
pub(crate) struct RelaySession {
    rec: Recorder,
    verb: ConnectRelay,
    call: CallInfo,
    session_id: String,
    /// The `lang` of prompts.
    lang: String,
    pub(crate) inputs: VecDeque<CallerInput>,
    hang_up_when_done: bool,
    script_at: u64,
    speaking: Option<CallerSpeech>,
    /// An `interrupt_after_ms` in progress.
    interrupt: Option<u64>,
    utterances: Vec<Utterance>,
    /// The reply whose `last` token has not come yet.
    current_reply: Option<usize>,
    replies: Vec<RelayReply>,
    malformed_in_row: u32,
    done: bool,
}

impl RelaySession {
    pub(crate) fn new(
        rec: Recorder,
        verb: ConnectRelay,
        call: CallInfo,
        session_id: String,
        inputs: VecDeque<CallerInput>,
        hang_up_when_done: bool,
    ) -> Self {
        RelaySession {
            lang: verb.prompt_language().to_string(),
            rec,
            verb,
            call,
            session_id,
            inputs,
            hang_up_when_done,
            script_at: 0,
            speaking: None,
            interrupt: None,
            utterances: Vec::new(),
            current_reply: None,
            replies: Vec::new(),
            malformed_in_row: 0,
            done: false,
        }
    }

    /// `setup`, and the welcome greeting starts.
    pub(crate) fn opening(&mut self) -> Vec<Out> {
        let setup = json(&Setup {
            kind: "setup",
            session_id: &self.session_id,
            account_sid: &self.call.account_sid,
            call_sid: &self.call.call_sid,
            from: &self.call.from,
            to: &self.call.to,
            direction: &self.call.direction,
            call_status: "RINGING",
            custom_parameters: &self.verb.parameters,
        });
        if let Some(greeting) = self.verb.welcome_greeting.clone() {
            let interruptible =
                speech_interrupts(self.verb.welcome_greeting_interruptible.as_deref());
            let word_ends: Vec<u64> = (1..=greeting.split_whitespace().count() as u64)
                .map(|i| i * MS_PER_WORD)
                .collect();
            self.utterances.push(Utterance {
                reply: None,
                start: 0,
                end: word_ends.last().copied().unwrap_or(0),
                text: greeting,
                word_ends,
                interruptible,
                cut: false,
            });
        }
        vec![self.sent(0, setup)]
    }

    fn sent(&self, at_ms: u64, text: String) -> Out {
        let copy = text.clone();
        self.rec
            .relay(|r| r.sent.push(TimedMessage { at_ms, text: copy }));
        Out::Text(text)
    }

    fn alert(&self, code: u32, at_ms: u64, message: String) {
        tracing::debug!(call_sid = %self.call.call_sid, code, %message, "simulator: relay alert");
        self.rec.relay(|r| {
            r.alerts.push(Alert {
                code,
                message,
                at_ms,
            })
        });
    }

    /// When the application stops speaking (now or earlier when it is silent).
    fn speech_end(&self, now: u64) -> u64 {
        self.utterances
            .iter()
            .filter(|u| !u.cut)
            .map(|u| u.end)
            .max()
            .unwrap_or(0)
            .max(now)
    }

    fn prompt_message(&self, now: u64, text: &str, last: bool) -> Out {
        #[derive(Serialize)]
        struct Prompt<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(rename = "voicePrompt")]
            voice_prompt: &'a str,
            lang: &'a str,
            last: bool,
        }
        let text = json(&Prompt {
            kind: "prompt",
            voice_prompt: text,
            lang: &self.lang,
            last,
        });
        self.sent(now, text)
    }

    /// The next word of the caller's prompt is said at `now`.
    fn speak_word(&mut self, now: u64) -> Vec<Out> {
        let Some(speech) = self.speaking.as_mut() else {
            return Vec::new();
        };
        speech.said += 1;
        let said = speech.said;
        let all = speech.words.len();
        let text = speech.words[..said].join(" ");
        let (last, partials) = (speech.last, speech.partials);
        if said == all {
            self.speaking = None;
            self.script_at = now;
            return vec![self.prompt_message(now, &text, last)];
        }
        if partials {
            return vec![self.prompt_message(now, &text, false)];
        }
        Vec::new()
    }

    /// The utterance the caller's pending interrupt is about: the one speaking at `now`
    /// or the next to speak.
    fn interrupt_target(&self, now: u64) -> Option<usize> {
        self.utterances.iter().position(|u| !u.cut && u.end > now)
    }

    /// The caller talks over utterance `i` at `now`.
    fn interrupt_now(&mut self, i: usize, now: u64) -> Vec<Out> {
        self.interrupt = None;
        let u = &self.utterances[i];
        if !u.interruptible {
            let what = match u.reply {
                Some(r) => format!("reply {r}"),
                None => "the welcome greeting or a play".to_string(),
            };
            self.note(format!(
                "the caller spoke over {what}, which is not interruptible: Twilio sends no interrupt"
            ));
            return Vec::new();
        }
        let spoken = u.word_ends.iter().filter(|&&e| e <= now).count();
        let utterance = first_words(&u.text, spoken).to_string();
        let duration = now.saturating_sub(u.start);
        let reply = u.reply;
        #[derive(Serialize)]
        struct Interrupt<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(rename = "utteranceUntilInterrupt")]
            utterance_until_interrupt: &'a str,
            #[serde(rename = "durationUntilInterruptMs")]
            duration_until_interrupt_ms: u64,
        }
        let text = json(&Interrupt {
            kind: "interrupt",
            utterance_until_interrupt: &utterance,
            duration_until_interrupt_ms: duration,
        });
        // Twilio stops speaking: this utterance and everything queued behind it.
        for (j, u) in self.utterances.iter_mut().enumerate().skip(i) {
            if j == i {
                u.word_ends.truncate(spoken);
                u.end = now;
            } else {
                u.word_ends.clear();
                u.end = u.start.min(now);
            }
            u.cut = true;
            if let Some(r) = u.reply {
                if let Some(reply) = self.replies.get_mut(r) {
                    reply.interrupted = true;
                }
            }
        }
        self.sync_replies();
        self.rec.relay(|r| {
            r.interrupts.push(RelayInterrupt {
                at_ms: now,
                utterance_until_interrupt: utterance,
                duration_until_interrupt_ms: duration,
                reply,
            })
        });
        vec![self.sent(now, text)]
    }

    fn sync_replies(&self) {
        let replies = self.replies.clone();
        self.rec.relay(|r| r.replies = replies);
    }

    /// A `text` token.
    fn token(&mut self, now: u64, token: String, last: bool, interruptible: Option<bool>) {
        let index = match self.current_reply {
            Some(i) => i,
            None => {
                let interruptible = interruptible
                    .unwrap_or_else(|| speech_interrupts(self.verb.interruptible.as_deref()));
                self.replies.push(RelayReply {
                    text: String::new(),
                    tokens: Vec::new(),
                    started_at_ms: now,
                    complete: false,
                    interruptible,
                    interrupted: false,
                });
                let start = self.speech_end(now);
                self.utterances.push(Utterance {
                    reply: Some(self.replies.len() - 1),
                    start,
                    text: String::new(),
                    word_ends: Vec::new(),
                    end: start,
                    interruptible,
                    cut: false,
                });
                self.current_reply = Some(self.replies.len() - 1);
                self.replies.len() - 1
            }
        };
        let reply = &mut self.replies[index];
        reply.text.push_str(&token);
        reply.tokens.push(token.clone());
        if last {
            reply.complete = true;
            self.current_reply = None;
        }
        if let Some(u) = self
            .utterances
            .iter_mut()
            .rev()
            .find(|u| u.reply == Some(index))
        {
            if !u.cut {
                let before = u.text.split_whitespace().count();
                u.text.push_str(&token);
                let after = u.text.split_whitespace().count();
                let mut at = u.word_ends.last().copied().unwrap_or(u.start).max(now);
                for _ in before..after {
                    at += MS_PER_WORD;
                    u.word_ends.push(at);
                }
                u.end = u.word_ends.last().copied().unwrap_or(u.start);
            }
        }
        self.sync_replies();
    }

    fn malformed(&mut self, now: u64, why: String) -> Vec<Out> {
        self.malformed_in_row += 1;
        let message = format!("ConversationRelay - Invalid message: {why}");
        self.alert(64107, now, message.clone());
        #[derive(Serialize)]
        struct Error<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            description: &'a str,
        }
        let text = json(&Error {
            kind: "error",
            description: &message,
        });
        let mut outs = vec![self.sent(now, text)];
        if self.malformed_in_row >= MALFORMED_LIMIT {
            self.alert(
                64105,
                now,
                format!(
                    "ConversationRelay - WebSocket ended: {MALFORMED_LIMIT} malformed messages in a row (closed with 1007)"
                ),
            );
            self.finish(SessionEnd::ClosedByTwilio, now);
            self.done = true;
            outs.push(Out::Close(1007, "Invalid message".into()));
        }
        outs
    }

    fn receive_text(&mut self, now: u64, text: &str) -> Vec<Out> {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.malformed(now, format!("not JSON ({e}): {}", quote(text))),
        };
        let Some(kind) = value.get("type").and_then(|t| t.as_str()) else {
            return self.malformed(now, format!("no \"type\": {}", quote(text)));
        };
        let string = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        // A field that must be a bool when present.
        let flag = |key: &str| -> Result<Option<bool>, String> {
            match value.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
                Some(other) => Err(format!("{kind}.{key} is {other}, not true or false")),
            }
        };
        match kind {
            "text" => {
                let Some(token) = string("token") else {
                    return self.malformed(now, format!("text without a string token: {}", quote(text)));
                };
                let (last, interruptible) = match (flag("last"), flag("interruptible"), flag("preemptible")) {
                    (Ok(last), Ok(interruptible), Ok(_)) => (last.unwrap_or(false), interruptible),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return self.malformed(now, e),
                };
                let since = self.rec.since_created();
                self.rec.relay(|r| {
                    if r.first_text_after.is_none() {
                        r.first_text_after = since;
                    }
                });
                self.token(now, token, last, interruptible);
            }
            "play" => {
                let Some(source) = string("source") else {
                    return self.malformed(now, format!("play without a string source: {}", quote(text)));
                };
                let loop_count = match value.get("loop") {
                    None => 1,
                    Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                        Some(n) => n,
                        None => return self.malformed(now, format!("play.loop is {v}, not a count")),
                    },
                };
                let interruptible = match flag("interruptible") {
                    Ok(i) => i.unwrap_or_else(|| speech_interrupts(self.verb.interruptible.as_deref())),
                    Err(e) => return self.malformed(now, e),
                };
                let start = self.speech_end(now);
                self.utterances.push(Utterance {
                    reply: None,
                    start,
                    text: String::new(),
                    word_ends: Vec::new(),
                    end: start + PLAY_MS * u64::from(loop_count.max(1)),
                    interruptible,
                    cut: false,
                });
                self.rec.relay(|r| {
                    r.plays.push(RelayPlay {
                        at_ms: now,
                        source,
                        loop_count,
                    })
                });
            }
            "sendDigits" => {
                let Some(digits) = string("digits") else {
                    return self.malformed(now, format!("sendDigits without string digits: {}", quote(text)));
                };
                self.rec.relay(|r| r.digits_sent.push(digits));
            }
            "language" => {
                let tts = string("ttsLanguage");
                let transcription = string("transcriptionLanguage");
                if tts.is_none() && transcription.is_none() {
                    return self.malformed(
                        now,
                        "language without ttsLanguage or transcriptionLanguage".into(),
                    );
                }
                if let Some(lang) = &transcription {
                    self.lang = lang.clone();
                }
                self.rec.relay(|r| {
                    r.language_changes.push(LanguageChange {
                        at_ms: now,
                        tts_language: tts,
                        transcription_language: transcription,
                    })
                });
            }
            "end" => {
                let handoff_data = match value.get("handoffData") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    // Objects are taken as their JSON text.
                    Some(other) => Some(other.to_string()),
                };
                self.rec.relay(|r| {
                    r.end = Some(RelayEnd {
                        at_ms: now,
                        handoff_data,
                    })
                });
                self.malformed_in_row = 0;
                self.finish(SessionEnd::Ended, now);
                self.done = true;
                return vec![Out::Close(1000, String::new())];
            }
            other => {
                return self.malformed(
                    now,
                    format!(
                        "unknown type {other:?} (the application may send text, play, sendDigits, language and end)"
                    ),
                )
            }
        }
        self.malformed_in_row = 0;
        Vec::new()
    }
}

/// `text` up to the end of its `n`th word (the spacing and punctuation kept).
fn first_words(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let mut count = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                count += 1;
                if count == n {
                    return &text[..i];
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    text.trim_end()
}

impl Protocol for RelaySession {
    fn next(&self, now: u64) -> Next {
        if let Some(speech) = &self.speaking {
            return Next::At(speech.started + MS_PER_WORD * (speech.said as u64 + 1));
        }
        if let Some(after) = self.interrupt {
            let Some(i) = self.interrupt_target(now) else {
                return Next::Idle;
            };
            let u = &self.utterances[i];
            let target = u.start + after;
            return if target < u.end {
                Next::At(target.max(now))
            } else {
                // It ends first: the caller waits for the next one.
                Next::At(u.end)
            };
        }
        match self.inputs.front() {
            Some(CallerInput::Speech { .. } | CallerInput::PartialSpeech(_)) => {
                Next::At(self.script_at.max(self.speech_end(now)))
            }
            Some(_) => Next::At(self.script_at.max(now)),
            None if self.script_at > now => Next::At(self.script_at),
            None if self.hang_up_when_done => Next::HangUp,
            None => Next::Idle,
        }
    }

    fn fire(&mut self, now: u64) -> Vec<Out> {
        if self.speaking.is_some() {
            return self.speak_word(now);
        }
        if self.interrupt.is_some() {
            if let Some(i) = self.interrupt_target(now) {
                let u = &self.utterances[i];
                if u.start + self.interrupt.unwrap_or(0) <= now && now < u.end {
                    return self.interrupt_now(i, now);
                }
            }
            return Vec::new();
        }
        if self.script_at > now {
            return Vec::new();
        }
        let Some(input) = self.inputs.pop_front() else {
            return Vec::new();
        };
        match input {
            CallerInput::Speech { text, .. } => {
                let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
                if words.is_empty() {
                    return Vec::new();
                }
                self.speaking = Some(CallerSpeech {
                    words,
                    started: now,
                    said: 0,
                    last: true,
                    partials: self.verb.partial_prompts,
                });
                Vec::new()
            }
            CallerInput::PartialSpeech(text) => {
                if !self.verb.partial_prompts {
                    self.note(format!(
                        "partial prompt {text:?} not sent: partialPrompts is off"
                    ));
                    return Vec::new();
                }
                let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
                if words.is_empty() {
                    return Vec::new();
                }
                self.speaking = Some(CallerSpeech {
                    words,
                    started: now,
                    said: 0,
                    last: false,
                    partials: true,
                });
                Vec::new()
            }
            CallerInput::Digits(digits) => {
                if !self.verb.dtmf_detection {
                    self.note(format!("keys {digits:?} not sent: dtmfDetection is off"));
                    return Vec::new();
                }
                digits
                    .chars()
                    .map(|d| {
                        #[derive(Serialize)]
                        struct Dtmf {
                            #[serde(rename = "type")]
                            kind: &'static str,
                            digit: String,
                        }
                        let text = json(&Dtmf {
                            kind: "dtmf",
                            digit: d.to_string(),
                        });
                        self.sent(now, text)
                    })
                    .collect()
            }
            CallerInput::Wait { ms } => {
                self.script_at = now + ms;
                Vec::new()
            }
            CallerInput::Interrupt { after_ms } => {
                self.interrupt = Some(after_ms);
                Vec::new()
            }
            CallerInput::Audio(bytes) => {
                self.note(format!(
                    "{} bytes of audio skipped: ConversationRelay carries text (script .prompt)",
                    bytes.len()
                ));
                Vec::new()
            }
            CallerInput::Silence => Vec::new(),
        }
    }

    fn advance(&mut self, _from: u64, _to: u64) -> Vec<Out> {
        Vec::new()
    }

    fn receive(&mut self, now: u64, msg: Incoming) -> Vec<Out> {
        match msg {
            Incoming::Text(text) => {
                let copy = text.clone();
                self.rec.relay(|r| {
                    r.received.push(TimedMessage {
                        at_ms: now,
                        text: copy,
                    })
                });
                self.receive_text(now, &text)
            }
            Incoming::Binary(n) => self.malformed(
                now,
                format!("a binary frame ({n} bytes): messages are JSON text"),
            ),
            Incoming::Closed(code) => {
                self.alert(
                    64105,
                    now,
                    format!(
                        "ConversationRelay - WebSocket ended: the application closed the socket (code {}) without end",
                        code.map_or_else(|| "none".to_string(), |(c, _)| c.to_string())
                    ),
                );
                self.finish(SessionEnd::AppClosed, now);
                self.done = true;
                Vec::new()
            }
            Incoming::Broken(e) => {
                self.alert(
                    64105,
                    now,
                    format!("ConversationRelay - WebSocket ended: the connection broke: {e}"),
                );
                self.finish(SessionEnd::Broken, now);
                self.done = true;
                Vec::new()
            }
        }
    }

    fn hang_up(&mut self, _now: u64) -> Vec<Out> {
        // Twilio closes the socket without a message.
        Vec::new()
    }

    fn done(&self) -> bool {
        self.done
    }

    fn note(&mut self, text: String) {
        self.rec.relay(|r| r.notes.push(text));
    }

    fn finish(&mut self, end: SessionEnd, now: u64) {
        self.rec.relay(|r| {
            if r.ended_by.is_none() {
                r.ended_by = Some(end);
                r.duration_ms = now;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::first_words;

    #[test]
    fn first_words_keeps_punctuation() {
        let text = "Hello there, how  can I help?";
        assert_eq!(first_words(text, 0), "");
        assert_eq!(first_words(text, 2), "Hello there,");
        assert_eq!(first_words(text, 3), "Hello there, how");
        assert_eq!(first_words(text, 6), "Hello there, how  can I help?");
        assert_eq!(first_words(text, 9), "Hello there, how  can I help?");
        assert_eq!(first_words(" lead ", 1), " lead");
    }
}
