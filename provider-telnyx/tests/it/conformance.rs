//! Telnyx runs the provider conformance suite: every case in `tests/conformance/`.
//!
//! `webhooks/` goes through `handle_webhook` with "valid" signatures made by
//! [`WebhookSigner`] from the RFC 8032 test key (section 7.1, test 1) over
//! `"{timestamp}|{body}"`, at the signer's clock; the provider's clock is the case's `now`.
//! `send/` and `send_messaging_profile/` send through a loopback mock of the Messaging
//! API, from a number and from a messaging profile respectively. The shared voice cases
//! (`telephony_conformance::shared_cases("voice")`) run each `VoiceResponse` as Call
//! Control commands against a loopback mock of the Call Control API; cases read each
//! command's `client_state` decoded ([`decode_client_state`]) and its `command_id` by
//! shape ([`command_id_shape`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use telephony_conformance::{
    CallEventKind, CaseEnv, ExpectedCall, ExpectedEvent, ProviderAnswer, SendExpect, VoiceHooks,
    WebhookRequestParts, load_send_cases, load_webhook_cases, run_send_cases, run_voice_cases,
    run_webhook_cases, run_wrong_signer_cases, shared_cases,
};
use telephony_core::DeliveryStatus;
use telephony_telnyx::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use telephony_telnyx::voice::CallState;
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

/// A `client_state` as the JSON it carries: base64 of `tg1:` + JSON, which must also be a
/// [`CallState`] the provider reads back (else the case fails naming the value).
fn decode_client_state(wire: &str) -> Result<Value, String> {
    let text = STANDARD
        .decode(wire)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| format!("client_state {wire:?} is not base64 UTF-8"))?;
    let json = text
        .strip_prefix("tg1:")
        .ok_or_else(|| format!("client_state {text:?} lacks the gateway's tg1: prefix"))?;
    if CallState::decode(wire).is_none() {
        return Err(format!("client_state {text:?} is not a CallState"));
    }
    serde_json::from_str(json).map_err(|e| format!("client_state {text:?}: {e}"))
}

/// A `command_id` as its shape: `<event id>.<16 hex digits>.<n>` (the hash of the plan
/// and call) becomes `<event id>.<hash>.<n>`; anything else fails the case.
fn command_id_shape(id: &str) -> Result<String, String> {
    let bad = || format!("command_id {id:?} is not <event id>.<16 hex digits>.<n>");
    let (rest, n) = id.rsplit_once('.').ok_or_else(bad)?;
    let (event, hash) = rest.rsplit_once('.').ok_or_else(bad)?;
    let hex = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    if event.is_empty() || !hex || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Commands sent for no event (a live update from outside the call) carry a random
    // 16-hex-digit nonce where an event's id goes; events' ids are UUIDs.
    let nonce = event.len() == 16
        && event
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let event = if nonce { "<nonce>" } else { event };
    Ok(format!("{event}.<hash>.{n}"))
}

fn voice_hooks() -> VoiceHooks {
    // Call Control's answer to an accepted command (telnyx-node `ActionSpeakResponse`).
    VoiceHooks::commands(ProviderAnswer::json(
        200,
        serde_json::json!({"data": {"result": "ok"}}),
    ))
    .normalize_json(|body| {
        for key in ["client_state", "target_leg_client_state"] {
            if let Some(Value::String(wire)) = body.get(key) {
                let decoded = decode_client_state(wire)?;
                body[key] = decoded;
            }
        }
        if let Some(Value::String(id)) = body.get("command_id") {
            let shape = command_id_shape(id)?;
            body["command_id"] = Value::String(shape);
        }
        Ok(())
    })
}

#[test]
fn client_state_and_command_ids_are_read_strictly() {
    // "tg1:{"w":"speak"}" in base64.
    assert_eq!(
        decode_client_state("dGcxOnsidyI6InNwZWFrIn0=").unwrap(),
        serde_json::json!({"w": "speak"})
    );
    // "have a nice day =]": someone else's state.
    assert!(decode_client_state("aGF2ZSBhIG5pY2UgZGF5ID1d").is_err());
    // "tg1:{"w":"sing"}": the prefix, but not a state the provider reads.
    assert!(decode_client_state("dGcxOnsidyI6InNpbmcifQ==").is_err());
    assert_eq!(
        command_id_shape("ev-1.0123456789abcdef.2").unwrap(),
        "ev-1.<hash>.2"
    );
    assert_eq!(
        command_id_shape("da702801cef8e67c.e79c37e5de27e0a5.3").unwrap(),
        "<nonce>.<hash>.3"
    );
    for bad in [
        "ev-1.2",
        "ev-1.0123.2",
        ".0123456789abcdef.1",
        "ev.0123456789abcdef.x",
    ] {
        assert!(command_id_shape(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn voice_responses_run_as_call_control_commands() {
    run_voice_cases(shared_cases("voice"), telnyx, &voice_hooks()).await;
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
    // Call Control: every neutral call event, the hangup causes as Telnyx names them, an
    // unknown `call.*` event acknowledged, a missing call id refused.
    let calls: Vec<&ExpectedCall> = events
        .iter()
        .filter_map(|e| match e {
            ExpectedEvent::Call(c) => Some(c),
            _ => None,
        })
        .collect();
    for kind in [
        CallEventKind::Incoming,
        CallEventKind::Progress,
        CallEventKind::Gather,
        CallEventKind::Status,
        CallEventKind::Resume,
    ] {
        assert!(calls.iter().any(|c| c.event == kind), "no {kind:?} case");
    }
    for (cause, status) in [
        ("user_busy", "busy"),
        ("normal_clearing", "completed"),
        ("timeout", "no-answer"),
        ("originator_cancel", "canceled"),
    ] {
        assert!(
            calls.iter().any(|c| c.event == CallEventKind::Status
                && c.status.as_str() == status
                && c.extra.get("hangup_cause").map(String::as_str) == Some(cause)),
            "no hangup case for {cause}"
        );
    }
    assert!(calls.iter().any(|c| c.speech.is_some()) && calls.iter().any(|c| c.digits.is_some()));
    assert!(events.iter().any(
        |e| matches!(e, ExpectedEvent::Other { event_type, .. } if event_type == "call.transcription")
    ));
    assert!(errors.contains("MissingField:data.payload.call_control_id"));

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
