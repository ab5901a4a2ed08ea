//! `voice.*` and `maxConcurrentSessions`.

use super::rule;
use crate::config::{Config, ConfigError};

/// Call limits, the voice mode and what it needs, the spoken texts.
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    if config.max_concurrent_sessions == Some(0) {
        return rule(
            "maxConcurrentSessions",
            "must be at least 1 (set voice.enabled to false to refuse every call)".into(),
        );
    }
    if let Some(ms) = config.voice.handler_timeout_ms {
        if !(100..=14_000).contains(&ms) {
            return rule(
                "voice.handlerTimeoutMs",
                format!(
                    "{ms} is out of range 100..=14000 (Twilio gives up on an answer after 15 s)"
                ),
            );
        }
    }
    match config.voice.mode.as_deref() {
        None | Some("gather") => {}
        Some("relay") => {
            let url = config
                .voice
                .relay_url
                .clone()
                .or_else(|| config.forward.as_ref().map(|f| f.url.clone()));
            match url {
                None => {
                    return rule(
                        "voice.relayUrl",
                        "voice.mode \"relay\" needs voice.relayUrl (or forward.url): where to POST what callers say".into(),
                    )
                }
                Some(u) => {
                    if let Err(e) = telephony_tunnel::StaticUrl::new(u) {
                        return rule("voice.relayUrl", e.to_string());
                    }
                }
            }
        }
        Some("stream") => match config.voice.stream_url.as_deref() {
            None => {
                return rule(
                    "voice.streamUrl",
                    "voice.mode \"stream\" needs voice.streamUrl: the ws:// URL of the application's Media Streams WebSocket".into(),
                )
            }
            Some(u) if !u.starts_with("ws://") || u.len() <= 5 => {
                return rule(
                    "voice.streamUrl",
                    format!("{u:?} must be a ws:// URL (the application's WebSocket, usually on this host)"),
                )
            }
            Some(_) => {}
        },
        Some(other) => {
            return rule(
                "voice.mode",
                format!("unknown mode {other:?}; expected gather, relay or stream"),
            )
        }
    }
    if let Some(c) = config.voice.record_channels.as_deref() {
        if !matches!(c, "single" | "dual") {
            return rule(
                "voice.recordChannels",
                format!("unknown channels {c:?}; expected \"single\" or \"dual\""),
            );
        }
    }
    if let Some(ms) = config.voice.relay_timeout_ms {
        if !(100..=60_000).contains(&ms) {
            return rule(
                "voice.relayTimeoutMs",
                format!("{ms} is out of range 100..=60000"),
            );
        }
    }
    match config.voice.on_machine.as_deref() {
        None | Some("continue" | "hangup") => {}
        Some("message") => {
            if config.voice.voicemail_message.is_none() {
                return rule(
                    "voice.voicemailMessage",
                    "voice.onMachine \"message\" needs voice.voicemailMessage: what to say after the beep".into(),
                );
            }
        }
        Some(other) => {
            return rule(
                "voice.onMachine",
                format!("unknown value {other:?}; expected continue, hangup or message"),
            );
        }
    }
    for (key, text) in [
        ("voice.greeting", &config.voice.greeting),
        ("voice.closing", &config.voice.closing),
        (
            "voice.transferFailedMessage",
            &config.voice.transfer_failed_message,
        ),
        ("voice.voicemailMessage", &config.voice.voicemail_message),
    ] {
        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return rule(key, "must not be empty".into());
        }
    }
    Ok(())
}
