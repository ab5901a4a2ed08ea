//! A message's Media subresource (`…/Messages/{MessageSid}/Media.json` and
//! `…/Media/{Sid}.json`): one `ME…` record per `MediaUrl` of the create request, with the
//! content type its URL's extension says.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::authorize;
use crate::errors::ApiError;
use crate::paging::Paging;
use crate::sids::new_sid;
use crate::simulator::Simulator;
use crate::surface::{account_path, check_query};
use crate::time_filter::TimeFilter;

/// A Media resource as Twilio returns it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MediaResource {
    pub(crate) sid: String,
    pub(crate) account_sid: String,
    pub(crate) parent_sid: String,
    pub(crate) content_type: String,
    pub(crate) date_created: String,
    pub(crate) date_updated: String,
    pub(crate) uri: String,
}

/// The content type a media URL's extension names (`application/octet-stream` when it
/// names none the simulator knows).
fn content_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "amr" => "audio/amr",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "pdf" => "application/pdf",
        "vcf" => "text/vcard",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The media records of a new message, one per URL.
pub(crate) fn for_message(
    account_sid: &str,
    message_sid: &str,
    urls: &[String],
    date: &str,
) -> Vec<MediaResource> {
    urls.iter()
        .map(|url| {
            let sid = new_sid("ME");
            MediaResource {
                uri: format!(
                    "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{sid}.json"
                ),
                sid,
                account_sid: account_sid.to_string(),
                parent_sid: message_sid.to_string(),
                content_type: content_type(url).to_string(),
                date_created: date.to_string(),
                date_updated: date.to_string(),
            }
        })
        .collect()
}

const LIST: &str = "/Messages/{MessageSid}/Media.json";

/// `GET …/Messages/{MessageSid}/Media.json`: the message's media, filtered by
/// `DateCreated`; 404 (20404) when there is no such message.
pub(crate) async fn list_media(
    State(sim): State<Simulator>,
    Path((account, message_sid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let query = crate::messages::parse_query(query.as_deref())?;
    check_query(&account_path(LIST), &query)?;
    let created = TimeFilter::from_query("DateCreated", &query)?;
    let paging = Paging::from_query(&query);
    let media: Vec<MediaResource> = {
        let state = sim.lock();
        if state.message(&message_sid).is_none() {
            return Err(ApiError::not_found(uri.path()));
        }
        state
            .media
            .get(&message_sid)
            .map(|m| {
                m.iter()
                    .filter(|m| created.admits(Some(&m.date_created)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut filters = Vec::new();
    created.push_to(&mut filters);
    Ok(Json(paging.page(
        "media_list",
        &media,
        uri.path(),
        &filters,
    )))
}

/// `GET …/Media/{Sid}.json`.
pub(crate) async fn fetch_media(
    State(sim): State<Simulator>,
    Path((account, message_sid, file)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<MediaResource>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let sid = file.strip_suffix(".json").unwrap_or_default();
    sim.lock()
        .media
        .get(&message_sid)
        .and_then(|m| m.iter().find(|m| m.sid == sid).cloned())
        .map(Json)
        .ok_or_else(|| ApiError::not_found(uri.path()))
}

/// `DELETE …/Media/{Sid}.json`: 204; the message's `num_media` goes down by one.
pub(crate) async fn delete_media(
    State(sim): State<Simulator>,
    Path((account, message_sid, file)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let sid = file.strip_suffix(".json").unwrap_or_default();
    let mut state = sim.lock();
    let list = state
        .media
        .get_mut(&message_sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let before = list.len();
    list.retain(|m| m.sid != sid);
    if list.len() == before {
        return Err(ApiError::not_found(uri.path()));
    }
    let left = list.len();
    if let Some(m) = state.message_mut(&message_sid) {
        m.num_media = Some(left.to_string());
    }
    tracing::info!(message_sid = %message_sid, media_sid = %sid, "simulator: media deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn content_type_follows_the_extension() {
        assert_eq!(
            content_type("https://example.com/cat.JPG?x=1"),
            "image/jpeg"
        );
        assert_eq!(content_type("https://example.com/a.png"), "image/png");
        assert_eq!(
            content_type("https://example.com/file"),
            "application/octet-stream"
        );
    }
}
