//! `POST /v2/messages`: Telnyx's validation, the opted-out recipient, injected failures,
//! then the message's signed status webhooks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use telephony_core::PhoneNumber;
use telephony_telnyx::client::{MAX_BODY_CHARS, MAX_MEDIA_URLS};
use telephony_telnyx::resources::{Endpoint, MediaItem, MessageResource, MessageResponse};
use time::OffsetDateTime;

use crate::auth::authorize;
use crate::config::{OPTED_OUT_RECIPIENT, POOL_SENDER};
use crate::dates::rfc3339;
use crate::errors::ApiError;
use crate::events;
use crate::ids::new_uuid;
use crate::simulator::Simulator;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

#[derive(serde::Deserialize)]
struct SendRequest {
    from: Option<String>,
    to: Option<String>,
    text: Option<String>,
    #[serde(default)]
    media_urls: Vec<String>,
    messaging_profile_id: Option<String>,
    webhook_url: Option<String>,
}

fn present(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Telnyx's validation, answered in its shape.
fn validate(req: SendRequest) -> Result<ValidSend, ApiError> {
    let raw_to = present(req.to).ok_or_else(|| {
        ApiError::invalid(
            10004,
            "Missing required parameter",
            "The 'to' parameter is required.",
            "/to",
        )
    })?;
    let to = PhoneNumber::parse(&raw_to).map_err(|_| {
        ApiError::invalid(
            40310,
            "Invalid 'to' address",
            format!("The 'to' address {raw_to} is not a valid +E.164 phone number."),
            "/to",
        )
    })?;
    let from = present(req.from);
    let profile = present(req.messaging_profile_id);
    if from.is_none() && profile.is_none() {
        return Err(ApiError::invalid(
            10004,
            "Missing required parameter",
            "The 'from' parameter or the 'messaging_profile_id' parameter is required.",
            "/from",
        ));
    }
    let text = req.text.unwrap_or_default();
    let media: Vec<String> = req
        .media_urls
        .into_iter()
        .filter(|u| !u.trim().is_empty())
        .collect();
    if text.is_empty() && media.is_empty() {
        return Err(ApiError::invalid(
            10004,
            "Missing required parameter",
            "The 'text' parameter is required for SMS.",
            "/text",
        ));
    }
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::invalid(
            10015,
            "Bad Request",
            "The message text is longer than 10 parts.",
            "/text",
        ));
    }
    if media.len() > MAX_MEDIA_URLS {
        return Err(ApiError::invalid(
            10015,
            "Bad Request",
            "At most 10 media URLs are allowed.",
            "/media_urls",
        ));
    }
    let to = to.as_str().to_string();
    if to == OPTED_OUT_RECIPIENT {
        let src = from.as_deref().unwrap_or(POOL_SENDER);
        return Err(ApiError::new(
            409,
            40300,
            "Blocked due to STOP message",
            format!("Messages cannot be sent from {src} to {to} due to an existing block rule."),
        ));
    }
    Ok(ValidSend {
        from,
        to,
        text,
        media,
        profile,
        webhook_url: present(req.webhook_url),
    })
}

/// The messaging profile of the sending number. Once the account has numbers (the
/// sandbox's, or a test's [`Simulator::add_number`]), `from` must be one of them in a
/// messaging profile, and in the send's `messaging_profile_id` when it names one; else 422
/// (40305 "Invalid 'from' address"). A simulator without numbers takes any `from` (and
/// reports the send's profile, else its default one).
fn sender_profile(
    sim: &Simulator,
    from: Option<&str>,
    profile: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(from) = from else {
        return Ok(None);
    };
    let st = sim.lock();
    if st.numbers.is_empty() {
        return Ok(None);
    }
    let invalid =
        |detail: String| ApiError::invalid(40305, "Invalid 'from' address", detail, "/from");
    match st
        .numbers
        .iter()
        .find(|n| n.resource.phone_number == from)
        .map(|n| n.resource.messaging_profile_id.clone())
    {
        None => Err(invalid(format!(
            "The 'from' number {from} is not a number of this account."
        ))),
        Some(None) => Err(invalid(format!(
            "The 'from' number {from} is not in a messaging profile: assign it to one first."
        ))),
        Some(Some(own)) => match profile {
            Some(asked) if asked != own => Err(invalid(format!(
                "The 'from' number {from} is not in messaging profile {asked} (it is in {own})."
            ))),
            _ => Ok(Some(own)),
        },
    }
}

struct ValidSend {
    from: Option<String>,
    to: String,
    text: String,
    media: Vec<String>,
    profile: Option<String>,
    webhook_url: Option<String>,
}

/// `POST /v2/messages`: from a number (`from`) or a profile's pool (`messaging_profile_id`).
pub(crate) async fn create_message(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    send(sim, headers, body, Sender::Any).await
}

/// `POST /v2/messages/long_code`: from a long-code number, `from` required.
pub(crate) async fn send_long_code(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    send(sim, headers, body, Sender::LongCode).await
}

/// Which sends an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// `from` or `messaging_profile_id`.
    Any,
    /// `from` only.
    LongCode,
}

async fn send(
    sim: Simulator,
    headers: HeaderMap,
    body: Bytes,
    sender: Sender,
) -> Result<Response, ApiError> {
    sim.lock().requests += 1;
    authorize(&sim, &headers)?;
    if !is_json(&headers) {
        return Err(ApiError::new(
            415,
            10014,
            "Unsupported Media Type",
            "The request failed because the server does not support the media type.",
        ));
    }
    let req: SendRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            400,
            10023,
            "Invalid JSON",
            "The request body is not valid JSON.",
        )
    })?;
    if let Some(err) = sim.lock().take_injection() {
        tracing::info!(
            status = err.status,
            code = err.code,
            "telnyx simulator: answering with an injected failure"
        );
        return Err(err);
    }
    if sender == Sender::LongCode && present(req.from.clone()).is_none() {
        return Err(ApiError::invalid(
            10004,
            "Missing required parameter",
            "The 'from' parameter is required.",
            "/from",
        ));
    }
    let req = validate(req)
        .inspect_err(|e| tracing::debug!(code = e.code, "telnyx simulator: send refused"))?;
    let number_profile = sender_profile(&sim, req.from.as_deref(), req.profile.as_deref())
        .inspect_err(|e| tracing::debug!(code = e.code, "telnyx simulator: send refused"))?;

    let config = &sim.config();
    let now = rfc3339(OffsetDateTime::now_utc());
    let parts = telephony_core::sms::analyze(&req.text);
    let webhook_url = req
        .webhook_url
        .clone()
        .or_else(|| config.default_webhook_url.clone());
    let message = MessageResource {
        id: new_uuid(),
        record_type: Some("message".into()),
        direction: Some("outbound".into()),
        message_type: Some(if req.media.is_empty() { "SMS" } else { "MMS" }.into()),
        from: Some(Endpoint {
            phone_number: req.from.unwrap_or_else(|| POOL_SENDER.to_string()),
            carrier: Some("Telnyx".into()),
            line_type: Some("Wireless".into()),
            status: None,
        }),
        to: vec![Endpoint {
            phone_number: req.to,
            status: Some("queued".into()),
            carrier: Some("T-Mobile USA".into()),
            line_type: Some("Wireless".into()),
        }],
        text: Some(req.text),
        media: req
            .media
            .into_iter()
            .map(|url| MediaItem {
                url,
                ..Default::default()
            })
            .collect(),
        parts: Some(parts.segments.max(1) as u32),
        encoding: serde_json::to_value(parts.encoding)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        messaging_profile_id: Some(
            number_profile
                .or(req.profile)
                .unwrap_or_else(|| config.messaging_profile_id.clone()),
        ),
        webhook_url: webhook_url.clone(),
        errors: Vec::new(),
        received_at: Some(now),
        sent_at: None,
        completed_at: None,
    };
    tracing::info!(id = %message.id, webhooks = webhook_url.is_some(), "telnyx simulator: message queued");
    sim.lock().insert(message.clone());
    events::spawn(sim.clone(), message.id.clone(), webhook_url);
    Ok(Json(MessageResponse { data: message }).into_response())
}
