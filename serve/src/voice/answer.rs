//! Answering voice webhooks: policy, sessions, the handler (with its deadline and hold),
//! the default flow, and call status callbacks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_core::store::{
    BeginOutcome, CallStatusOutcome, CallTurn, NewCall, PendingAnswer, StatusSource,
};
use telephony_core::voice::{
    Call, CallDirection, CallEvent, CallStatus, CallStatusUpdate, Redirect, RejectReason,
    RelayVerb, Session, SessionChannel, SessionState, SpeechResult, StreamVerb, TransferOutcome,
    Verb, VoiceResponse,
};
use telephony_core::{
    Admission, Channel, InboundMessage, InsertOutcome, MessageId, PhoneNumber, Unlisted,
    error_chain,
};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::token::{TOKEN_PARAM, TOKEN_TTL, new_token, token_hash};
use super::update_epochs;
use super::{AnswerCalls, Turn, VoiceMode, fill_actions, url_encode};
use crate::gateway::Gateway;
use crate::sender_policy::Pairing;

/// Holds a caller gets while a late handler works, before the call is ended politely.
const MAX_HOLDS: u32 = 3;
pub(crate) const APOLOGY: &str = "Sorry, something went wrong. Please call again later. Goodbye.";

/// The gateway's own query parameters on a call's URLs (covered by the signature).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CallParams {
    /// The call the URL was made for.
    pub(crate) call: Option<String>,
    /// The turn the gather result belongs to.
    pub(crate) turn: u32,
    /// Re-prompts already given in this turn.
    pub(crate) retry: u32,
    /// Holds already given while a late handler works.
    pub(crate) hold: Option<u32>,
    /// The target of the transfer whose outcome this request reports.
    pub(crate) xfer: Option<String>,
    /// On a hold's redirect: the update epoch the late handler's turn started under
    /// (absent from a query: 0; `None`: unknown, [`UNCHECKED`], or no query).
    pub(crate) epoch: Option<u64>,
}

impl CallParams {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let mut p = CallParams::default();
        let Some(q) = query else { return p };
        p.epoch = Some(0);
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        for (k, v) in pairs {
            match k.as_str() {
                "call" => p.call = Some(v),
                "turn" => p.turn = v.parse().unwrap_or(0),
                "retry" => p.retry = v.parse().unwrap_or(0),
                "hold" => p.hold = v.parse().ok(),
                "xfer" => p.xfer = Some(v),
                "epoch" => p.epoch = v.parse().ok(),
                _ => {}
            }
        }
        p
    }
}

/// Where a call's URLs point: the URL the provider used for this request, without its
/// query (or the configured one when signatures are not checked).
pub(crate) fn base_url(gw: &Gateway, signed_url: &str) -> String {
    if !signed_url.is_empty() {
        return signed_url
            .split('?')
            .next()
            .unwrap_or(signed_url)
            .to_string();
    }
    gw.voice_url()
        .unwrap_or_else(|| gw.webhook_path().to_string())
}

pub(crate) fn call_url(base: &str, call_id: &str, extra: &str) -> String {
    let id: String = url_encode(call_id);
    if extra.is_empty() {
        format!("{base}?call={id}")
    } else {
        format!("{base}?call={id}&{extra}")
    }
}

/// Renders a voice answer in the provider's language (TwiML for Twilio).
pub(crate) fn render(gw: &Gateway, response: &VoiceResponse) -> Response {
    match gw.provider().render_voice(response) {
        Ok(answer) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, answer.content_type)],
            answer.body,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(provider = gw.provider().name(), error = %e, "cannot answer a call");
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{e}\n"),
            )
                .into_response()
        }
    }
}

pub(crate) fn goodbye(gw: &Gateway, text: &str) -> VoiceResponse {
    VoiceResponse::new()
        .say(gw.voice_settings().say(text))
        .hangup()
}

/// What the gateway answers a call with: a response to render (or run), or one already
/// rendered (a late handler's answer, kept in the store).
pub(crate) enum Answer {
    /// A response, in the neutral form.
    Respond(VoiceResponse),
    /// A rendering kept earlier ([`PendingAnswer`]).
    Rendered(PendingAnswer),
    /// Nothing to carry out: a live update of the call came while its handler worked out
    /// this answer (see [`super::update_epochs`]); the event is only acknowledged.
    Superseded,
}

impl From<VoiceResponse> for Answer {
    fn from(r: VoiceResponse) -> Self {
        Answer::Respond(r)
    }
}

fn rendered(answer: PendingAnswer) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}

/// Answers a call's request (a new call, a gather result, a redirect) in the webhook's
/// answer (a markup provider; [`super::commands`] runs them for a commands provider).
pub(crate) async fn answer_call(
    gw: &Gateway,
    event: CallEvent,
    signed_url: &str,
    query: Option<&str>,
) -> Response {
    let base = base_url(gw, signed_url);
    let call_id = event.call_id().to_string();
    match decide(gw, event, &base, query).await {
        Ok(Answer::Respond(response)) => {
            render(gw, &connect_realtime(gw, &call_id, &base, response).await)
        }
        Ok(Answer::Rendered(answer)) => rendered(answer),
        Ok(Answer::Superseded) => {
            // The update replaced the call's instructions at the provider: acknowledge.
            let ack = gw.provider().webhook_ack();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, ack.content_type)],
                ack.body,
            )
                .into_response()
        }
        Err(response) => response,
    }
}

/// What to answer a call's event with (`Err`: an HTTP answer instead, for a status event
/// that could not be stored). Streams and relays are not connected yet.
pub(crate) async fn decide(
    gw: &Gateway,
    event: CallEvent,
    base: &str,
    query: Option<&str>,
) -> Result<Answer, Response> {
    if !gw.voice_settings().enabled {
        tracing::info!(call_sid = %event.call_id(), "rejected a call: voice.enabled is false");
        return Ok(VoiceResponse::new().reject(RejectReason::Rejected).into());
    }
    let params = CallParams::parse(query);
    let call_id = event.call_id().to_string();
    let is_incoming = matches!(event, CallEvent::Incoming(_));
    let answer: Answer = match event {
        CallEvent::Incoming(call) => incoming(gw, call, base).await,
        CallEvent::Gather {
            call,
            speech,
            digits,
        } => gathered(gw, call, speech, digits, &params, base).await,
        CallEvent::Progress(call) => match params.hold {
            Some(n) => held(gw, &call.call_id, n, params.epoch, base).await,
            None => progress(gw, call, &params, base).await,
        },
        CallEvent::Transfer {
            call,
            outcome,
            target_call_id,
        } => transferred(gw, call, outcome, target_call_id, &params, base).await,
        CallEvent::Status(update) => {
            // Statuses arrive on the status path, but a provider may post them anywhere.
            call_status(gw, update).await?;
            VoiceResponse::new().hangup().into()
        }
        other => {
            tracing::warn!(call_sid = %other.call_id(), "a call event the gateway does not know; hanging up");
            VoiceResponse::new().hangup().into()
        }
    };
    Ok(match answer {
        Answer::Respond(r) => Answer::Respond(prepare_recordings(gw, r, &call_id, is_incoming)),
        kept => kept,
    })
}

/// Points the response's streams and relays without a URL at the gateway's own routes,
/// each with a one-time token for this call (kept hashed in the store). Without the
/// handler to take the socket, the caller hears an apology instead.
pub(crate) async fn connect_realtime(
    gw: &Gateway,
    call_id: &str,
    base: &str,
    mut response: VoiceResponse,
) -> VoiceResponse {
    let origin = ws_origin(base);
    let stream_path = gw.shared().stream_path().to_string();
    let voice = gw.voice();
    let mut tokens = Vec::new();
    let mut early_stream = false;
    let mut early_relay = false;
    for verb in response.verbs_mut() {
        match verb {
            Verb::Stream(v) if v.url.is_none() => early_stream = true,
            Verb::Relay(v) if v.url.is_none() => early_relay = true,
            _ => {}
        }
        let (params, url, path, has_handler, kind) = match verb {
            Verb::Stream(v) if v.url.is_none() => (
                &mut v.parameters,
                &mut v.url,
                stream_path.clone(),
                voice.stream_handler().is_some() || voice.settings().stream_url.is_some(),
                "stream",
            ),
            Verb::Relay(v) if v.url.is_none() => (
                &mut v.parameters,
                &mut v.url,
                format!("{stream_path}/relay"),
                voice.relay_handler().is_some(),
                "relay",
            ),
            _ => continue,
        };
        if !has_handler {
            tracing::error!(call_sid = %call_id, kind, "the call was answered with a {kind} but the gateway has no {kind} handler; ending the call");
            return goodbye(gw, APOLOGY);
        }
        let token = new_token();
        tokens.push(token_hash(&token));
        *url = Some(format!("{origin}{path}"));
        params.push((TOKEN_PARAM.to_string(), token));
    }
    let expires = now() + TOKEN_TTL;
    for hash in tokens {
        if let Err(e) = gw.store().put_stream_token(call_id, &hash, expires).await {
            tracing::error!(call_sid = %call_id, error = %error_chain(&e), "could not keep a stream token; ending the call");
            return goodbye(gw, APOLOGY);
        }
    }
    if voice.settings().preconnect {
        preconnect(gw, call_id, early_stream, early_relay).await;
    }
    response
}

/// Faster first words ([`super::preconnect`]): opens the application's side of the
/// call's stream (the bridge's WebSocket, or the Rust handler's
/// [`prepare`](crate::StreamHandler::prepare)) or relay (the handler's
/// [`prepare`](crate::RelayHandler::prepare)) while the webhook is answered.
async fn preconnect(gw: &Gateway, call_id: &str, stream: bool, relay: bool) {
    let voice = gw.voice();
    let stream_handler = voice.stream_handler().filter(|_| stream);
    if stream && stream_handler.is_none() {
        if let Some(url) = &voice.settings().stream_url {
            voice.preconnects().start(call_id, url);
        }
    }
    let relay_handler = voice.relay_handler().filter(|_| relay);
    if stream_handler.is_none() && relay_handler.is_none() {
        return;
    }
    let call = match gw.store().call(call_id).await {
        Ok(Some(call)) => call,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(call_sid = %call_id, error = %error_chain(&e), "could not read the call to prepare its real-time handler");
            return;
        }
    };
    if let Some(h) = stream_handler {
        h.prepare(&call).await;
    }
    if let Some(h) = relay_handler {
        h.prepare(&call).await;
    }
}

/// `https://host/path` → `wss://host`; `http://…` → `ws://…` (loopback tests).
fn ws_origin(base: &str) -> String {
    let (scheme, rest) = if let Some(r) = base.strip_prefix("https://") {
        ("wss://", r)
    } else if let Some(r) = base.strip_prefix("http://") {
        ("ws://", r)
    } else {
        return String::new();
    };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}{host}")
}

/// A gather result the provider's parser refused (e.g. a `Confidence` that is not a
/// number) on one of the gateway's own call URLs: the caller is asked again instead of
/// hearing an application error.
pub(crate) fn malformed_gather(
    gw: &Gateway,
    signed_url: &str,
    query: Option<&str>,
) -> Option<Response> {
    let params = CallParams::parse(query);
    let call_id = params.call.clone()?;
    if !gw.voice_settings().enabled {
        return None;
    }
    let base = base_url(gw, signed_url);
    Some(render(gw, &reprompt(gw, &call_id, &params, &base)))
}

/// Asks again once per turn, then closes.
fn reprompt(gw: &Gateway, call_id: &str, params: &CallParams, base: &str) -> VoiceResponse {
    let v = gw.voice_settings();
    if params.retry >= 1 {
        return goodbye(gw, &v.closing);
    }
    let action = call_url(
        base,
        call_id,
        &format!("turn={}&retry=1", params.turn.max(1)),
    );
    VoiceResponse::new()
        .gather(v.speech_gather(&action).say(v.say(&v.reprompt)))
        .say(v.say(&v.closing))
        .hangup()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Records a call the gateway refused or only talked to (no session slot).
async fn record_refused(gw: &Gateway, call: &Call, note: String) {
    let new = NewCall {
        call_id: call.call_id.clone(),
        direction: call.direction,
        from: call.from.clone(),
        to: call.to.clone(),
        status: call.status,
        source: StatusSource::Webhook,
        session: false,
        at: now(),
        note: Some(note),
    };
    if let Err(e) = gw.store().begin_call(&new, None).await {
        tracing::error!(call_sid = %call.call_id, error = %error_chain(&e), "could not record a refused call");
    }
}

fn spell(code: &str) -> String {
    code.chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn refuse(gw: &Gateway, call: &Call, why: String) -> VoiceResponse {
    tracing::info!(call_sid = %call.call_id, reason = %why, "call rejected by the inbound policy");
    record_refused(gw, call, format!("rejected: {why}")).await;
    VoiceResponse::new().reject(RejectReason::Rejected)
}

async fn incoming(gw: &Gateway, call: Call, base: &str) -> Answer {
    let voice = gw.voice_settings();
    let sender = PhoneNumber::parse(&call.from).ok();
    let admission = gw.dispatch().policy().policy().admit(sender.as_ref());
    match admission {
        Admission::Accept => {}
        Admission::Block(why) => return refuse(gw, &call, why).await.into(),
        Admission::IfApproved(unlisted) => {
            let Some(n) = sender.clone() else {
                return refuse(gw, &call, "the caller is not a phone number".into())
                    .await
                    .into();
            };
            match gw.store().is_approved_sender(&n).await {
                Ok(true) => {}
                Ok(false) => match unlisted {
                    Unlisted::Pair => return pairing_call(gw, &call, &n).await.into(),
                    Unlisted::Block(why) => return refuse(gw, &call, why).await.into(),
                    _ => {
                        return refuse(gw, &call, "the policy refused the caller".into())
                            .await
                            .into();
                    }
                },
                Err(e) => {
                    tracing::error!(call_sid = %call.call_id, error = %error_chain(&e), "policy lookup failed; ending the call");
                    return goodbye(gw, APOLOGY).into();
                }
            }
        }
        _ => {
            return refuse(gw, &call, "the policy refused the caller".into())
                .await
                .into();
        }
    }

    let at = now();
    let new = NewCall {
        call_id: call.call_id.clone(),
        direction: call.direction,
        from: call.from.clone(),
        to: call.to.clone(),
        // The gateway's answer connects the call.
        status: CallStatus::InProgress,
        source: StatusSource::Answer,
        session: true,
        at,
        note: None,
    };
    let max = voice.max_concurrent_sessions;
    let (started_at, epoch) = match gw.store().begin_call(&new, max).await {
        Ok(BeginOutcome::Started(rec)) => {
            tracing::info!(call_sid = %call.call_id, from = %redact(&call.from), "call answered, session started");
            (rec.started_at, rec.update_epoch)
        }
        Ok(BeginOutcome::Existing(rec)) => {
            tracing::info!(call_sid = %call.call_id, "repeated request for a known call");
            (rec.started_at, rec.update_epoch)
        }
        Ok(BeginOutcome::Full { live, .. }) => {
            let note = format!(
                "busy: {live} calls live, the maxConcurrentSessions limit of {}",
                max.unwrap_or(live)
            );
            tracing::warn!(call_sid = %call.call_id, live, "call refused: maxConcurrentSessions reached");
            if let Err(e) = gw.store().set_call_note(&call.call_id, &note).await {
                tracing::error!(call_sid = %call.call_id, error = %error_chain(&e), "could not record why a call was refused");
            }
            return goodbye(gw, &voice.busy_message.clone()).into();
        }
        Err(e) => {
            tracing::error!(call_sid = %call.call_id, error = %error_chain(&e), "could not start a session; ending the call");
            return goodbye(gw, APOLOGY).into();
        }
    };
    let session = session_of(&call, started_at);
    let action = call_url(base, &call.call_id, "turn=1");
    match gw.voice().handler() {
        Some(h) => {
            let ctx = Turn {
                gateway: gw.clone(),
                session,
                action_url: action,
                turn: 0,
            };
            ask(gw, h, CallEvent::Incoming(call), ctx, base, Some(epoch)).await
        }
        None if voice.mode == VoiceMode::Relay => default_relay(gw).into(),
        None if voice.mode == VoiceMode::Stream => {
            let v = voice;
            VoiceResponse::new()
                .stream(StreamVerb::new())
                .say(v.say(&v.closing))
                .hangup()
                .into()
        }
        None => default_greeting(gw, &call.call_id, base).into(),
    }
}

/// `voice.mode: "relay"`: the greeting as the relay's welcome, then the relay handler.
fn default_relay(gw: &Gateway) -> VoiceResponse {
    let v = gw.voice_settings();
    let mut relay = RelayVerb::new()
        .welcome_greeting(v.greeting.clone())
        .interruptible(true)
        .dtmf_detection(true);
    if let Some(l) = &v.language {
        relay = relay.language(l.clone());
    }
    if let Some(x) = &v.voice {
        relay = relay.voice(x.clone());
    }
    VoiceResponse::new()
        .relay(relay)
        .say(v.say(&v.closing))
        .hangup()
}

fn redact(from: &str) -> String {
    PhoneNumber::parse(from)
        .map(|n| n.redacted().to_string())
        .unwrap_or_else(|_| "(not a number)".into())
}

fn session_of(call: &Call, started_at: OffsetDateTime) -> Session {
    voice_session(
        &call.call_id,
        call.direction,
        &call.from,
        &call.to,
        started_at,
        SessionState::Active,
    )
}

/// A call's session: the remote party is the callee of calls we placed, else the caller.
pub(crate) fn voice_session(
    call_id: &str,
    direction: CallDirection,
    from: &str,
    to: &str,
    started_at: OffsetDateTime,
    state: SessionState,
) -> Session {
    let remote = match direction {
        CallDirection::Outbound | CallDirection::Dialed => to,
        _ => from,
    };
    let mut s = Session::new(call_id, remote, SessionChannel::Voice, started_at);
    s.state = state;
    s
}

/// An unknown caller under `pairing`: the code is spoken (and texted when the request is
/// new), then the call ends.
async fn pairing_call(gw: &Gateway, call: &Call, n: &PhoneNumber) -> VoiceResponse {
    let (text, note) = match gw
        .dispatch()
        .policy()
        .pair(n, now(), &crate::sender_policy::Lookups::fresh())
        .await
    {
        Ok(Pairing::Created { code, sms_error }) => {
            let texted = if sms_error.is_none() {
                " We also sent it to you by text message."
            } else {
                ""
            };
            (
                format!(
                    "Hello. This number only answers approved callers. Your pairing code is {}.{texted} The owner of this number must approve it before your calls are answered. Goodbye.",
                    spell(&code)
                ),
                match sms_error {
                    None => "pairing: code spoken and texted".to_string(),
                    Some(e) => format!("pairing: code spoken; the code SMS was not sent: {e}"),
                },
            )
        }
        Ok(Pairing::Waiting(code)) => (
            format!(
                "Hello. Your pairing request is waiting for the owner's approval. Your code is {}. Goodbye.",
                spell(&code)
            ),
            "pairing: waiting for approval (code spoken again)".to_string(),
        ),
        Ok(Pairing::Limited(_)) => (
            "Hello. This number is not accepting new callers right now. Goodbye.".to_string(),
            "pairing: too many pairing requests; no code given".to_string(),
        ),
        Err(e) => {
            tracing::error!(call_sid = %call.call_id, error = %error_chain(&e), "pairing failed; ending the call");
            return goodbye(gw, APOLOGY);
        }
    };
    tracing::info!(call_sid = %call.call_id, caller = %n.redacted(), %note, "unknown caller");
    record_refused(gw, call, note).await;
    goodbye(gw, &text)
}

/// The default flow's first answer: the greeting and a speech gather, one re-prompt on
/// silence, then the closing.
fn default_greeting(gw: &Gateway, call_id: &str, base: &str) -> VoiceResponse {
    let v = gw.voice_settings();
    VoiceResponse::new()
        .gather(
            v.speech_gather(&call_url(base, call_id, "turn=1"))
                .say(v.say(&v.greeting)),
        )
        .gather(
            v.speech_gather(&call_url(base, call_id, "turn=1&retry=1"))
                .say(v.say(&v.reprompt)),
        )
        .say(v.say(&v.closing))
        .hangup()
}

async fn gathered(
    gw: &Gateway,
    call: Call,
    speech: Option<SpeechResult>,
    digits: Option<String>,
    params: &CallParams,
    base: &str,
) -> Answer {
    let speech = speech.filter(|s| !s.text.trim().is_empty());
    let digits = digits.filter(|d| !d.is_empty());
    let at = now();
    if speech.is_some() || digits.is_some() {
        let turn = CallTurn {
            at,
            speech: speech.as_ref().map(|s| s.text.clone()),
            confidence: speech.as_ref().and_then(|s| s.confidence),
            digits: digits.clone(),
        };
        match gw.store().add_call_turn(&call.call_id, &turn).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {
                tracing::info!(call_sid = %call.call_id, "gather result for a call without a record (placed elsewhere?)")
            }
            Err(e) => {
                tracing::error!(call_sid = %call.call_id, error = %error_chain(&e), "could not record a call turn")
            }
        }
    }
    match gw.voice().handler() {
        Some(h) => {
            let (started_at, epoch) = turn_start(gw, &call.call_id, at).await;
            let next = params.turn.saturating_add(1).max(1);
            let ctx = Turn {
                gateway: gw.clone(),
                session: session_of(&call, started_at),
                action_url: call_url(base, &call.call_id, &format!("turn={next}")),
                turn: params.turn.max(1),
            };
            let event = CallEvent::Gather {
                call,
                speech,
                digits,
            };
            ask(gw, h, event, ctx, base, epoch).await
        }
        None => {
            let text = match (&speech, &digits) {
                (Some(s), _) => s.text.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => return reprompt(gw, &call.call_id, params, base).into(),
            };
            store_transcript(
                gw,
                &call,
                text,
                speech.and_then(|s| s.confidence),
                digits,
                at,
            )
            .await
            .into()
        }
    }
}

/// The default flow keeps what the caller said in the inbox (channel `voice`), where it is
/// dispatched (and forwarded) like a text, then closes the call.
async fn store_transcript(
    gw: &Gateway,
    call: &Call,
    text: String,
    confidence: Option<f32>,
    digits: Option<String>,
    at: OffsetDateTime,
) -> VoiceResponse {
    let mut extra = BTreeMap::new();
    extra.insert("CallSid".to_string(), call.call_id.clone());
    if let Some(c) = confidence {
        extra.insert("Confidence".to_string(), c.to_string());
    }
    if let Some(d) = digits {
        extra.insert("Digits".to_string(), d);
    }
    let msg = InboundMessage {
        id: MessageId::generate(),
        provider_sid: call.call_id.clone(),
        account_sid: call.account.clone(),
        channel: Channel::Voice,
        from: call.from.clone(),
        to: call.to.clone(),
        body: text,
        media: Vec::new(),
        num_segments: None,
        received_at: at,
        extra,
    };
    match gw.store().insert_inbound(&msg).await {
        Ok(InsertOutcome::Inserted) => {
            tracing::info!(call_sid = %call.call_id, message_id = %msg.id, chars = msg.body.chars().count(), "call transcript stored");
            gw.dispatch().wake();
        }
        Ok(InsertOutcome::Duplicate) => {
            tracing::info!(call_sid = %call.call_id, "transcript already stored for this call");
        }
        Err(e) => {
            tracing::error!(call_sid = %call.call_id, error = %error_chain(&e), "could not store the call transcript");
            return goodbye(
                gw,
                "Sorry, we could not save your message. Please call again later. Goodbye.",
            );
        }
    }
    let v = gw.voice_settings();
    goodbye(gw, &v.closing)
}

async fn progress(gw: &Gateway, call: Call, params: &CallParams, base: &str) -> Answer {
    match gw.voice().handler() {
        Some(h) => {
            let (started_at, epoch) = turn_start(gw, &call.call_id, now()).await;
            let ctx = Turn {
                gateway: gw.clone(),
                session: session_of(&call, started_at),
                action_url: call_url(
                    base,
                    &call.call_id,
                    &format!("turn={}", params.turn.saturating_add(1).max(1)),
                ),
                turn: params.turn,
            };
            ask(gw, h, CallEvent::Progress(call), ctx, base, epoch).await
        }
        // A call fetching instructions with no turn of ours yet (an outbound call placed
        // with the gateway's URL): the default conversation.
        None => default_greeting(gw, &call.call_id, base).into(),
    }
}

/// What a handler's turn starts from: when the call started (`fallback` if the record
/// cannot be read) and its update epoch, read with the record the turn needs anyway.
/// `None` when the store failed: the turn's answer is then not checked against live
/// updates (logged), the fail-safe of [`super::update_epochs::superseded`]. A call
/// without a record (placed elsewhere) is at epoch 0: it cannot be updated before it
/// is recorded.
async fn turn_start(
    gw: &Gateway,
    call_id: &str,
    fallback: OffsetDateTime,
) -> (OffsetDateTime, Option<u64>) {
    match gw.store().call(call_id).await {
        Ok(Some(rec)) => (rec.started_at, Some(rec.update_epoch)),
        Ok(None) => (fallback, Some(0)),
        Err(e) => {
            tracing::warn!(call_sid = %call_id, error = %error_chain(&e), "could not read the call; its handler's answer is not checked against live updates");
            (fallback, None)
        }
    }
}

/// Asks the handler, within `voice.handlerTimeoutMs`. A late answer is kept in the store
/// and the caller hears a hold that comes back for it.
///
/// `epoch` is the call's update epoch when the turn started (`None`: unknown, nothing is
/// checked): an answer is dropped ([`Answer::Superseded`]) when a live update moved the
/// epoch meanwhile, one primary-key read just before it is delivered or kept.
async fn ask(
    gw: &Gateway,
    handler: Arc<dyn AnswerCalls<Gateway>>,
    event: CallEvent,
    ctx: Turn<Gateway>,
    base: &str,
    epoch: Option<u64>,
) -> Answer {
    let call_id = ctx.session.id.clone();
    let action = ctx.action_url.clone();
    let (tx, mut rx) = oneshot::channel::<VoiceResponse>();
    let gw2 = gw.clone();
    let id2 = call_id.clone();
    let base2 = base.to_string();
    tokio::spawn(async move {
        // Its own task, so a panicking handler is contained.
        let result = tokio::spawn(async move { handler.on_call_event(event, ctx).await }).await;
        let mut response = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(call_sid = %id2, error = %error_chain(e.as_ref()), "voice handler returned an error; ending the call");
                goodbye(&gw2, APOLOGY)
            }
            Err(e) => {
                tracing::error!(call_sid = %id2, error = %e, "voice handler panicked; ending the call");
                goodbye(&gw2, APOLOGY)
            }
        };
        fill_actions(&mut response, &action);
        if let Some(bad) = bad_dial_target(&response) {
            tracing::error!(call_sid = %id2, error = %bad, "the voice handler answered with a transfer to an invalid target; nothing dialed, ending the call");
            response = goodbye(&gw2, APOLOGY);
        }
        let response = prepare_recordings(&gw2, response, &id2, false);
        if let Err(response) = tx.send(response) {
            let store = gw2.store().as_ref();
            if let Some(e) = epoch {
                if update_epochs::superseded(store, &id2, e).await {
                    tracing::info!(call_sid = %id2, epoch = e, "a late handler answer came after a live update of the call; dropped");
                    return;
                }
            }
            let response = connect_realtime(&gw2, &id2, &base2, response).await;
            if !keep_late_answer(&gw2, &id2, &response).await {
                return;
            }
            // An update that came while the answer was being kept: take it back, so no
            // hold serves it (a hold that took it already checks the epoch itself).
            if let Some(e) = epoch {
                if update_epochs::superseded(store, &id2, e).await {
                    match store.take_pending_answer(&id2).await {
                        Ok(_) => {
                            tracing::info!(call_sid = %id2, epoch = e, "a late handler answer came after a live update of the call; dropped")
                        }
                        Err(err) => {
                            tracing::warn!(call_sid = %id2, epoch = e, error = %error_chain(&err), "could not take back a late answer overtaken by a live update; its hold checks the epoch")
                        }
                    }
                }
            }
        }
    });
    let deadline = gw.voice_settings().handler_timeout;
    let response = match tokio::time::timeout(deadline, &mut rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => goodbye(gw, APOLOGY),
        Err(_) => {
            rx.close();
            // It may have answered just as the deadline passed.
            match rx.try_recv() {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!(call_sid = %call_id, deadline_ms = deadline.as_millis() as u64, "voice handler missed its deadline; caller on hold");
                    hold(gw, &call_id, 1, base, epoch)
                }
            }
        }
    };
    if let Some(e) = epoch {
        if update_epochs::superseded(gw.store().as_ref(), &call_id, e).await {
            tracing::info!(call_sid = %call_id, epoch = e, "a handler answer came after a live update of the call; dropped");
            return Answer::Superseded;
        }
    }
    response.into()
}

/// The first `<Dial>` whose target is not an E.164 number or a `sip:` URI.
fn bad_dial_target(response: &VoiceResponse) -> Option<telephony_core::voice::TransferTargetError> {
    response.verbs().iter().find_map(|v| match v {
        Verb::Dial(d) => telephony_core::voice::transfer_target(&d.number).err(),
        _ => None,
    })
}

/// How a transfer went: noted on the call, then the handler says what comes next (by
/// default: nothing after an answered transfer; otherwise an apology and the closing).
async fn transferred(
    gw: &Gateway,
    call: Call,
    outcome: TransferOutcome,
    target_call_id: Option<String>,
    params: &CallParams,
    base: &str,
) -> Answer {
    let target = params.xfer.as_deref().unwrap_or("the transfer target");
    let note = format!("transfer to {target}: {outcome}");
    tracing::info!(call_sid = %call.call_id, %outcome, target_call_sid = target_call_id.as_deref().unwrap_or(""), "transfer outcome");
    if let Err(e) = gw.store().set_call_note(&call.call_id, &note).await {
        if !e.is_not_found() {
            tracing::warn!(call_sid = %call.call_id, error = %error_chain(&e), "could not note a transfer outcome on the call");
        }
    }
    match gw.voice().handler() {
        Some(h) => {
            let (started_at, epoch) = turn_start(gw, &call.call_id, now()).await;
            let next = params.turn.saturating_add(1).max(1);
            let ctx = Turn {
                gateway: gw.clone(),
                session: session_of(&call, started_at),
                action_url: call_url(base, &call.call_id, &format!("turn={next}")),
                turn: params.turn,
            };
            let event = CallEvent::Transfer {
                call,
                outcome,
                target_call_id,
            };
            ask(gw, h, event, ctx, base, epoch).await
        }
        None if outcome.is_answered() => VoiceResponse::new().hangup().into(),
        None => {
            let v = gw.voice_settings();
            goodbye(gw, &v.transfer_failed_message).into()
        }
    }
}

/// Keeps a late answer for the hold redirect; `true` when it was kept.
async fn keep_late_answer(gw: &Gateway, call_id: &str, response: &VoiceResponse) -> bool {
    let rendered = match gw.provider().render_voice(response) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(call_sid = %call_id, error = %e, "cannot render a late voice answer");
            return false;
        }
    };
    let answer = PendingAnswer {
        content_type: rendered.content_type.to_string(),
        body: String::from_utf8_lossy(&rendered.body).into_owned(),
    };
    match gw.store().set_pending_answer(call_id, &answer).await {
        Ok(()) => {
            tracing::info!(call_sid = %call_id, "late voice answer kept for the hold redirect");
            gw.voice().late_answer_kept();
            true
        }
        Err(e) => {
            tracing::error!(call_sid = %call_id, error = %error_chain(&e), "could not keep a late voice answer");
            false
        }
    }
}

/// The hold URL's `epoch` of a turn whose starting epoch is unknown (its answer is not
/// checked against live updates).
const UNCHECKED: &str = "unchecked";

/// A short pause, then back to the gateway for the late answer of the turn that started
/// under update epoch `epoch` (carried in the URL when not 0).
fn hold(gw: &Gateway, call_id: &str, n: u32, base: &str, epoch: Option<u64>) -> VoiceResponse {
    let _ = gw;
    let query = match epoch {
        Some(0) => format!("hold={n}"),
        Some(e) => format!("hold={n}&epoch={e}"),
        None => format!("hold={n}&epoch={UNCHECKED}"),
    };
    VoiceResponse::new()
        .pause(1)
        .redirect(Redirect::new(call_url(base, call_id, &query)).method(axum::http::Method::POST))
}

/// A hold's redirect: serves the late answer when it is there (waiting up to the handler
/// deadline), holds again, or after [`MAX_HOLDS`] ends the call politely. When a live
/// update came since the turn started (`epoch`), none of these: the update replaced the
/// call's instructions, and a late answer taken is dropped.
async fn held(gw: &Gateway, call_id: &str, n: u32, epoch: Option<u64>, base: &str) -> Answer {
    let answer = hold_or_serve(gw, call_id, n, epoch, base).await;
    if let Some(e) = epoch {
        if update_epochs::superseded(gw.store().as_ref(), call_id, e).await {
            tracing::info!(call_sid = %call_id, hold = n, epoch = e, "a hold's redirect came after a live update of the call; its late answer is dropped");
            return Answer::Superseded;
        }
    }
    answer
}

async fn hold_or_serve(
    gw: &Gateway,
    call_id: &str,
    n: u32,
    epoch: Option<u64>,
    base: &str,
) -> Answer {
    let deadline = tokio::time::Instant::now() + gw.voice_settings().handler_timeout;
    loop {
        let notified = gw.voice().late_answer();
        match gw.store().take_pending_answer(call_id).await {
            Ok(Some(answer)) => {
                tracing::info!(call_sid = %call_id, hold = n, "late voice answer served");
                return Answer::Rendered(answer);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(call_sid = %call_id, error = %error_chain(&e), "could not read a late voice answer");
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(left.min(Duration::from_millis(100))) => {}
        }
    }
    if n >= MAX_HOLDS {
        tracing::warn!(call_sid = %call_id, holds = n, "voice handler never answered; ending the call");
        return goodbye(gw, APOLOGY).into();
    }
    hold(gw, call_id, n + 1, base, epoch).into()
}

/// A call status callback: the session moves forward; a terminal status ends it. Unknown
/// calls are recorded and ignored. `Err` is the response to give instead of the ack.
pub(crate) async fn call_status(gw: &Gateway, update: CallStatusUpdate) -> Result<(), Response> {
    let outcome = gw
        .voice()
        .apply_call_status(
            &update.call_id,
            update.status,
            update.duration_secs,
            StatusSource::Callback,
        )
        .await;
    match outcome {
        Ok(CallStatusOutcome::Applied(rec)) => {
            if let Some(h) = gw.voice().handler() {
                let ctx = Turn {
                    gateway: gw.clone(),
                    session: voice_session(
                        &rec.call_id,
                        rec.direction,
                        &rec.from,
                        &rec.to,
                        rec.started_at,
                        if rec.status.is_terminal() {
                            SessionState::Ended
                        } else {
                            SessionState::Active
                        },
                    ),
                    action_url: gw.voice_url().unwrap_or_default(),
                    turn: 0,
                };
                let id = rec.call_id.clone();
                tokio::spawn(async move {
                    if let Err(e) = h.on_call_event(CallEvent::Status(update), ctx).await {
                        tracing::warn!(call_sid = %id, error = %error_chain(e.as_ref()), "voice handler failed on a status event");
                    }
                });
            }
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(call_sid = %update.call_id, error = %error_chain(&e), "could not store a call status");
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "could not store call status\n",
            )
                .into_response())
        }
    }
}

/// [`super::recordings::prepare`] with the gateway's `voice.record` settings and status URL.
fn prepare_recordings(
    gw: &Gateway,
    response: VoiceResponse,
    call_id: &str,
    incoming: bool,
) -> VoiceResponse {
    let settings = gw.voice_settings();
    let policy = super::recordings::RecordPolicy {
        record: settings.record,
        channels: settings.record_channels,
    };
    let status_url = gw.shared().status_callback_url();
    super::recordings::prepare(policy, status_url.as_deref(), response, call_id, incoming)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_params() {
        assert_eq!(CallParams::parse(None), CallParams::default());
        assert_eq!(
            CallParams::parse(Some("call=CA1&turn=2&retry=1")),
            CallParams {
                call: Some("CA1".into()),
                turn: 2,
                retry: 1,
                hold: None,
                xfer: None,
                epoch: Some(0),
            }
        );
        assert_eq!(
            CallParams::parse(Some("call=CA1&hold=3&other=x")).hold,
            Some(3)
        );
        let held = CallParams::parse(Some("call=CA1&hold=2&epoch=7"));
        assert_eq!((held.hold, held.epoch), (Some(2), Some(7)));
        assert_eq!(
            CallParams::parse(Some("hold=1&epoch=unchecked")).epoch,
            None
        );
        assert_eq!(CallParams::parse(Some("hold=1&epoch=-1")).epoch, None);
        assert_eq!(CallParams::parse(Some("turn=x")).turn, 0);
    }

    #[test]
    fn urls() {
        assert_eq!(
            call_url("https://gw.example.com/telephony/webhook", "CA1", "turn=1"),
            "https://gw.example.com/telephony/webhook?call=CA1&turn=1"
        );
        assert_eq!(call_url("/w", "a b&c", ""), "/w?call=a+b%26c");
        assert_eq!(spell("AB12"), "A, B, 1, 2");
        assert_eq!(
            ws_origin("https://gw.example.com:8443/telephony/webhook"),
            "wss://gw.example.com:8443"
        );
        assert_eq!(
            ws_origin("http://127.0.0.1:3335/telephony/webhook"),
            "ws://127.0.0.1:3335"
        );
    }
}
