//! The Account resource: `GET /2010-04-01/Accounts/{AccountSid}.json`, a credentials probe.

use reqwest::Method;
use telephony_core::ProviderError;

use super::transport::{Attempts, TwilioClient, decode, path_segment};

impl TwilioClient {
    /// Fetches the Account resource (`GET /2010-04-01/Accounts/{AccountSid}.json`): a cheap
    /// check that the credentials work.
    ///
    /// The resource carries the account's `auth_token`; it is replaced by `"[redacted]"`
    /// in the returned value so that printing it (`status --probe`) never leaks it.
    pub async fn fetch_account(&self) -> Result<serde_json::Value, ProviderError> {
        let path = format!(
            "/2010-04-01/Accounts/{}.json",
            path_segment(&self.config().account_sid)
        );
        let (_, body) = self
            .execute(Method::GET, &path, &[], None, Attempts::Configured)
            .await?;
        let mut value: serde_json::Value = decode(&body, "Account")?;
        if let Some(token) = value.get_mut("auth_token") {
            if !token.is_null() {
                *token = serde_json::Value::String("[redacted]".into());
            }
        }
        Ok(value)
    }
}
