//! Calls through the public routes (`tower::ServiceExt::oneshot`, Twilio's signatures and
//! TwiML): policy, sessions and their limit, the default flow, handlers with deadline and
//! hold, status callbacks, the reaper and the duration limit.
//!
//! The provider is Twilio's, wrapped so the Calls API (fetch, hang up, create) answers
//! from a script: whole calls over real HTTP through the simulator are in
//! `telephony/tests/it/voice_calls.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use telephony_core::store::prelude::*;
use telephony_core::store::{NewCall, StatusSource};
use telephony_core::voice::{
    Call, CallAnswer, CallDirection, CallEvent, CallStatus, VoiceError, VoiceResponse,
};
use telephony_core::{
    AllowList, Channel, InboundPolicy, MemoryStore, OutboundMessage, Provider, ProviderError,
    ProviderLimits, ProviderReceipt, SendOptions, SignatureCheck, WebhookError, WebhookEvent,
    WebhookRequest, WebhookResponse,
};
use telephony_serve::{
    CallContext, CallError, Gateway, GatewayBuilder, HandlerError, VoiceSettings,
};
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use time::OffsetDateTime;

use crate::support::{ACCOUNT, FORM, OURS, TOKEN, oneshot};

pub(crate) const PUBLIC: &str = "https://voice.example.com";
pub(crate) const FRIEND: &str = "+15557654321";
const STRANGER: &str = "+15559990000";
pub(crate) const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Twilio, with its Calls API answered from a script.
#[derive(Debug)]
pub(crate) struct Scripted {
    twilio: TwilioProvider,
    /// What `fetch_call` says, by call id (absent: 404).
    fetched: Mutex<HashMap<String, Result<CallStatus, u16>>>,
    hung_up: Mutex<Vec<String>>,
    placed: Mutex<Vec<telephony_core::voice::OutboundCall>>,
    place_error: Mutex<Option<ProviderError>>,
}

impl Scripted {
    pub(crate) fn new() -> Self {
        let cfg = TwilioConfig::new(ACCOUNT, TOKEN).from_number(OURS.parse().unwrap());
        Scripted {
            twilio: TwilioProvider::new(cfg).unwrap(),
            fetched: Mutex::new(HashMap::new()),
            hung_up: Mutex::new(Vec::new()),
            placed: Mutex::new(Vec::new()),
            place_error: Mutex::new(None),
        }
    }

    fn says(&self, call_id: &str, status: Result<CallStatus, u16>) {
        self.fetched
            .lock()
            .unwrap()
            .insert(call_id.to_string(), status);
    }
}

#[async_trait]
impl Provider for Scripted {
    async fn send(
        &self,
        msg: &OutboundMessage,
        _: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        let _ = msg;
        Err(ProviderError::transport(
            "twilio",
            "http://127.0.0.1:9/",
            false,
            "no SMS in these tests",
        ))
    }
    /// It never sends an SMS, so it never sent this one.
    async fn find_sent(
        &self,
        _: &OutboundMessage,
        _: time::OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        Ok(None)
    }
    fn name(&self) -> &'static str {
        "twilio"
    }
    fn limits(&self) -> ProviderLimits {
        self.twilio.limits()
    }
    fn handle_webhook(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<WebhookEvent, WebhookError> {
        self.twilio.handle_webhook(req, check)
    }
    fn webhook_ack(&self) -> WebhookResponse {
        self.twilio.webhook_ack()
    }
    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        self.twilio.render_voice(response)
    }
    async fn place_call(
        &self,
        call: &telephony_core::voice::OutboundCall,
    ) -> Result<Call, ProviderError> {
        self.placed.lock().unwrap().push(call.clone());
        if let Some(e) = self.place_error.lock().unwrap().take() {
            return Err(e);
        }
        let n = self.placed.lock().unwrap().len();
        Ok(Call::new(
            format!("CAout{n:029}"),
            OURS,
            call.to.clone(),
            CallDirection::Outbound,
            CallStatus::Queued,
        ))
    }
    async fn hang_up(&self, call_id: &str) -> Result<(), ProviderError> {
        self.hung_up.lock().unwrap().push(call_id.to_string());
        Ok(())
    }
    async fn fetch_call(&self, call_id: &str) -> Result<Call, ProviderError> {
        match self.fetched.lock().unwrap().get(call_id).cloned() {
            Some(Ok(status)) => {
                let mut c = Call::new(call_id, FRIEND, OURS, CallDirection::Inbound, status);
                if status.is_terminal() {
                    c.extra.insert("duration".into(), "42".into());
                }
                Ok(c)
            }
            Some(Err(code)) => Err(ProviderError::api("twilio", code, "scripted failure")),
            None => Err(
                ProviderError::api("twilio", 404, "The requested resource was not found")
                    .with_code(20404),
            ),
        }
    }
}

struct Env {
    gw: Gateway,
    store: Arc<MemoryStore>,
    provider: Arc<Scripted>,
}

fn env(f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Env {
    env_with(Arc::new(MemoryStore::new()), f)
}

fn env_with(store: Arc<MemoryStore>, f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Env {
    let provider = Arc::new(Scripted::new());
    let allow = AllowList::parse(&[FRIEND.to_string()]).unwrap();
    let b = Gateway::builder(provider.clone(), store.clone())
        .public_url(PUBLIC)
        .inbound_policy(InboundPolicy::Pairing, allow)
        .voice(VoiceSettings::enabled());
    Env {
        gw: f(b).build(),
        store,
        provider,
    }
}

fn call_params<'a>(sid: &'a str, from: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CallSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", from),
        ("To", OURS),
        ("CallStatus", status),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// Posts a form signed for `PUBLIC + path_and_query`; returns status, content type, body.
async fn post(
    gw: &Gateway,
    path_and_query: &str,
    params: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sig = RequestValidator::new(TOKEN).compute(&format!("{PUBLIC}{path_and_query}"), &owned);
    let req = Request::post(path_and_query)
        .header("content-type", FORM)
        .header("x-twilio-signature", sig)
        .body(Body::from(serde_urlencoded::to_string(&owned).unwrap()))
        .unwrap();
    send(gw, req).await
}

async fn send(gw: &Gateway, req: Request<Body>) -> (StatusCode, String, String) {
    let r = oneshot(gw.router(), req).await;
    let ct = r.header("content-type");
    (r.status, ct, r.body)
}

pub(crate) async fn ring(gw: &Gateway, sid: &str, from: &str) -> String {
    let (status, ct, body) =
        post(gw, "/telephony/webhook", &call_params(sid, from, "ringing")).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::OK, "text/xml"),
        "{body}"
    );
    assert!(body.starts_with(XML), "{body}");
    body
}

async fn gather(gw: &Gateway, sid: &str, query: &str, extra: &[(&str, &str)]) -> String {
    let mut p = call_params(sid, FRIEND, "in-progress");
    p.extend_from_slice(extra);
    let (status, ct, body) = post(gw, &format!("/telephony/webhook?{query}"), &p).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::OK, "text/xml"),
        "{body}"
    );
    body
}

pub(crate) async fn status_callback(
    gw: &Gateway,
    sid: &str,
    status: &str,
    duration: &str,
) -> StatusCode {
    let mut p = call_params(sid, FRIEND, status);
    p.extend([
        ("CallDuration", duration),
        ("SequenceNumber", "3"),
        ("CallbackSource", "call-progress-events"),
    ]);
    post(gw, "/telephony/status", &p).await.0
}

fn action(sid: &str, q: &str) -> String {
    format!("{PUBLIC}/telephony/webhook?call={sid}&amp;{q}")
}

const SID: &str = "CA00000000000000000000000000000001";

pub(crate) fn greeting_twiml(sid: &str) -> String {
    format!(
        concat!(
            r#"{xml}<Response>"#,
            r#"<Gather input="speech" action="{a1}" speechTimeout="auto"><Say>Hello! How can I help you? Please speak after the tone.</Say></Gather>"#,
            r#"<Gather input="speech" action="{a2}" speechTimeout="auto"><Say>Sorry, I didn&apos;t catch that. Please say it again.</Say></Gather>"#,
            r#"<Say>Thank you. Goodbye.</Say><Hangup/></Response>"#
        ),
        xml = XML,
        a1 = action(sid, "turn=1"),
        a2 = action(sid, "turn=1&amp;retry=1"),
    )
}

#[tokio::test]
async fn default_flow_greets_gathers_stores_the_transcript_and_closes() {
    let e = env(|b| b);
    assert_eq!(ring(&e.gw, SID, FRIEND).await, greeting_twiml(SID));
    let live = e.store.live_sessions().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].call_id.as_str(), live[0].status, live[0].direction),
        (SID, CallStatus::InProgress, CallDirection::Inbound)
    );
    assert!(live[0].answered_at.is_some());

    let body = gather(
        &e.gw,
        SID,
        "call=CA00000000000000000000000000000001&turn=1",
        &[
            ("SpeechResult", "Call me back <tomorrow> & bring snacks"),
            ("Confidence", "0.9234"),
        ],
    )
    .await;
    assert_eq!(
        body,
        format!("{XML}<Response><Say>Thank you. Goodbye.</Say><Hangup/></Response>")
    );
    let inbox = e.store.inbox(&Default::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    let m = &inbox[0].message;
    assert_eq!(m.channel, Channel::Voice);
    assert_eq!(m.provider_sid, SID);
    assert_eq!(m.body, "Call me back <tomorrow> & bring snacks");
    assert_eq!((m.from.as_str(), m.to.as_str()), (FRIEND, OURS));
    assert_eq!(
        m.extra.get("Confidence").map(String::as_str),
        Some("0.9234")
    );
    assert_eq!(m.extra.get("CallSid").map(String::as_str), Some(SID));
    let rec = e.store.call(SID).await.unwrap().unwrap();
    assert_eq!(rec.transcript.len(), 1);
    assert_eq!(
        rec.transcript[0].speech.as_deref(),
        Some("Call me back <tomorrow> & bring snacks")
    );
    assert_eq!(rec.transcript[0].confidence, Some(0.9234));

    // The hang-up ends the session.
    assert_eq!(
        status_callback(&e.gw, SID, "completed", "17").await,
        StatusCode::OK
    );
    assert!(e.store.live_sessions().await.unwrap().is_empty());
    let rec = e.store.call(SID).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed);
    assert_eq!(rec.duration_secs, Some(17));
    let sources: Vec<_> = rec.history.iter().map(|h| (h.status, h.source)).collect();
    assert_eq!(
        sources,
        [
            (CallStatus::InProgress, StatusSource::Answer),
            (CallStatus::Completed, StatusSource::Callback)
        ]
    );
}

#[tokio::test]
async fn silence_gets_one_reprompt_then_the_closing() {
    let e = env(|b| b);
    ring(&e.gw, SID, FRIEND).await;
    let reprompt = format!(
        concat!(
            r#"{xml}<Response><Gather input="speech" action="{a}" speechTimeout="auto"><Say>Sorry, I didn&apos;t catch that. Please say it again.</Say></Gather>"#,
            r#"<Say>Thank you. Goodbye.</Say><Hangup/></Response>"#
        ),
        xml = XML,
        a = action(SID, "turn=1&amp;retry=1")
    );
    let q = format!("call={SID}&turn=1");
    assert_eq!(
        gather(&e.gw, SID, &q, &[("SpeechResult", "  ")]).await,
        reprompt
    );
    let q = format!("call={SID}&turn=1&retry=1");
    assert_eq!(
        gather(&e.gw, SID, &q, &[("SpeechResult", "")]).await,
        format!("{XML}<Response><Say>Thank you. Goodbye.</Say><Hangup/></Response>")
    );
    // A gather result the parser refuses (Confidence is not a number) is re-prompted, not
    // a 400 that the caller would hear as an application error.
    let q = format!("call={SID}&turn=1");
    assert_eq!(
        gather(
            &e.gw,
            SID,
            &q,
            &[("SpeechResult", "hi"), ("Confidence", "very")]
        )
        .await,
        reprompt
    );
    assert!(e.store.inbox(&Default::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn blocked_callers_are_rejected_and_recorded_without_a_session() {
    let e = env(|b| {
        b.inbound_policy(
            InboundPolicy::Allowlist,
            AllowList::parse(&[FRIEND.to_string()]).unwrap(),
        )
    });
    let body = ring(&e.gw, SID, STRANGER).await;
    assert_eq!(
        body,
        format!(r#"{XML}<Response><Reject reason="rejected"/></Response>"#)
    );
    let rec = e.store.call(SID).await.unwrap().unwrap();
    assert!(!rec.session);
    assert_eq!(
        rec.note.as_deref(),
        Some("rejected: sender is not in allowFrom")
    );
    assert!(e.store.live_sessions().await.unwrap().is_empty());

    // Voice off: every call is rejected, nothing recorded.
    let off = env(|b| b.voice(VoiceSettings::default()));
    assert_eq!(
        ring(&off.gw, SID, FRIEND).await,
        format!(r#"{XML}<Response><Reject reason="rejected"/></Response>"#)
    );
    assert!(off.store.call(SID).await.unwrap().is_none());
}

#[tokio::test]
async fn unknown_callers_hear_their_pairing_code_which_is_also_texted() {
    let e = env(|b| b);
    let body = ring(&e.gw, SID, STRANGER).await;
    let pending = e.gw.pending_pairings().await.unwrap();
    assert_eq!(pending.len(), 1);
    let code = &pending[0].code;
    let spelled: Vec<String> = code.chars().map(|c| c.to_string()).collect();
    assert_eq!(
        body,
        format!(
            "{XML}<Response><Say>Hello. This number only answers approved callers. Your pairing code is {}. We also sent it to you by text message. The owner of this number must approve it before your calls are answered. Goodbye.</Say><Hangup/></Response>",
            spelled.join(", ")
        )
    );
    // The code went to the outbox as an SMS to the caller.
    let queued = e
        .store
        .claim_outbound(OffsetDateTime::now_utc(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].message.to.to_string(), STRANGER);
    assert!(
        queued[0].message.body.contains(code.as_str()),
        "{}",
        queued[0].message.body
    );
    let rec = e.store.call(SID).await.unwrap().unwrap();
    assert!(!rec.session);
    assert_eq!(rec.note.as_deref(), Some("pairing: code spoken and texted"));

    // Calling again speaks the same code; no second SMS.
    let again = ring(&e.gw, "CA00000000000000000000000000000002", STRANGER).await;
    assert_eq!(
        again,
        format!(
            "{XML}<Response><Say>Hello. Your pairing request is waiting for the owner&apos;s approval. Your code is {}. Goodbye.</Say><Hangup/></Response>",
            spelled.join(", ")
        )
    );
    assert_eq!(e.store.outbox_len().await.unwrap(), 1);

    // Once approved, the caller gets through.
    e.gw.approve_pairing(code).await.unwrap();
    assert_eq!(
        ring(&e.gw, "CA00000000000000000000000000000003", STRANGER).await,
        greeting_twiml("CA00000000000000000000000000000003")
    );
}

#[tokio::test]
async fn over_the_session_limit_callers_hear_busy_and_outbound_calls_are_refused() {
    let e = env(|b| b.voice(VoiceSettings::enabled().max_concurrent_sessions(Some(1))));
    let a = "CA0000000000000000000000000000000a";
    let b = "CA0000000000000000000000000000000b";
    let c = "CA0000000000000000000000000000000c";
    assert_eq!(ring(&e.gw, a, FRIEND).await, greeting_twiml(a));
    assert_eq!(
        ring(&e.gw, b, FRIEND).await,
        format!(
            "{XML}<Response><Say>All our lines are busy right now. Please call again later.</Say><Hangup/></Response>"
        )
    );
    let rec = e.store.call(b).await.unwrap().unwrap();
    assert!(!rec.session);
    assert_eq!(
        rec.note.as_deref(),
        Some("busy: 1 calls live, the maxConcurrentSessions limit of 1")
    );
    // Outbound: refused before any API call.
    let err =
        e.gw.call(
            "+15550002222",
            CallAnswer::Response(VoiceResponse::new().say("hi")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::TooManySessions { live: 1, max: 1 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "1 calls are live, the maxConcurrentSessions limit of 1: the call was not placed"
    );
    assert!(e.provider.placed.lock().unwrap().is_empty());
    // The first call ends: the slot is free again.
    assert_eq!(
        status_callback(&e.gw, a, "completed", "5").await,
        StatusCode::OK
    );
    assert_eq!(ring(&e.gw, c, FRIEND).await, greeting_twiml(c));
}

#[tokio::test]
async fn outbound_calls_get_the_status_callback_and_time_limit_and_a_failed_create_is_recorded() {
    let e = env(|b| b.voice(VoiceSettings::enabled().max_duration(Some(Duration::from_secs(300)))));
    let rec =
        e.gw.call(
            "+1 (555) 000-2222",
            CallAnswer::Response(VoiceResponse::new().say("Your table is ready")),
        )
        .await
        .unwrap();
    assert_eq!(rec.call_id, "CAout00000000000000000000000000001");
    assert_eq!(
        (rec.status, rec.direction),
        (CallStatus::Queued, CallDirection::Outbound)
    );
    assert!(rec.session);
    let placed = e.provider.placed.lock().unwrap()[0].clone();
    assert_eq!(placed.to, "+15550002222");
    assert_eq!(
        placed.status_callback.as_deref(),
        Some("https://voice.example.com/telephony/status")
    );
    assert_eq!(placed.time_limit_secs, Some(300));
    assert_eq!(e.store.live_sessions().await.unwrap().len(), 1);

    // A callback moves it forward; a late, lower one does not move it back.
    let sid = rec.call_id.clone();
    assert_eq!(
        status_callback(&e.gw, &sid, "in-progress", "0").await,
        StatusCode::OK
    );
    assert_eq!(
        status_callback(&e.gw, &sid, "ringing", "0").await,
        StatusCode::OK
    );
    assert_eq!(
        e.store.call(&sid).await.unwrap().unwrap().status,
        CallStatus::InProgress
    );

    *e.provider.place_error.lock().unwrap() = Some(
        ProviderError::api(
            "twilio",
            400,
            "The 'To' number +15550003333 is not a valid phone number.",
        )
        .with_code(21211),
    );
    let err =
        e.gw.call(
            "+15550003333",
            CallAnswer::Url("https://x.example/twiml".into()),
        )
        .await
        .unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    let calls = e.store.calls(&Default::default()).await.unwrap();
    let failed = calls.last().unwrap();
    assert_eq!(failed.status, CallStatus::Failed);
    assert!(!failed.is_live_session());
    assert!(
        failed.note.as_deref().unwrap().contains("21211"),
        "{:?}",
        failed.note
    );

    let bad =
        e.gw.call("555-0000", CallAnswer::Url("https://x.example".into()))
            .await
            .unwrap_err();
    assert!(matches!(bad, CallError::InvalidNumber { .. }), "{bad:?}");
    let off = env(|b| b.voice(VoiceSettings::default()));
    assert!(matches!(
        off.gw
            .call(FRIEND, CallAnswer::Url("https://x.example".into()))
            .await,
        Err(CallError::Disabled)
    ));
}

#[tokio::test]
async fn a_handler_answers_each_turn_and_its_gathers_come_back_to_the_gateway() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let e = env(move |b| {
        b.voice_handler(move |event: CallEvent, call: CallContext| {
            let log = log.clone();
            async move {
                let r = match &event {
                    CallEvent::Incoming(c) => {
                        log.lock().unwrap().push(format!(
                            "incoming {} turn {}",
                            c.from,
                            call.turn()
                        ));
                        VoiceResponse::new().gather(
                            call.gather()
                                .dtmf()
                                .num_digits(1)
                                .say(call.say("Say sales or press 1.")),
                        )
                    }
                    CallEvent::Gather { speech, digits, .. } => {
                        log.lock().unwrap().push(format!(
                            "gather {:?} {:?} {:?} turn {}",
                            speech.as_ref().map(|s| s.text.clone()),
                            speech.as_ref().and_then(|s| s.confidence),
                            digits,
                            call.turn()
                        ));
                        VoiceResponse::new()
                            .say("Connecting you to sales.")
                            .hangup()
                    }
                    other => {
                        log.lock()
                            .unwrap()
                            .push(format!("other {}", other.call_id()));
                        VoiceResponse::new()
                    }
                };
                Ok::<_, HandlerError>(r)
            }
        })
    });
    assert_eq!(
        ring(&e.gw, SID, FRIEND).await,
        format!(
            r#"{XML}<Response><Gather input="dtmf speech" action="{}" speechTimeout="auto" numDigits="1"><Say>Say sales or press 1.</Say></Gather></Response>"#,
            action(SID, "turn=1")
        )
    );
    let q = format!("call={SID}&turn=1");
    assert_eq!(
        gather(
            &e.gw,
            SID,
            &q,
            &[
                ("Digits", "1"),
                ("SpeechResult", "sales please"),
                ("Confidence", "0.5")
            ]
        )
        .await,
        format!("{XML}<Response><Say>Connecting you to sales.</Say><Hangup/></Response>")
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            format!("incoming {FRIEND} turn 0"),
            r#"gather Some("sales please") Some(0.5) Some("1") turn 1"#.to_string()
        ]
    );
    // Status events reach the handler too (its answer is not used).
    assert_eq!(
        status_callback(&e.gw, SID, "completed", "9").await,
        StatusCode::OK
    );
    for _ in 0..50 {
        if seen.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen.lock().unwrap()[2], format!("other {SID}"));
}

#[tokio::test]
async fn a_late_handler_puts_the_caller_on_hold_and_its_answer_is_served_on_the_redirect() {
    let e = env(|b| {
        b.voice(VoiceSettings::enabled().handler_timeout(Duration::from_millis(100)))
            .voice_handler(|event: CallEvent, _call: CallContext| async move {
                if let CallEvent::Incoming(_) = event {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                Ok::<_, HandlerError>(
                    VoiceResponse::new()
                        .say("Sorry to keep you waiting.")
                        .hangup(),
                )
            })
    });
    assert_eq!(
        ring(&e.gw, SID, FRIEND).await,
        format!(
            r#"{XML}<Response><Pause length="1"/><Redirect method="POST">{}</Redirect></Response>"#,
            action(SID, "hold=1")
        )
    );
    // The redirect (Twilio posts the call parameters back) waits for the late answer.
    let q = format!("call={SID}&hold=1");
    assert_eq!(
        gather(&e.gw, SID, &q, &[]).await,
        format!("{XML}<Response><Say>Sorry to keep you waiting.</Say><Hangup/></Response>")
    );
    // It is served once.
    assert_eq!(e.store.take_pending_answer(SID).await.unwrap(), None);
}

#[tokio::test]
async fn a_handler_that_never_answers_gets_three_holds_then_an_apology() {
    let e = env(|b| {
        b.voice(VoiceSettings::enabled().handler_timeout(Duration::from_millis(30)))
            .voice_handler(|_event: CallEvent, _call: CallContext| async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, HandlerError>(VoiceResponse::new())
            })
    });
    ring(&e.gw, SID, FRIEND).await;
    for n in 1..3 {
        let q = format!("call={SID}&hold={n}");
        assert_eq!(
            gather(&e.gw, SID, &q, &[]).await,
            format!(
                r#"{XML}<Response><Pause length="1"/><Redirect method="POST">{}</Redirect></Response>"#,
                action(SID, &format!("hold={}", n + 1))
            )
        );
    }
    let q = format!("call={SID}&hold=3");
    assert_eq!(
        gather(&e.gw, SID, &q, &[]).await,
        format!(
            "{XML}<Response><Say>Sorry, something went wrong. Please call again later. Goodbye.</Say><Hangup/></Response>"
        )
    );
}

#[tokio::test]
async fn handler_errors_and_panics_end_the_call_politely() {
    let e = env(|b| {
        b.voice_handler(|event: CallEvent, _call: CallContext| async move {
            match event {
                CallEvent::Incoming(c) if c.from == FRIEND => {
                    Err::<VoiceResponse, HandlerError>("model unavailable".into())
                }
                _ => panic!("handler bug"),
            }
        })
    });
    let apology = format!(
        "{XML}<Response><Say>Sorry, something went wrong. Please call again later. Goodbye.</Say><Hangup/></Response>"
    );
    assert_eq!(ring(&e.gw, SID, FRIEND).await, apology);
    let q = format!("call={SID}&turn=1");
    assert_eq!(gather(&e.gw, SID, &q, &[("Digits", "9")]).await, apology);
}

#[tokio::test]
async fn spoken_text_cannot_inject_twiml() {
    let e = env(|b| {
        b.voice(
            VoiceSettings::enabled()
                .greeting("Hi</Say><Dial>+15559999999</Dial><Say> & ]]> \u{7}bye")
                .voice("alice\" loop=\"9"),
        )
    });
    let body = ring(&e.gw, SID, FRIEND).await;
    assert!(
        body.contains(r#"<Say voice="alice&quot; loop=&quot;9">Hi&lt;/Say&gt;&lt;Dial&gt;+15559999999&lt;/Dial&gt;&lt;Say&gt; &amp; ]]&gt; bye</Say>"#),
        "{body}"
    );
    assert!(!body.contains("<Dial>"), "{body}");
}

#[tokio::test]
async fn status_for_an_unknown_call_is_recorded_and_acknowledged_and_bad_signatures_change_nothing()
{
    let e = env(|b| b);
    assert_eq!(
        status_callback(&e.gw, "CAnobody0000000000000000000000000", "completed", "3").await,
        StatusCode::OK
    );
    let orphans = e.store.orphan_call_statuses(10).await.unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(
        (orphans[0].call_id.as_str(), orphans[0].status),
        ("CAnobody0000000000000000000000000", CallStatus::Completed)
    );

    let owned: Vec<(String, String)> = call_params(SID, FRIEND, "ringing")
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let wrong = RequestValidator::new("00000000000000000000000000000000")
        .compute(&format!("{PUBLIC}/telephony/webhook"), &owned);
    let req = Request::post("/telephony/webhook")
        .header("content-type", FORM)
        .header("x-twilio-signature", wrong)
        .body(Body::from(serde_urlencoded::to_string(&owned).unwrap()))
        .unwrap();
    let (status, _, _) = send(&e.gw, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(e.store.call(SID).await.unwrap().is_none());
    assert!(e.gw.pending_pairings().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_reaper_asks_the_provider_and_never_ends_a_live_call() {
    let e = env(|b| b);
    let live = "CA000000000000000000000000000live1";
    let gone = "CA000000000000000000000000000gone1";
    let flaky = "CA00000000000000000000000000flaky";
    for sid in [live, gone, flaky] {
        ring(&e.gw, sid, FRIEND).await;
    }
    e.provider.says(live, Ok(CallStatus::InProgress));
    e.provider.says(gone, Ok(CallStatus::Completed));
    e.provider.says(flaky, Err(503));
    e.gw.check_sessions().await;
    let ids: Vec<String> = e
        .store
        .live_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(ids, [live, flaky]);
    let rec = e.store.call(gone).await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.duration_secs),
        (CallStatus::Completed, Some(42))
    );
    assert_eq!(rec.history.last().unwrap().source, StatusSource::Reaper);
    assert!(e.provider.hung_up.lock().unwrap().is_empty());

    // A call the provider does not know (404) cannot be live.
    e.provider.fetched.lock().unwrap().remove(flaky);
    e.gw.check_sessions().await;
    let ids: Vec<String> = e
        .store
        .live_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(ids, [live]);
    assert_eq!(
        e.store.call(flaky).await.unwrap().unwrap().note.as_deref(),
        Some("the provider does not know this call (404)")
    );
}

#[tokio::test]
async fn after_a_restart_stale_sessions_are_reconciled_and_hold_no_slot() {
    let store = Arc::new(MemoryStore::new());
    // A session left by the previous run (its completed callback arrived while down).
    let long_ago = OffsetDateTime::now_utc() - time::Duration::hours(3);
    store
        .begin_call(
            &NewCall {
                call_id: "CA0000000000000000000000000stale1".into(),
                direction: CallDirection::Inbound,
                from: FRIEND.into(),
                to: OURS.into(),
                status: CallStatus::InProgress,
                source: StatusSource::Answer,
                session: true,
                at: long_ago,
                note: None,
            },
            None,
        )
        .await
        .unwrap();
    let e = env_with(store, |b| {
        b.voice(
            VoiceSettings::enabled()
                .max_concurrent_sessions(Some(1))
                .max_duration(None),
        )
    });
    e.provider.says(
        "CA0000000000000000000000000stale1",
        Ok(CallStatus::Completed),
    );
    let workers = e.gw.spawn_workers();
    for _ in 0..100 {
        if e.store.live_sessions().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(e.store.live_sessions().await.unwrap().is_empty());
    assert_eq!(ring(&e.gw, SID, FRIEND).await, greeting_twiml(SID));
    workers.shutdown().await;
}

#[tokio::test]
async fn inbound_calls_past_the_duration_limit_are_hung_up_through_the_api() {
    let store = Arc::new(MemoryStore::new());
    let answered = OffsetDateTime::now_utc() - time::Duration::seconds(301);
    store
        .begin_call(
            &NewCall {
                call_id: "CA00000000000000000000000000long1".into(),
                direction: CallDirection::Inbound,
                from: FRIEND.into(),
                to: OURS.into(),
                status: CallStatus::InProgress,
                source: StatusSource::Answer,
                session: true,
                at: answered,
                note: None,
            },
            None,
        )
        .await
        .unwrap();
    let e = env_with(store, |b| {
        b.voice(VoiceSettings::enabled().max_duration(Some(Duration::from_secs(300))))
    });
    ring(&e.gw, SID, FRIEND).await;
    e.provider.says(
        "CA00000000000000000000000000long1",
        Ok(CallStatus::InProgress),
    );
    e.provider.says(SID, Ok(CallStatus::InProgress));
    e.gw.check_sessions().await;
    assert_eq!(
        *e.provider.hung_up.lock().unwrap(),
        ["CA00000000000000000000000000long1"]
    );
    let rec = e
        .store
        .call("CA00000000000000000000000000long1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.note.as_deref(),
        Some("hung up: voice.maxDurationSeconds reached")
    );
    // Asked once: the next pass does not hang it up again.
    e.gw.check_sessions().await;
    assert_eq!(e.provider.hung_up.lock().unwrap().len(), 1);
}

/// Setters do not undo each other: a voice handler turns voice on whether `.voice(..)`
/// (with `enabled: false`, the default) comes before or after it, and the settings given
/// are kept either way.
#[tokio::test]
async fn voice_handler_and_voice_settings_in_either_order_keep_voice_on() {
    let handler = |_: CallEvent, call: CallContext| async move {
        Ok::<_, HandlerError>(VoiceResponse::new().say(call.say("From the handler.")))
    };
    let settings = VoiceSettings::default().greeting("Hi there.");
    let builder = || {
        let allow = AllowList::parse(&[FRIEND.to_string()]).unwrap();
        Gateway::builder(Arc::new(Scripted::new()), Arc::new(MemoryStore::new()))
            .public_url(PUBLIC)
            .inbound_policy(InboundPolicy::Pairing, allow)
    };
    let handler_first = builder()
        .voice_handler(handler)
        .voice(settings.clone())
        .build();
    let settings_first = builder()
        .voice(settings.clone())
        .voice_handler(handler)
        .build();
    for gw in [handler_first, settings_first] {
        assert!(
            gw.voice_settings().enabled,
            "a voice handler turns voice on"
        );
        assert_eq!(gw.voice_settings().greeting, "Hi there.");
        // Calls reach the handler instead of being rejected.
        let twiml = ring(&gw, "CA_order", FRIEND).await;
        assert!(twiml.contains("From the handler."), "{twiml}");
        assert!(!twiml.contains("<Reject"), "{twiml}");
    }
    // Without a handler, `.voice(..)` decides alone.
    let off = builder().voice(settings).build();
    assert!(!off.voice_settings().enabled);
}
