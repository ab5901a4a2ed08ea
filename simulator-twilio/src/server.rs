//! HTTP routes of the simulator (the subset of Twilio's 2010-04-01 API the gateway uses).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use subtle::ConstantTimeEq;
use telephony_core::PhoneNumber;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use crate::errors::ApiError;
use crate::inbound::new_sid;
use crate::{callbacks, segments, CreateRequestRecord, Simulator};
use telephony_twilio::resources::{MessagePage, MessageResource};

use telephony_twilio::client::{MAX_BODY_CHARS, MAX_MEDIA_URLS as MAX_MEDIA};

const API_VERSION: &str = "2010-04-01";
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

pub(crate) fn router(sim: Simulator) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(create_message).get(list_messages).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{file}",
            get(fetch_message).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(crate::calls::create_call).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(crate::calls::fetch_call)
                .post(crate::calls::update_call)
                .fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}",
            get(fetch_account).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(crate::numbers::list_numbers).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{file}",
            get(crate::numbers::number)
                .post(crate::numbers::number)
                .fallback(not_found),
        )
        .route(
            "/v1/Services/{sid}",
            get(crate::numbers::service)
                .post(crate::numbers::service)
                .fallback(not_found),
        )
        .fallback(not_found)
        .with_state(sim)
}

/// RFC 2822 date as Twilio writes it: `Thu, 24 Aug 2023 05:01:45 +0000`.
pub(crate) fn rfc2822(t: OffsetDateTime) -> String {
    t.format(&Rfc2822).unwrap_or_default()
}

/// Segments to report for a stored message (MMS counts as one).
pub(crate) fn segments_for(m: &MessageResource) -> usize {
    if m.num_media.as_deref().is_some_and(|n| n != "0") {
        1
    } else {
        segments::count(m.body.as_deref().unwrap_or_default())
    }
}

async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(uri.path()).into_response()
}

/// Checks HTTP basic auth (Account SID + Auth Token, or an API key) and that the path's
/// Account SID is ours.
pub(crate) fn authorize(
    sim: &Simulator,
    headers: &HeaderMap,
    path_account: &str,
    path: &str,
) -> Result<(), ApiError> {
    let config = &sim.inner.config;
    let (user, pass) = basic_credentials(headers).ok_or_else(ApiError::authenticate)?;
    let eq = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
    let valid = if user == config.account_sid {
        eq(&pass, config.auth_token.expose())
    } else {
        config
            .api_keys
            .iter()
            .any(|(sid, secret)| *sid == user && eq(&pass, secret.expose()))
    };
    if !valid {
        tracing::debug!(path, "simulator: rejected credentials");
        return Err(ApiError::authenticate());
    }
    if path_account != config.account_sid {
        return Err(ApiError::not_found(path));
    }
    Ok(())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The first non-empty value of `key`.
pub(crate) fn first(params: &[(String, String)], key: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.clone())
}

/// Splits `whatsapp:+1555…` into (`whatsapp:`, `+1555…`).
fn split_channel(address: &str) -> (&str, &str) {
    match address.find(':') {
        Some(i) => address.split_at(i + 1),
        None => ("", address),
    }
}

/// `whatsapp:`-preserving E.164 normalization; `None` if the number is not E.164.
pub(crate) fn normalize_recipient(address: &str) -> Option<String> {
    let (prefix, number) = split_channel(address.trim());
    if !(prefix.is_empty() || prefix.eq_ignore_ascii_case("whatsapp:")) {
        return None;
    }
    let n = PhoneNumber::parse(number).ok()?;
    Some(format!("{}{}", prefix.to_ascii_lowercase(), n.as_str()))
}

/// Whether two recipient strings name the same address.
pub(crate) fn same_recipient(a: &str, b: &str) -> bool {
    match (normalize_recipient(a), normalize_recipient(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// A recipient for logs: `+1555*****67`.
fn redacted(to: &str) -> String {
    let (prefix, number) = split_channel(to);
    match PhoneNumber::parse(number) {
        Ok(n) => format!("{prefix}{}", n.redacted()),
        Err(_) => "[unparsed]".to_string(),
    }
}

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
async fn create_message(
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

    let config = &sim.inner.config;
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
    sim.lock().insert(resource.clone());
    callbacks::spawn(sim.clone(), sid, req.status_callback);
    Ok((StatusCode::CREATED, Json(resource)).into_response())
}

async fn fetch_message(
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

async fn list_messages(
    State(sim): State<Simulator>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<MessagePage>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let query: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(&q).ok())
        .unwrap_or_default();
    let to = first(&query, "To");
    let from = first(&query, "From");
    let page_size = first(&query, "PageSize")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let page = first(&query, "Page")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);

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
            })
            .cloned()
            .collect()
    };
    let start = (page as usize).saturating_mul(page_size as usize);
    let messages: Vec<MessageResource> = matching
        .iter()
        .skip(start)
        .take(page_size as usize)
        .cloned()
        .collect();
    let has_next = start + messages.len() < matching.len();

    let base = uri.path().to_string();
    let page_uri = |p: u32| {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(t) = &to {
            q.push(("To", t.clone()));
        }
        if let Some(f) = &from {
            q.push(("From", f.clone()));
        }
        q.push(("PageSize", page_size.to_string()));
        q.push(("Page", p.to_string()));
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    };
    let start_u32 = u32::try_from(start).unwrap_or(u32::MAX);
    let count = u32::try_from(messages.len()).unwrap_or(u32::MAX);
    Ok(Json(MessagePage {
        page,
        page_size,
        uri: page_uri(page),
        first_page_uri: page_uri(0),
        next_page_uri: has_next.then(|| page_uri(page + 1)),
        previous_page_uri: (page > 0).then(|| page_uri(page - 1)),
        start: start_u32,
        end: start_u32 + count.saturating_sub(1),
        messages,
    }))
}

async fn fetch_account(
    State(sim): State<Simulator>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(account) = file.strip_suffix(".json") else {
        return Err(ApiError::not_found(uri.path()));
    };
    authorize(&sim, &headers, account, uri.path())?;
    let created = rfc2822(sim.inner.created_at);
    let sid = &sim.inner.config.account_sid;
    Ok(Json(serde_json::json!({
        "sid": sid,
        "owner_account_sid": sid,
        "friendly_name": "Twilio simulator",
        "status": "active",
        "type": "Full",
        "date_created": created,
        "date_updated": created,
        "uri": format!("/2010-04-01/Accounts/{sid}.json"),
        "subresource_uris": {
            "messages": format!("/2010-04-01/Accounts/{sid}/Messages.json"),
        },
    })))
}
