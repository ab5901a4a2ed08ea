//! The schema of a send case: a message to send, what the provider's API answers, and the
//! request and outcome expected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use telephony_core::DeliveryStatus;

/// One send case.
///
/// ```
/// use telephony_conformance::SendCase;
/// let case: SendCase = serde_json::from_str(r#"{
///   "label": "too many media",
///   "message": {"to": "+15550005678", "body": "hi", "media_urls": []},
///   "expect_no_request": true,
///   "expect": {"error": {"kind": "invalid_message", "retryable": false, "opted_out": false}}
/// }"#)?;
/// assert!(case.expect_no_request);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SendCase {
    /// Unique within a provider's suite.
    pub label: String,
    /// The message handed to [`Provider::send`](telephony_core::Provider::send).
    pub message: CaseMessage,
    /// The send options.
    #[serde(default)]
    pub options: CaseOptions,
    /// The clock for this case (Unix seconds); [`DEFAULT_NOW`](crate::DEFAULT_NOW) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
    /// What the mock provider API answers (required unless `expect_no_request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_answer: Option<ProviderAnswer>,
    /// The one request the provider must make (required unless `expect_no_request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_request: Option<ExpectedRequest>,
    /// The send must fail before the network: no request at all.
    #[serde(default)]
    pub expect_no_request: bool,
    /// The receipt or error `send` must return.
    pub expect: SendExpect,
}

/// The message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseMessage {
    /// Recipient, as [`Address`](telephony_core::Address) parses it (`+1555…`, `whatsapp:+1…`).
    pub to: String,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// Media URLs.
    #[serde(default)]
    pub media_urls: Vec<String>,
}

/// Send options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseOptions {
    /// The status callback URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
}

/// What the mock provider API answers to every request of a case.
///
/// Give the body as raw text (`body`) or as JSON (`json`, which also sets
/// `Content-Type: application/json` unless `headers` names one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderAnswer {
    /// HTTP status.
    pub status: u16,
    /// Response headers (`Retry-After`, …).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A raw body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
}

impl ProviderAnswer {
    /// An answer with this status and JSON body.
    ///
    /// ```
    /// use telephony_conformance::ProviderAnswer;
    /// let a = ProviderAnswer::json(201, serde_json::json!({"sid": "SM1"}));
    /// assert_eq!(a.content_type(), Some("application/json"));
    /// ```
    pub fn json(status: u16, json: Value) -> Self {
        ProviderAnswer {
            status,
            headers: BTreeMap::new(),
            body: None,
            json: Some(json),
        }
    }

    /// The body bytes to answer with.
    pub fn body_bytes(&self) -> Vec<u8> {
        match (&self.json, &self.body) {
            (Some(json), _) => json.to_string().into_bytes(),
            (None, Some(body)) => body.clone().into_bytes(),
            (None, None) => Vec::new(),
        }
    }

    /// The `Content-Type` to answer with: the one in `headers`, else JSON for `json`.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
            .or(self.json.as_ref().map(|_| "application/json"))
    }
}

/// The request the provider must send to its API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExpectedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query, e.g. `/2010-04-01/Accounts/AC…/Messages.json`.
    pub path: String,
    /// Headers that must be present with exactly these values (names case-insensitive);
    /// others are ignored.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body; not compared when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ExpectedBody>,
}

/// An expected request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExpectedBody {
    /// A form body: ordered pairs, repeated keys kept (`[["To","+1…"],["MediaUrl","…"]]`).
    Form(Vec<(String, String)>),
    /// A JSON body, compared as JSON values (key order and spacing do not matter).
    Json(Value),
    /// Raw text, compared byte for byte.
    Raw(String),
}

/// The outcome `send` must return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SendExpect {
    /// Accepted with this receipt.
    Receipt(ExpectedReceipt),
    /// Refused with an error that answers the questions like this.
    Error(ExpectedError),
}

/// An expected [`ProviderReceipt`](telephony_core::ProviderReceipt), every field compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExpectedReceipt {
    /// Provider message id.
    pub sid: String,
    /// Status at acceptance.
    pub status: DeliveryStatus,
    /// Sender the provider used.
    #[serde(default)]
    pub from: Option<String>,
    /// Segments.
    #[serde(default)]
    pub num_segments: Option<u32>,
    /// Price.
    #[serde(default)]
    pub price: Option<String>,
    /// Currency of `price`.
    #[serde(default)]
    pub price_unit: Option<String>,
}

/// An expected [`ProviderError`](telephony_core::ProviderError), as its questions answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExpectedError {
    /// Which kind of error.
    pub kind: ErrorKind,
    /// [`http_status`](telephony_core::ProviderError::http_status).
    #[serde(default)]
    pub http_status: Option<u16>,
    /// [`code`](telephony_core::ProviderError::code).
    #[serde(default)]
    pub code: Option<i64>,
    /// [`is_retryable`](telephony_core::ProviderError::is_retryable).
    pub retryable: bool,
    /// [`is_opted_out`](telephony_core::ProviderError::is_opted_out).
    pub opted_out: bool,
    /// [`retry_after`](telephony_core::ProviderError::retry_after) in whole seconds.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

/// The variant of a [`ProviderError`](telephony_core::ProviderError).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// `Api`.
    Api,
    /// `Transport`.
    Transport,
    /// `Protocol`.
    Protocol,
    /// `InvalidMessage`.
    InvalidMessage,
    /// `NotConfigured`.
    NotConfigured,
    /// A variant this crate does not know yet.
    Other,
}

impl ErrorKind {
    /// The kind of an error.
    pub fn of(e: &telephony_core::ProviderError) -> Self {
        use telephony_core::ProviderError as E;
        match e {
            E::Api { .. } => ErrorKind::Api,
            E::Transport { .. } => ErrorKind::Transport,
            E::Protocol { .. } => ErrorKind::Protocol,
            E::InvalidMessage(_) => ErrorKind::InvalidMessage,
            E::NotConfigured(_) => ErrorKind::NotConfigured,
            _ => ErrorKind::Other,
        }
    }
}

impl ExpectedError {
    /// How an error answers the questions, in this schema.
    pub fn from_error(e: &telephony_core::ProviderError) -> Self {
        ExpectedError {
            kind: ErrorKind::of(e),
            http_status: e.http_status(),
            code: e.code(),
            retryable: e.is_retryable(),
            opted_out: e.is_opted_out(),
            retry_after_secs: e.retry_after().map(|d| d.as_secs()),
        }
    }
}
