//! Number setup: find the account's number, read its messaging settings, read and
//! change its messaging profile.

use telephony_core::ProviderError;

use super::transport::{PROVIDER, TelnyxClient, path_segment};
use crate::resources::{
    Data, DataList, MessagingProfileResource, MessagingSettings, PhoneNumberResource,
    UpdateMessagingProfile,
};

impl TelnyxClient {
    /// The account's number `phone_number` (E.164): `GET
    /// /v2/phone_numbers?filter[phone_number]=…`, `None` when the account has no such
    /// number. Telnyx's filter also matches partial numbers, so only an exact match counts.
    pub async fn find_phone_number(
        &self,
        phone_number: &str,
    ) -> Result<Option<PhoneNumberResource>, ProviderError> {
        let list: DataList<PhoneNumberResource> = self
            .json(
                reqwest::Method::GET,
                "/v2/phone_numbers",
                &[("filter[phone_number]", phone_number)],
                None,
                "phone number list",
            )
            .await?;
        Ok(list
            .data
            .into_iter()
            .find(|n| n.phone_number == phone_number))
    }

    /// A number's messaging settings (profile, SMS/MMS features): `GET
    /// /v2/phone_numbers/{id}/messaging`.
    pub async fn phone_number_messaging(
        &self,
        id: &str,
    ) -> Result<MessagingSettings, ProviderError> {
        let path = format!("/v2/phone_numbers/{}/messaging", path_segment(id)?);
        let d: Data<MessagingSettings> = self
            .json(reqwest::Method::GET, &path, &[], None, "messaging settings")
            .await?;
        Ok(d.data)
    }

    /// A messaging profile: `GET /v2/messaging_profiles/{id}`.
    pub async fn messaging_profile(
        &self,
        id: &str,
    ) -> Result<MessagingProfileResource, ProviderError> {
        let path = format!("/v2/messaging_profiles/{}", path_segment(id)?);
        let d: Data<MessagingProfileResource> = self
            .json(reqwest::Method::GET, &path, &[], None, "messaging profile")
            .await?;
        Ok(d.data)
    }

    /// Changes a messaging profile's settings: `PATCH /v2/messaging_profiles/{id}` with
    /// only the fields set in `update`; returns the profile as Telnyx now has it.
    pub async fn update_messaging_profile(
        &self,
        id: &str,
        update: &UpdateMessagingProfile,
    ) -> Result<MessagingProfileResource, ProviderError> {
        let path = format!("/v2/messaging_profiles/{}", path_segment(id)?);
        let body = serde_json::to_value(update).map_err(|e| {
            ProviderError::protocol(PROVIDER, format!("cannot encode the profile update: {e}"))
        })?;
        let d: Data<MessagingProfileResource> = self
            .json(
                reqwest::Method::PATCH,
                &path,
                &[],
                Some(body),
                "messaging profile",
            )
            .await?;
        Ok(d.data)
    }
}
