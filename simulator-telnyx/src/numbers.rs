//! The account's phone numbers and messaging profiles: `GET /v2/phone_numbers`
//! (`filter[phone_number]`), `GET /v2/phone_numbers/{id}/messaging`, and
//! `GET`/`PATCH /v2/messaging_profiles/{id}`. Numbers and profiles exist once a test (or
//! the sandbox) adds them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use telephony_telnyx::resources::{
    MessagingProfileResource, PhoneNumberResource, UpdateMessagingProfile,
};

use crate::auth::authorize;
use crate::errors::ApiError;
use crate::ids::new_uuid;
use crate::inventory::{ProfileUpdate, SimNumber};
use crate::listings::{messaging_json, profile_json};
use crate::paging::page;
use crate::simulator::Simulator;
use crate::surface::{check_query, param, parse_query};

/// `GET /v2/phone_numbers`: `filter[phone_number]` matches part of a number (Telnyx's
/// filter "requires at least three digits"), a page with `meta`.
pub(crate) async fn list_numbers(
    State(sim): State<Simulator>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers)?;
    let q = parse_query(query.as_deref())?;
    check_query("/v2/phone_numbers", &q)?;
    let wanted = param(&q, "filter[phone_number]");
    let data: Vec<PhoneNumberResource> = sim
        .lock()
        .numbers
        .iter()
        .filter(|n| wanted.is_none_or(|w| n.resource.phone_number.contains(w)))
        .map(|n| n.resource.clone())
        .collect();
    Ok(Json(page(&q, &data)))
}

/// `GET /v2/phone_numbers/{id}/messaging`: the number's messaging settings.
pub(crate) async fn number_messaging(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers)?;
    let st = sim.lock();
    let n = st
        .numbers
        .iter()
        .find(|n| n.resource.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(
        serde_json::json!({ "data": messaging_json(n, "messaging_settings") }),
    ))
}

/// `GET /v2/messaging_profiles/{id}`.
pub(crate) async fn get_profile(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers)?;
    let st = sim.lock();
    let p = st
        .profiles
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(serde_json::json!({ "data": profile_json(p) })))
}

fn valid_url(field: &'static str, v: &str) -> Result<(), ApiError> {
    if v.starts_with("https://") || v.starts_with("http://") {
        Ok(())
    } else {
        Err(ApiError::invalid(
            10015,
            "Bad Request",
            format!("The '{}' parameter is not a valid URL.", &field[1..]),
            field,
        ))
    }
}

pub(crate) async fn patch_profile(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers)?;
    let raw: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            400,
            10023,
            "Invalid JSON",
            "The request body is not valid JSON.",
        )
    })?;
    let update: UpdateMessagingProfile = serde_json::from_value(raw.clone()).map_err(|_| {
        ApiError::new(
            400,
            10023,
            "Invalid JSON",
            "The request body is not valid JSON.",
        )
    })?;
    // Validate everything before changing anything.
    if let Some(url) = &update.webhook_url {
        valid_url("/webhook_url", url)?;
    }
    if let Some(v) = &update.webhook_api_version {
        if !["1", "2", "2010-04-01"].contains(&v.as_str()) {
            return Err(ApiError::invalid(
                10015,
                "Bad Request",
                format!("webhook_api_version {v:?} is not one of \"1\", \"2\", \"2010-04-01\"."),
                "/webhook_api_version",
            ));
        }
    }
    let mut st = sim.lock();
    let p = st
        .profiles
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or_else(ApiError::not_found)?;
    if let Some(url) = update.webhook_url {
        p.webhook_url = Some(url);
    }
    if let Some(v) = update.webhook_api_version {
        p.webhook_api_version = Some(v);
    }
    let data = p.clone();
    st.profile_updates.push(ProfileUpdate { id, body: raw });
    Ok(Json(serde_json::json!({ "data": profile_json(&data) })))
}

impl Simulator {
    /// Creates a messaging profile with this `webhook_url` (none: not set) and
    /// `webhook_api_version` `"2"`; returns its id.
    pub fn add_messaging_profile(&self, webhook_url: Option<&str>) -> String {
        let id = new_uuid();
        self.lock().profiles.push(MessagingProfileResource {
            id: id.clone(),
            name: Some("Simulated profile".into()),
            webhook_url: webhook_url.map(str::to_string),
            webhook_failover_url: None,
            webhook_api_version: Some("2".into()),
            enabled: Some(true),
        });
        id
    }

    /// Gives the account an active phone number (E.164) that can do SMS and MMS, in
    /// messaging profile `profile` (none: no profile), without a voice connection; returns
    /// its id.
    pub fn add_number(&self, phone_number: &str, profile: Option<&str>) -> String {
        let id = crate::ids::new_numeric_id();
        self.lock().numbers.push(SimNumber {
            resource: PhoneNumberResource {
                id: id.clone(),
                record_type: Some("phone_number".into()),
                phone_number: phone_number.to_string(),
                status: Some("active".into()),
                connection_id: None,
                messaging_profile_id: profile.map(str::to_string),
            },
            sms: true,
            mms: true,
        });
        id
    }

    /// Changes a number directly (as in the Telnyx portal), e.g. to take SMS away or
    /// move it to another profile for a test. Returns false when there is no such number.
    pub fn edit_number(&self, phone_number: &str, edit: impl FnOnce(&mut SimNumber)) -> bool {
        match self
            .lock()
            .numbers
            .iter_mut()
            .find(|n| n.resource.phone_number == phone_number)
        {
            Some(n) => {
                edit(n);
                true
            }
            None => false,
        }
    }

    /// Changes a messaging profile directly (as in the Telnyx portal). Returns false when
    /// there is no such profile.
    pub fn edit_messaging_profile(
        &self,
        id: &str,
        edit: impl FnOnce(&mut MessagingProfileResource),
    ) -> bool {
        match self.lock().profiles.iter_mut().find(|p| p.id == id) {
            Some(p) => {
                edit(p);
                true
            }
            None => false,
        }
    }

    /// A messaging profile, as the API would return it.
    pub fn messaging_profile(&self, id: &str) -> Option<MessagingProfileResource> {
        self.lock().profiles.iter().find(|p| p.id == id).cloned()
    }

    /// Every `PATCH /v2/messaging_profiles/{id}` applied, oldest first.
    pub fn profile_updates(&self) -> Vec<ProfileUpdate> {
        self.lock().profile_updates.clone()
    }
}
