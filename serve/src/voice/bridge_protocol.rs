//! The stream bridge's protocol for providers whose own stream messages are not it:
//! Twilio Media Streams JSON, written from the neutral [`StreamEvent`]s and read into
//! [`StreamCommand`]s, so an application behind `voice.mode: "stream"` speaks one protocol
//! whatever the provider.
//!
//! To the application: `connected`, `start` (`streamSid`, `callSid`, `accountSid`,
//! `tracks`, `customParameters`, `mediaFormat`), `media` (`track`, `chunk`, `timestamp`,
//! base64 μ-law `payload`), `dtmf` (`digit`), `mark` (`name`, and the bridge's `cleared`: see
//! [`super::proxy`]), `stop`; every message but
//! `connected` with a `sequenceNumber` (a string, counting from 1) and the `streamSid`.
//! From it: `media` (`media.payload`), `mark` (`mark.name`), `clear`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use telephony_core::voice::{StreamCommand, StreamEvent, StreamStart};

use super::token::TOKEN_PARAM;

/// Writes the bridge's messages for one stream.
pub(crate) struct BridgeWriter {
    stream_sid: String,
    call_sid: String,
    account_sid: Option<String>,
    sequence: u64,
}

/// The `connected` message.
pub(crate) const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;

impl BridgeWriter {
    pub(crate) fn new(start: &StreamStart) -> Self {
        BridgeWriter {
            stream_sid: start.stream_id.clone(),
            call_sid: start.call_id.clone(),
            account_sid: start.account.clone(),
            sequence: 0,
        }
    }

    fn next(&mut self) -> String {
        self.sequence += 1;
        self.sequence.to_string()
    }

    /// The `start`, without the gateway's spent token.
    pub(crate) fn start(&mut self, start: &StreamStart) -> String {
        let params: serde_json::Map<String, Value> = start
            .custom_parameters
            .iter()
            .filter(|(k, _)| k.as_str() != TOKEN_PARAM)
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "event": "start",
            "sequenceNumber": self.next(),
            "streamSid": self.stream_sid,
            "start": {
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "accountSid": self.account_sid,
                "tracks": start.tracks,
                "customParameters": params,
                "mediaFormat": {
                    "encoding": start.encoding,
                    "sampleRate": start.sample_rate,
                    "channels": start.channels,
                },
            },
        })
        .to_string()
    }

    /// One event as the bridge's message; `None` for what the application does not get
    /// (a second `connected` or `start`).
    pub(crate) fn event(&mut self, event: &StreamEvent) -> Option<String> {
        let v = match event {
            StreamEvent::Audio(f) => json!({
                "event": "media",
                "sequenceNumber": self.next(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": f.track,
                    "chunk": f.chunk.to_string(),
                    "timestamp": f.timestamp_ms.to_string(),
                    "payload": STANDARD.encode(&f.mulaw),
                },
            }),
            StreamEvent::Dtmf { digit } => json!({
                "event": "dtmf",
                "sequenceNumber": self.next(),
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit.to_string()},
            }),
            StreamEvent::Mark { name } | StreamEvent::MarkCleared { name } => json!({
                "event": "mark",
                "sequenceNumber": self.next(),
                "streamSid": self.stream_sid,
                "mark": {"name": name, "cleared": matches!(event, StreamEvent::MarkCleared { .. })},
            }),
            StreamEvent::Stop => json!({
                "event": "stop",
                "sequenceNumber": self.next(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            }),
            _ => return None,
        };
        Some(v.to_string())
    }
}

/// A provider's Media Streams `mark` echo, on a pass-through stream: its name and the
/// parsed message (for [`with_cleared`]); `None` for any other message. Only small frames
/// are parsed (a mark is; media is not).
pub(crate) fn passthrough_mark(text: &str) -> Option<(String, Value)> {
    if text.len() >= 1024 || !text.contains(r#""mark""#) {
        return None;
    }
    let v: Value = serde_json::from_str(text).ok()?;
    if v.get("event").and_then(Value::as_str) != Some("mark") {
        return None;
    }
    let name = v.pointer("/mark/name").and_then(Value::as_str)?.to_string();
    Some((name, v))
}

/// The message of [`passthrough_mark`] with the bridge's `mark.cleared` set.
pub(crate) fn with_cleared(mut mark: Value, cleared: bool) -> String {
    if let Some(m) = mark.get_mut("mark").and_then(Value::as_object_mut) {
        m.insert("cleared".into(), Value::Bool(cleared));
    }
    mark.to_string()
}

/// A `mark` or `clear` from the application, on a pass-through stream (its `media` is
/// not looked at: it is forwarded as it came).
pub(crate) fn passthrough_command(text: &str) -> Option<StreamCommand> {
    if text.len() >= 1024 || text.contains(r#""media""#) {
        return None;
    }
    match command(text) {
        Ok(c @ (StreamCommand::Mark(_) | StreamCommand::Clear)) => Some(c),
        _ => None,
    }
}

/// Reads one message from the application.
pub(crate) fn command(text: &str) -> Result<StreamCommand, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match v.get("event").and_then(Value::as_str) {
        Some("media") => {
            let payload = v
                .pointer("/media/payload")
                .and_then(Value::as_str)
                .ok_or("media without media.payload")?;
            STANDARD
                .decode(payload)
                .map(StreamCommand::Audio)
                .map_err(|e| format!("media.payload is not base64: {e}"))
        }
        Some("mark") => v
            .pointer("/mark/name")
            .and_then(Value::as_str)
            .map(|n| StreamCommand::Mark(n.to_string()))
            .ok_or_else(|| "mark without mark.name".to_string()),
        Some("clear") => Ok(StreamCommand::Clear),
        Some(other) => Err(format!("unknown event {other:?}")),
        None => Err("no event".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony_core::voice::AudioFrame;

    #[test]
    fn events_are_written_as_media_streams_and_commands_read_back() {
        let mut start = StreamStart::new("s-1", "v3:abc");
        start.tracks = vec!["inbound".into()];
        start
            .custom_parameters
            .insert(TOKEN_PARAM.into(), "secret".into());
        start.custom_parameters.insert("lang".into(), "fr".into());
        let mut w = BridgeWriter::new(&start);
        let s: Value = serde_json::from_str(&w.start(&start)).unwrap();
        assert_eq!(s["start"]["customParameters"], json!({"lang": "fr"}));
        assert_eq!(s["start"]["callSid"], "v3:abc");
        assert_eq!(s["start"]["mediaFormat"]["encoding"], "audio/x-mulaw");
        assert_eq!(s["sequenceNumber"], "1");
        let m = w
            .event(&StreamEvent::Audio(AudioFrame::new(
                "inbound",
                3,
                40,
                vec![0xff, 0x7f],
            )))
            .unwrap();
        assert_eq!(
            m,
            r#"{"event":"media","media":{"chunk":"3","payload":"/38=","timestamp":"40","track":"inbound"},"sequenceNumber":"2","streamSid":"s-1"}"#
        );
        assert_eq!(
            w.event(&StreamEvent::Dtmf { digit: '4' }).unwrap(),
            r#"{"dtmf":{"digit":"4","track":"inbound_track"},"event":"dtmf","sequenceNumber":"3","streamSid":"s-1"}"#
        );
        assert_eq!(w.event(&StreamEvent::Connected), None);
        assert_eq!(
            w.event(&StreamEvent::Mark { name: "m1".into() }).unwrap(),
            r#"{"event":"mark","mark":{"cleared":false,"name":"m1"},"sequenceNumber":"4","streamSid":"s-1"}"#
        );
        assert_eq!(
            w.event(&StreamEvent::MarkCleared { name: "m2".into() })
                .unwrap(),
            r#"{"event":"mark","mark":{"cleared":true,"name":"m2"},"sequenceNumber":"5","streamSid":"s-1"}"#
        );
        assert_eq!(
            command(r#"{"event":"media","streamSid":"s-1","media":{"payload":"/38="}}"#),
            Ok(StreamCommand::Audio(vec![0xff, 0x7f]))
        );
        assert_eq!(
            command(r#"{"event":"mark","mark":{"name":"m1"}}"#),
            Ok(StreamCommand::Mark("m1".into()))
        );
        assert_eq!(command(r#"{"event":"clear"}"#), Ok(StreamCommand::Clear));
        assert_eq!(
            command(r#"{"event":"hello"}"#),
            Err("unknown event \"hello\"".into())
        );
        assert!(command(r#"{"event":"media","media":{"payload":"**"}}"#).is_err());
    }

    #[test]
    fn pass_through_marks_and_clears_are_recognised() {
        let echo =
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"m1"}}"#;
        let (name, v) = passthrough_mark(echo).unwrap();
        assert_eq!(name, "m1");
        assert_eq!(
            with_cleared(v, true),
            r#"{"event":"mark","mark":{"cleared":true,"name":"m1"},"sequenceNumber":"4","streamSid":"MZ1"}"#
        );
        assert!(passthrough_mark(r#"{"event":"dtmf","dtmf":{"digit":"1"}}"#).is_none());
        assert_eq!(
            passthrough_command(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"m1"}}"#),
            Some(StreamCommand::Mark("m1".into()))
        );
        assert_eq!(
            passthrough_command(r#"{"event":"clear","streamSid":"MZ1"}"#),
            Some(StreamCommand::Clear)
        );
        assert_eq!(
            passthrough_command(
                r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/38="}}"#
            ),
            None
        );
    }
}
