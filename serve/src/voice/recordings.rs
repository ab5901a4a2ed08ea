//! Recordings: the gateway's side of `voice.record` (what a response may record, the
//! whole-call recording it adds, the callbacks it points at the status URL). The
//! provider's "recording ready" callback is `recording_callback`.

use telephony_core::store::StoreError;
use telephony_core::voice::{RecordCall, RecordingChannels, Verb, VoiceResponse};

/// Why a recording's audio could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// The store failed.
    #[error("could not read the recording: {0}")]
    Store(#[from] StoreError),
    /// The provider refused or could not be reached.
    #[error("the provider did not hand over the recording: {0}")]
    Provider(#[from] telephony_core::ProviderError),
}

/// True when the response records (a turn `Record` or a whole-call recording).
pub(crate) fn asks_to_record(response: &VoiceResponse) -> bool {
    response
        .verbs()
        .iter()
        .any(|v| matches!(v, Verb::Record(_) | Verb::RecordCall(_)))
}

/// Points every recording of the response without a callback at `url` (the gateway's
/// status URL), so the finished recording is stored with the call.
pub(crate) fn fill_callbacks(response: &mut VoiceResponse, url: Option<&str>) {
    let Some(url) = url else { return };
    for verb in response.verbs_mut() {
        match verb {
            Verb::Record(r) if r.status_callback.is_none() => {
                r.status_callback = Some(url.to_string())
            }
            Verb::RecordCall(r) if r.status_callback.is_none() => {
                r.status_callback = Some(url.to_string())
            }
            _ => {}
        }
    }
}

/// `voice.record` and `voice.recordChannels`, as [`prepare`] applies them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordPolicy {
    pub(crate) record: Option<bool>,
    pub(crate) channels: RecordingChannels,
}

/// Applies `voice.record` to an answer: off drops every recording verb (logged), on adds
/// a whole-call recording to the first answer of an inbound call (`incoming`); either way
/// the recordings left report to `status_url` (the gateway's status URL).
pub(crate) fn prepare(
    settings: RecordPolicy,
    status_url: Option<&str>,
    response: VoiceResponse,
    call_id: &str,
    incoming: bool,
) -> VoiceResponse {
    let mut response = match settings.record {
        Some(false) if asks_to_record(&response) => {
            let mut kept = VoiceResponse::new();
            for verb in response.verbs() {
                match verb {
                    Verb::Record(_) | Verb::RecordCall(_) => {
                        tracing::warn!(call_sid = %call_id, "the answer asks to record the call but recordings are turned off for this account (voice.record is false); the Record verb was dropped");
                    }
                    other => kept = kept.verb(other.clone()),
                }
            }
            kept
        }
        Some(true)
            if incoming
                && !response.is_empty()
                && !response
                    .verbs()
                    .iter()
                    .any(|v| matches!(v, Verb::Reject(_) | Verb::RecordCall(_))) =>
        {
            let mut recorded = VoiceResponse::new().record_call(RecordCall::new(settings.channels));
            for verb in response.verbs() {
                recorded = recorded.verb(verb.clone());
            }
            tracing::info!(call_sid = %call_id, channels = %settings.channels, "recording the call (voice.record)");
            recorded
        }
        _ => response,
    };
    fill_callbacks(&mut response, status_url);
    response
}
