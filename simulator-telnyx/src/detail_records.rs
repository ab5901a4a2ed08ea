//! `GET /v2/detail_records` (message detail records of the messages sent through the
//! simulator) and `GET /v2/messages/{id}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use telephony_telnyx::client::{DetailRecordPage, MessageDetailRecord, PageMeta};
use telephony_telnyx::resources::{MessageResource, MessageResponse};

use crate::auth::authorize;
use crate::errors::ApiError;
use crate::simulator::Simulator;

const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 50;

/// `GET /v2/messages/{id}`: the message in its current state, or 404 (10005).
pub(crate) async fn fetch_message(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<MessageResponse>, ApiError> {
    authorize(&sim, &headers)?;
    sim.message(&id)
        .map(|data| Json(MessageResponse { data }))
        .ok_or_else(ApiError::not_found)
}

/// The record of a message: `uuid` is its id, `cli`/`cld` its sender and (first)
/// recipient, `created_at` when it was received.
fn record(m: &MessageResource) -> MessageDetailRecord {
    let to = m.to.first();
    MessageDetailRecord {
        record_type: Some("message_detail_record".into()),
        uuid: m.id.clone(),
        cli: m.from.as_ref().map(|f| f.phone_number.clone()),
        cld: to.map(|t| t.phone_number.clone()),
        direction: m.direction.clone(),
        profile_id: m.messaging_profile_id.clone(),
        status: to.and_then(|t| t.status.clone()),
        created_at: m.received_at.clone(),
    }
}

/// `GET /v2/detail_records`: `filter[record_type]=messaging` is required (422, 10015
/// otherwise); `filter[direction]`, `filter[cli]`, `filter[cld]` match exactly,
/// `filter[created_at][gte]`/`[lte]` (RFC 3339) bound the creation time; `sort` is
/// `created_at` or `-created_at` (the default); `page[number]` counts from 1,
/// `page[size]` is 20 by default and 50 at most.
pub(crate) async fn list(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<DetailRecordPage>, ApiError> {
    authorize(&sim, &headers)?;
    let query = crate::surface::parse_query(query.as_deref())?;
    crate::surface::check_query("/v2/detail_records", &query)?;
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if get("filter[record_type]") != Some("messaging") {
        return Err(ApiError::invalid(
            10015,
            "Bad Request",
            "filter[record_type] is required; the simulator has messaging records only.",
            "/filter/record_type",
        ));
    }
    let time = |key: &str| -> Result<Option<time::OffsetDateTime>, ApiError> {
        get(key)
            .map(|v| {
                telephony_core::rfc3339::parse(v).map_err(|_| {
                    ApiError::invalid(
                        10015,
                        "Bad Request",
                        format!("{key} must be an RFC 3339 time, not {v:?}."),
                        "/filter/created_at",
                    )
                })
            })
            .transpose()
    };
    let (gte, lte) = (
        time("filter[created_at][gte]")?,
        time("filter[created_at][lte]")?,
    );
    let number = |key: &str| get(key).and_then(|v| v.parse::<u32>().ok());
    let size = number("page[size]")
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let page = number("page[number]").unwrap_or(1).max(1);
    let same = |key: &str, value: &Option<String>| {
        get(key).is_none_or(|want| value.as_deref() == Some(want))
    };
    let mut records: Vec<(time::OffsetDateTime, MessageDetailRecord)> = sim
        .messages()
        .iter()
        .map(record)
        .filter_map(|r| {
            let at = r
                .created_at
                .as_deref()
                .and_then(|t| telephony_core::rfc3339::parse(t).ok())?;
            Some((at, r))
        })
        .filter(|(at, r)| {
            same("filter[direction]", &r.direction)
                && same("filter[cli]", &r.cli)
                && same("filter[cld]", &r.cld)
                && gte.is_none_or(|t| *at >= t)
                && lte.is_none_or(|t| *at <= t)
        })
        .collect();
    // A stable sort keeps creation order among equal times.
    records.sort_by_key(|(at, _)| *at);
    if get("sort") != Some("created_at") {
        records.reverse();
    }
    let total = records.len();
    let data: Vec<MessageDetailRecord> = records
        .into_iter()
        .skip((page as usize - 1).saturating_mul(size as usize))
        .take(size as usize)
        .map(|(_, r)| r)
        .collect();
    Ok(Json(DetailRecordPage {
        data,
        meta: Some(PageMeta {
            page_number: page,
            page_size: size,
            total_pages: u32::try_from(total.div_ceil(size as usize)).unwrap_or(u32::MAX),
            total_results: total as u64,
        }),
    }))
}
