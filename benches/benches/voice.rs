//! Criterion benchmarks of the voice webhook → TwiML answer path.
//!
//! - `voice_render`: [`TwilioProvider::render_voice`] of the default flow's first answer
//!   (greeting in a speech `<Gather>`, re-prompt, closing, hang-up: what a new call hears)
//!   and of its last (closing, hang-up); no I/O.
//! - `voice_provider`: [`TwilioProvider::handle_webhook`] on a signed incoming-call
//!   webhook (25 parameters, as the simulator's call driver sends them), a signed speech
//!   gather result (27) and a signed `completed` status callback (12): content type, form
//!   decoding, signature check, parsing into a `CallEvent`; no I/O.
//! - `voice_answer`: the gateway's public `router()` with a [`TwilioProvider`], a
//!   [`SqliteStore`] in a temporary directory, the default flow (no Rust voice handler),
//!   `inboundPolicy: open` (`allowFrom: ["*"]`) and unlimited sessions, driven with
//!   `tower::ServiceExt::oneshot`:
//!   - `incoming/sequential`: a new call (new `CallSid` each time) → the greeting TwiML; the
//!     answer opens a session (one write transaction);
//!   - `incoming/concurrent_64`: 64 new calls at once, time for all, reported per call;
//!   - `gather/sequential`: a speech result for a call answered just before (untimed) →
//!     the closing TwiML; stores the turn (one write transaction) and the transcript in the
//!     inbox (the group-commit writer);
//!   - `status_completed/sequential`: the `completed` callback of a call answered just
//!     before (untimed), which ends its session.
//!
//!   Each answer is checked once before measuring: HTTP 200, `text/xml`, and exactly the
//!   TwiML `voice_render` renders (so no error path is measured); inside the loops only the
//!   status is asserted. The background workers are not started: this is the request path
//!   alone; `loadgen --voice` measures the whole running gateway.
//! - `voice_store`: the store calls those answers make, one at a time, on a
//!   [`SqliteStore`] of their own, to see where the answers' time goes: `begin_call`
//!   without a session limit (the answer to a new call) and with one (what any
//!   `maxConcurrentSessions` adds: the live count), `add_call_turn` and `insert_inbound` of
//!   a transcript (the gather result), `update_call_status` to `completed` (the status
//!   callback). Each writes in its own `BEGIN IMMEDIATE` transaction on the single writer
//!   connection (`insert_inbound` through the group-commit writer, here a batch of one).
//!
//! Run with `cargo bench -p telephony-benches --bench voice`.

#[path = "../src/loadgen/voice_form.rs"]
mod voice_form;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::{BatchSize, Criterion, Throughput};
use http::{Method, Request, StatusCode, header};
use telephony_core::store::prelude::*;
use telephony_core::store::{BeginOutcome, CallStatusOutcome, CallTurn, NewCall, StatusSource};
use telephony_core::voice::{CallDirection, CallEvent, CallStatus};
use telephony_core::{
    AllowList, Channel, InboundMessage, InboundPolicy, InsertOutcome, MessageId, Provider,
    SignatureCheck, WebhookEvent, WebhookRequest,
};
use telephony_serve::{Gateway, VoiceSettings};
use telephony_store::SqliteStore;
use telephony_twilio::provider::SIGNATURE_HEADER;
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use tower::ServiceExt;

/// The account the benchmarks sign with.
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// Its auth token.
const AUTH_TOKEN: &str = "bench-auth-token-0123456789abcdef";
/// The gateway's configured public URL.
const PUBLIC_URL: &str = "https://gw.example.com";
/// The webhook path (calls and their gathers).
const WEBHOOK_PATH: &str = "/telephony/webhook";
/// The status callback path.
const STATUS_PATH: &str = "/telephony/status";
/// The caller.
const FROM: &str = "+14133881111";
/// The gateway's number.
const TO: &str = "+12028831111";
/// A fixed RFC 2822 `Timestamp` for status callbacks.
const TIMESTAMP: &str = "Mon, 30 Nov 2026 12:00:00 +0000";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn webhook_url() -> String {
    format!("{PUBLIC_URL}{WEBHOOK_PATH}")
}

fn provider() -> TwilioProvider {
    TwilioProvider::new(TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN)).expect("provider builds")
}

fn voice_render(c: &mut Criterion) {
    let twilio = provider();
    let sid = "CA0123456789abcdef0123456789abcdef";
    let greeting = voice_form::greeting(&webhook_url(), sid);
    let closing = voice_form::closing();
    let rendered = twilio.render_voice(&greeting).expect("renders");
    assert_eq!(rendered.content_type, "text/xml");
    let body = std::str::from_utf8(&rendered.body).expect("utf-8");
    assert!(
        body.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="speech" action="https://gw.example.com/telephony/webhook?call=CA0123456789abcdef0123456789abcdef&amp;turn=1" speechTimeout="auto"><Say>Hello!"#),
        "{body}"
    );

    let mut g = c.benchmark_group("voice_render");
    g.throughput(Throughput::Elements(1));
    g.bench_function("default_greeting", |b| {
        b.iter(|| twilio.render_voice(std::hint::black_box(&greeting)))
    });
    g.bench_function("closing", |b| {
        b.iter(|| twilio.render_voice(std::hint::black_box(&closing)))
    });
    g.finish();
}

/// A webhook request as the provider sees it, signed for `url`.
fn webhook_request(
    validator: &RequestValidator,
    url: &str,
    params: &[(String, String)],
) -> WebhookRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, FORM.parse().expect("valid header"));
    let sig = validator.compute(url, params);
    headers.insert(SIGNATURE_HEADER, sig.parse().expect("valid header"));
    WebhookRequest {
        url: url.into(),
        method: Method::POST,
        headers,
        body: serde_urlencoded::to_string(params)
            .expect("form encodes")
            .into(),
    }
}

fn voice_provider(c: &mut Criterion) {
    let twilio = provider();
    let sid = "CA0123456789abcdef0123456789abcdef";
    let base = webhook_url();
    let incoming = webhook_request(
        twilio.validator(),
        &base,
        &voice_form::call_form(ACCOUNT_SID, sid, FROM, TO, "ringing"),
    );
    let gather = webhook_request(
        twilio.validator(),
        &voice_form::gather_url(&base, sid),
        &voice_form::gather_form(ACCOUNT_SID, sid, FROM, TO),
    );
    let status = webhook_request(
        twilio.validator(),
        &format!("{PUBLIC_URL}{STATUS_PATH}"),
        &voice_form::status_form(ACCOUNT_SID, sid, FROM, TO, TIMESTAMP, 7),
    );
    match twilio.handle_webhook(&incoming, SignatureCheck::Verify) {
        Ok(WebhookEvent::Call(CallEvent::Incoming(call))) => assert_eq!(call.call_id, sid),
        other => panic!("an incoming call: {other:?}"),
    }
    match twilio.handle_webhook(&gather, SignatureCheck::Verify) {
        Ok(WebhookEvent::Call(CallEvent::Gather { speech, .. })) => {
            assert_eq!(speech.expect("speech").text, voice_form::SPEECH)
        }
        other => panic!("a gather result: {other:?}"),
    }
    match twilio.handle_webhook(&status, SignatureCheck::Verify) {
        Ok(WebhookEvent::Call(CallEvent::Status(u))) => assert_eq!(u.duration_secs, Some(7)),
        other => panic!("a status callback: {other:?}"),
    }

    let mut g = c.benchmark_group("voice_provider");
    g.throughput(Throughput::Elements(1));
    for (name, req) in [
        ("handle_webhook/incoming_25_params", &incoming),
        ("handle_webhook/gather_27_params", &gather),
        ("handle_webhook/status_12_params", &status),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| twilio.handle_webhook(std::hint::black_box(req), SignatureCheck::Verify))
        });
    }
    g.finish();
}

/// Builds signed voice webhooks, with a never-seen `CallSid` per call.
struct Calls {
    validator: RequestValidator,
    run: u64,
    next: AtomicU64,
}

impl Calls {
    fn new() -> Self {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Calls {
            validator: RequestValidator::new(AUTH_TOKEN),
            run,
            next: AtomicU64::new(0),
        }
    }

    /// A new call's SID (34 characters, like Twilio's).
    fn sid(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("CA{:016x}{:016x}", self.run, n)
    }

    fn post(&self, path_and_query: &str, params: &[(String, String)]) -> Request<Body> {
        let sig = self
            .validator
            .compute(&format!("{PUBLIC_URL}{path_and_query}"), params);
        Request::builder()
            .method(Method::POST)
            .uri(path_and_query)
            .header(header::HOST, "gw.example.com")
            .header(header::CONTENT_TYPE, FORM)
            .header(SIGNATURE_HEADER, sig)
            .body(Body::from(
                serde_urlencoded::to_string(params).expect("form encodes"),
            ))
            .expect("request builds")
    }

    fn incoming(&self, sid: &str) -> Request<Body> {
        self.post(
            WEBHOOK_PATH,
            &voice_form::call_form(ACCOUNT_SID, sid, FROM, TO, "ringing"),
        )
    }

    fn gather(&self, sid: &str) -> Request<Body> {
        self.post(
            &voice_form::gather_url(WEBHOOK_PATH, sid),
            &voice_form::gather_form(ACCOUNT_SID, sid, FROM, TO),
        )
    }

    fn completed(&self, sid: &str) -> Request<Body> {
        self.post(
            STATUS_PATH,
            &voice_form::status_form(ACCOUNT_SID, sid, FROM, TO, TIMESTAMP, 7),
        )
    }
}

/// Sends `req`; returns the status, content type and body.
async fn answer(router: &axum::Router, req: Request<Body>) -> (StatusCode, String, String) {
    let res = router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

/// Sends `req` and asserts a 200 (inside measured loops).
async fn ok(router: axum::Router, req: Request<Body>) {
    let res = router.oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
}

fn voice_answer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let router = rt.block_on(async {
        let store = SqliteStore::open(dir.path().join("telephony.db"))
            .await
            .expect("store opens");
        Gateway::builder(Arc::new(provider()), Arc::new(store))
            .public_url(PUBLIC_URL)
            .inbound_policy(
                InboundPolicy::Open,
                AllowList::parse(&["*".into()]).expect("allow list"),
            )
            .voice(VoiceSettings::enabled().max_concurrent_sessions(None))
            .build()
            .router()
    });
    let calls = Calls::new();
    let twilio = provider();

    // One whole call, checked: every answer is 200 text/xml with exactly the expected TwiML.
    rt.block_on(async {
        let sid = calls.sid();
        let expected = |r: &telephony_core::voice::VoiceResponse| {
            let r = twilio.render_voice(r).expect("renders");
            String::from_utf8(r.body.to_vec()).expect("utf-8")
        };
        let (status, ct, body) = answer(&router, calls.incoming(&sid)).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::OK, "text/xml"),
            "{body}"
        );
        assert_eq!(body, expected(&voice_form::greeting(&webhook_url(), &sid)));
        let (status, ct, body) = answer(&router, calls.gather(&sid)).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::OK, "text/xml"),
            "{body}"
        );
        assert_eq!(body, expected(&voice_form::closing()));
        let (status, ct, body) = answer(&router, calls.completed(&sid)).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::OK, "text/xml"),
            "{body}"
        );
        assert_eq!(body, telephony_twilio::twiml::EMPTY_RESPONSE);
    });

    let mut g = c.benchmark_group("voice_answer");
    g.throughput(Throughput::Elements(1));
    g.bench_function("incoming/sequential", |b| {
        b.to_async(&rt).iter_batched(
            || calls.incoming(&calls.sid()),
            |req| ok(router.clone(), req),
            BatchSize::SmallInput,
        )
    });
    // A gather (or status callback) needs a call answered before it: each iteration
    // answers one untimed, then times the request under test.
    g.bench_function("gather/sequential", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (router, calls) = (&router, &calls);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let sid = calls.sid();
                    ok(router.clone(), calls.incoming(&sid)).await;
                    let req = calls.gather(&sid);
                    let started = Instant::now();
                    ok(router.clone(), req).await;
                    total += started.elapsed();
                }
                total
            }
        })
    });
    g.bench_function("status_completed/sequential", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (router, calls) = (&router, &calls);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let sid = calls.sid();
                    ok(router.clone(), calls.incoming(&sid)).await;
                    let req = calls.completed(&sid);
                    let started = Instant::now();
                    ok(router.clone(), req).await;
                    total += started.elapsed();
                }
                total
            }
        })
    });

    const CONCURRENCY: u64 = 64;
    g.throughput(Throughput::Elements(CONCURRENCY));
    g.bench_function("incoming/concurrent_64", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (router, calls) = (&router, &calls);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Signing is the caller's work: it stays outside the timed part.
                    let batch: Vec<Request<Body>> = (0..CONCURRENCY)
                        .map(|_| calls.incoming(&calls.sid()))
                        .collect();
                    let started = Instant::now();
                    let tasks: Vec<_> = batch
                        .into_iter()
                        .map(|req| tokio::spawn(ok(router.clone(), req)))
                        .collect();
                    for t in tasks {
                        t.await.expect("task runs");
                    }
                    total += started.elapsed();
                }
                total
            }
        })
    });
    g.finish();
}

/// A new inbound call as the answer records it.
fn new_call(sid: &str) -> NewCall {
    NewCall {
        call_id: sid.to_string(),
        direction: CallDirection::Inbound,
        from: FROM.into(),
        to: TO.into(),
        status: CallStatus::InProgress,
        source: StatusSource::Answer,
        session: true,
        at: time::OffsetDateTime::now_utc(),
        note: None,
    }
}

/// Times `op` on a fresh call each iteration; `prepare` gets the call ready and `finish`
/// ends it (both untimed, so live sessions do not pile up).
async fn per_call<P, PF, O, OF, E, EF>(
    calls: &Calls,
    iters: u64,
    prepare: P,
    op: O,
    finish: E,
) -> Duration
where
    P: Fn(String) -> PF,
    PF: std::future::Future<Output = ()>,
    O: Fn(String) -> OF,
    OF: std::future::Future<Output = ()>,
    E: Fn(String) -> EF,
    EF: std::future::Future<Output = ()>,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let sid = calls.sid();
        prepare(sid.clone()).await;
        let started = Instant::now();
        op(sid.clone()).await;
        total += started.elapsed();
        finish(sid).await;
    }
    total
}

fn voice_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = rt.block_on(async {
        SqliteStore::open(dir.path().join("telephony.db"))
            .await
            .expect("store opens")
    });
    let store = &store;
    let calls = &Calls::new();
    let begin = |max: Option<usize>| {
        move |sid: String| async move {
            let out = store.begin_call(&new_call(&sid), max).await.expect("begin");
            assert!(matches!(out, BeginOutcome::Started(_)), "{out:?}");
        }
    };
    let nothing = |_: String| async {};
    let complete = |sid: String| async move {
        store
            .update_call_status(
                &sid,
                CallStatus::Completed,
                Some(7),
                StatusSource::Callback,
                time::OffsetDateTime::now_utc(),
            )
            .await
            .expect("status");
    };
    let turn = || CallTurn {
        at: time::OffsetDateTime::now_utc(),
        speech: Some(voice_form::SPEECH.into()),
        confidence: Some(0.91),
        digits: None,
    };

    let mut g = c.benchmark_group("voice_store");
    g.throughput(Throughput::Elements(1));
    g.bench_function("begin_call/unlimited", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| per_call(calls, iters, nothing, begin(None), complete))
    });
    g.bench_function("begin_call/limit_100000", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| per_call(calls, iters, nothing, begin(Some(100_000)), complete))
    });
    g.bench_function("add_call_turn", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            per_call(
                calls,
                iters,
                begin(None),
                |sid| async move {
                    store.add_call_turn(&sid, &turn()).await.expect("turn");
                },
                complete,
            )
        })
    });
    g.bench_function("insert_inbound/transcript", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            per_call(
                calls,
                iters,
                nothing,
                |sid| async move {
                    let mut extra = std::collections::BTreeMap::new();
                    extra.insert("CallSid".to_string(), sid.clone());
                    extra.insert("Confidence".to_string(), "0.91".to_string());
                    let msg = InboundMessage {
                        id: MessageId::generate(),
                        provider_sid: sid,
                        account_sid: Some(ACCOUNT_SID.into()),
                        channel: Channel::Voice,
                        from: FROM.into(),
                        to: TO.into(),
                        body: voice_form::SPEECH.into(),
                        media: Vec::new(),
                        num_segments: None,
                        received_at: time::OffsetDateTime::now_utc(),
                        extra,
                    };
                    let out = store.insert_inbound(&msg).await.expect("insert");
                    assert!(matches!(out, InsertOutcome::Inserted));
                },
                nothing,
            )
        })
    });
    g.bench_function("update_call_status/completed", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            per_call(
                calls,
                iters,
                begin(None),
                |sid| async move {
                    let out = store
                        .update_call_status(
                            &sid,
                            CallStatus::Completed,
                            Some(7),
                            StatusSource::Callback,
                            time::OffsetDateTime::now_utc(),
                        )
                        .await
                        .expect("status");
                    assert!(matches!(out, CallStatusOutcome::Applied(_)), "{out:?}");
                },
                nothing,
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

// What `criterion_group!`/`criterion_main!` expand to, written out so every item is documented.
fn main() {
    let mut c = config().configure_from_args();
    voice_render(&mut c);
    voice_provider(&mut c);
    voice_answer(&mut c);
    voice_store(&mut c);
    c.final_summary();
}
