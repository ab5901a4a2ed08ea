//! Call recordings: a call recorded whole (`Record=true` on `Calls.json`, or
//! `<Start><Recording>`) or a turn (`<Record recordingStatusCallback>`) becomes a
//! recording with a small WAV file, announced by a signed recording status callback, and
//! served at `GET /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.wav` (or `.mp3`,
//! `.json`) with the account's basic auth.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use telephony_core::redact::redact_url;
use telephony_twilio::resources::CallResource;
use time::OffsetDateTime;

use crate::auth::authorize;
use crate::dates::rfc2822;
use crate::errors::ApiError;
use crate::signed_post::send_signed;
use crate::simulator::Simulator;

/// One finished recording, as the simulator keeps it (for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingRecord {
    /// `RE…`.
    pub sid: String,
    /// The call.
    pub call_sid: String,
    /// 1 or 2.
    pub channels: u8,
    /// Seconds.
    pub duration_secs: u64,
    /// Twilio's `RecordingSource`: `OutboundAPI`, `StartCallRecordingTwiML`, `RecordVerb`.
    pub source: String,
    /// The `RecordingStatusCallback`, if there was one.
    pub status_callback: Option<String>,
    /// The form of the callback sent.
    pub callback_params: Vec<(String, String)>,
    /// The receiver's HTTP status, if it answered.
    pub callback_status: Option<u16>,
}

/// A whole-call recording in progress.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    channels: u8,
    callback: Option<String>,
    source: &'static str,
    started: OffsetDateTime,
}

/// Recordings in progress, by call, and finished ones.
#[derive(Debug, Default)]
pub(crate) struct RecordingState {
    active: HashMap<String, Vec<Active>>,
    pub(crate) done: Vec<RecordingRecord>,
}

/// `mono`/`1` → 1, `dual`/`2` → 2 (Twilio's `RecordingChannels` and `channels`).
pub(crate) fn channels(value: Option<&str>) -> u8 {
    match value.map(str::trim) {
        Some("dual" | "2") => 2,
        _ => 1,
    }
}

/// Starts recording the rest of `call_sid`.
pub(crate) fn start(
    sim: &Simulator,
    call_sid: &str,
    channels: u8,
    callback: Option<String>,
    source: &'static str,
) {
    tracing::debug!(call_sid, channels, source, "simulator: recording the call");
    sim.lock()
        .recordings
        .active
        .entry(call_sid.to_string())
        .or_default()
        .push(Active {
            channels,
            callback,
            source,
            started: OffsetDateTime::now_utc(),
        });
}

/// The call ended: its recordings in progress are done (as long as the call).
pub(crate) async fn call_ended(sim: &Simulator, call: &CallResource) {
    let active = sim.lock().recordings.active.remove(&call.sid);
    let secs = call
        .duration
        .as_deref()
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or(0);
    for a in active.unwrap_or_default() {
        finish(
            sim, &call.sid, a.channels, secs, a.source, a.callback, a.started,
        )
        .await;
    }
}

/// A `<Record>` turn of `secs` seconds: done at once.
pub(crate) async fn turn(
    sim: &Simulator,
    call_sid: &str,
    secs: u64,
    callback: Option<String>,
) -> String {
    finish(
        sim,
        call_sid,
        1,
        secs,
        "RecordVerb",
        callback,
        OffsetDateTime::now_utc(),
    )
    .await
}

async fn finish(
    sim: &Simulator,
    call_sid: &str,
    channels: u8,
    secs: u64,
    source: &str,
    callback: Option<String>,
    started: OffsetDateTime,
) -> String {
    let sid = crate::sids::new_sid("RE");
    let account = sim.config().account_sid.clone();
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let params = vec![
        p("AccountSid", &account),
        p("CallSid", call_sid),
        p("RecordingSid", &sid),
        p(
            "RecordingUrl",
            &format!("https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{sid}"),
        ),
        p("RecordingStatus", "completed"),
        p("RecordingDuration", &secs.to_string()),
        p("RecordingChannels", &channels.to_string()),
        p("RecordingStartTime", &rfc2822(started)),
        p("RecordingSource", source),
        p("RecordingTrack", "both"),
    ];
    let mut status = None;
    if let Some(url) = &callback {
        let (_, http_status, error) = send_signed(sim, url, &params).await;
        status = http_status;
        if let Some(e) = error {
            tracing::warn!(call_sid, recording_sid = %sid, url = %redact_url(url), error = %e, "simulator: recording status callback failed (not retried)");
        }
    }
    tracing::info!(call_sid, recording_sid = %sid, secs, channels, "simulator: recording completed");
    sim.lock().recordings.done.push(RecordingRecord {
        sid: sid.clone(),
        call_sid: call_sid.to_string(),
        channels,
        duration_secs: secs,
        source: source.to_string(),
        status_callback: callback,
        callback_params: params,
        callback_status: status,
    });
    sid
}

/// A WAV file (8 kHz, 16-bit PCM, `channels`) of 100 ms of silence: what every simulated
/// recording's media is.
///
/// ```
/// let wav = telephony_twilio_simulator::recording_wav(2);
/// assert_eq!(&wav[..4], b"RIFF");
/// assert_eq!(&wav[8..12], b"WAVE");
/// assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2);
/// assert_eq!(wav.len(), 44 + 800 * 2 * 2);
/// ```
pub fn recording_wav(channels: u8) -> Vec<u8> {
    let channels = u16::from(channels.clamp(1, 2));
    let rate: u32 = 8000;
    let frames: u32 = 800;
    let block = channels * 2;
    let data_len = frames * u32::from(block);
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

/// `GET …/Recordings/{Sid}[.wav|.mp3|.json]`: the media (WAV; `.mp3` is the same silence
/// in a WAV body, the simulator has no MP3 encoder) or the resource; basic auth; an
/// unknown SID is 404 / 20404.
pub(crate) async fn fetch_recording(
    State(sim): State<Simulator>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let (sid, ext) = match file.rsplit_once('.') {
        Some((sid, ext)) => (sid.to_string(), ext.to_string()),
        None => (file.clone(), "wav".to_string()),
    };
    let rec = sim
        .lock()
        .recordings
        .done
        .iter()
        .find(|r| r.sid == sid)
        .cloned()
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    match ext.as_str() {
        "json" => Ok(axum::Json(serde_json::json!({
            "sid": rec.sid,
            "account_sid": account,
            "call_sid": rec.call_sid,
            "channels": rec.channels,
            "duration": rec.duration_secs.to_string(),
            "source": rec.source,
            "status": "completed",
        }))
        .into_response()),
        "wav" | "mp3" => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "audio/x-wav")],
            recording_wav(rec.channels),
        )
            .into_response()),
        _ => Err(ApiError::not_found(uri.path())),
    }
}
