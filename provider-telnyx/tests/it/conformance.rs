//! Telnyx runs the provider conformance suite: every case in `tests/conformance/`.
//!
//! `webhooks/` goes through `handle_webhook` with "valid" signatures made by
//! [`WebhookSigner`] from the RFC 8032 test key (section 7.1, test 1) over
//! `"{timestamp}|{body}"`, at the signer's clock; the provider's clock is the case's `now`.
//! `send/` and `send_messaging_profile/` send through a loopback mock of the Messaging
//! API, from a number and from a messaging profile respectively.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use telephony_conformance::{
    CaseEnv, ExpectedEvent, SendExpect, WebhookRequestParts, load_send_cases, load_webhook_cases,
    run_send_cases, run_webhook_cases, run_wrong_signer_cases,
};
use telephony_core::DeliveryStatus;
use telephony_telnyx::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider, WebhookSigner};
use time::OffsetDateTime;

use crate::support::{PUBLIC_KEY, SEED_HEX, seed_from_hex};

const API_KEY: &str = "KEY0123456789ABCDEF_test";
const PROFILE: &str = "40017f8e-49bd-4f16-9e3d-ef103f916228";

fn cases(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(kind)
}

fn with_env(config: TelnyxConfig, env: &CaseEnv) -> TelnyxProvider {
    let now = env.now.unix_timestamp();
    TelnyxProvider::new(config.api_base_url(&env.api_base_url))
        .expect("provider builds")
        .with_clock(Arc::new(move || now))
}

/// A provider sending from a number.
fn telnyx(env: &CaseEnv) -> TelnyxProvider {
    let from = "+15550001234".parse().expect("sender number");
    with_env(
        TelnyxConfig::new(API_KEY)
            .public_key(PUBLIC_KEY)
            .from_number(from),
        env,
    )
}

/// A provider sending through a messaging profile (Telnyx picks the sender).
fn telnyx_profile(env: &CaseEnv) -> TelnyxProvider {
    with_env(
        TelnyxConfig::new(API_KEY)
            .public_key(PUBLIC_KEY)
            .messaging_profile_id(PROFILE),
        env,
    )
}

fn sign_with(
    seed_hex: &str,
    req: &WebhookRequestParts,
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    let signer = WebhookSigner::from_seed(seed_from_hex(seed_hex));
    let ts = now.unix_timestamp();
    vec![
        (
            SIGNATURE_HEADER.to_string(),
            signer.sign(ts, req.body.as_bytes()),
        ),
        (TIMESTAMP_HEADER.to_string(), ts.to_string()),
    ]
}

fn sign(req: &WebhookRequestParts, now: OffsetDateTime) -> Vec<(String, String)> {
    sign_with(SEED_HEX, req, now)
}

#[test]
fn the_signer_key_is_the_rfc_8032_test_key() {
    assert_eq!(
        WebhookSigner::from_seed(seed_from_hex(SEED_HEX)).public_key_base64(),
        PUBLIC_KEY
    );
}

#[test]
fn webhooks() {
    run_webhook_cases(cases("webhooks"), telnyx, sign);
}

#[tokio::test]
async fn sends_from_a_number() {
    run_send_cases(cases("send"), telnyx).await;
}

#[tokio::test]
async fn sends_through_a_messaging_profile() {
    run_send_cases(cases("send_messaging_profile"), telnyx_profile).await;
}

#[test]
fn every_accepted_verified_case_is_refused_when_signed_with_another_key() {
    // Fail closed: any verified case Telnyx accepts gives 403 once the key is wrong.
    let other = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    run_wrong_signer_cases(
        cases("webhooks"),
        telnyx,
        |parts, at| sign_with(other, parts, at),
        10,
    );
}

#[test]
fn cases_cover_the_required_behaviours() {
    let webhook_cases: Vec<_> = load_webhook_cases(cases("webhooks"))
        .expect("cases load")
        .into_iter()
        .map(|l| l.case)
        .collect();
    let errors: BTreeSet<&str> = webhook_cases
        .iter()
        .filter_map(|c| c.expect.error.as_deref())
        .collect();
    for required in [
        "InvalidSignature",
        "MissingSignature:telnyx-signature-ed25519",
        "MissingSignature:telnyx-timestamp",
        "MalformedSignature:telnyx-signature-ed25519",
        "StaleTimestamp:1700000000",
        "UnsupportedMediaType:application/x-www-form-urlencoded",
        "Malformed",
    ] {
        assert!(errors.contains(required), "no case expects {required}");
    }
    let events: Vec<&ExpectedEvent> = webhook_cases
        .iter()
        .flat_map(|c| &c.expect.events)
        .collect();
    for telnyx_status in [
        "queued",
        "sending",
        "sent",
        "delivered",
        "sending_failed",
        "delivery_failed",
        "delivery_unconfirmed",
        "expired",
    ] {
        let neutral = telephony_telnyx::webhook::map_status(telnyx_status).unwrap();
        assert!(
            events.iter().any(
                |e| matches!(e, ExpectedEvent::Status { status, provider_status, .. }
                if *status == neutral
                    && provider_status.as_deref().unwrap_or(neutral.as_str()) == telnyx_status)
            ),
            "no status case for {telnyx_status}"
        );
    }
    assert!(events.iter().any(|e| matches!(
        e,
        ExpectedEvent::Status {
            status: DeliveryStatus::Failed,
            error_code: Some(_),
            ..
        }
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ExpectedEvent::Message { media, .. } if !media.is_empty()))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ExpectedEvent::Other { .. }))
    );

    let send_cases: Vec<_> = load_send_cases(cases("send"))
        .expect("cases load")
        .into_iter()
        .map(|l| l.case)
        .collect();
    let codes: BTreeSet<(Option<u16>, bool, bool)> = send_cases
        .iter()
        .filter_map(|c| match &c.expect {
            SendExpect::Error(e) => Some((e.http_status, e.retryable, e.opted_out)),
            _ => None,
        })
        .collect();
    for required in [
        (Some(422), false, false),
        (Some(409), false, true),
        (Some(429), true, false),
        (Some(500), true, false),
        (Some(401), false, false),
        (None, false, false),
    ] {
        assert!(codes.contains(&required), "no send case for {required:?}");
    }
}
