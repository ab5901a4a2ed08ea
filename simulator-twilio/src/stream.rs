//! Twilio's side of a bidirectional Media Stream (`<Connect><Stream>`, VOICE.md §6).
//!
//! Twilio sends `connected`, `start`, the caller's audio as `media` (160-byte frames of
//! 8 kHz μ-law, 20 ms each, `chunk` from 1, `timestamp` in ms since the start), `dtmf`,
//! echoed `mark`s, and `stop` when the call ends; numbers are strings where Twilio sends
//! strings. The application's `media` is played at 8000 bytes a second of session clock,
//! in order; its `mark`s come back once the audio before them has played, or at once on a
//! `clear` (which drops the audio not played yet). Anything else from the application is
//! alert 31951, and the stream goes on.

use std::collections::VecDeque;

use base64::Engine as _;
use serde::Serialize;

use crate::records::{Alert, ClearRecord, MarkRecord, SessionEnd, TimedMessage};
use crate::script::CallerInput;
use crate::session::{Incoming, Next, Out, Protocol, Recorder, json, ordered_map, quote};

/// Bytes of μ-law in one `media` frame Twilio sends (20 ms).
pub(crate) const FRAME_BYTES: usize = 160;
/// Simulated milliseconds of one frame.
const FRAME_MS: u64 = 20;
/// μ-law bytes played per simulated millisecond.
const BYTES_PER_MS: u64 = 8;

/// The application's audio waiting to play, and its marks between.
#[derive(Debug, Default)]
struct Playback {
    queue: VecDeque<Queued>,
}

#[derive(Debug)]
enum Queued {
    /// Bytes not played yet.
    Audio(u64),
    /// A mark (index in the record's marks).
    Mark(usize),
}

impl Playback {
    fn buffered(&self) -> u64 {
        self.queue
            .iter()
            .map(|q| match q {
                Queued::Audio(n) => *n,
                Queued::Mark(_) => 0,
            })
            .sum()
    }

    /// When the first pending mark is reached, playing from `now`.
    fn next_mark(&self, now: u64) -> Option<u64> {
        let mut ahead = 0;
        for q in &self.queue {
            match q {
                Queued::Audio(n) => ahead += n,
                Queued::Mark(_) => return Some(now + ahead.div_ceil(BYTES_PER_MS)),
            }
        }
        None
    }

    /// Plays from `from` to `to`: the bytes played, and the marks reached, each with the
    /// bytes played in this span before it.
    fn advance(&mut self, from: u64, to: u64) -> (u64, Vec<(usize, u64)>) {
        let budget = (to - from) * BYTES_PER_MS;
        let mut played = 0;
        let mut reached = Vec::new();
        while let Some(front) = self.queue.front_mut() {
            match front {
                Queued::Audio(n) => {
                    let take = (*n).min(budget - played);
                    *n -= take;
                    played += take;
                    if *n > 0 {
                        break;
                    }
                    self.queue.pop_front();
                }
                Queued::Mark(i) => {
                    reached.push((*i, played));
                    self.queue.pop_front();
                }
            }
        }
        (played, reached)
    }
}

/// `start.mediaFormat`.
#[derive(Serialize)]
struct MediaFormat {
    encoding: &'static str,
    #[serde(rename = "sampleRate")]
    sample_rate: u32,
    channels: u32,
}

#[derive(Serialize)]
struct Start<'a> {
    #[serde(rename = "accountSid")]
    account_sid: &'a str,
    #[serde(rename = "streamSid")]
    stream_sid: &'a str,
    #[serde(rename = "callSid")]
    call_sid: &'a str,
    tracks: [&'static str; 1],
    #[serde(rename = "mediaFormat")]
    media_format: MediaFormat,
    #[serde(rename = "customParameters", serialize_with = "ordered_map")]
    custom_parameters: &'a [(String, String)],
}

/// The Twilio side of one stream.
pub(crate) struct StreamSession {
    rec: Recorder,
    account_sid: String,
    call_sid: String,
    stream_sid: String,
    /// The last `sequenceNumber` sent.
    sequence: u64,
    /// The last `chunk` sent.
    chunk: u64,
    pub(crate) inputs: VecDeque<CallerInput>,
    hang_up_when_done: bool,
    /// When the next input is due.
    script_at: u64,
    /// Caller audio not framed yet.
    framing: VecDeque<u8>,
    /// An `interrupt_after_ms` in progress: the application's audio (bytes) still to play
    /// before the script goes on.
    interrupt_left: Option<u64>,
    playback: Playback,
    /// The application's audio played so far.
    played: u64,
    done: bool,
}

impl StreamSession {
    pub(crate) fn new(
        rec: Recorder,
        account_sid: String,
        call_sid: String,
        stream_sid: String,
        inputs: VecDeque<CallerInput>,
        hang_up_when_done: bool,
    ) -> Self {
        StreamSession {
            rec,
            account_sid,
            call_sid,
            stream_sid,
            sequence: 0,
            chunk: 0,
            inputs,
            hang_up_when_done,
            script_at: 0,
            framing: VecDeque::new(),
            interrupt_left: None,
            playback: Playback::default(),
            played: 0,
            done: false,
        }
    }

    /// `connected` and `start`.
    pub(crate) fn opening(&mut self, custom_parameters: &[(String, String)]) -> Vec<Out> {
        let connected = json(&serde_json::json!({
            "event": "connected", "protocol": "Call", "version": "1.0.0"
        }));
        // serde_json's map sorts keys; these three happen to be Twilio's order.
        self.sequence += 1;
        #[derive(Serialize)]
        struct StartMessage<'a> {
            event: &'static str,
            #[serde(rename = "sequenceNumber")]
            sequence_number: String,
            start: Start<'a>,
            #[serde(rename = "streamSid")]
            stream_sid: &'a str,
        }
        let start = json(&StartMessage {
            event: "start",
            sequence_number: self.sequence.to_string(),
            start: Start {
                account_sid: &self.account_sid,
                stream_sid: &self.stream_sid,
                call_sid: &self.call_sid,
                tracks: ["inbound"],
                media_format: MediaFormat {
                    encoding: "audio/x-mulaw",
                    sample_rate: 8000,
                    channels: 1,
                },
                custom_parameters,
            },
            stream_sid: &self.stream_sid,
        });
        vec![self.sent(0, connected), self.sent(0, start)]
    }

    fn sent(&self, at_ms: u64, text: String) -> Out {
        let copy = text.clone();
        self.rec
            .stream(|r| r.sent.push(TimedMessage { at_ms, text: copy }));
        Out::Text(text)
    }

    fn next_sequence(&mut self) -> String {
        self.sequence += 1;
        self.sequence.to_string()
    }

    fn alert(&self, at_ms: u64, message: String) {
        tracing::debug!(call_sid = %self.call_sid, %message, "simulator: stream alert 31951");
        self.rec.stream(|r| {
            r.alerts.push(Alert {
                code: 31951,
                message: format!("Stream - Protocol - Invalid message: {message}"),
                at_ms,
            })
        });
    }

    /// Echoes mark `index` at `at`, when `played` bytes of the application's audio have
    /// played in all.
    fn mark_echo(&mut self, index: usize, at: u64, played: u64, cleared: bool) -> Out {
        let mut name = String::new();
        self.rec.stream(|r| {
            if let Some(m) = r.marks.get_mut(index) {
                m.echoed_at_ms = Some(at);
                m.played_bytes_at_echo = played;
                m.cleared = cleared;
                name = m.name.clone();
            }
        });
        #[derive(Serialize)]
        struct MarkName<'a> {
            name: &'a str,
        }
        #[derive(Serialize)]
        struct MarkMessage<'a> {
            event: &'static str,
            #[serde(rename = "sequenceNumber")]
            sequence_number: String,
            #[serde(rename = "streamSid")]
            stream_sid: &'a str,
            mark: MarkName<'a>,
        }
        let text = json(&MarkMessage {
            event: "mark",
            sequence_number: self.next_sequence(),
            stream_sid: &self.stream_sid,
            mark: MarkName { name: &name },
        });
        self.sent(at, text)
    }

    /// The next frame of caller audio (pulling consecutive audio inputs; padding the last
    /// frame), if any audio is due.
    fn take_frame(&mut self) -> Option<Vec<u8>> {
        while self.framing.len() < FRAME_BYTES {
            match self.inputs.front() {
                Some(CallerInput::Audio(_)) => {
                    if let Some(CallerInput::Audio(bytes)) = self.inputs.pop_front() {
                        self.framing.extend(bytes);
                    }
                }
                _ => break,
            }
        }
        if self.framing.is_empty() {
            return None;
        }
        let n = self.framing.len().min(FRAME_BYTES);
        let mut frame: Vec<u8> = self.framing.drain(..n).collect();
        frame.resize(FRAME_BYTES, crate::audio::MULAW_SILENCE);
        Some(frame)
    }

    fn media(&mut self, now: u64, frame: Vec<u8>) -> Out {
        self.chunk += 1;
        #[derive(Serialize)]
        struct Media {
            track: &'static str,
            chunk: String,
            timestamp: String,
            payload: String,
        }
        #[derive(Serialize)]
        struct MediaMessage<'a> {
            event: &'static str,
            #[serde(rename = "sequenceNumber")]
            sequence_number: String,
            media: Media,
            #[serde(rename = "streamSid")]
            stream_sid: &'a str,
        }
        let text = json(&MediaMessage {
            event: "media",
            sequence_number: self.next_sequence(),
            media: Media {
                track: "inbound",
                chunk: self.chunk.to_string(),
                timestamp: now.to_string(),
                payload: base64::engine::general_purpose::STANDARD.encode(&frame),
            },
            stream_sid: &self.stream_sid,
        });
        self.rec.stream(|r| {
            r.sent_audio.extend_from_slice(&frame);
            r.media_frames_sent += 1;
        });
        self.sent(now, text)
    }

    fn dtmf(&mut self, now: u64, digit: char) -> Out {
        #[derive(Serialize)]
        struct Dtmf {
            track: &'static str,
            digit: String,
        }
        #[derive(Serialize)]
        struct DtmfMessage<'a> {
            event: &'static str,
            #[serde(rename = "streamSid")]
            stream_sid: &'a str,
            #[serde(rename = "sequenceNumber")]
            sequence_number: String,
            dtmf: Dtmf,
        }
        let sequence_number = self.next_sequence();
        let text = json(&DtmfMessage {
            event: "dtmf",
            stream_sid: &self.stream_sid,
            sequence_number,
            dtmf: Dtmf {
                track: "inbound_track",
                digit: digit.to_string(),
            },
        });
        self.sent(now, text)
    }

    /// Handles one text message from the application.
    fn receive_text(&mut self, now: u64, text: &str) -> Vec<Out> {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.alert(now, format!("not JSON ({e}): {}", quote(text)));
                return Vec::new();
            }
        };
        let Some(event) = value.get("event").and_then(|e| e.as_str()) else {
            self.alert(now, format!("no \"event\": {}", quote(text)));
            return Vec::new();
        };
        if !matches!(event, "media" | "mark" | "clear") {
            self.alert(
                now,
                format!("unknown event {event:?} (the application may send media, mark and clear)"),
            );
            return Vec::new();
        }
        match value.get("streamSid").and_then(|s| s.as_str()) {
            Some(sid) if sid == self.stream_sid => {}
            Some(sid) => {
                self.alert(
                    now,
                    format!(
                        "{event} for streamSid {sid:?}, not this stream's {:?}",
                        self.stream_sid
                    ),
                );
                return Vec::new();
            }
            None => {
                self.alert(now, format!("{event} without a streamSid"));
                return Vec::new();
            }
        }
        match event {
            "media" => {
                let payload = value
                    .get("media")
                    .and_then(|m| m.get("payload"))
                    .and_then(|p| p.as_str());
                let Some(payload) = payload else {
                    self.alert(now, "media without media.payload".into());
                    return Vec::new();
                };
                match base64::engine::general_purpose::STANDARD.decode(payload) {
                    Ok(bytes) => {
                        let n = bytes.len() as u64;
                        let since = self.rec.since_created();
                        self.rec.stream(|r| {
                            if r.first_media_after.is_none() {
                                r.first_media_after = since;
                            }
                            r.received_audio.extend_from_slice(&bytes);
                            r.media_frames_received += 1;
                        });
                        if n > 0 {
                            self.playback.queue.push_back(Queued::Audio(n));
                        }
                        Vec::new()
                    }
                    Err(e) => {
                        self.alert(now, format!("media.payload is not base64: {e}"));
                        Vec::new()
                    }
                }
            }
            "mark" => {
                let name = value
                    .get("mark")
                    .and_then(|m| m.get("name"))
                    .and_then(|n| n.as_str());
                let Some(name) = name else {
                    self.alert(now, "mark without mark.name".into());
                    return Vec::new();
                };
                let ahead = self.playback.buffered();
                let mut index = 0;
                self.rec.stream(|r| {
                    index = r.marks.len();
                    r.marks.push(MarkRecord {
                        name: name.to_string(),
                        received_at_ms: now,
                        audio_ahead_bytes: ahead,
                        echoed_at_ms: None,
                        played_bytes_at_echo: 0,
                        cleared: false,
                    });
                });
                if self.playback.queue.is_empty() {
                    vec![self.mark_echo(index, now, self.played, false)]
                } else {
                    self.playback.queue.push_back(Queued::Mark(index));
                    Vec::new()
                }
            }
            _ => {
                // clear: drop the audio not played; pending marks come back now.
                let dropped = self.playback.buffered();
                let marks: Vec<usize> = self
                    .playback
                    .queue
                    .drain(..)
                    .filter_map(|q| match q {
                        Queued::Mark(i) => Some(i),
                        Queued::Audio(_) => None,
                    })
                    .collect();
                let outs: Vec<Out> = marks
                    .iter()
                    .map(|&i| self.mark_echo(i, now, self.played, true))
                    .collect();
                let mut names = Vec::new();
                self.rec.stream(|r| {
                    names = marks
                        .iter()
                        .filter_map(|&i| r.marks.get(i).map(|m| m.name.clone()))
                        .collect();
                });
                self.rec.stream(|r| {
                    r.clears.push(ClearRecord {
                        at_ms: now,
                        dropped_bytes: dropped,
                        marks_echoed: names,
                    })
                });
                outs
            }
        }
    }
}

impl Protocol for StreamSession {
    fn next(&self, now: u64) -> Next {
        let mark = self.playback.next_mark(now);
        let script = if let Some(left) = self.interrupt_left {
            if left == 0 {
                Some(now)
            } else {
                let buffered = self.playback.buffered();
                (buffered > 0).then(|| now + left.min(buffered).div_ceil(BYTES_PER_MS))
            }
        } else if !self.framing.is_empty() || !self.inputs.is_empty() || self.script_at > now {
            Some(self.script_at.max(now))
        } else {
            // The script is done.
            return match mark {
                _ if self.hang_up_when_done => Next::HangUp,
                Some(t) => Next::At(t),
                None => Next::Idle,
            };
        };
        match (script, mark) {
            (Some(s), Some(m)) => Next::At(s.min(m)),
            (Some(t), None) | (None, Some(t)) => Next::At(t),
            (None, None) => Next::Idle,
        }
    }

    fn fire(&mut self, now: u64) -> Vec<Out> {
        if self.playback.next_mark(now) == Some(now) {
            // Marks with no audio ahead (never left queued, but cheap to be sure of).
            return self.advance(now, now);
        }
        if let Some(left) = self.interrupt_left {
            if left == 0 {
                self.interrupt_left = None;
            }
            return Vec::new();
        }
        if self.script_at > now {
            return Vec::new();
        }
        if let Some(frame) = self.take_frame() {
            self.script_at = now + FRAME_MS;
            return vec![self.media(now, frame)];
        }
        let Some(input) = self.inputs.pop_front() else {
            return Vec::new();
        };
        match input {
            CallerInput::Digits(digits) => digits.chars().map(|d| self.dtmf(now, d)).collect(),
            CallerInput::Wait { ms } => {
                self.script_at = now + ms;
                Vec::new()
            }
            CallerInput::Interrupt { after_ms } => {
                self.interrupt_left = Some(after_ms * BYTES_PER_MS);
                Vec::new()
            }
            CallerInput::Silence => Vec::new(),
            CallerInput::Speech { text, .. } | CallerInput::PartialSpeech(text) => {
                self.note(format!(
                    "speech {text:?} skipped: a Media Stream carries audio (script .audio/.tone/.wav)"
                ));
                Vec::new()
            }
            CallerInput::Audio(_) => Vec::new(), // framed by take_frame
        }
    }

    fn advance(&mut self, from: u64, to: u64) -> Vec<Out> {
        let (played, reached) = self.playback.advance(from, to);
        if let Some(left) = self.interrupt_left.as_mut() {
            *left = left.saturating_sub(played);
        }
        let before = self.played;
        self.played += played;
        let outs = reached
            .into_iter()
            .map(|(index, upto)| {
                let at = from + upto.div_ceil(BYTES_PER_MS);
                self.mark_echo(index, at, before + upto, false)
            })
            .collect();
        let played_now = self.played;
        self.rec.stream(|r| r.played_bytes = played_now);
        outs
    }

    fn receive(&mut self, now: u64, msg: Incoming) -> Vec<Out> {
        match msg {
            Incoming::Text(text) => {
                let copy = text.clone();
                self.rec.stream(|r| {
                    r.received.push(TimedMessage {
                        at_ms: now,
                        text: copy,
                    })
                });
                self.receive_text(now, &text)
            }
            Incoming::Binary(n) => {
                self.alert(
                    now,
                    format!("a binary frame ({n} bytes): messages are JSON text"),
                );
                Vec::new()
            }
            Incoming::Closed(frame) => {
                self.rec.stream(|r| r.close_frame = frame);
                self.finish(SessionEnd::AppClosed, now);
                self.done = true;
                Vec::new()
            }
            Incoming::Broken(e) => {
                self.note(format!("the connection broke: {e}"));
                self.finish(SessionEnd::Broken, now);
                self.done = true;
                Vec::new()
            }
        }
    }

    fn hang_up(&mut self, now: u64) -> Vec<Out> {
        #[derive(Serialize)]
        struct Stop<'a> {
            #[serde(rename = "accountSid")]
            account_sid: &'a str,
            #[serde(rename = "callSid")]
            call_sid: &'a str,
        }
        #[derive(Serialize)]
        struct StopMessage<'a> {
            event: &'static str,
            #[serde(rename = "sequenceNumber")]
            sequence_number: String,
            stop: Stop<'a>,
            #[serde(rename = "streamSid")]
            stream_sid: &'a str,
        }
        let text = json(&StopMessage {
            event: "stop",
            sequence_number: self.next_sequence(),
            stop: Stop {
                account_sid: &self.account_sid,
                call_sid: &self.call_sid,
            },
            stream_sid: &self.stream_sid,
        });
        vec![self.sent(now, text)]
    }

    fn done(&self) -> bool {
        self.done
    }

    fn note(&mut self, text: String) {
        self.rec.stream(|r| r.notes.push(text));
    }

    fn finish(&mut self, end: SessionEnd, now: u64) {
        self.rec.stream(|r| {
            if r.ended_by.is_none() {
                r.ended_by = Some(end);
                r.duration_ms = now;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_reaches_marks_when_their_audio_has_played() {
        let mut p = Playback::default();
        p.queue.push_back(Queued::Audio(800)); // 100 ms
        p.queue.push_back(Queued::Mark(0));
        p.queue.push_back(Queued::Audio(4)); // half a millisecond
        p.queue.push_back(Queued::Mark(1));
        assert_eq!(p.next_mark(1000), Some(1100));
        assert_eq!(p.advance(1000, 1050), (400, vec![]));
        assert_eq!(p.next_mark(1050), Some(1100));
        assert_eq!(p.advance(1050, 1100), (400, vec![(0, 400)]));
        assert_eq!(p.next_mark(1100), Some(1101));
        // The mark after half a millisecond is reached within the next millisecond; the
        // rest of that millisecond plays nothing (the queue is empty).
        assert_eq!(p.advance(1100, 1101), (4, vec![(1, 4)]));
        assert!(p.queue.is_empty() && p.buffered() == 0);
        assert_eq!(p.next_mark(1101), None);
    }
}
