//! What every part of the gateway shares, given to each part when it is built: the
//! provider, the store, the counters, and where the gateway is reached (public URL, route
//! paths, the local listener's URL).

use std::sync::{Arc, Mutex};

use telephony_core::{Provider, Store, StoreError};

use crate::cluster::Holding;
use crate::metrics::{LazyHistogram, Metrics};

/// Where the gateway is reached: the public base URL and the route paths.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub(crate) public_url: Option<String>,
    pub(crate) webhook_path: String,
    pub(crate) status_path: String,
    pub(crate) stream_path: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            public_url: None,
            webhook_path: "/telephony/webhook".into(),
            status_path: "/telephony/status".into(),
            stream_path: "/telephony/stream".into(),
        }
    }
}

/// Times the store's group commits into `telephony_store_commit_duration_seconds{outcome}`
/// and `telephony_store_commit_batch_size`.
#[derive(Debug)]
struct CommitTimings {
    metrics: Arc<Metrics>,
    committed: LazyHistogram,
    rolled_back: LazyHistogram,
    size: LazyHistogram,
}

impl CommitTimings {
    fn new(metrics: Arc<Metrics>) -> Self {
        let duration = "telephony_store_commit_duration_seconds";
        CommitTimings {
            metrics,
            committed: LazyHistogram::new(duration, &[("outcome", "committed")]),
            rolled_back: LazyHistogram::new(duration, &[("outcome", "rolled_back")]),
            size: LazyHistogram::new("telephony_store_commit_batch_size", &[]),
        }
    }
}

impl telephony_core::store::CommitObserver for CommitTimings {
    fn batch(&self, size: usize, took: std::time::Duration, committed: bool) {
        let duration = if committed {
            &self.committed
        } else {
            &self.rolled_back
        };
        duration.cell(&self.metrics).observe_duration(took);
        self.size.cell(&self.metrics).observe(size as f64);
    }
}

/// Who this gateway is among the replicas of its store: the replica's id and the
/// account's name (both label every metric).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) replica: String,
    pub(crate) account: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            replica: crate::cluster::default_replica_id().to_string(),
            account: "default".into(),
        }
    }
}

/// The provider, the store, the counters and the gateway's URLs.
pub(crate) struct Shared {
    provider: Arc<dyn Provider>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    endpoints: Endpoints,
    identity: Identity,
    holding: Holding,
    /// Each message's and call's trace, from one task to the next (feature `otel`).
    traces: crate::trace::TraceLinks,
    /// Set by the server runner once the public listener is bound (status callback fallback).
    local_base_url: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(
        provider: Arc<dyn Provider>,
        store: Arc<dyn Store>,
        endpoints: Endpoints,
        identity: Identity,
    ) -> Self {
        let metrics = Arc::new(Metrics::new());
        let provider: Arc<dyn Provider> = Arc::new(crate::timed_provider::TimedProvider::new(
            provider,
            metrics.clone(),
        ));
        if !store.observe_commits(Arc::new(CommitTimings::new(metrics.clone()))) {
            tracing::debug!(
                "the store's commits are not timed: no group commit, or another gateway times them"
            );
        }
        Shared {
            provider,
            store,
            metrics,
            endpoints,
            identity,
            holding: Holding::default(),
            traces: crate::trace::TraceLinks::default(),
            local_base_url: Mutex::new(None),
        }
    }

    pub(crate) fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The traces of messages and calls in flight (feature `otel`).
    pub(crate) fn traces(&self) -> &crate::trace::TraceLinks {
        &self.traces
    }

    /// This gateway's counters (`GET /metrics`).
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// This replica's id.
    pub(crate) fn replica(&self) -> &str {
        &self.identity.replica
    }

    /// The account this gateway serves (`default` without accounts).
    pub(crate) fn account(&self) -> &str {
        &self.identity.account
    }

    /// What this replica holds now (for its heartbeat).
    pub(crate) fn holding(&self) -> &Holding {
        &self.holding
    }

    pub(crate) fn public_url(&self) -> Option<&str> {
        self.endpoints.public_url.as_deref()
    }

    pub(crate) fn webhook_path(&self) -> &str {
        &self.endpoints.webhook_path
    }

    pub(crate) fn status_path(&self) -> &str {
        &self.endpoints.status_path
    }

    pub(crate) fn stream_path(&self) -> &str {
        &self.endpoints.stream_path
    }

    pub(crate) fn set_local_base_url(&self, url: String) {
        *telephony_core::sync::lock(&self.local_base_url) = Some(url);
    }

    /// Where the provider reaches the gateway: the public URL, or the local listener's
    /// when there is none.
    pub(crate) fn base_url(&self) -> Option<String> {
        self.endpoints
            .public_url
            .clone()
            .or_else(|| telephony_core::sync::lock(&self.local_base_url).clone())
    }

    /// The URL the provider should send status callbacks to, if one is known.
    pub(crate) fn status_callback_url(&self) -> Option<String> {
        Some(format!(
            "{}{}",
            self.base_url()?,
            self.endpoints.status_path
        ))
    }

    /// The URL calls fetch instructions from and post gathers to, without a query.
    pub(crate) fn voice_url(&self) -> Option<String> {
        Some(format!(
            "{}{}",
            self.base_url()?,
            self.endpoints.webhook_path
        ))
    }

    /// The `/metrics` text: the counters, `telephony_build_info`, the store's health (errors
    /// by kind, whether writes fail, its size) and the gauges the store knows now (outbox
    /// depth and oldest age, forward queue, live sessions).
    ///
    /// A store that cannot answer leaves out the gauges it would have given (and says why
    /// in the log) rather than failing the scrape: its errors are what the scrape is for.
    pub(crate) async fn metrics_text(&self) -> Result<String, StoreError> {
        let store = &self.store;
        let mut gauges = vec![(
            "telephony_build_info",
            vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("provider", self.provider.name().to_string()),
            ],
            1.0,
        )];
        let health = store.health();
        for kind in telephony_core::StoreErrorKind::ALL {
            gauges.push((
                "telephony_store_errors_total",
                vec![("kind", kind.as_str().to_string())],
                health.errors_of(kind) as f64,
            ));
        }
        gauges.push((
            "telephony_store_write_failing",
            vec![],
            if health.write_failure.is_some() {
                1.0
            } else {
                0.0
            },
        ));
        let scraped = async {
            let depth = store.outbox_len().await?;
            let oldest = store.outbox_oldest().await?;
            let age = oldest.map_or(0.0, |t| {
                (time::OffsetDateTime::now_utc() - t)
                    .as_seconds_f64()
                    .max(0.0)
            });
            let forward = store.forward_stats().await?;
            let live = store.live_sessions().await?.len();
            Ok::<_, StoreError>([
                ("telephony_outbox_depth", depth as f64),
                ("telephony_outbox_oldest_age_seconds", age),
                ("telephony_forward_queue_depth", forward.pending as f64),
                ("telephony_live_sessions", live as f64),
            ])
        };
        match scraped.await {
            Ok(values) => gauges.extend(values.into_iter().map(|(n, v)| (n, vec![], v))),
            Err(e) => tracing::warn!(
                error = %telephony_core::error_chain(&e),
                "metrics: the store's gauges are left out, the store does not answer"
            ),
        }
        match store.size_bytes().await {
            Ok(Some(bytes)) => gauges.push(("telephony_store_bytes", vec![], bytes as f64)),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                error = %telephony_core::error_chain(&e),
                "metrics: telephony_store_bytes is left out, the store's size cannot be read"
            ),
        }
        Ok(self
            .metrics
            .render_for(&gauges, &self.identity.replica, &self.identity.account))
    }
}
