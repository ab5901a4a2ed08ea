//! Recordings: `GET /telephony/recordings` (every call's, or one call's with `?call=`),
//! `GET /telephony/calls/{id}/recordings`, `GET /telephony/recordings/{id}/media` (the
//! audio, fetched from the provider with its credentials), and the data of the forwarded
//! `call.recording` event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telephony_core::voice::CallRecording;
use time::OffsetDateTime;

/// A recording's metadata (the audio stays with the provider).
///
/// ```
/// use telephony_serve::api::Recording;
/// let r: Recording = serde_json::from_str(r#"{"id":"RE1","callId":"CA1","durationSecs":7,
///   "channels":"dual","format":"wav","url":"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
///   "createdAt":"2026-12-07T10:00:00Z","source":"call"}"#).unwrap();
/// assert_eq!((r.id.as_str(), r.call_id.as_str(), r.channels.as_str()), ("RE1", "CA1", "dual"));
/// assert_eq!(r.duration_secs, Some(7));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// The provider's recording id (Twilio `RE…`, Telnyx `recording_id`).
    pub id: String,
    /// The call it belongs to.
    pub call_id: String,
    /// Length in seconds, when the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    /// `single` or `dual`.
    pub channels: String,
    /// `wav` or `mp3`.
    pub format: String,
    /// The provider's URL for it (fetched with the provider's credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When it started (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `call` (the whole call) or `turn` (a `Record` verb).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What else the provider sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl From<&CallRecording> for Recording {
    fn from(r: &CallRecording) -> Self {
        Recording {
            id: r.recording_id.clone(),
            call_id: r.call_id.clone(),
            duration_secs: r.duration_secs,
            channels: r.channels.as_str().to_string(),
            format: r.format.clone(),
            url: r.url.clone(),
            created_at: r.created_at,
            source: r.source.clone(),
            extra: r.extra.clone(),
        }
    }
}

impl Recording {
    /// Back to the store's form (for fetching the audio of a listed recording).
    pub fn to_domain(&self) -> CallRecording {
        let mut r = CallRecording::new(self.id.clone(), self.call_id.clone(), self.created_at)
            .channels(self.channels.parse().unwrap_or_default())
            .format(self.format.clone());
        r.duration_secs = self.duration_secs;
        r.url = self.url.clone();
        r.source = self.source.clone();
        r.extra = self.extra.clone();
        r
    }
}

/// `GET /telephony/recordings`: oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingList {
    /// The recordings.
    pub recordings: Vec<Recording>,
}
