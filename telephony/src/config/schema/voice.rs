//! `voice: { … }`: calls.

use serde::{Deserialize, Serialize};

/// `voice: { … }`: calls (off unless `enabled`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoiceSection {
    /// Answer calls (default false: every call gets `<Reject/>`, outbound calls are refused).
    pub enabled: Option<bool>,
    /// Spoken when the default flow answers a call.
    pub greeting: Option<String>,
    /// Spoken before the default flow hangs up.
    pub closing: Option<String>,
    /// The text-to-speech voice (`alice`, `man`, `woman`, `Polly.Joanna`, `Google.en-US-Neural2-F`, …).
    pub voice: Option<String>,
    /// Speech language for `<Say>` and recognition (e.g. `en-US`).
    pub language: Option<String>,
    /// Longest call, counted from the answer (default 600; 0 turns the gateway's limit off).
    pub max_duration_seconds: Option<u64>,
    /// How long a Rust voice handler may take before the caller is put on hold (default 8000).
    pub handler_timeout_ms: Option<u64>,
    /// `gather` (default: greeting, one speech turn, closing), `relay` (a live
    /// conversation: each caller prompt is POSTed to `voice.relayUrl`, its `text` spoken) or
    /// `stream` (the call's audio proxied to `voice.streamUrl`).
    pub mode: Option<String>,
    /// Where `relay` mode POSTs call events (default: `forward.url`); signed with
    /// `forward.secret`.
    pub relay_url: Option<String>,
    /// How long `relay` mode waits for the application's answer (default 8000).
    pub relay_timeout_ms: Option<u64>,
    /// `stream` mode: the application's Media Streams WebSocket (`ws://`), which gets each
    /// call's messages frame for frame.
    pub stream_url: Option<String>,
    /// Spoken by the default flow when a transfer was not answered, before hanging up.
    pub transfer_failed_message: Option<String>,
    /// Open the application's side of `relay` and `stream` calls (the relay's
    /// `call.started`, the stream's WebSocket) while answering the call's webhook
    /// (default true).
    pub preconnect: Option<bool>,
    /// What to do when answering-machine detection finds a machine: `continue` (default),
    /// `hangup` (machines and faxes), `message` (say `voice.voicemailMessage` after the
    /// beep, then hang up).
    pub on_machine: Option<String>,
    /// `voice.onMachine: "message"`: what to say after a machine's beep.
    pub voicemail_message: Option<String>,
    /// `true`: record every call the gateway answers or places, whole; `false`: recordings
    /// off for the account (a handler's `Record` verb is dropped, `telephony call --record`
    /// refused); unset (default): only what a handler or a call asks for.
    pub record: Option<bool>,
    /// `single` or `dual` (default): the channels of whole-call recordings.
    pub record_channels: Option<String>,
}
