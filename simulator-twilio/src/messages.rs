//! The Messages resource: create (Twilio's validation, magic test numbers, injected
//! failures), fetch and list.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use telephony_twilio::client::{MAX_BODY_CHARS, MAX_MEDIA_URLS as MAX_MEDIA};
use telephony_twilio::resources::MessageResource;
use time::OffsetDateTime;

use crate::auth::authorize;
use crate::callbacks;
use crate::dates::rfc2822;
use crate::errors::ApiError;
use crate::form::{first, is_form};
use crate::paging::Paging;
use crate::recipients::{normalize_recipient, redacted, same_recipient, split_channel};
use crate::records::CreateRequestRecord;
use crate::segments::segments_for;
use crate::sids::new_sid;
use crate::simulator::Simulator;
use crate::surface::{account_path, check_query};
use crate::time_filter::TimeFilter;

const API_VERSION: &str = "2010-04-01";

/// Twilio's magic test numbers (test credentials) as recipients.
fn magic_recipient_error(e164: &str, raw_to: &str) -> Option<ApiError> {
    let (code, message) = match e164 {
        "+15005550001" => (
            21211,
            format!("The 'To' number {raw_to} is not a valid phone number."),
        ),
        "+15005550002" => (
            21612,
            "The 'To' phone number is not currently reachable via SMS.".to_string(),
        ),
        "+15005550004" => (
            21610,
            "Attempt to send to unsubscribed recipient".to_string(),
        ),
        "+15005550009" => (
            21614,
            "'To' number is not a valid mobile number".to_string(),
        ),
        _ => return None,
    };
    Some(ApiError::bad_request(code, message))
}

struct CreateRequest {
    to: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    body: String,
    media: Vec<String>,
    status_callback: Option<String>,
}

/// Twilio's create-time validation, in Twilio's order.
fn validate(params: &[(String, String)]) -> Result<CreateRequest, ApiError> {
    let raw_to = first(params, "To")
        .ok_or_else(|| ApiError::bad_request(21604, "A 'To' phone number is required."))?;
    let to = normalize_recipient(&raw_to).ok_or_else(|| {
        ApiError::bad_request(
            21211,
            format!("The 'To' number {raw_to} is not a valid phone number."),
        )
    })?;
    let from = first(params, "From");
    let messaging_service_sid = first(params, "MessagingServiceSid");
    if from.is_none() && messaging_service_sid.is_none() {
        return Err(ApiError::bad_request(
            21603,
            "A 'From' phone number is required.",
        ));
    }
    let body = first(params, "Body").unwrap_or_default();
    let media: Vec<String> = params
        .iter()
        .filter(|(k, v)| k == "MediaUrl" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    if body.is_empty() && media.is_empty() {
        return Err(ApiError::bad_request(21602, "Message body is required."));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::bad_request(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    if media.len() > MAX_MEDIA {
        return Err(ApiError::bad_request(21623, "Too many media urls"));
    }
    let (_, e164) = split_channel(&to);
    if let Some(err) = magic_recipient_error(e164, &raw_to) {
        return Err(err);
    }
    Ok(CreateRequest {
        to,
        from,
        messaging_service_sid,
        body,
        media,
        status_callback: first(params, "StatusCallback"),
    })
}

/// `POST …/Messages.json`: every request is recorded (see [`Simulator::create_requests`]),
/// whatever it is answered.
pub(crate) async fn create_message(
    State(sim): State<Simulator>,
    path: Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let at = OffsetDateTime::now_utc();
    let to = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|params| first(&params, "To"));
    let result = create_message_answer(sim.clone(), path, uri, headers, body).await;
    let http_status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(e) => e.status,
    };
    sim.lock().create_requests.push(CreateRequestRecord {
        at,
        to,
        http_status,
    });
    result
}

async fn create_message_answer(
    sim: Simulator,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    if !is_form(&headers) {
        return Err(ApiError::bad_request(
            400,
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::bad_request(400, "The request body is not a valid form"))?;

    let raw_to = first(&params, "To");
    if let Some(err) = sim.lock().take_injection(raw_to.as_deref()) {
        tracing::info!(
            status = err.status,
            code = err.code,
            "simulator: answering with an injected failure"
        );
        return Err(err);
    }
    let req = validate(&params).inspect_err(|e| {
        tracing::debug!(code = e.code, "simulator: create rejected");
    })?;

    let config = &sim.config();
    let now = rfc2822(OffsetDateTime::now_utc());
    let has_media = !req.media.is_empty();
    let sid = new_sid(if has_media { "MM" } else { "SM" });
    let pooled = req.from.is_none();
    let message_uri = format!("/2010-04-01/Accounts/{}/Messages/{sid}", config.account_sid);
    let mut resource = MessageResource {
        sid: sid.clone(),
        account_sid: Some(config.account_sid.clone()),
        api_version: Some(API_VERSION.to_string()),
        body: Some(req.body),
        date_created: Some(now.clone()),
        date_sent: Some(now.clone()),
        date_updated: Some(now),
        direction: Some("outbound-api".to_string()),
        error_code: None,
        error_message: None,
        from: req.from,
        messaging_service_sid: req.messaging_service_sid,
        num_media: Some(req.media.len().to_string()),
        num_segments: None,
        price: None,
        price_unit: Some("USD".to_string()),
        status: Some(if pooled { "accepted" } else { "queued" }.to_string()),
        subresource_uris: Some(BTreeMap::from([(
            "media".to_string(),
            format!("{message_uri}/Media.json"),
        )])),
        to: Some(req.to),
        uri: Some(format!("{message_uri}.json")),
    };
    resource.num_segments = Some(if pooled {
        "0".to_string()
    } else {
        segments_for(&resource).to_string()
    });

    tracing::info!(
        message_sid = %sid,
        to = %redacted(resource.to.as_deref().unwrap_or_default()),
        status = resource.status.as_deref().unwrap_or_default(),
        status_callback = req.status_callback.is_some(),
        "simulator: message created"
    );
    {
        let media = crate::media::for_message(
            &config.account_sid,
            &sid,
            &req.media,
            resource.date_created.as_deref().unwrap_or_default(),
        );
        let mut state = sim.lock();
        state.insert(resource.clone());
        if !media.is_empty() {
            state.media.insert(sid.clone(), media);
        }
    }
    callbacks::spawn(sim.clone(), sid, req.status_callback);
    Ok((StatusCode::CREATED, Json(resource)).into_response())
}

pub(crate) async fn fetch_message(
    State(sim): State<Simulator>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<MessageResource>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    file.strip_suffix(".json")
        .and_then(|sid| sim.message(sid))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(uri.path()))
}

/// A list's query string as pairs (400, 20001 when it is not a query string).
pub(crate) fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| ApiError::bad_request(20001, "The query string is malformed"))
}

const LIST: &str = "/Messages.json";

/// `GET …/Messages.json`: newest first, filtered by `To`, `From` and `DateSent`
/// (`DateSent<`, `DateSent>`), a page at a time; any other parameter is 400 naming it.
pub(crate) async fn list_messages(
    State(sim): State<Simulator>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let query = parse_query(query.as_deref())?;
    check_query(&account_path(LIST), &query)?;
    let to = first(&query, "To");
    let from = first(&query, "From");
    let sent = TimeFilter::from_query("DateSent", &query)?;
    let paging = Paging::from_query(&query);

    let matching: Vec<MessageResource> = {
        let state = sim.lock();
        state
            .messages
            .iter()
            .rev()
            .filter(|m| {
                to.as_deref()
                    .is_none_or(|t| m.to.as_deref().is_some_and(|mt| same_recipient(mt, t)))
                    && from
                        .as_deref()
                        .is_none_or(|f| m.from.as_deref().is_some_and(|mf| same_recipient(mf, f)))
                    && sent.admits(m.date_sent.as_deref())
            })
            .cloned()
            .collect()
    };
    let mut filters: Vec<(String, String)> = Vec::new();
    if let Some(t) = &to {
        filters.push(("To".into(), t.clone()));
    }
    if let Some(f) = &from {
        filters.push(("From".into(), f.clone()));
    }
    sent.push_to(&mut filters);
    Ok(Json(paging.page(
        "messages",
        &matching,
        uri.path(),
        &filters,
    )))
}

/// Statuses after which a message changes no more (what Twilio lets you delete).
fn is_final(status: Option<&str>) -> bool {
    matches!(
        status,
        Some("delivered" | "undelivered" | "failed" | "received" | "canceled" | "read" | "sent")
    )
}

/// `POST …/Messages/{Sid}.json`: `Body=""` redacts the body (Twilio's only update of a
/// sent message); `Status=canceled` applies to scheduled messages only, and the
/// simulator schedules none (30409); anything else is 30400.
pub(crate) async fn update_message(
    State(sim): State<Simulator>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MessageResource>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let not_found = || ApiError::not_found(uri.path());
    let sid = file.strip_suffix(".json").ok_or_else(not_found)?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::bad_request(30400, "The request body is not a valid form"))?;
    let body_param = params.iter().find(|(k, _)| k == "Body").map(|(_, v)| v);
    let status = first(&params, "Status");
    let mut state = sim.lock();
    let message = state.message_mut(sid).ok_or_else(not_found)?;
    match (body_param, status.as_deref()) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            30400,
            "Parameters are not valid: cancel a message or redact its body, not both",
        )),
        (Some(b), None) if b.is_empty() => {
            message.body = Some(String::new());
            message.date_updated = Some(rfc2822(OffsetDateTime::now_utc()));
            tracing::info!(message_sid = %sid, "simulator: message body redacted");
            Ok(Json(message.clone()))
        }
        (Some(_), None) => Err(ApiError::bad_request(
            30400,
            "Parameters are not valid: a redaction needs an empty Body",
        )),
        (None, Some("canceled")) => Err(ApiError::bad_request(
            30409,
            "This message cannot be canceled: only scheduled messages can, and it is not scheduled",
        )),
        (None, Some(other)) => Err(ApiError::bad_request(
            30400,
            format!("Parameters are not valid: Status {other:?} (only canceled)"),
        )),
        (None, None) => Err(ApiError::bad_request(
            30400,
            "Parameters are not valid: give Body (empty, to redact) or Status",
        )),
    }
}

/// `DELETE …/Messages/{Sid}.json`: 204 once the message is final, else 20009 (Twilio's
/// "Cannot delete this resource before it is complete"); its media go with it.
pub(crate) async fn delete_message(
    State(sim): State<Simulator>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let not_found = || ApiError::not_found(uri.path());
    let sid = file.strip_suffix(".json").ok_or_else(not_found)?;
    let mut state = sim.lock();
    let status = state.message(sid).ok_or_else(not_found)?.status.clone();
    if !is_final(status.as_deref()) {
        return Err(ApiError::new(
            409,
            20009,
            format!(
                "Cannot delete this resource before it is complete: the message is {}",
                status.as_deref().unwrap_or("pending")
            ),
        ));
    }
    state.remove(sid);
    tracing::info!(message_sid = %sid, "simulator: message deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
