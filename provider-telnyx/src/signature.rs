//! Telnyx webhook signatures: Ed25519 over `"{timestamp}|{raw body}"`.
//!
//! Telnyx sends `telnyx-signature-ed25519` (base64 of the 64-byte signature) and
//! `telnyx-timestamp` (Unix seconds). [`WebhookVerifier`] checks them with the account's
//! public key before anything parses the body; [`WebhookSigner`] makes them (the
//! simulator, tests).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use http::HeaderMap;
use telephony_core::{Secret, WebhookError};

/// The header carrying the base64 Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";

/// The header carrying the signed Unix timestamp (seconds).
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// Largest accepted distance between the signed timestamp and the clock, in seconds
/// (300 passes, 301 fails).
pub const TOLERANCE_SECS: u64 = 300;

/// Why a base64 public key cannot be used; its `Display` never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// Not base64.
    #[error("is not valid base64")]
    NotBase64,
    /// Base64 of the wrong number of bytes.
    #[error("decodes to {0} bytes; an Ed25519 public key is 32 bytes")]
    WrongLength(usize),
    /// 32 bytes that are not an Ed25519 point.
    #[error("is not a valid Ed25519 public key")]
    NotAPoint,
}

/// The bytes Telnyx signs: `"{timestamp}|{raw body}"`.
fn signed_bytes(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(timestamp.len() + 1 + body.len());
    out.extend_from_slice(timestamp.as_bytes());
    out.push(b'|');
    out.extend_from_slice(body);
    out
}

/// Verifies Telnyx webhook signatures with the account's Ed25519 public key.
///
/// ```
/// use telephony_telnyx::{WebhookSigner, WebhookVerifier};
///
/// let signer = WebhookSigner::from_seed([7; 32]);
/// let verifier = WebhookVerifier::from_base64(&signer.public_key_base64())?;
/// let body = br#"{"data":{}}"#;
/// let headers = signer.headers(1_700_000_000, body);
/// assert!(verifier.verify("https://gw.example/telnyx", &headers, body, 1_700_000_120).is_ok());
/// assert!(verifier.verify("https://gw.example/telnyx", &headers, b"{}", 1_700_000_120).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookVerifier {
    key: VerifyingKey,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier").finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier for the base64 public key the Telnyx portal shows (32 bytes).
    pub fn from_base64(public_key: &str) -> Result<Self, PublicKeyError> {
        let bytes = BASE64
            .decode(public_key.trim())
            .map_err(|_| PublicKeyError::NotBase64)?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| PublicKeyError::WrongLength(bytes.len()))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| PublicKeyError::NotAPoint)?;
        Ok(WebhookVerifier { key })
    }

    /// Checks a webhook's signature headers against its raw `body`, with `now` as the
    /// clock (Unix seconds).
    ///
    /// In order: both headers present ([`WebhookError::MissingSignature`]), the timestamp
    /// is decimal seconds and the signature base64 of 64 bytes
    /// ([`WebhookError::MalformedSignature`]), the timestamp within [`TOLERANCE_SECS`] of
    /// `now` ([`WebhookError::StaleTimestamp`]), and the Ed25519 signature valid under
    /// `verify_strict` ([`WebhookError::InvalidSignature`], naming `url`). Each failure is
    /// logged at `warn` with the check that failed, never the key or the signature.
    pub fn verify(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        let result = self.check(url, headers, body, now);
        if let Err(e) = &result {
            let check = match e {
                WebhookError::MissingSignature(_) => "missing header",
                WebhookError::MalformedSignature { .. } => "malformed header",
                WebhookError::StaleTimestamp { .. } => "timestamp outside the window",
                _ => "signature mismatch",
            };
            tracing::warn!(%url, check, error = %e, "rejected a Telnyx webhook");
        }
        result
    }

    fn check(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        let signature = header(headers, SIGNATURE_HEADER)?;
        let timestamp = header(headers, TIMESTAMP_HEADER)?;
        let malformed = |header: &'static str, reason: &str| WebhookError::MalformedSignature {
            header,
            reason: reason.to_string(),
        };
        let timestamp = timestamp.trim();
        if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(TIMESTAMP_HEADER, "not Unix seconds"));
        }
        let ts: i64 = timestamp
            .parse()
            .map_err(|_| malformed(TIMESTAMP_HEADER, "out of range"))?;
        let sig = BASE64
            .decode(signature.trim())
            .map_err(|_| malformed(SIGNATURE_HEADER, "not base64"))?;
        let sig: [u8; 64] = sig.as_slice().try_into().map_err(|_| {
            malformed(
                SIGNATURE_HEADER,
                &format!("{} bytes; an Ed25519 signature is 64", sig.len()),
            )
        })?;
        if ts.abs_diff(now) > TOLERANCE_SECS {
            return Err(WebhookError::StaleTimestamp {
                timestamp: ts,
                now,
                tolerance_secs: TOLERANCE_SECS,
            });
        }
        // The signed bytes use the header text as sent, so "0017…" and "17…" differ.
        self.key
            .verify_strict(&signed_bytes(timestamp, body), &Signature::from_bytes(&sig))
            .map_err(|_| WebhookError::InvalidSignature {
                url: url.to_string(),
            })
    }
}

/// A header's value as text; absent or empty is [`WebhookError::MissingSignature`].
fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, WebhookError> {
    let value = headers
        .get(name)
        .filter(|v| !v.as_bytes().is_empty())
        .ok_or(WebhookError::MissingSignature(name))?;
    value
        .to_str()
        .map_err(|_| WebhookError::MalformedSignature {
            header: name,
            reason: "not ASCII".into(),
        })
}

/// Signs webhooks as Telnyx does (the simulator, tests). `Debug` shows only the public key.
///
/// ```
/// use telephony_telnyx::WebhookSigner;
///
/// let seed: [u8; 32] = [0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4,
///     0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac,
///     0x03, 0x1c, 0xae, 0x7f, 0x60];
/// let signer = WebhookSigner::from_seed(seed); // RFC 8032, test 1
/// assert_eq!(signer.public_key_base64(), "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
/// ```
#[derive(Clone)]
pub struct WebhookSigner {
    key: SigningKey,
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSigner")
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

impl WebhookSigner {
    /// A signer for this 32-byte Ed25519 private seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        WebhookSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The private seed, base64 (a secret: the sandbox keeps it in its 0600 runtime file
    /// so `telephony simulate sms` can sign as the simulator does).
    pub fn seed_base64(&self) -> Secret {
        Secret::new(BASE64.encode(self.key.to_bytes()))
    }

    /// A signer for a seed written by [`seed_base64`](Self::seed_base64); `None` unless
    /// it is base64 of 32 bytes.
    pub fn from_seed_base64(seed: &str) -> Option<Self> {
        let bytes = BASE64.decode(seed.trim()).ok()?;
        Some(Self::from_seed(bytes.as_slice().try_into().ok()?))
    }

    /// A signer with a fresh random key.
    pub fn generate() -> Self {
        use rand::Rng as _;
        Self::from_seed(rand::thread_rng().r#gen())
    }

    /// The public key, base64, as the Telnyx portal shows it (configure the gateway's
    /// `telnyx.publicKey` with it).
    pub fn public_key_base64(&self) -> String {
        BASE64.encode(self.key.verifying_key().as_bytes())
    }

    /// The `telnyx-signature-ed25519` value for `body` sent at `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let signature = self.key.sign(&signed_bytes(&timestamp.to_string(), body));
        BASE64.encode(signature.to_bytes())
    }

    /// The two signature headers for `body` sent at `timestamp`, plus
    /// `content-type: application/json`.
    pub fn headers(&self, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = |s: String| {
            http::HeaderValue::try_from(s).expect("base64 and digits are valid header values")
        };
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(SIGNATURE_HEADER, value(self.sign(timestamp, body)));
        headers.insert(TIMESTAMP_HEADER, value(timestamp.to_string()));
        headers
    }
}
