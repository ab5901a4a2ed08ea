//! Phone numbers and Messaging Services: find the account's number, read and change its
//! webhook settings, and those of a Messaging Service (number setup, see `crate::numbers`).

use reqwest::Method;
use telephony_core::ProviderError;

use super::transport::{Attempts, TwilioClient, decode, path_segment};
use crate::resources::{
    IncomingPhoneNumberPage, IncomingPhoneNumberResource, MessagingServiceResource,
};

impl TwilioClient {
    /// Finds the account's number: `GET …/IncomingPhoneNumbers.json?PhoneNumber=` (exact
    /// E.164 match; `None` when the account has no such number).
    pub async fn find_incoming_number(
        &self,
        phone_number: &str,
    ) -> Result<Option<IncomingPhoneNumberResource>, ProviderError> {
        let path = format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json",
            path_segment(&self.config().account_sid)
        );
        let query = [("PhoneNumber", phone_number.to_string())];
        let (_, body) = self
            .execute(Method::GET, &path, &query, None, Attempts::Configured)
            .await?;
        let page: IncomingPhoneNumberPage = decode(&body, "IncomingPhoneNumber page")?;
        Ok(page
            .incoming_phone_numbers
            .into_iter()
            .find(|n| n.phone_number == phone_number))
    }

    /// Updates a number: `POST …/IncomingPhoneNumbers/{Sid}.json` with `form` (`SmsUrl`,
    /// `SmsMethod`, `VoiceUrl`, `VoiceMethod`, `StatusCallback`, …). One attempt.
    pub async fn update_incoming_number(
        &self,
        sid: &str,
        form: &[(&'static str, String)],
    ) -> Result<IncomingPhoneNumberResource, ProviderError> {
        if sid.trim().is_empty() {
            return Err(ProviderError::InvalidMessage(
                "the phone number SID is empty".into(),
            ));
        }
        let path = format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            path_segment(&self.config().account_sid),
            path_segment(sid)
        );
        let (_, body) = self
            .execute(Method::POST, &path, &[], Some(form), Attempts::One)
            .await?;
        decode(&body, "IncomingPhoneNumber")
    }

    /// Fetches a Messaging Service: `GET {messaging}/v1/Services/{Sid}`.
    pub async fn fetch_messaging_service(
        &self,
        sid: &str,
    ) -> Result<MessagingServiceResource, ProviderError> {
        let path = format!("/v1/Services/{}", path_segment(sid));
        let (_, body) = self
            .execute_at(
                &self.config().messaging_base_url,
                Method::GET,
                &path,
                &[],
                None,
                Attempts::Configured,
            )
            .await?;
        decode(&body, "Messaging Service")
    }

    /// Updates a Messaging Service: `POST {messaging}/v1/Services/{Sid}` with `form`
    /// (`InboundRequestUrl`, `InboundMethod`, …). One attempt.
    pub async fn update_messaging_service(
        &self,
        sid: &str,
        form: &[(&'static str, String)],
    ) -> Result<MessagingServiceResource, ProviderError> {
        let path = format!("/v1/Services/{}", path_segment(sid));
        let (_, body) = self
            .execute_at(
                &self.config().messaging_base_url,
                Method::POST,
                &path,
                &[],
                Some(form),
                Attempts::One,
            )
            .await?;
        decode(&body, "Messaging Service")
    }
}
