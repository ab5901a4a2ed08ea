//! Criterion benchmarks of the inbound webhook path.
//!
//! - `signature`: [`RequestValidator`] on the real inbound SMS capture from PROTOCOL.md §2.1
//!   (nyaruka/courier's test body, 19 parameters): `compute`, `validate` when the URL as
//!   received matches, and `validate` when only the port variant matches (two HMACs).
//! - `provider`: [`TwilioProvider::handle_webhook`] on the same body: content type, form
//!   decoding, signature check and parsing into an `InboundMessage`, no I/O.
//! - `inbound_webhook`: the gateway's public `router()` with a [`TwilioProvider`] and a
//!   [`SqliteStore`] in a temporary directory, driven with `tower::ServiceExt::oneshot`:
//!   a signed form body with a unique `MessageSid` per request, answered 200 after the row
//!   is committed. `sequential` sends one request at a time (each commit holds one row);
//!   `concurrent_64` sends 64 at once and waits for all (the group-commit writer batches
//!   them), reported per request. The background workers are not started, so this is the
//!   request path alone; `loadgen` measures the whole running gateway.
//!
//! Run with `cargo bench -p telephony-benches`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use http::{header, Method, Request, StatusCode};
use telephony_core::{Provider, SignatureCheck, WebhookEvent, WebhookRequest};
use telephony_serve::Gateway;
use telephony_store::SqliteStore;
use telephony_twilio::provider::SIGNATURE_HEADER;
use telephony_twilio::simulator::InboundSms;
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use tower::ServiceExt;

/// The account the benchmarks sign with.
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// Its auth token.
const AUTH_TOKEN: &str = "bench-auth-token-0123456789abcdef";
/// The gateway's configured public URL.
const PUBLIC_URL: &str = "https://gw.example.com";
/// The webhook URL Twilio signs.
const WEBHOOK_URL: &str = "https://gw.example.com/telephony/webhook";

/// The real inbound SMS body captured in nyaruka/courier's Twilio tests (PROTOCOL.md §2.1).
const COURIER_BODY: &str = "ToCountry=US&ToState=District+Of+Columbia&SmsMessageSid=SMe287d7109a5a925f182f0e07fe5b223b&NumMedia=0&ToCity=&FromZip=01022&SmsSid=SMe287d7109a5a925f182f0e07fe5b223b&FromState=MA&SmsStatus=received&FromCity=CHICOPEE&Body=Msg&FromCountry=US&To=%2B12028831111&ToZip=&NumSegments=1&MessageSid=SMe287d7109a5a925f182f0e07fe5b223b&AccountSid=acctid&From=%2B14133881111&ApiVersion=2010-04-01";

fn courier_params() -> Vec<(String, String)> {
    let params: Vec<(String, String)> =
        telephony_twilio::webhook::decode_form(COURIER_BODY.as_bytes()).expect("capture decodes");
    assert_eq!(params.len(), 19, "the courier capture has 19 parameters");
    params
}

fn signature(c: &mut Criterion) {
    let validator = RequestValidator::new(AUTH_TOKEN);
    let params = courier_params();
    let sig = validator.compute(WEBHOOK_URL, &params);
    // Signed without a port, received on an explicit :443: the first HMAC fails, the
    // port variant matches.
    let with_port = "https://gw.example.com:443/telephony/webhook";
    assert!(validator.validate(WEBHOOK_URL, &params, &sig));
    assert!(validator.validate(with_port, &params, &sig));
    assert!(!validator.validate(WEBHOOK_URL, &params[1..], &sig));

    let mut g = c.benchmark_group("signature");
    g.throughput(Throughput::Elements(1));
    g.bench_function("compute/courier_19_params", |b| {
        b.iter(|| validator.compute(std::hint::black_box(WEBHOOK_URL), &params))
    });
    g.bench_function("validate/courier_19_params", |b| {
        b.iter(|| validator.validate(std::hint::black_box(WEBHOOK_URL), &params, &sig))
    });
    g.bench_function("validate/port_variant_fallback", |b| {
        b.iter(|| validator.validate(std::hint::black_box(with_port), &params, &sig))
    });
    g.finish();
}

fn provider(c: &mut Criterion) {
    let twilio =
        TwilioProvider::new(TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN)).expect("provider builds");
    let params = courier_params();
    let sig = twilio.validator().compute(WEBHOOK_URL, &params);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded; charset=utf-8"
            .parse()
            .expect("valid header"),
    );
    headers.insert(SIGNATURE_HEADER, sig.parse().expect("valid header"));
    let req = WebhookRequest {
        url: WEBHOOK_URL.into(),
        method: Method::POST,
        headers,
        body: COURIER_BODY.into(),
    };
    match twilio.handle_webhook(&req, SignatureCheck::Verify) {
        Ok(WebhookEvent::Message(m)) => assert_eq!(m.body, "Msg"),
        other => panic!("the capture should parse as a message: {other:?}"),
    }

    let mut g = c.benchmark_group("provider");
    g.throughput(Throughput::Elements(1));
    g.bench_function("handle_webhook/courier_19_params", |b| {
        b.iter(|| twilio.handle_webhook(std::hint::black_box(&req), SignatureCheck::Verify))
    });
    g.finish();
}

/// Builds signed webhook requests with unique `MessageSid`s.
struct Signer {
    validator: RequestValidator,
    run: u64,
    next: AtomicU64,
}

impl Signer {
    fn new() -> Self {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Signer {
            validator: RequestValidator::new(AUTH_TOKEN),
            run,
            next: AtomicU64::new(0),
        }
    }

    /// The next request: a courier-shaped inbound SMS with a never-seen `MessageSid`.
    fn request(&self) -> Request<Body> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut sms = InboundSms::new(ACCOUNT_SID, "+14133881111", "+12028831111", "Msg");
        sms.message_sid = Some(format!("SM{:016x}{:016x}", self.run, n));
        let params = sms.form();
        let body = serde_urlencoded::to_string(&params).expect("form encodes");
        let sig = self.validator.compute(WEBHOOK_URL, &params);
        Request::builder()
            .method(Method::POST)
            .uri("/telephony/webhook")
            .header(header::HOST, "gw.example.com")
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(SIGNATURE_HEADER, sig)
            .body(Body::from(body))
            .expect("request builds")
    }
}

fn inbound_webhook(c: &mut Criterion) {
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
        let twilio = TwilioProvider::new(TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN))
            .expect("provider builds");
        Gateway::builder(Arc::new(twilio), Arc::new(store))
            .public_url(PUBLIC_URL)
            .build()
            .router()
    });
    let signer = Signer::new();
    rt.block_on(async {
        let res = router
            .clone()
            .oneshot(signer.request())
            .await
            .expect("infallible");
        assert_eq!(res.status(), StatusCode::OK, "a signed webhook is accepted");
    });

    let mut g = c.benchmark_group("inbound_webhook");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sequential", |b| {
        b.to_async(&rt).iter_batched(
            || signer.request(),
            |req| {
                let router = router.clone();
                async move {
                    let res = router.oneshot(req).await.expect("infallible");
                    assert_eq!(res.status(), StatusCode::OK);
                }
            },
            BatchSize::SmallInput,
        )
    });

    const CONCURRENCY: u64 = 64;
    g.throughput(Throughput::Elements(CONCURRENCY));
    g.bench_function("concurrent_64", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let router = router.clone();
            let signer = &signer;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Signing is the client's work: it stays outside the timed part.
                    let batch: Vec<Request<Body>> =
                        (0..CONCURRENCY).map(|_| signer.request()).collect();
                    let started = Instant::now();
                    let tasks: Vec<_> = batch
                        .into_iter()
                        .map(|req| tokio::spawn(router.clone().oneshot(req)))
                        .collect();
                    for t in tasks {
                        let res = t.await.expect("task runs").expect("infallible");
                        assert_eq!(res.status(), StatusCode::OK);
                    }
                    total += started.elapsed();
                }
                total
            }
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = signature, provider, inbound_webhook
}
criterion_main!(benches);
