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
//! - `sqlite_batch`: how the store could spend the single writer connection, on a copy of
//!   the `inbox` table with the store's settings (WAL, `synchronous=NORMAL`, one pooled
//!   write connection through sqlx), 32 rows at a time (the batch size the group-commit
//!   writer reaches under 64 connections): one `INSERT` per row in one transaction (what
//!   the group-commit writer does), one multi-row `INSERT … RETURNING` in one transaction,
//!   one state `UPDATE` transaction per message (what the dispatch worker did before
//!   `Store::set_inbound_states`), one `UPDATE` per message in one transaction (what
//!   `set_inbound_states` does now), and one `UPDATE` for all 32; and `round_trip/select_1`, the cost of one
//!   statement's trip to sqlx's SQLite worker thread and back.
//!
//! Run with `cargo bench -p telephony-benches`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::{BatchSize, Criterion, Throughput};
use http::{Method, Request, StatusCode, header};
use telephony_core::{Provider, SignatureCheck, WebhookEvent, WebhookRequest};
use telephony_serve::Gateway;
use telephony_store::SqliteStore;
use telephony_twilio::provider::SIGNATURE_HEADER;
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::InboundSms;
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

/// The `inbox` table and its indexes as in `store/migrations/sqlite/0001_init.sql`.
const INBOX_DDL: &str = "
CREATE TABLE inbox (
    id TEXT NOT NULL PRIMARY KEY, provider_sid TEXT NOT NULL UNIQUE, account_sid TEXT,
    channel TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL, body TEXT NOT NULL,
    media_json TEXT NOT NULL DEFAULT '[]', num_segments INTEGER, received_at INTEGER NOT NULL,
    extra_json TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL DEFAULT 'queued', note TEXT
) STRICT;
CREATE INDEX inbox_by_received_at ON inbox (received_at);
CREATE INDEX inbox_queued ON inbox (received_at) WHERE state = 'queued';
";

/// Columns bound per inbox row.
const INBOX_COLUMNS: &str = "(id, provider_sid, account_sid, channel, sender, recipient, body, \
     media_json, num_segments, received_at, extra_json)";

/// Rows per batch in `sqlite_batch`.
const ROWS: usize = 32;

/// Inserts `ROWS` rows numbered from `first`, one statement per row, in one transaction.
async fn insert_per_row(pool: &sqlx::SqlitePool, first: u64) {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
    for n in first..first + ROWS as u64 {
        let done = bind_row(
            sqlx::query(&format!(
                "INSERT INTO inbox {INBOX_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (provider_sid) DO NOTHING"
            )),
            n,
        )
        .execute(&mut *tx)
        .await
        .expect("insert");
        assert_eq!(done.rows_affected(), 1);
    }
    tx.commit().await.expect("commit");
}

/// Inserts `ROWS` rows numbered from `first` with one multi-row statement that returns the
/// inserted SIDs (so duplicates are still told apart), in one transaction.
async fn insert_one_statement(pool: &sqlx::SqlitePool, first: u64) {
    let tuples = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; ROWS].join(", ");
    let sql = format!(
        "INSERT INTO inbox {INBOX_COLUMNS} VALUES {tuples} \
         ON CONFLICT (provider_sid) DO NOTHING RETURNING provider_sid"
    );
    let mut q = sqlx::query(&sql);
    for n in first..first + ROWS as u64 {
        q = bind_row(q, n);
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
    let inserted = q.fetch_all(&mut *tx).await.expect("insert");
    assert_eq!(inserted.len(), ROWS);
    tx.commit().await.expect("commit");
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_row(q: SqliteQuery<'_>, n: u64) -> SqliteQuery<'_> {
    q.bind(format!("msg_{n:026}"))
        .bind(format!("SM{n:032x}"))
        .bind(ACCOUNT_SID)
        .bind("sms")
        .bind(format!("+1555{:07}", n % 100))
        .bind("+15005550006")
        .bind("Load test message")
        .bind("[]")
        .bind(1_i64)
        .bind(1_767_323_045_000_i64 + n as i64)
        .bind(r#"{"ToCountry":"US","ApiVersion":"2010-04-01"}"#)
}

fn sqlite_batch(c: &mut Criterion) {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = rt.block_on(async {
        let opts = SqliteConnectOptions::new()
            .filename(dir.path().join("inbox.db"))
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .expect("sqlite opens");
        sqlx::raw_sql(INBOX_DDL)
            .execute(&pool)
            .await
            .expect("schema");
        pool
    });
    let next = AtomicU64::new(0);
    let take = || next.fetch_add(ROWS as u64, Ordering::Relaxed);

    let mut g = c.benchmark_group("sqlite_batch");
    // The price of one statement's trip to sqlx's SQLite worker thread and back.
    g.throughput(Throughput::Elements(1));
    g.bench_function("round_trip/select_1", |b| {
        b.to_async(&rt).iter(|| async {
            let one: i64 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&pool)
                .await
                .expect("select");
            assert_eq!(one, 1);
        })
    });
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("insert_32/statement_per_row", |b| {
        b.to_async(&rt).iter(|| insert_per_row(&pool, take()))
    });
    g.bench_function("insert_32/one_statement", |b| {
        b.to_async(&rt).iter(|| insert_one_statement(&pool, take()))
    });
    g.bench_function("set_state_32/transaction_per_message", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, take) = (&pool, &take);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let first = take();
                    insert_per_row(pool, first).await;
                    let started = Instant::now();
                    for n in first..first + ROWS as u64 {
                        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
                        sqlx::query("UPDATE inbox SET state = ?2, note = ?3 WHERE id = ?1")
                            .bind(format!("msg_{n:026}"))
                            .bind("accepted")
                            .bind(None::<String>)
                            .execute(&mut *tx)
                            .await
                            .expect("update");
                        tx.commit().await.expect("commit");
                    }
                    total += started.elapsed();
                }
                total
            }
        })
    });
    g.bench_function("set_state_32/one_transaction_statement_per_row", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, take) = (&pool, &take);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let first = take();
                    insert_per_row(pool, first).await;
                    let started = Instant::now();
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
                    for n in first..first + ROWS as u64 {
                        sqlx::query("UPDATE inbox SET state = ?2, note = ?3 WHERE id = ?1")
                            .bind(format!("msg_{n:026}"))
                            .bind("accepted")
                            .bind(None::<String>)
                            .execute(&mut *tx)
                            .await
                            .expect("update");
                    }
                    tx.commit().await.expect("commit");
                    total += started.elapsed();
                }
                total
            }
        })
    });
    g.bench_function("set_state_32/one_statement", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, take) = (&pool, &take);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let first = take();
                    insert_per_row(pool, first).await;
                    let started = Instant::now();
                    let ids = vec!["?"; ROWS].join(", ");
                    let sql = format!(
                        "UPDATE inbox SET state = 'accepted', note = NULL WHERE id IN ({ids})"
                    );
                    let mut q = sqlx::query(&sql);
                    for n in first..first + ROWS as u64 {
                        q = q.bind(format!("msg_{n:026}"));
                    }
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
                    let done = q.execute(&mut *tx).await.expect("update");
                    assert_eq!(done.rows_affected(), ROWS as u64);
                    tx.commit().await.expect("commit");
                    total += started.elapsed();
                }
                total
            }
        })
    });
    g.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, written out so every item is documented.
fn main() {
    let mut c = config().configure_from_args();
    signature(&mut c);
    provider(&mut c);
    inbound_webhook(&mut c);
    sqlite_batch(&mut c);
    c.final_summary();
}
