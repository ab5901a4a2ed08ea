//! Webhook signature vectors: RFC 8032 test 1 key with Telnyx's signing rule, and one
//! case per way a webhook can fail verification.

use http::HeaderMap;
use telephony_core::WebhookError;
use telephony_telnyx::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider, WebhookSigner, WebhookVerifier};

use crate::support::{self, PUBLIC_KEY, SEED_HEX};

const TIMESTAMP: i64 = 1_700_000_000;
const SIGNATURE: &str =
    "XP2DFrQsWRgYFPi/461T1T33Dt8chII3yk8lOrKUHN6glD0FH2O/elP7mXiU7Nq3oDDVzeui1ebl8kaP5a31AQ==";
const URL: &str = "https://example.com/webhooks/telnyx";

fn body() -> &'static [u8] {
    support::VECTOR_BODY
}

fn seed() -> [u8; 32] {
    support::seed_from_hex(SEED_HEX)
}

fn verifier() -> WebhookVerifier {
    WebhookVerifier::from_base64(PUBLIC_KEY).unwrap()
}

fn headers(signature: &str, timestamp: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(SIGNATURE_HEADER, signature.parse().unwrap());
    h.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
    h
}

fn check(h: &HeaderMap, body: &[u8], now: i64) -> Result<(), WebhookError> {
    verifier().verify(URL, h, body, now)
}

fn invalid() -> Result<(), WebhookError> {
    Err(WebhookError::InvalidSignature { url: URL.into() })
}

#[test]
fn vector_body_is_byte_exact() {
    assert_eq!(body().len(), 488);
    assert_ne!(body().last(), Some(&b'\n'));
}

#[test]
fn signing_the_vector_gives_the_published_signature() {
    let signer = WebhookSigner::from_seed(seed());
    assert_eq!(signer.public_key_base64(), PUBLIC_KEY);
    assert_eq!(signer.sign(TIMESTAMP, body()), SIGNATURE);
}

#[test]
fn the_published_signature_verifies() {
    assert_eq!(
        check(&headers(SIGNATURE, "1700000000"), body(), TIMESTAMP),
        Ok(())
    );
}

#[test]
fn header_names_are_case_insensitive() {
    let mut h = HeaderMap::new();
    h.insert("Telnyx-Signature-Ed25519", SIGNATURE.parse().unwrap());
    h.insert("TELNYX-TIMESTAMP", "1700000000".parse().unwrap());
    assert_eq!(check(&h, body(), TIMESTAMP), Ok(()));
}

#[test]
fn window_edges() {
    let h = headers(SIGNATURE, "1700000000");
    assert_eq!(check(&h, body(), TIMESTAMP + 300), Ok(()));
    assert_eq!(check(&h, body(), TIMESTAMP - 300), Ok(()));
    for now in [TIMESTAMP + 301, TIMESTAMP - 301] {
        assert_eq!(
            check(&h, body(), now),
            Err(WebhookError::StaleTimestamp {
                timestamp: TIMESTAMP,
                now,
                tolerance_secs: 300
            })
        );
    }
}

#[test]
fn a_flipped_body_byte_fails() {
    let mut tampered = body().to_vec();
    let i = tampered.iter().position(|&b| b == b'H').unwrap(); // "Hello from Telnyx"
    tampered[i] = b'J';
    assert_eq!(
        check(&headers(SIGNATURE, "1700000000"), &tampered, TIMESTAMP),
        invalid()
    );
}

#[test]
fn another_timestamp_with_the_same_signature_fails() {
    assert_eq!(
        check(&headers(SIGNATURE, "1700000001"), body(), TIMESTAMP),
        invalid()
    );
}

#[test]
fn a_reserialized_body_fails() {
    let value: serde_json::Value = serde_json::from_slice(body()).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    assert_ne!(pretty, body());
    assert_eq!(
        check(&headers(SIGNATURE, "1700000000"), &pretty, TIMESTAMP),
        invalid()
    );
}

#[test]
fn missing_headers() {
    let mut h = HeaderMap::new();
    h.insert(TIMESTAMP_HEADER, "1700000000".parse().unwrap());
    assert_eq!(
        check(&h, body(), TIMESTAMP),
        Err(WebhookError::MissingSignature("telnyx-signature-ed25519"))
    );
    let mut h = HeaderMap::new();
    h.insert(SIGNATURE_HEADER, SIGNATURE.parse().unwrap());
    assert_eq!(
        check(&h, body(), TIMESTAMP),
        Err(WebhookError::MissingSignature("telnyx-timestamp"))
    );
}

#[test]
fn malformed_headers_say_why_without_the_value() {
    let cases = [
        (
            headers("not base64!!", "1700000000"),
            "telnyx-signature-ed25519",
            "not base64",
        ),
        (
            headers(SIGNATURE, "17e8"),
            "telnyx-timestamp",
            "not Unix seconds",
        ),
        (
            headers(SIGNATURE, "-1700000000"),
            "telnyx-timestamp",
            "not Unix seconds",
        ),
    ];
    for (h, header, reason) in cases {
        assert_eq!(
            check(&h, body(), TIMESTAMP),
            Err(WebhookError::MalformedSignature {
                header,
                reason: reason.into()
            }),
            "{h:?}"
        );
    }
}

#[test]
fn a_63_byte_signature_is_malformed() {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut sig = engine.decode(SIGNATURE).unwrap();
    sig.pop();
    assert_eq!(sig.len(), 63);
    assert_eq!(
        check(
            &headers(&engine.encode(sig), "1700000000"),
            body(),
            TIMESTAMP
        ),
        Err(WebhookError::MalformedSignature {
            header: "telnyx-signature-ed25519",
            reason: "63 bytes; an Ed25519 signature is 64".into()
        })
    );
}

#[test]
fn a_signature_by_another_key_fails() {
    let other = WebhookSigner::from_seed([42; 32]).sign(TIMESTAMP, body());
    assert_eq!(
        check(&headers(&other, "1700000000"), body(), TIMESTAMP),
        invalid()
    );
}

#[test]
fn a_31_byte_public_key_is_a_config_error() {
    let config = TelnyxConfig::new("KEY1")
        .public_key("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ==")
        .messaging_profile_id("p");
    match TelnyxProvider::new(config) {
        Err(telephony_core::ProviderError::NotConfigured(m)) => assert_eq!(
            m,
            "telnyx.publicKey decodes to 31 bytes; an Ed25519 public key is 32 bytes"
        ),
        other => panic!("{other:?}"),
    }
}
