//! The Messages resource: create (Twilio's validation, magic test numbers, injected
//! failures), fetch and list.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use telephony_twilio::client::{MAX_BODY_CHARS, MAX_MEDIA_URLS as MAX_MEDIA};
use telephony_twilio::resources::{MessagePage, MessageResource};
use time::OffsetDateTime;

use crate::auth::authorize;
use crate::callbacks;
use crate::dates::rfc2822;
use crate::errors::ApiError;
use crate::form::{first, is_form};
use crate::recipients::{normalize_recipient, redacted, same_recipient, split_channel};
use crate::records::CreateRequestRecord;
use crate::segments::segments_for;
use crate::sids::new_sid;
use crate::simulator::Simulator;

const API_VERSION: &str = "2010-04-01";
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

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
    sim.lock().insert(resource.clone());
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

pub(crate) async fn list_messages(
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
    let sent = DateSent::from_query(&query)?;
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
                    && sent.admits(m)
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
        sent.push_to(&mut q);
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

/// The list's `DateSent` filters, by the UTC date of `date_sent` as Twilio has them:
/// `DateSent=YYYY-MM-DD` (on that day), `DateSent<=…` (the key `DateSent<`: on or before
/// it), `DateSent>=…` (the key `DateSent>`: on or after it). A message with no
/// `date_sent` passes none of them.
#[derive(Debug, Default)]
struct DateSent {
    on: Option<time::Date>,
    until: Option<time::Date>,
    from: Option<time::Date>,
}

impl DateSent {
    fn from_query(query: &[(String, String)]) -> Result<Self, ApiError> {
        let date = |key: &str| -> Result<Option<time::Date>, ApiError> {
            let Some(v) = first(query, key) else {
                return Ok(None);
            };
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(v.trim(), &format).map(Some).map_err(|_| {
                ApiError::bad_request(
                    20001,
                    format!("Invalid {key} value {v:?}: expected YYYY-MM-DD"),
                )
            })
        };
        Ok(DateSent {
            on: date("DateSent")?,
            until: date("DateSent<")?,
            from: date("DateSent>")?,
        })
    }

    fn is_empty(&self) -> bool {
        self.on.is_none() && self.until.is_none() && self.from.is_none()
    }

    fn admits(&self, m: &MessageResource) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(day) = m
            .date_sent
            .as_deref()
            .and_then(|d| {
                OffsetDateTime::parse(d.trim(), &time::format_description::well_known::Rfc2822).ok()
            })
            .map(|t| t.to_offset(time::UtcOffset::UTC).date())
        else {
            return false;
        };
        self.on.is_none_or(|d| day == d)
            && self.until.is_none_or(|d| day <= d)
            && self.from.is_none_or(|d| day >= d)
    }

    /// The filters as they go back into the page URIs.
    fn push_to(&self, q: &mut Vec<(&str, String)>) {
        for (key, value) in [
            ("DateSent", self.on),
            ("DateSent<", self.until),
            ("DateSent>", self.from),
        ] {
            if let Some(d) = value {
                q.push((key, d.to_string()));
            }
        }
    }
}
