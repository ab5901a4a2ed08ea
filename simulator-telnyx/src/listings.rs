//! The messaging listings: `GET /v2/messaging_profiles` (by name),
//! `GET /v2/messaging_profiles/{id}/phone_numbers`, `GET /v2/phone_numbers/messaging`
//! (by profile, number, part of a number; sorted by number), each a page with `meta`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::Value;
use telephony_telnyx::resources::MessagingProfileResource;

use crate::auth::authorize;
use crate::errors::ApiError;
use crate::inventory::SimNumber;
use crate::paging::page;
use crate::simulator::Simulator;
use crate::surface::{check_query, param, parse_query};

/// A profile as the API returns it (`record_type: "messaging_profile"`).
pub(crate) fn profile_json(p: &MessagingProfileResource) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("record_type".into(), "messaging_profile".into());
    }
    v
}

/// A number's messaging settings as the API returns them, with this `record_type`
/// (`messaging_settings` for the number's own resource, `messaging_phone_number` in a
/// profile's list).
pub(crate) fn messaging_json(n: &SimNumber, record_type: &str) -> Value {
    serde_json::json!({
        "id": n.resource.id,
        "record_type": record_type,
        "phone_number": n.resource.phone_number,
        "messaging_profile_id": n.resource.messaging_profile_id,
        "type": "long-code",
        "country_code": "US",
        "features": {
            "sms": n.sms.then(|| serde_json::json!({
                "domestic_two_way": true,
                "international_inbound": true,
                "international_outbound": true
            })),
            "mms": n.mms.then(|| serde_json::json!({"domestic_two_way": true})),
        },
    })
}

/// `GET /v2/messaging_profiles`: `filter[name]` and `filter[name][eq]` match the name
/// exactly, `filter[name][contains]` a part of it.
pub(crate) async fn list_profiles(
    State(sim): State<Simulator>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&sim, &headers)?;
    let q = parse_query(query.as_deref())?;
    check_query("/v2/messaging_profiles", &q)?;
    let eq = param(&q, "filter[name][eq]").or(param(&q, "filter[name]"));
    let contains = param(&q, "filter[name][contains]");
    let profiles: Vec<Value> = sim
        .lock()
        .profiles
        .iter()
        .filter(|p| {
            let name = p.name.as_deref().unwrap_or_default();
            eq.is_none_or(|e| name == e) && contains.is_none_or(|c| name.contains(c))
        })
        .map(profile_json)
        .collect();
    Ok(Json(page(&q, &profiles)))
}

/// `GET /v2/messaging_profiles/{id}/phone_numbers`: the profile's numbers; 404 (10005)
/// when there is no such profile.
pub(crate) async fn profile_numbers(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&sim, &headers)?;
    let q = parse_query(query.as_deref())?;
    check_query("/v2/messaging_profiles/{id}/phone_numbers", &q)?;
    let st = sim.lock();
    if !st.profiles.iter().any(|p| p.id == id) {
        return Err(ApiError::not_found());
    }
    let numbers: Vec<Value> = st
        .numbers
        .iter()
        .filter(|n| n.resource.messaging_profile_id.as_deref() == Some(id.as_str()))
        .map(|n| messaging_json(n, "messaging_phone_number"))
        .collect();
    Ok(Json(page(&q, &numbers)))
}

/// `GET /v2/phone_numbers/messaging`: every number with its messaging settings;
/// `filter[messaging_profile_id]`, `filter[phone_number]` (exact; a comma-separated list
/// matches any of them), `filter[phone_number][contains]`, `sort[phone_number]`
/// (`asc`/`desc`; the default is the order the numbers were added in).
pub(crate) async fn messaging_numbers(
    State(sim): State<Simulator>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&sim, &headers)?;
    let q = parse_query(query.as_deref())?;
    check_query("/v2/phone_numbers/messaging", &q)?;
    let profile = param(&q, "filter[messaging_profile_id]");
    let exact: Option<Vec<&str>> =
        param(&q, "filter[phone_number]").map(|v| v.split(',').map(str::trim).collect());
    let contains = param(&q, "filter[phone_number][contains]");
    let sort = param(&q, "sort[phone_number]");
    if let Some(s) = sort.filter(|s| *s != "asc" && *s != "desc") {
        return Err(ApiError {
            parameter: Some("sort[phone_number]".into()),
            ..ApiError::new(
                400,
                10018,
                "Invalid sort direction",
                format!("sort[phone_number] must be asc or desc, not {s:?}."),
            )
        });
    }
    let mut numbers: Vec<&SimNumber> = Vec::new();
    let st = sim.lock();
    for n in &st.numbers {
        let number = n.resource.phone_number.as_str();
        if profile.is_none_or(|p| n.resource.messaging_profile_id.as_deref() == Some(p))
            && exact.as_ref().is_none_or(|e| e.contains(&number))
            && contains.is_none_or(|c| number.contains(c))
        {
            numbers.push(n);
        }
    }
    match sort {
        Some("asc") => {
            numbers.sort_by(|a, b| a.resource.phone_number.cmp(&b.resource.phone_number))
        }
        Some("desc") => {
            numbers.sort_by(|a, b| b.resource.phone_number.cmp(&a.resource.phone_number))
        }
        _ => {}
    }
    let numbers: Vec<Value> = numbers
        .into_iter()
        .map(|n| messaging_json(n, "messaging_settings"))
        .collect();
    Ok(Json(page(&q, &numbers)))
}
