//! What a provider-specific hook is given: the case's environment and the request to sign.

use std::collections::BTreeMap;

use time::OffsetDateTime;

/// The clock a case runs at when it names no `now`: 2023-11-14T22:13:20Z.
///
/// Fixed so that runs are deterministic; a factory must install [`CaseEnv::now`] as the
/// provider's clock for providers that check a timestamp window.
pub const DEFAULT_NOW: i64 = 1_700_000_000;

/// The API base URL handed to factories for webhook cases, which run no mock API: the
/// discard port on loopback, so a provider that wrongly calls out fails fast and locally.
pub const NO_API_URL: &str = "http://127.0.0.1:9";

/// What a provider factory is given for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaseEnv {
    /// Base URL of the loopback mock provider API (`http://127.0.0.1:<port>`, no trailing
    /// slash) for send cases; [`NO_API_URL`] for webhook cases.
    pub api_base_url: String,
    /// The case's clock: the provider must take this as "now" (timestamp windows).
    pub now: OffsetDateTime,
}

impl CaseEnv {
    /// An environment with this API URL and clock (Unix seconds).
    ///
    /// ```
    /// use telephony_conformance::CaseEnv;
    /// let env = CaseEnv::new("http://127.0.0.1:4000", 1_700_000_000);
    /// assert_eq!(env.now.unix_timestamp(), 1_700_000_000);
    /// ```
    pub fn new(api_base_url: impl Into<String>, now_unix: i64) -> Self {
        CaseEnv {
            api_base_url: api_base_url.into(),
            now: unix(now_unix),
        }
    }
}

/// A webhook request as the signer hook sees it, before signature headers are added.
///
/// For a `{"valid_for": …}` signature the URL, body or clock the signer sees are the ones
/// the case names, not the ones the request carries: that is how a case says "signed for a
/// different URL/body/time".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookRequestParts {
    /// HTTP method (`POST`).
    pub method: String,
    /// The full URL the provider requested and signs.
    pub url: String,
    /// The case's request headers (names as written in the case).
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: String,
}

impl WebhookRequestParts {
    /// Parts for a `POST` of `body` to `url` with no headers.
    ///
    /// ```
    /// use telephony_conformance::WebhookRequestParts;
    /// let parts = WebhookRequestParts::post("https://gw.example.com/hook", "a=1");
    /// assert_eq!((parts.method.as_str(), parts.body.as_str()), ("POST", "a=1"));
    /// ```
    pub fn post(url: impl Into<String>, body: impl Into<String>) -> Self {
        WebhookRequestParts {
            method: "POST".into(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// The value of a header, its name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Unix seconds as a UTC time; out-of-range values clamp to the epoch (cases are checked
/// for sane clocks when they load).
pub(crate) fn unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
