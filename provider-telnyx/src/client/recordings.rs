//! Call recordings: the recording resource (`GET /v2/recordings/{id}`, with the API key)
//! and its audio, downloaded from the short-lived link that resource hands out.

use serde::Deserialize;
use telephony_core::ProviderError;

use super::TelnyxClient;
use super::transport::{PROVIDER, path_segment, transport};

/// `data` of `GET /v2/recordings/{id}`: what the gateway reads of a recording.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct RecordingResource {
    /// The recording id.
    #[serde(default)]
    pub id: String,
    /// Fresh download links (`wav`, `mp3`), valid for 10 minutes.
    #[serde(default)]
    pub download_urls: DownloadUrls,
    /// Length in milliseconds.
    #[serde(default)]
    pub duration_millis: Option<u64>,
    /// `single` or `dual`.
    #[serde(default)]
    pub channels: Option<String>,
}

/// A recording's download links, by format.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct DownloadUrls {
    /// WAV.
    #[serde(default)]
    pub wav: Option<String>,
    /// MP3.
    #[serde(default)]
    pub mp3: Option<String>,
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

impl TelnyxClient {
    /// `GET /v2/recordings/{id}` with the API key.
    pub async fn get_recording(&self, id: &str) -> Result<RecordingResource, ProviderError> {
        let id = path_segment(id)?;
        let answer: Data<RecordingResource> = self
            .json(
                reqwest::Method::GET,
                &format!("/v2/recordings/{id}"),
                &[],
                None,
                "recording",
            )
            .await?;
        Ok(answer.data)
    }

    /// A recording's audio in `format` (`wav` or `mp3`): the recording resource first
    /// (for a fresh link: the callback's expire after 10 minutes), then the link, fetched
    /// without the API key (it is a pre-signed link; the key only goes to the API).
    pub async fn download_recording(
        &self,
        id: &str,
        format: &str,
    ) -> Result<telephony_core::voice::RecordingMedia, ProviderError> {
        let resource = self.get_recording(id).await?;
        let link = match format {
            "mp3" => resource.download_urls.mp3.or(resource.download_urls.wav),
            _ => resource.download_urls.wav.or(resource.download_urls.mp3),
        }
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or_else(|| {
            ProviderError::protocol(
                PROVIDER,
                format!("recording {id} has no download URL (data.download_urls)"),
            )
        })?;
        let response = self
            .http()
            .get(&link)
            .send()
            .await
            .map_err(|e| transport(&link, e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(if format == "mp3" {
                "audio/mpeg"
            } else {
                "audio/wav"
            })
            .to_string();
        let bytes = response.bytes().await.map_err(|e| transport(&link, e))?;
        if !status.is_success() {
            return Err(ProviderError::api(
                PROVIDER,
                status.as_u16(),
                format!(
                    "the recording's download link answered HTTP {}",
                    status.as_u16()
                ),
            ));
        }
        Ok(telephony_core::voice::RecordingMedia::new(
            content_type,
            bytes,
        ))
    }
}
