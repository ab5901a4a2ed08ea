//! Wake-ups between replicas: `LISTEN`/`NOTIFY`.
//!
//! The transactions that enqueue work (an inbound batch with a new message, an outbox
//! entry, a released held send, a forward event) end with one `pg_notify` on the schema's
//! channel, with `kind:token` as payload. `NOTIFY` is transactional: it is delivered when
//! the transaction commits (never for a rollback), and repeats of one payload in one
//! transaction are delivered once, so a group-committed batch notifies once.
//!
//! Each store listens on one dedicated connection (not from its pool), started by the
//! first [`watch`](Wakeups::watch), and turns notifications into [`WorkWatch`] wake-ups.
//! Its own notifications (its token) are skipped: the gateway that enqueued already woke
//! its workers in process. When the connection is lost the listener reconnects with
//! backoff, logging each step, and after every (re)connect wakes every watch once, since
//! work may have been enqueued while nobody listened.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use telephony_core::StoreError;
use telephony_core::store::{WorkKind, WorkWatch};
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// The longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The first wait after a failed attempt; doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What the enqueueing transactions need to notify: the channel and this store's payloads.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    channel: Arc<str>,
    token: Arc<str>,
}

impl Notifier {
    /// Queues a `NOTIFY` for `kind` in the caller's transaction (sent at its commit).
    pub(crate) async fn notify(
        &self,
        conn: &mut PgConnection,
        kind: WorkKind,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&*self.channel)
            .bind(format!("{}:{}", kind.as_str(), self.token))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// [`notify`](Self::notify) for the store's own statements.
    pub(crate) async fn notify_store(
        &self,
        conn: &mut PgConnection,
        kind: WorkKind,
    ) -> Result<(), StoreError> {
        self.notify(conn, kind).await.map_err(StoreError::backend)
    }
}

/// The channel of `schema`: `telephony_work_<schema>`, or, when that is longer than a
/// PostgreSQL identifier may be (63 bytes), `telephony_work_<64-bit FNV-1a of schema>`.
pub(crate) fn channel_name(schema: &str) -> String {
    let plain = format!("telephony_work_{schema}");
    if plain.len() <= 63 {
        return plain;
    }
    // FNV-1a: stable across processes and versions (std's hashers are not).
    let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("telephony_work_{hash:016x}")
}

/// A token no other store (in any process) has: random, with the pid and the time.
fn new_token() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// One watch sender per [`WorkKind`], in the order of [`WorkKind::ALL`].
#[derive(Debug)]
struct Signals(Vec<watch::Sender<u64>>);

impl Signals {
    fn new() -> Self {
        Signals(WorkKind::ALL.iter().map(|_| watch::channel(0).0).collect())
    }

    fn sender(&self, kind: WorkKind) -> &watch::Sender<u64> {
        let i = WorkKind::ALL.iter().position(|k| *k == kind);
        // Every kind is in ALL, so the fallback (the first) is never taken.
        &self.0[i.unwrap_or(0)]
    }

    fn wake(&self, kind: WorkKind) {
        self.sender(kind).send_modify(|n| *n = n.wrapping_add(1));
    }

    fn wake_all(&self) {
        for kind in WorkKind::ALL {
            self.wake(kind);
        }
    }
}

/// A store's wake-ups: its [`Notifier`], and the listener started on first use.
#[derive(Debug)]
pub(crate) struct Wakeups {
    notifier: Notifier,
    connect: PgConnectOptions,
    signals: Arc<Signals>,
    started: Once,
    /// Set to true (or dropped, with the last clone of the store) to stop the listener.
    stop: watch::Sender<bool>,
    /// The (redacted) URL and the schema, for the listener's logs.
    url: String,
    schema: String,
}

impl Wakeups {
    pub(crate) fn new(connect: PgConnectOptions, url: String, schema: &str) -> Self {
        Wakeups {
            notifier: Notifier {
                channel: channel_name(schema).into(),
                token: new_token().into(),
            },
            connect,
            signals: Arc::new(Signals::new()),
            started: Once::new(),
            stop: watch::channel(false).0,
            url,
            schema: schema.to_string(),
        }
    }

    pub(crate) fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// A watch on `kind`; starts the listener on first use (inside a tokio runtime; outside
    /// one the watch never fires, which the workers' polls cover, and that is logged).
    pub(crate) fn watch(&self, kind: WorkKind) -> WorkWatch {
        let rx = self.signals.sender(kind).subscribe();
        self.started.call_once(|| match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(listen(
                    self.connect.clone(),
                    self.notifier.clone(),
                    self.signals.clone(),
                    self.stop.subscribe(),
                    (self.url.clone(), self.schema.clone()),
                ));
            }
            Err(_) => warn!(
                url = %self.url,
                schema = %self.schema,
                "no tokio runtime to listen for other replicas' work on: workers rely on their polls"
            ),
        });
        WorkWatch::from_receiver(rx)
    }

    /// Stops the listener (the store is closing).
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// The listener task: connects, `LISTEN`s, relays notifications, reconnects when the
/// connection goes away; ends when told to stop or when the store is dropped.
async fn listen(
    connect: PgConnectOptions,
    notifier: Notifier,
    signals: Arc<Signals>,
    mut stop: watch::Receiver<bool>,
    (url, schema): (String, String),
) {
    // A pool of its own, of one connection that never idles out: the store's pool keeps all
    // its connections for statements.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(connect);
    let channel = &*notifier.channel;
    let mut backoff = FIRST_BACKOFF;
    let mut lost = false;
    'connect: loop {
        if *stop.borrow() {
            break;
        }
        let attempt = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(channel).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = tokio::select! {
            r = attempt => match r {
                Ok(l) => l,
                Err(e) => {
                    warn!(url = %url, schema = %schema, error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "cannot listen for other replicas' work (PostgreSQL LISTEN); workers rely on their polls until it is back");
                    lost = true;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break 'connect,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue 'connect;
                }
            },
            _ = stop.changed() => break 'connect,
        };
        if lost {
            info!(url = %url, schema = %schema, channel, "listening for other replicas' work again (PostgreSQL LISTEN reconnected)");
        } else {
            debug!(url = %url, schema = %schema, channel, "listening for other replicas' work");
        }
        backoff = FIRST_BACKOFF;
        // Work may have been enqueued while nobody listened.
        signals.wake_all();
        loop {
            let received = tokio::select! {
                r = listener.try_recv() => r,
                _ = stop.changed() => break 'connect,
            };
            match received {
                Ok(Some(n)) => {
                    let Some((kind, token)) = n.payload().split_once(':') else {
                        debug!(
                            payload = n.payload(),
                            "ignoring a notification that is not ours"
                        );
                        continue;
                    };
                    if token == &*notifier.token {
                        continue;
                    }
                    match WorkKind::parse(kind) {
                        Some(kind) => signals.wake(kind),
                        None => debug!(
                            payload = n.payload(),
                            "ignoring a notification of an unknown kind"
                        ),
                    }
                }
                Ok(None) => {
                    // sqlx reconnected (and listens again) before returning this.
                    warn!(url = %url, schema = %schema,
                        "the PostgreSQL LISTEN connection was lost and is back; waking the workers in case they missed work");
                    signals.wake_all();
                }
                Err(e) => {
                    warn!(url = %url, schema = %schema, error = %e,
                        "the PostgreSQL LISTEN connection failed; reconnecting");
                    lost = true;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break 'connect,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue 'connect;
                }
            }
        }
    }
    pool.close().await;
    debug!(url = %url, schema = %schema, "stopped listening for other replicas' work");
}

#[cfg(test)]
mod tests {
    use super::channel_name;

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_name("account_main"), "telephony_work_account_main");
        let long = "a".repeat(63);
        let name = channel_name(&long);
        assert_eq!(name.len(), "telephony_work_".len() + 16);
        assert_eq!(name, channel_name(&long), "stable");
        assert_ne!(name, channel_name(&"b".repeat(63)));
    }
}
