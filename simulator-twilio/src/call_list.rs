//! `GET …/Calls.json`: the account's calls, newest first, filtered as Twilio filters them.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use telephony_twilio::resources::CallResource;

use crate::auth::authorize;
use crate::errors::ApiError;
use crate::form::first;
use crate::messages::parse_query;
use crate::paging::Paging;
use crate::recipients::same_recipient;
use crate::simulator::Simulator;
use crate::surface::{account_path, check_query};
use crate::time_filter::TimeFilter;

/// Twilio's call statuses (`call_enum_status`), the values `Status` takes.
const STATUSES: &[&str] = &[
    "queued",
    "ringing",
    "in-progress",
    "canceled",
    "completed",
    "failed",
    "busy",
    "no-answer",
];

/// Filters `To`, `From`, `ParentCallSid`, `Status` (exact), `StartTime` and `EndTime`
/// (with `<` and `>`); any other parameter is 400 naming it, an unknown status 400 too.
pub(crate) async fn list_calls(
    State(sim): State<Simulator>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let query = parse_query(query.as_deref())?;
    check_query(&account_path("/Calls.json"), &query)?;
    let to = first(&query, "To");
    let from = first(&query, "From");
    let parent = first(&query, "ParentCallSid");
    let status = first(&query, "Status");
    if let Some(s) = status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(ApiError::bad_request(
            20001,
            format!("Invalid Status {s:?}: use one of {}", STATUSES.join(", ")),
        ));
    }
    let start = TimeFilter::from_query("StartTime", &query)?;
    let end = TimeFilter::from_query("EndTime", &query)?;
    let paging = Paging::from_query(&query);
    let same = |want: &Option<String>, have: &Option<String>| {
        want.as_deref()
            .is_none_or(|w| have.as_deref().is_some_and(|h| same_recipient(h, w)))
    };
    let matching: Vec<CallResource> = sim
        .lock()
        .calls
        .calls
        .iter()
        .rev()
        .filter(|c| {
            same(&to, &c.to)
                && same(&from, &c.from)
                && parent
                    .as_deref()
                    .is_none_or(|p| c.parent_call_sid.as_deref() == Some(p))
                && status
                    .as_deref()
                    .is_none_or(|s| c.status.as_deref() == Some(s))
                && start.admits(c.start_time.as_deref())
                && end.admits(c.end_time.as_deref())
        })
        .cloned()
        .collect();
    let mut filters: Vec<(String, String)> = Vec::new();
    for (key, value) in [
        ("To", &to),
        ("From", &from),
        ("ParentCallSid", &parent),
        ("Status", &status),
    ] {
        if let Some(v) = value {
            filters.push((key.to_string(), v.clone()));
        }
    }
    start.push_to(&mut filters);
    end.push_to(&mut filters);
    Ok(Json(paging.page("calls", &matching, uri.path(), &filters)))
}
