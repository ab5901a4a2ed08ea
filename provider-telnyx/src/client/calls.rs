//! Call Control: dial, commands on a call, and a call's state.

use serde::Deserialize;
use telephony_core::ProviderError;

use super::transport::{PROVIDER, TelnyxClient, path_segment};

/// Telnyx's error code for a command on a call that has ended ("Call has already
/// ended", HTTP 422).
pub const CALL_ENDED_CODE: i64 = 90018;

/// The answer to `POST /v2/calls` (dialing is asynchronous: `is_alive` is false).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct DialAnswer {
    /// The command token of the new leg (`v3:…`): the call's id for the gateway.
    pub call_control_id: String,
    /// This leg.
    #[serde(default)]
    pub call_leg_id: Option<String>,
    /// The session grouping related legs.
    #[serde(default)]
    pub call_session_id: Option<String>,
}

/// `GET /v2/calls/{call_control_id}`: whether the call is alive and its times.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CallResource {
    /// The command token.
    #[serde(default)]
    pub call_control_id: Option<String>,
    /// False once the call ended.
    #[serde(default)]
    pub is_alive: bool,
    /// Seconds since the call started (or its length, once ended).
    #[serde(default)]
    pub call_duration: Option<u64>,
    /// When it started (ISO 8601).
    #[serde(default)]
    pub start_time: Option<String>,
    /// When it ended (ISO 8601).
    #[serde(default)]
    pub end_time: Option<String>,
}

/// A Call Control application (`GET /v2/call_control_applications/{id}`): where its
/// calls' events go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CallControlApplication {
    /// Its id (the `connection_id` calls are placed with).
    #[serde(default)]
    pub id: String,
    /// Its name in the portal.
    #[serde(default)]
    pub application_name: Option<String>,
    /// Where Telnyx POSTs its calls' events.
    #[serde(default)]
    pub webhook_event_url: Option<String>,
    /// The event format (`"1"` or `"2"`; the gateway reads 2).
    #[serde(default)]
    pub webhook_api_version: Option<String>,
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

impl TelnyxClient {
    /// `POST /v2/calls/{call_control_id}/actions/{command}` with a JSON body (one
    /// attempt). A call that has ended answers [`ProviderError::Api`] with code
    /// [`CALL_ENDED_CODE`].
    pub async fn call_command(
        &self,
        call_control_id: &str,
        command: &str,
        body: serde_json::Value,
    ) -> Result<(), ProviderError> {
        let id = call_id_segment(call_control_id)?;
        let path = format!("/v2/calls/{id}/actions/{}", path_segment(command)?);
        let _: serde_json::Value = self
            .json(
                reqwest::Method::POST,
                &path,
                &[],
                Some(body),
                &format!("{command} answer"),
            )
            .await?;
        Ok(())
    }

    /// `POST /v2/calls`: dials a call through the Call Control application in `body`.
    pub async fn dial(&self, body: serde_json::Value) -> Result<DialAnswer, ProviderError> {
        let answer: Data<DialAnswer> = self
            .json(
                reqwest::Method::POST,
                "/v2/calls",
                &[],
                Some(body),
                "dial answer",
            )
            .await?;
        if answer.data.call_control_id.trim().is_empty() {
            return Err(ProviderError::protocol(
                PROVIDER,
                "the dial answer has no data.call_control_id",
            ));
        }
        Ok(answer.data)
    }

    /// `GET /v2/calls/{call_control_id}`.
    pub async fn get_call(&self, call_control_id: &str) -> Result<CallResource, ProviderError> {
        let id = call_id_segment(call_control_id)?;
        let answer: Data<CallResource> = self
            .json(
                reqwest::Method::GET,
                &format!("/v2/calls/{id}"),
                &[],
                None,
                "call",
            )
            .await?;
        Ok(answer.data)
    }
}

impl TelnyxClient {
    /// `GET /v2/call_control_applications/{id}`.
    pub async fn call_control_application(
        &self,
        id: &str,
    ) -> Result<CallControlApplication, ProviderError> {
        let path = format!("/v2/call_control_applications/{}", path_segment(id)?);
        let d: Data<CallControlApplication> = self
            .json(
                reqwest::Method::GET,
                &path,
                &[],
                None,
                "call control application",
            )
            .await?;
        Ok(d.data)
    }

    /// `PATCH /v2/call_control_applications/{id}` with `webhook_event_url` and
    /// `webhook_api_version` `"2"`; `application_name` is required by the update, so the
    /// application's own name is sent back unchanged.
    pub async fn point_call_control_application(
        &self,
        app: &CallControlApplication,
        webhook_event_url: &str,
    ) -> Result<CallControlApplication, ProviderError> {
        let path = format!("/v2/call_control_applications/{}", path_segment(&app.id)?);
        let body = serde_json::json!({
            "application_name": app.application_name.clone().unwrap_or_else(|| app.id.clone()),
            "webhook_event_url": webhook_event_url,
            "webhook_api_version": "2",
        });
        let d: Data<CallControlApplication> = self
            .json(
                reqwest::Method::PATCH,
                &path,
                &[],
                Some(body),
                "call control application",
            )
            .await?;
        Ok(d.data)
    }
}

/// A `call_control_id` as one path segment: `v3:` ids carry a colon, which is fine in a
/// path segment; anything that would address another resource is refused.
fn call_id_segment(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        && id != "."
        && id != ".."
    {
        Ok(id)
    } else {
        Err(ProviderError::protocol(
            PROVIDER,
            format!("{id:?} is not a Telnyx call_control_id"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_stay_one_segment() {
        assert_eq!(call_id_segment("v3:abc-DEF_1.2").unwrap(), "v3:abc-DEF_1.2");
        for bad in ["", "a/b", "a?b", "..", "a b"] {
            assert!(call_id_segment(bad).is_err(), "{bad}");
        }
    }
}
