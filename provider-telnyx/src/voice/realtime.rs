//! Telnyx media streaming on the WebSocket (VOICE.md §4) as the neutral stream types.
//!
//! Telnyx → gateway: `connected`, `start` (top-level `stream_id`; `start.call_control_id`,
//! `start.media_format.{encoding,sample_rate,channels}`, `start.custom_parameters`),
//! `media` (`media.{track,chunk,timestamp,payload}`, numbers possibly as strings), `dtmf`,
//! `mark`, `stop`; gateway → Telnyx (bidirectional `rtp` mode): `media` with a base64
//! payload, `mark`, `clear`. The gateway asks for PCMU both ways, so frames are 8 kHz
//! μ-law, reported as `audio/x-mulaw` like Twilio's.
//!
//! Telnyx does not sign the upgrade: the socket is authorized by the gateway's one-time
//! token in the `start` frame's custom parameters (checked by the gateway), so
//! [`verify_upgrade`](Realtime::verify_upgrade) accepts every upgrade. Telnyx has no
//! ConversationRelay-compatible socket the gateway uses: the relay half refuses every
//! message.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use telephony_core::voice::{
    AudioFrame, Realtime, RealtimeError, RelayCommand, RelayEvent, StreamCommand, StreamEvent,
    StreamStart,
};
use telephony_core::{SignatureCheck, WebhookError, WebhookRequest};

use crate::provider::TelnyxProvider;

fn field<'a>(v: &'a Value, path: &str) -> Result<&'a Value, RealtimeError> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur
            .get(key)
            .filter(|v| !v.is_null())
            .ok_or_else(|| RealtimeError::Malformed(format!("missing {path}")))?;
    }
    Ok(cur)
}

fn string(v: &Value, path: &str) -> Result<String, RealtimeError> {
    match field(v, path)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(RealtimeError::Malformed(format!("{path} is not a string"))),
    }
}

/// A number Telnyx may send as a JSON number or a string.
fn number(v: &Value, path: &str) -> Result<u64, RealtimeError> {
    let raw = field(v, path)?;
    match raw {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| RealtimeError::Malformed(format!("{path} is not a number: {raw}")))
}

fn encoding_name(raw: &str) -> String {
    match raw.to_ascii_uppercase().as_str() {
        "PCMU" => "audio/x-mulaw".into(),
        "PCMA" => "audio/x-alaw".into(),
        _ => raw.to_string(),
    }
}

fn decode_start(msg: &Value) -> Result<StreamEvent, RealtimeError> {
    let stream_id = string(msg, "stream_id")?;
    let call_id = string(msg, "start.call_control_id")?;
    let mut start = StreamStart::new(stream_id, call_id);
    if let Ok(user) = string(msg, "start.user_id") {
        start.account = Some(user);
    }
    if let Ok(format) = field(msg, "start.media_format") {
        if let Ok(enc) = string(format, "encoding") {
            start.encoding = encoding_name(&enc);
        }
        if let Ok(rate) = number(format, "sample_rate") {
            start.sample_rate = u32::try_from(rate)
                .map_err(|_| RealtimeError::Malformed(format!("sample_rate {rate}")))?;
        }
        if let Ok(ch) = number(format, "channels") {
            start.channels = u16::try_from(ch)
                .map_err(|_| RealtimeError::Malformed(format!("channels {ch}")))?;
        }
    }
    start.tracks = vec!["inbound".into()];
    let mut params = BTreeMap::new();
    match msg.pointer("/start/custom_parameters") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                params.insert(k.clone(), v);
            }
        }
        // The shape `streaming_start` takes: [{"name":…,"value":…}].
        Some(Value::Array(items)) => {
            for item in items {
                if let (Some(k), Some(v)) = (
                    item.get("name").and_then(Value::as_str),
                    item.get("value").and_then(Value::as_str),
                ) {
                    params.insert(k.to_string(), v.to_string());
                }
            }
        }
        _ => {}
    }
    start.custom_parameters = params;
    Ok(StreamEvent::Start(start))
}

fn decode_media(msg: &Value) -> Result<StreamEvent, RealtimeError> {
    let payload = string(msg, "media.payload")?;
    let audio = STANDARD
        .decode(payload.trim())
        .map_err(|e| RealtimeError::Malformed(format!("media.payload is not base64: {e}")))?;
    let track = string(msg, "media.track").unwrap_or_else(|_| "inbound".into());
    let chunk = match field(msg, "media.chunk") {
        Ok(_) => number(msg, "media.chunk")?,
        Err(_) => number(msg, "sequence_number").unwrap_or(0),
    };
    let timestamp = match field(msg, "media.timestamp") {
        Ok(_) => number(msg, "media.timestamp")?,
        Err(_) => 0,
    };
    Ok(StreamEvent::Audio(AudioFrame::new(
        track, chunk, timestamp, audio,
    )))
}

impl Realtime for TelnyxProvider {
    /// Telnyx does not sign the upgrade (see the module documentation).
    fn verify_upgrade(
        &self,
        _req: &WebhookRequest,
        _check: SignatureCheck,
    ) -> Result<(), WebhookError> {
        Ok(())
    }

    /// ```
    /// use telephony_core::Provider;
    /// use telephony_core::voice::StreamEvent;
    /// use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
    /// let p = TelnyxProvider::new(TelnyxConfig::new("k").public_key("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").messaging_profile_id("p"))?;
    /// let rt = p.realtime().unwrap();
    /// let ev = rt.decode_stream(r#"{"event":"media","sequence_number":"4","stream_id":"s1","media":{"track":"inbound","chunk":"2","timestamp":"40","payload":"/w=="}}"#)?;
    /// let StreamEvent::Audio(frame) = ev else { panic!() };
    /// assert_eq!((frame.chunk, frame.timestamp_ms, frame.mulaw), (2, 40, vec![0xff]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn decode_stream(&self, text: &str) -> Result<StreamEvent, RealtimeError> {
        let msg: Value = serde_json::from_str(text)
            .map_err(|e| RealtimeError::Malformed(format!("not JSON: {e}")))?;
        let event = msg
            .get("event")
            .and_then(Value::as_str)
            .ok_or_else(|| RealtimeError::Malformed("missing event".into()))?;
        match event {
            "connected" => Ok(StreamEvent::Connected),
            "start" => decode_start(&msg),
            "media" => decode_media(&msg),
            "dtmf" => {
                let digit = string(&msg, "dtmf.digit")?;
                let mut chars = digit.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii_digit() || "*#ABCDabcd".contains(c) => {
                        Ok(StreamEvent::Dtmf { digit: c })
                    }
                    _ => Err(RealtimeError::Malformed(format!(
                        "dtmf.digit {digit:?} is not one key"
                    ))),
                }
            }
            "mark" => Ok(StreamEvent::Mark {
                name: string(&msg, "mark.name")?,
            }),
            "stop" => Ok(StreamEvent::Stop),
            "error" => Err(RealtimeError::Malformed(format!(
                "Telnyx reported a stream error: {}",
                msg.get("payload").unwrap_or(&msg)
            ))),
            other => Err(RealtimeError::UnknownEvent(other.to_string())),
        }
    }

    fn encode_stream(&self, _stream_id: &str, command: &StreamCommand) -> String {
        let v = match command {
            StreamCommand::Audio(mulaw) => {
                json!({"event": "media", "media": {"payload": STANDARD.encode(mulaw)}})
            }
            StreamCommand::Mark(name) => json!({"event": "mark", "mark": {"name": name}}),
            StreamCommand::Clear => json!({"event": "clear"}),
            _ => json!({"event": "clear"}),
        };
        v.to_string()
    }

    fn decode_relay(&self, _text: &str) -> Result<RelayEvent, RealtimeError> {
        Err(RealtimeError::Malformed(
            "the gateway has no relay for Telnyx (use voice.mode \"stream\")".into(),
        ))
    }

    fn encode_relay(&self, _command: &RelayCommand) -> String {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TelnyxConfig;
    use telephony_core::Provider;

    fn provider() -> TelnyxProvider {
        TelnyxProvider::new(
            TelnyxConfig::new("k")
                .public_key("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
                .messaging_profile_id("p"),
        )
        .unwrap()
    }

    #[test]
    fn start_frames_as_telnyx_documents_them() {
        let p = provider();
        let rt = p.realtime().unwrap();
        // The AsyncAPI example's shape (VOICE.md §4).
        let ev = rt
            .decode_stream(r#"{"event":"start","sequence_number":"1","stream_id":"32DE0DEA-53CB-4B21-89A4-9E1819C043BC","start":{"user_id":"u1","call_control_id":"v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ","call_session_id":"ff55a038","from":"+13122010094","to":"+13122123456","tags":["t"],"client_state":"aGk=","custom_parameters":{"telephonyToken":"abc"},"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}"#)
            .unwrap();
        let StreamEvent::Start(s) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(s.stream_id, "32DE0DEA-53CB-4B21-89A4-9E1819C043BC");
        assert_eq!(
            s.call_id,
            "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
        );
        assert_eq!(
            (s.encoding.as_str(), s.sample_rate, s.channels),
            ("audio/x-mulaw", 8000, 1)
        );
        assert_eq!(s.custom_parameters["telephonyToken"], "abc");
        assert_eq!(s.account.as_deref(), Some("u1"));
        assert_eq!(
            rt.decode_stream(r#"{"event":"dtmf","dtmf":{"digit":"7"}}"#)
                .unwrap(),
            StreamEvent::Dtmf { digit: '7' }
        );
        assert_eq!(
            rt.decode_stream(r#"{"event":"mark","mark":{"name":"m1"}}"#)
                .unwrap(),
            StreamEvent::Mark { name: "m1".into() }
        );
        assert_eq!(
            rt.decode_stream(r#"{"event":"stop"}"#).unwrap(),
            StreamEvent::Stop
        );
        assert!(matches!(
            rt.decode_stream(r#"{"event":"media","media":{"payload":"***"}}"#),
            Err(RealtimeError::Malformed(_))
        ));
        assert_eq!(
            rt.decode_stream(r#"{"event":"bogus"}"#),
            Err(RealtimeError::UnknownEvent("bogus".into()))
        );
    }

    #[test]
    fn commands_as_telnyx_takes_them() {
        let p = provider();
        let rt = p.realtime().unwrap();
        assert_eq!(
            rt.encode_stream("s", &StreamCommand::Audio(vec![0xff, 0x7f])),
            r#"{"event":"media","media":{"payload":"/38="}}"#
        );
        assert_eq!(
            rt.encode_stream("s", &StreamCommand::Mark("m".into())),
            r#"{"event":"mark","mark":{"name":"m"}}"#
        );
        assert_eq!(
            rt.encode_stream("s", &StreamCommand::Clear),
            r#"{"event":"clear"}"#
        );
    }
}
