//! Call recordings: what the provider said about a finished recording
//! ([`CallRecording`]), how many channels to record ([`RecordingChannels`]), the verb that
//! records a whole call ([`RecordCall`]) and the recording's bytes ([`RecordingMedia`]).
//!
//! A recording is personal data: the gateway keeps its metadata (never the audio) with
//! the call, and the audio stays with the provider until it is fetched with the
//! provider's credentials ([`Provider::fetch_recording`](crate::Provider::fetch_recording)).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use time::OffsetDateTime;

/// One channel for the whole call (mixed) or two (the call's first party on the first
/// channel, the other party on the second).
///
/// ```
/// use telephony_core::voice::RecordingChannels;
/// assert_eq!("dual".parse::<RecordingChannels>(), Ok(RecordingChannels::Dual));
/// assert_eq!("mono".parse::<RecordingChannels>(), Ok(RecordingChannels::Single));
/// assert_eq!(RecordingChannels::Single.as_str(), "single");
/// assert_eq!(RecordingChannels::Dual.count(), 2);
/// assert_eq!(
///     "stereo".parse::<RecordingChannels>().unwrap_err().to_string(),
///     "unknown recording channels \"stereo\": expected \"single\" or \"dual\""
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecordingChannels {
    /// One channel (Twilio `mono`, Telnyx `single`).
    #[default]
    Single,
    /// Two channels (Twilio and Telnyx `dual`).
    Dual,
}

impl RecordingChannels {
    /// `single` or `dual`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingChannels::Single => "single",
            RecordingChannels::Dual => "dual",
        }
    }

    /// 1 or 2.
    pub fn count(self) -> u8 {
        match self {
            RecordingChannels::Single => 1,
            RecordingChannels::Dual => 2,
        }
    }
}

impl fmt::Display for RecordingChannels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel count that is not `single`/`mono`/`1` or `dual`/`2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown recording channels {0:?}: expected \"single\" or \"dual\"")]
pub struct UnknownRecordingChannels(pub String);

impl FromStr for RecordingChannels {
    type Err = UnknownRecordingChannels;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "single" | "mono" | "1" => Ok(RecordingChannels::Single),
            "dual" | "2" => Ok(RecordingChannels::Dual),
            _ => Err(UnknownRecordingChannels(s.to_string())),
        }
    }
}

/// Starts recording the whole call from this point (Twilio `<Start><Recording>`, Telnyx
/// `record_start`); the recording ends with the call and is announced to
/// `status_callback` (the gateway fills in its status URL).
///
/// ```
/// use telephony_core::voice::{RecordCall, RecordingChannels, Verb, VoiceResponse};
/// let r = VoiceResponse::new()
///     .record_call(RecordCall::new(RecordingChannels::Dual).status_callback("https://gw.example.com/telephony/status"))
///     .say("This call is recorded.");
/// let Verb::RecordCall(rc) = &r.verbs()[0] else { panic!() };
/// assert_eq!(rc.channels, RecordingChannels::Dual);
/// assert_eq!(rc.status_callback.as_deref(), Some("https://gw.example.com/telephony/status"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecordCall {
    /// One channel or two.
    pub channels: RecordingChannels,
    /// Where the provider announces the finished recording.
    pub status_callback: Option<String>,
}

impl RecordCall {
    /// Records the call in `channels`.
    pub fn new(channels: RecordingChannels) -> Self {
        RecordCall {
            channels,
            status_callback: None,
        }
    }

    /// Where the provider announces the finished recording.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }
}

/// A finished recording, as the provider's "recording ready" callback describes it.
///
/// `url` is where the audio can be fetched with the provider's credentials, the API way
/// (for Twilio the recording resource's URL; for Telnyx the recording resource
/// `https://api.telnyx.com/v2/recordings/{id}`, since the callback's download links expire
/// after 10 minutes).
///
/// ```
/// use telephony_core::voice::{CallRecording, RecordingChannels};
/// let rec = CallRecording::new("RE1", "CA1", time::OffsetDateTime::UNIX_EPOCH)
///     .duration_secs(12)
///     .channels(RecordingChannels::Dual)
///     .format("wav")
///     .url("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1");
/// assert_eq!((rec.recording_id.as_str(), rec.call_id.as_str()), ("RE1", "CA1"));
/// assert_eq!((rec.duration_secs, rec.channels), (Some(12), RecordingChannels::Dual));
/// assert_eq!(rec.format, "wav");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallRecording {
    /// The provider's recording id (Twilio `RE…`, Telnyx `recording_id`).
    pub recording_id: String,
    /// The provider's call id the recording belongs to.
    pub call_id: String,
    /// Length, in whole seconds, when the provider said.
    pub duration_secs: Option<u64>,
    /// One channel or two.
    pub channels: RecordingChannels,
    /// The audio format the gateway fetches (`wav` or `mp3`).
    pub format: String,
    /// Where to fetch it with the provider's credentials.
    pub url: Option<String>,
    /// When the recording started (else when the callback arrived).
    pub created_at: OffsetDateTime,
    /// Where it came from: `call` (the whole call), `turn` (a `Record` verb) or the
    /// provider's own word.
    pub source: Option<String>,
    /// Every field the provider sent that is not above.
    pub extra: BTreeMap<String, String>,
}

impl CallRecording {
    /// A single-channel WAV recording of `call_id` with nothing else known.
    pub fn new(
        recording_id: impl Into<String>,
        call_id: impl Into<String>,
        created_at: OffsetDateTime,
    ) -> Self {
        CallRecording {
            recording_id: recording_id.into(),
            call_id: call_id.into(),
            duration_secs: None,
            channels: RecordingChannels::Single,
            format: "wav".into(),
            url: None,
            created_at,
            source: None,
            extra: BTreeMap::new(),
        }
    }

    /// Sets the duration.
    pub fn duration_secs(mut self, secs: u64) -> Self {
        self.duration_secs = Some(secs);
        self
    }

    /// Sets the channels.
    pub fn channels(mut self, channels: RecordingChannels) -> Self {
        self.channels = channels;
        self
    }

    /// Sets the format.
    pub fn format(mut self, format: impl Into<String>) -> Self {
        self.format = format.into();
        self
    }

    /// Sets the URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets the source.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// A recording's audio, fetched from the provider.
///
/// ```
/// use telephony_core::voice::RecordingMedia;
/// let media = RecordingMedia::new("audio/wav", bytes::Bytes::from_static(b"RIFF"));
/// assert_eq!((media.content_type.as_str(), media.bytes.len()), ("audio/wav", 4));
/// assert_eq!(media.extension(), "wav");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingMedia {
    /// The `Content-Type` the provider sent (`audio/wav`, `audio/x-wav`, `audio/mpeg`).
    pub content_type: String,
    /// The audio.
    pub bytes: Bytes,
}

impl RecordingMedia {
    /// Audio of `content_type`.
    pub fn new(content_type: impl Into<String>, bytes: Bytes) -> Self {
        RecordingMedia {
            content_type: content_type.into(),
            bytes,
        }
    }

    /// A file extension for the content type: `mp3` for MPEG audio, else `wav`.
    pub fn extension(&self) -> &'static str {
        let ct = self.content_type.to_ascii_lowercase();
        if ct.contains("mpeg") || ct.contains("mp3") {
            "mp3"
        } else {
            "wav"
        }
    }
}

impl fmt::Debug for RecordingMedia {
    // Never the audio: it is personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingMedia")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}
