//! The account's phone numbers and Messaging Services: `IncomingPhoneNumbers.json` (find
//! by `PhoneNumber`), `IncomingPhoneNumbers/{Sid}.json` (fetch, update), and the
//! Messaging API's `/v1/Services/{Sid}` (fetch, update). Numbers and services exist once
//! a test (or the sandbox) adds them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use telephony_twilio::resources::{
    IncomingPhoneNumberResource, MessagingServiceResource, NumberCapabilities,
};

use crate::auth::authorize;
use crate::errors::ApiError;
use crate::form::first;
use crate::paging::Paging;
use crate::records::SettingsUpdate;
use crate::sids::new_sid;
use crate::simulator::Simulator;
use crate::surface::{account_path, check_query};

fn form(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request(20001, format!("malformed form body: {e}")))
}

fn method(v: &str) -> Result<String, ApiError> {
    let m = v.to_ascii_uppercase();
    if m == "GET" || m == "POST" {
        Ok(m)
    } else {
        Err(ApiError::bad_request(
            21607,
            format!("Method {v:?} is not valid: use GET or POST"),
        ))
    }
}

fn url(v: &str) -> Result<String, ApiError> {
    if v.is_empty() || v.starts_with("https://") || v.starts_with("http://") {
        Ok(v.to_string())
    } else {
        Err(ApiError::bad_request(
            21502,
            format!("Url {v:?} is not valid"),
        ))
    }
}

/// `GET …/IncomingPhoneNumbers.json`: filtered by `PhoneNumber` (exact), a page at a time.
pub(crate) async fn list_numbers(
    State(sim): State<Simulator>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let q = crate::messages::parse_query(query.as_deref())?;
    check_query(&account_path("/IncomingPhoneNumbers.json"), &q)?;
    let wanted = first(&q, "PhoneNumber");
    let numbers: Vec<IncomingPhoneNumberResource> = sim
        .lock()
        .numbers
        .iter()
        .filter(|n| wanted.as_deref().is_none_or(|w| n.phone_number == w))
        .cloned()
        .collect();
    let filters: Vec<(String, String)> = wanted
        .map(|w| vec![("PhoneNumber".to_string(), w)])
        .unwrap_or_default();
    Ok(Json(Paging::from_query(&q).page(
        "incoming_phone_numbers",
        &numbers,
        uri.path(),
        &filters,
    )))
}

pub(crate) async fn number(
    State(sim): State<Simulator>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IncomingPhoneNumberResource>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let sid = file
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let updates = if body.is_empty() {
        Vec::new()
    } else {
        form(&body)?
    };
    let mut st = sim.lock();
    let n = st
        .numbers
        .iter_mut()
        .find(|n| n.sid == sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    // Validate everything before changing anything.
    let mut next = n.clone();
    for (k, v) in &updates {
        match k.as_str() {
            "SmsUrl" => next.sms_url = Some(url(v)?),
            "SmsMethod" => next.sms_method = Some(method(v)?),
            "VoiceUrl" => next.voice_url = Some(url(v)?),
            "VoiceMethod" => next.voice_method = Some(method(v)?),
            "StatusCallback" => next.status_callback = Some(url(v)?),
            "StatusCallbackMethod" => next.status_callback_method = Some(method(v)?),
            _ => {}
        }
    }
    *n = next.clone();
    if !updates.is_empty() {
        st.settings_updates.push(SettingsUpdate {
            sid: sid.to_string(),
            form: updates,
        });
    }
    Ok(Json(next))
}

pub(crate) async fn service(
    State(sim): State<Simulator>,
    Path(sid): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MessagingServiceResource>, ApiError> {
    let account = sim.config().account_sid.clone();
    authorize(&sim, &headers, &account, uri.path())?;
    let updates = if body.is_empty() {
        Vec::new()
    } else {
        form(&body)?
    };
    let mut st = sim.lock();
    let s = st
        .services
        .iter_mut()
        .find(|s| s.sid == sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let mut next = s.clone();
    for (k, v) in &updates {
        match k.as_str() {
            "InboundRequestUrl" => next.inbound_request_url = Some(url(v)?),
            "InboundMethod" => next.inbound_method = Some(method(v)?),
            "UseInboundWebhookOnNumber" => next.use_inbound_webhook_on_number = v == "true",
            _ => {}
        }
    }
    *s = next.clone();
    if !updates.is_empty() {
        st.settings_updates
            .push(SettingsUpdate { sid, form: updates });
    }
    Ok(Json(next))
}

impl Simulator {
    /// Gives the account a phone number (E.164) with these capabilities and no URLs set;
    /// returns its `PN…` SID.
    pub fn add_number(&self, phone_number: &str, capabilities: NumberCapabilities) -> String {
        let sid = new_sid("PN");
        let account = self.config().account_sid.clone();
        self.lock().numbers.push(IncomingPhoneNumberResource {
            sid: sid.clone(),
            account_sid: Some(account),
            phone_number: phone_number.to_string(),
            sms_method: Some("POST".into()),
            voice_method: Some("POST".into()),
            status_callback_method: Some("POST".into()),
            capabilities,
            ..Default::default()
        });
        sid
    }

    /// Changes a number's settings directly (as in the Twilio console), e.g. to set a
    /// wrong URL or a TwiML App for a test.
    pub fn edit_number(
        &self,
        phone_number: &str,
        edit: impl FnOnce(&mut IncomingPhoneNumberResource),
    ) {
        if let Some(n) = self
            .lock()
            .numbers
            .iter_mut()
            .find(|n| n.phone_number == phone_number)
        {
            edit(n);
        }
    }

    /// The account's number, as the API would return it.
    pub fn number(&self, phone_number: &str) -> Option<IncomingPhoneNumberResource> {
        self.lock()
            .numbers
            .iter()
            .find(|n| n.phone_number == phone_number)
            .cloned()
    }

    /// Creates a Messaging Service (`defers_to_number`: "defer to sender's webhook");
    /// returns its `MG…` SID.
    pub fn add_messaging_service(&self, defers_to_number: bool) -> String {
        let sid = new_sid("MG");
        self.lock().services.push(MessagingServiceResource {
            sid: sid.clone(),
            inbound_method: Some("POST".into()),
            use_inbound_webhook_on_number: defers_to_number,
            ..Default::default()
        });
        sid
    }

    /// A Messaging Service, as the API would return it.
    pub fn messaging_service(&self, sid: &str) -> Option<MessagingServiceResource> {
        self.lock().services.iter().find(|s| s.sid == sid).cloned()
    }

    /// Every number and service update received, oldest first.
    pub fn settings_updates(&self) -> Vec<SettingsUpdate> {
        self.lock().settings_updates.clone()
    }
}
