//! Call recordings: `record_start` (the whole call, or a turn that ends when the party
//! has spoken), dial's `record: "record-from-answer"`, `record_stop`; each finished
//! recording is a `call.recording.saved` event, the resource `GET /v2/recordings/{id}`
//! (API key) with a fresh `download_urls.wav`, and that link
//! (`GET /_simulator/recordings/{id}.wav?token=…`, no API key: it stands in for Telnyx's
//! pre-signed links) serving a small WAV.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::authorize;
use crate::dates::rfc3339;
use crate::errors::ApiError;
use crate::ids::new_uuid;
use crate::simulator::Simulator;

/// `record_start`'s settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordSpec {
    /// `wav` or `mp3`.
    pub(crate) format: String,
    /// `single` or `dual`.
    pub(crate) channels: String,
    /// `max_length` (0: none).
    pub(crate) max_length_secs: u64,
    /// `timeout_secs` of silence (0: none).
    pub(crate) timeout_secs: u64,
}

impl RecordSpec {
    /// A recording that ends on silence or a maximum length: a turn, finished when the
    /// party has said something; else it runs until the call ends (or `record_stop`).
    pub(crate) fn is_turn(&self) -> bool {
        self.timeout_secs > 0 || self.max_length_secs > 0
    }
}

/// One finished recording, as the simulator keeps it (for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingRecord {
    /// `recording_id`.
    pub id: String,
    /// The call.
    pub call_control_id: String,
    /// `single` or `dual`.
    pub channels: String,
    /// `wav` or `mp3`.
    pub format: String,
    /// Simulated milliseconds recorded.
    pub duration_ms: u64,
    /// When it started and ended (real time).
    pub started_at: OffsetDateTime,
    /// When it ended.
    pub ended_at: OffsetDateTime,
    /// The download link's token.
    token: String,
}

/// Keeps a finished recording; returns the `call.recording.saved` fields for it.
pub(crate) fn saved(
    sim: &Simulator,
    call_control_id: &str,
    spec: &RecordSpec,
    duration_ms: u64,
    started_at: OffsetDateTime,
) -> serde_json::Map<String, serde_json::Value> {
    let id = new_uuid();
    let token = new_uuid().replace('-', "");
    let ended_at = OffsetDateTime::now_utc();
    let base = sim
        .lock()
        .base_url
        .clone()
        .unwrap_or_else(|| "http://telnyx-simulator.invalid".into());
    let link = format!(
        "{base}/_simulator/recordings/{id}.{}?token={token}",
        spec.format
    );
    sim.lock().recordings.push(RecordingRecord {
        id: id.clone(),
        call_control_id: call_control_id.to_string(),
        channels: spec.channels.clone(),
        format: spec.format.clone(),
        duration_ms,
        started_at,
        ended_at,
        token,
    });
    tracing::info!(call_control_id, recording_id = %id, duration_ms, "telnyx simulator: recording saved");
    let (wav, mp3) = if spec.format == "mp3" {
        (serde_json::Value::Null, json!(link))
    } else {
        (json!(link), serde_json::Value::Null)
    };
    let mut extra = serde_json::Map::new();
    extra.insert("recording_id".into(), json!(id));
    extra.insert("channels".into(), json!(spec.channels));
    extra.insert("recording_started_at".into(), json!(rfc3339(started_at)));
    extra.insert("recording_ended_at".into(), json!(rfc3339(ended_at)));
    extra.insert("recording_urls".into(), json!({"wav": wav, "mp3": mp3}));
    extra.insert("public_recording_urls".into(), json!({}));
    extra
}

/// A WAV file (8 kHz, 16-bit PCM, 1 or 2 channels) of 100 ms of silence: every simulated
/// recording's audio.
///
/// ```
/// let wav = telephony_telnyx_simulator::recording_wav("dual");
/// assert_eq!((&wav[..4], &wav[8..12]), (&b"RIFF"[..], &b"WAVE"[..]));
/// assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2);
/// ```
pub fn recording_wav(channels: &str) -> Vec<u8> {
    let channels: u16 = if channels == "dual" { 2 } else { 1 };
    let rate: u32 = 8000;
    let block = channels * 2;
    let data_len = 800 * u32::from(block);
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.resize(44 + data_len as usize, 0);
    out
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        10005,
        "Resource not found",
        format!("There is no recording {id:?}."),
    )
}

/// `GET /v2/recordings/{id}` (API key): the resource with a fresh download link.
pub(crate) async fn retrieve(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers)?;
    let (rec, base) = {
        let state = sim.lock();
        let rec = state.recordings.iter().find(|r| r.id == id).cloned();
        (rec, state.base_url.clone())
    };
    let rec = rec.ok_or_else(|| not_found(&id))?;
    let base = base.unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("telnyx-simulator.invalid");
        format!("http://{host}")
    });
    let link = format!(
        "{base}/_simulator/recordings/{}.{}?token={}",
        rec.id, rec.format, rec.token
    );
    let (wav, mp3) = if rec.format == "mp3" {
        (serde_json::Value::Null, json!(link))
    } else {
        (json!(link), serde_json::Value::Null)
    };
    Ok(Json(json!({"data": {
        "id": rec.id,
        "record_type": "recording",
        "call_control_id": rec.call_control_id,
        "channels": rec.channels,
        "duration_millis": rec.duration_ms,
        "recording_started_at": rfc3339(rec.started_at),
        "recording_ended_at": rfc3339(rec.ended_at),
        "download_urls": {"wav": wav, "mp3": mp3},
        "source": "call",
        "status": "completed",
    }}))
    .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct Token {
    token: Option<String>,
}

/// `GET /_simulator/recordings/{id}.{wav|mp3}?token=…`: the audio (a WAV body for both),
/// only with the link's token (403 otherwise).
pub(crate) async fn download(
    State(sim): State<Simulator>,
    Path(file): Path<String>,
    Query(q): Query<Token>,
) -> Result<Response, ApiError> {
    let id = file.rsplit_once('.').map_or(file.as_str(), |(id, _)| id);
    let rec = sim
        .lock()
        .recordings
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or_else(|| not_found(id))?;
    let good = q
        .token
        .as_deref()
        .is_some_and(|t| crate::auth::same_secret(t.as_bytes(), rec.token.as_bytes()));
    if !good {
        return Err(ApiError::new(
            403,
            10010,
            "Forbidden",
            "The download link's token is missing or wrong.",
        ));
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "audio/wav")],
        recording_wav(&rec.channels),
    )
        .into_response())
}
