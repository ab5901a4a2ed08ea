//! `GET /2010-04-01/Accounts/{AccountSid}.json`: the account, never its auth token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};

use crate::auth::authorize;
use crate::dates::rfc2822;
use crate::errors::ApiError;
use crate::simulator::Simulator;

pub(crate) async fn fetch_account(
    State(sim): State<Simulator>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(account) = file.strip_suffix(".json") else {
        return Err(ApiError::not_found(uri.path()));
    };
    authorize(&sim, &headers, account, uri.path())?;
    let created = rfc2822(sim.created_at());
    let sid = &sim.config().account_sid;
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
