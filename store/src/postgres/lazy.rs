//! [`PostgresStore::connect_lazy_with`]: a store that exists before its server answers, so
//! a gateway starts (and says it is not ready) while the database is down, and migrates it
//! once it comes up.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use telephony_core::StoreError;
use telephony_core::redact::redact_url;
use tokio::sync::watch;
use tracing::{info, warn};

use super::group_commit::InboundWriter;
use super::wakeups::Wakeups;
use super::{OpenError, PostgresOptions, PostgresStore, connect_options, create_schema, hint};

/// The first wait after a failed attempt; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between attempts.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Where a lazily opened store is in its startup (see [`StoreStartup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartupState {
    /// The first attempt is under way.
    Connecting,
    /// The last attempt failed; the next one follows after `retry_in`.
    Unavailable {
        /// Attempts made so far.
        attempt: u32,
        /// Why the last one failed (never the URL or its password).
        reason: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// The schema exists and every migration is applied.
    Ready,
}

/// The startup of a store opened with [`PostgresStore::connect_lazy_with`]: connecting,
/// creating the schema and migrating, retried with backoff (1 s doubling to 30 s) until it
/// succeeds. Cloning shares it; dropping every clone stops the retries.
#[derive(Debug, Clone)]
pub struct StoreStartup {
    rx: watch::Receiver<StartupState>,
}

impl StoreStartup {
    /// The current state.
    pub fn state(&self) -> StartupState {
        self.rx.borrow().clone()
    }

    /// True once the schema is migrated.
    pub fn is_ready(&self) -> bool {
        matches!(*self.rx.borrow(), StartupState::Ready)
    }

    /// Waits until the first attempt is over: the store is ready, or the attempt failed
    /// (and the next one is scheduled).
    pub async fn first_attempt(&mut self) {
        let _ = self
            .rx
            .wait_for(|s| !matches!(s, StartupState::Connecting))
            .await;
    }

    /// Waits until the schema is migrated.
    pub async fn ready(&mut self) {
        // The sender only goes away once Ready was sent (or with the runtime).
        let _ = self.rx.wait_for(|s| matches!(s, StartupState::Ready)).await;
    }
}

impl PostgresStore {
    /// Like [`connect_with`](Self::connect_with), but returns at once, without reaching the
    /// server: the pool connects on demand, and a task creates the schema and applies the
    /// migrations, retrying with backoff (1 s doubling to 30 s, each failure logged with the
    /// URL redacted) until the server answers. Until the returned [`StoreStartup`] is ready,
    /// operations fail (the tables are not there yet, or the server does not answer).
    ///
    /// Fails only for an unusable URL or schema name. Must be called inside a tokio runtime.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use telephony_store::{PostgresOptions, PostgresStore};
    ///
    /// let (store, mut startup) = PostgresStore::connect_lazy_with(
    ///     "postgres://gw:secret@db.internal/telephony",
    ///     PostgresOptions::default().schema("telephony"),
    /// )?;
    /// startup.ready().await; // or serve now and answer 503 until it is
    /// assert!(startup.is_ready());
    /// # drop(store);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn connect_lazy_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<(Self, StoreStartup), StoreError> {
        let redacted = redact_url(url);
        let connect = connect_options(url, &options).map_err(|(what, source)| {
            StoreError::backend(OpenError {
                url: redacted.clone(),
                what,
                source,
            })
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_lazy_with(connect.clone());
        let schema = options.schema.as_deref().unwrap_or("public").to_string();
        // The listener reconnects with backoff on its own, so it may start before the
        // server answers.
        let wakeups = Arc::new(Wakeups::new(connect.clone(), redacted.clone(), &schema));
        let health = Arc::new(crate::health::Health::default());
        let (tx, rx) = watch::channel(StartupState::Connecting);
        tokio::spawn(prepare(
            connect,
            pool.clone(),
            options.clone(),
            redacted.clone(),
            tx,
        ));
        Ok((
            PostgresStore {
                inbound: InboundWriter::spawn(
                    pool.clone(),
                    wakeups.notifier().clone(),
                    health.clone(),
                ),
                health,
                wakeups,
                url: redacted,
                options,
                pool,
            },
            StoreStartup { rx },
        ))
    }
}

/// Creates the schema and migrates it, retrying with backoff until it works or nobody
/// watches the startup any more.
async fn prepare(
    connect: PgConnectOptions,
    pool: PgPool,
    options: PostgresOptions,
    url: String,
    tx: watch::Sender<StartupState>,
) {
    let schema = options.schema.clone().unwrap_or_else(|| "public".into());
    let mut delay = FIRST_RETRY;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match prepare_once(&connect, &pool, &options).await {
            Ok(()) => {
                info!(url = %url, schema = %schema, attempt, "postgres store ready (schema migrated)");
                let _ = tx.send(StartupState::Ready);
                return;
            }
            Err(reason) => {
                warn!(url = %url, schema = %schema, attempt, retry_in_s = delay.as_secs(), error = %reason, "postgres store unavailable; retrying");
                let state = StartupState::Unavailable {
                    attempt,
                    reason,
                    retry_in: delay,
                };
                if tx.send(state).is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = tx.closed() => return,
        }
        delay = (delay * 2).min(MAX_RETRY);
    }
}

/// One attempt: a plain connection (its own error when the server is down), the schema,
/// then the migrations on the pool.
async fn prepare_once(
    connect: &PgConnectOptions,
    pool: &PgPool,
    options: &PostgresOptions,
) -> Result<(), String> {
    let mut first =
        tokio::time::timeout(options.connect_timeout, PgConnection::connect_with(connect))
            .await
            .map_err(|_| {
                format!(
                    "connecting to the server timed out after {:?} (is it running and reachable?)",
                    options.connect_timeout
                )
            })?
            .map_err(|e| format!("connecting to the server: {}", hint(&e)))?;
    if let Some(schema) = &options.schema {
        create_schema(&mut first, schema)
            .await
            .map_err(|e| format!("creating the schema {schema:?}: {e}"))?;
    }
    if let Err(e) = first.close().await {
        tracing::debug!(error = %e, "closing the first connection failed");
    }
    super::migrations::run(pool)
        .await
        .map_err(|e| format!("migrating the schema: {e}"))
}
