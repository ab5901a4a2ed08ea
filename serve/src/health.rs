//! Liveness and readiness, for load balancers and orchestrators.
//!
//! | route | answers |
//! |---|---|
//! | `GET /health/live` | 200 `{"status":"ok"}` while the process serves requests |
//! | `GET /health/ready`, `GET /health` | 200 `{"status":"ok"}` when every account's store answers (and, for a store still starting, its migrations are applied); else 503 `{"status":"unavailable","store":"<why>"}` with `Retry-After` |
//!
//! A [`Readiness`] checks each store with one cheap query ([`ping`]), at most about once a
//! second ([`CACHE_FOR`]): probes from several load balancers share the answer instead of
//! taking connections from the pool. The same check guards the routes that need the store
//! ([`refuse_webhooks_while_unavailable`], [`refuse_admin_while_unavailable`]): while the
//! store is unavailable they answer 503 at once instead of waiting for a connection, and
//! nothing is acknowledged that is not stored.
//!
//! A read answers on a full disk, so the ping alone would call such a store ready. The
//! check also asks the store whether its writes are failing
//! ([`HealthStore::health`](telephony_core::HealthStore::health): the last write failed
//! and none committed since) and, while they are, runs the store's write probe
//! ([`HealthStore::probe_write`](telephony_core::HealthStore::probe_write), a small write
//! that needs new space): the store is unavailable until the probe or a real write
//! commits. The probe runs only while writes fail, at most once per [`CACHE_FOR`]; a
//! healthy store is never written to by readiness, and the per-webhook answer stays two
//! atomic reads. A write that fails while the last answer (at most [`CACHE_FOR`] old) was
//! `Ok` is answered 503 by the handler itself.
//!
//! ```
//! # async fn run(store: std::sync::Arc<dyn telephony_core::Store>) {
//! use telephony_serve::health::{self, Readiness};
//!
//! let ready = Readiness::new().store(None, store);
//! assert_eq!(ready.check().await, Ok(()));
//! let app = axum::Router::new().merge(health::router(ready));
//! # let _ = app;
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use telephony_core::sync::lock;
use telephony_core::{Store, StoreError, error_chain};
use tokio::time::Instant;

use crate::api::{AdminError, ErrorCode};

/// How long a readiness answer is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(1);
/// How long a store has to answer the ping before it counts as unavailable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// The `Retry-After` (seconds) of a 503 while the store is unavailable.
pub const RETRY_AFTER_SECS: u64 = 5;

/// A store's own startup state: `None` once it can serve, else why not (a store still
/// connecting or migrating).
pub type StartupCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Whether a store answers: the one cheap query every readiness check runs
/// ([`ClusterStore::ping`](telephony_core::ClusterStore::ping)).
///
/// ```
/// # async fn run(store: &dyn telephony_core::Store) {
/// telephony_serve::health::ping(store).await.expect("the store answers");
/// # }
/// ```
pub async fn ping(store: &dyn Store) -> Result<(), StoreError> {
    store.ping().await
}

/// Whether every store of a gateway (one per account) can take work; cheap to clone.
#[derive(Clone, Default)]
pub struct Readiness {
    parts: Vec<Arc<Part>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field(
                "accounts",
                &self.parts.iter().map(|p| &p.account).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One account's store and its cached answer.
struct Part {
    account: Option<String>,
    store: Arc<dyn Store>,
    startup: Option<StartupCheck>,
    cache: Mutex<Option<(Instant, Result<(), String>)>>,
    refreshing: tokio::sync::Mutex<()>,
    /// Every webhook asks: while the last answer is a fresh `Ok`, they learn it from two
    /// atomic reads, without a lock or an allocation. `Ok` answers are good until
    /// `born + ok_until_ms`.
    born: Instant,
    ok_until_ms: AtomicU64,
}

impl Readiness {
    /// Nothing to check: always ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a store (`account`: its name in reasons, `None` for a gateway of one).
    pub fn store(self, account: Option<&str>, store: Arc<dyn Store>) -> Self {
        self.push(account, store, None)
    }

    /// Adds a store that is still starting: not ready while `startup` gives a reason.
    pub fn store_with_startup(
        self,
        account: Option<&str>,
        store: Arc<dyn Store>,
        startup: StartupCheck,
    ) -> Self {
        self.push(account, store, Some(startup))
    }

    fn push(
        mut self,
        account: Option<&str>,
        store: Arc<dyn Store>,
        startup: Option<StartupCheck>,
    ) -> Self {
        self.parts.push(Arc::new(Part {
            account: account.map(str::to_string),
            store,
            startup,
            cache: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            born: Instant::now(),
            ok_until_ms: AtomicU64::new(0),
        }));
        self
    }

    /// Only `account`'s store (sharing its cached answer); everything for `None`.
    pub fn account(&self, account: Option<&str>) -> Readiness {
        match account {
            None => self.clone(),
            Some(name) => Readiness {
                parts: self
                    .parts
                    .iter()
                    .filter(|p| p.account.as_deref() == Some(name))
                    .cloned()
                    .collect(),
            },
        }
    }

    /// `Ok` when every store answers; else why not (the first account that does not,
    /// named). Answers at most [`CACHE_FOR`] old; a store that does not answer within
    /// [`PING_TIMEOUT`] is unavailable.
    pub async fn check(&self) -> Result<(), String> {
        if self.parts.iter().all(|p| p.fresh_ok()) {
            return Ok(());
        }
        let answers = futures_util::future::join_all(self.parts.iter().map(|p| p.check())).await;
        answers.into_iter().collect()
    }
}

impl Part {
    /// Whether the last answer is `Ok` and fresh (a store that is still starting asks
    /// its startup check every time).
    fn fresh_ok(&self) -> bool {
        self.startup.is_none() && self.age_ms() < self.ok_until_ms.load(Ordering::Acquire)
    }

    fn age_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn check(&self) -> Result<(), String> {
        let named = |why: String| match &self.account {
            Some(a) => format!("account {a}: {why}"),
            None => why,
        };
        if let Some(why) = self.startup.as_ref().and_then(|s| s()) {
            return Err(named(why));
        }
        if let Some(answer) = self.cached(true) {
            return answer;
        }
        // One ping at a time; others take the last answer, however old, meanwhile.
        let _refreshing = match self.refreshing.try_lock() {
            Ok(g) => g,
            Err(_) => match self.cached(false) {
                Some(answer) => return answer,
                None => self.refreshing.lock().await,
            },
        };
        if let Some(answer) = self.cached(true) {
            return answer;
        }
        let answer = match tokio::time::timeout(PING_TIMEOUT, ping(&*self.store)).await {
            Ok(Ok(())) => self.writes().await.map_err(named),
            Ok(Err(e)) => Err(named(format!(
                "the store does not answer: {}",
                error_chain(&e)
            ))),
            Err(_) => Err(named(format!(
                "the store did not answer within {} s",
                PING_TIMEOUT.as_secs()
            ))),
        };
        if let Err(why) = &answer {
            tracing::warn!(reason = %why, "store unavailable");
        }
        let ok_until = match answer {
            Ok(()) => self
                .age_ms()
                .saturating_add(u64::try_from(CACHE_FOR.as_millis()).unwrap_or(u64::MAX)),
            Err(_) => 0,
        };
        *lock(&self.cache) = Some((Instant::now(), answer.clone()));
        self.ok_until_ms.store(ok_until, Ordering::Release);
        answer
    }

    /// `Ok` unless the store's writes are failing and the write probe fails too.
    async fn writes(&self) -> Result<(), String> {
        if self.store.health().write_failure.is_none() {
            return Ok(());
        }
        match tokio::time::timeout(PING_TIMEOUT, self.store.probe_write()).await {
            Ok(Ok(())) => Ok(()),
            // The probe's failure is the store's latest; its report says since when.
            Ok(Err(e)) => Err(self.store.health().write_failure.map_or_else(
                || format!("the store cannot write: {}", error_chain(&e)),
                |f| f.reason(),
            )),
            Err(_) => Err(format!(
                "the store cannot write: its write probe did not commit within {} s",
                PING_TIMEOUT.as_secs()
            )),
        }
    }

    /// The last answer: only if younger than [`CACHE_FOR`] when `fresh`.
    fn cached(&self, fresh: bool) -> Option<Result<(), String>> {
        let cache = lock(&self.cache);
        match &*cache {
            Some((at, answer)) if !fresh || at.elapsed() < CACHE_FOR => Some(answer.clone()),
            _ => None,
        }
    }
}

/// `GET /health`, `GET /health/live` and `GET /health/ready` (see the [module docs](self)).
pub fn router(readiness: Readiness) -> Router {
    probes(readiness.clone()).route("/health", get(ready).with_state(readiness))
}

/// `GET /health/live` and `GET /health/ready` only (for a listener whose `GET /health` is
/// someone else's, such as the SMS bridge's).
pub fn probes(readiness: Readiness) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(readiness)
}

async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn ready(State(readiness): State<Readiness>) -> Response {
    match readiness.check().await {
        Ok(()) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(why) => with_retry_after(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable", "store": why})),
            )
                .into_response(),
        ),
    }
}

fn with_retry_after(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    r
}

/// Middleware for public routes: 503 with `Retry-After` (never a 200: nothing is
/// acknowledged that is not stored) while the store is unavailable.
///
/// ```
/// # fn f(routes: axum::Router, readiness: telephony_serve::health::Readiness) -> axum::Router {
/// routes.layer(axum::middleware::from_fn_with_state(
///     readiness,
///     telephony_serve::health::refuse_webhooks_while_unavailable,
/// ))
/// # }
/// ```
pub async fn refuse_webhooks_while_unavailable(
    State(readiness): State<Readiness>,
    req: Request,
    next: Next,
) -> Response {
    match readiness.check().await {
        Ok(()) => next.run(req).await,
        Err(why) => {
            tracing::warn!(path = req.uri().path(), reason = %why, "webhook refused: the store is unavailable");
            with_retry_after(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "the store is unavailable; retry later\n",
                )
                    .into_response(),
            )
        }
    }
}

/// Middleware for admin routes: 503 `unavailable` with the reason while the store is
/// unavailable.
pub async fn refuse_admin_while_unavailable(
    State(readiness): State<Readiness>,
    req: Request,
    next: Next,
) -> Response {
    match readiness.check().await {
        Ok(()) => next.run(req).await,
        Err(why) => with_retry_after(
            AdminError::new(
                ErrorCode::Unavailable,
                format!("the store is unavailable: {why}"),
            )
            .into_response(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony_core::MemoryStore;

    #[tokio::test]
    async fn startup_reasons_name_the_account_and_answers_are_cached() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let starting = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = starting.clone();
        let r = Readiness::new()
            .store(Some("a"), store.clone())
            .store_with_startup(
                Some("b"),
                store,
                Arc::new(move || {
                    flag.load(std::sync::atomic::Ordering::SeqCst)
                        .then(|| "migrating".to_string())
                }),
            );
        assert_eq!(r.check().await, Err("account b: migrating".to_string()));
        assert_eq!(r.account(Some("a")).check().await, Ok(()));
        starting.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(r.check().await, Ok(()));
        assert_eq!(Readiness::new().check().await, Ok(()));
    }

    /// A store that answers reads but cannot commit is unavailable, naming why, until a
    /// write commits: here the write probe readiness runs once space is back.
    #[tokio::test]
    async fn a_store_whose_writes_fail_is_unavailable_until_its_probe_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("telephony.db");
        let sqlite = telephony_store::SqliteStore::open_with(
            &path,
            // Room for the schema and the probe's write once the inbox is emptied (pages of
            // 1 KiB in a database the store creates).
            telephony_store::SqliteOptions::default().max_page_count(Some(256)),
        )
        .await
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let r = Readiness::new().store(Some("a"), store.clone());
        assert_eq!(r.check().await, Ok(()));
        let body = "x".repeat(2000);
        let mut stored = 0;
        while store
            .insert_inbound(&telephony_core::store_suite::inbound(
                &format!("SMprobe{stored:025}"),
                "+15557654321",
                &body,
                stored,
            ))
            .await
            .is_ok()
        {
            stored += 1;
            assert!(stored < 10_000, "the database never filled up");
        }
        // The last Ok answer is reused for CACHE_FOR; then the failure shows.
        tokio::time::sleep(CACHE_FOR).await;
        let why = r.check().await.unwrap_err();
        assert!(
            why.starts_with("account a: the store cannot write (disk full) since "),
            "{why}"
        );
        assert!(
            why.ends_with(", 2 failed write(s): (code: 13) database or disk is full"),
            "{why}"
        );
        // The probe ran and failed: two failed writes now (the insert and the probe).
        let failure = store.health().write_failure.unwrap();
        assert_eq!(failure.failures, 2, "{failure:?}");
        // Space comes back (rows deleted by another connection); no write is made but
        // the probe's, and readiness says ok.
        {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query("DELETE FROM inbox")
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
        }
        tokio::time::sleep(CACHE_FOR).await;
        assert_eq!(r.check().await, Ok(()));
        assert_eq!(store.health().write_failure, None);
        sqlite.close().await;
    }
}
