//! The retention pruner: once a minute, deletes the records the gateway's
//! [`RetentionPolicy`] no longer keeps, then gives the space back (SQLite's incremental
//! vacuum).
//!
//! It never competes with the inbound path for long: records go in batches of
//! [`PruneSettings::batch`] (500 by default), one short transaction each, with a pause
//! between batches, so the inbound writer waits at most one batch. Freed pages go back
//! [`PruneSettings::vacuum_pages`] at a time, with the same pause. Each batch is counted
//! in `telephony_pruned_total{kind}`; every run that removed something is logged.
//!
//! Replicas sharing a store prune on one replica at a time: before each run the worker
//! takes or renews the store's singleton lease [`PRUNE_TASK`]
//! ([`ClusterStore::try_lead`](telephony_core::ClusterStore::try_lead)), held for three
//! intervals; the others skip the run. A stop request ends a run between two batches.

use std::sync::Arc;
use std::time::Duration;

use telephony_core::error_chain;
use telephony_core::store::{PruneReport, RetentionPolicy};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::shared::Shared;

/// The singleton lease of the pruner's runs.
pub(crate) const PRUNE_TASK: &str = "retention-pruner";

/// What the pruner keeps and how it paces itself.
#[derive(Debug, Clone)]
pub(crate) struct PruneSettings {
    pub(crate) policy: RetentionPolicy,
    /// Time between two runs.
    pub(crate) every: Duration,
    /// Records per transaction.
    pub(crate) batch: usize,
    /// Pause after each batch and each vacuum step, for the other writers.
    pub(crate) pause: Duration,
    /// Free pages given back per vacuum step (4 KiB each).
    pub(crate) vacuum_pages: u32,
}

impl Default for PruneSettings {
    fn default() -> Self {
        PruneSettings {
            policy: RetentionPolicy::keep_everything(),
            every: Duration::from_secs(60),
            batch: 500,
            pause: Duration::from_millis(10),
            vacuum_pages: 128,
        }
    }
}

/// The pruner of one gateway: its shared state and its settings.
pub(crate) struct Pruner {
    shared: Arc<Shared>,
    settings: PruneSettings,
}

impl Pruner {
    pub(crate) fn new(shared: Arc<Shared>, settings: PruneSettings) -> Self {
        Pruner { shared, settings }
    }

    pub(crate) fn policy(&self) -> &RetentionPolicy {
        &self.settings.policy
    }
}

/// Runs the pruner until `stop` is set; returns at once when the policy keeps everything.
pub(crate) async fn run(pruner: Arc<Pruner>, mut stop: watch::Receiver<bool>) {
    let settings = &pruner.settings;
    if settings.policy.keeps_everything() {
        return;
    }
    tracing::info!(retention = %settings.policy.describe(), every_s = settings.every.as_secs(), "retention pruner started");
    loop {
        if leads(&pruner).await {
            prune_once(&pruner, &stop).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn leads(pruner: &Pruner) -> bool {
    let shared = &pruner.shared;
    let ttl = pruner.settings.every.saturating_mul(3);
    match shared
        .store()
        .try_lead(PRUNE_TASK, shared.replica(), OffsetDateTime::now_utc(), ttl)
        .await
    {
        Ok(true) => true,
        Ok(false) => {
            tracing::debug!(
                replica = shared.replica(),
                "another replica runs the pruner"
            );
            false
        }
        Err(e) => {
            tracing::error!(replica = shared.replica(), error = %error_chain(&e), "retention pruner could not take its lease; skipping this run");
            false
        }
    }
}

/// One run: every kind past its retention, then the space back. Errors are logged; the
/// next run tries again.
pub(crate) async fn prune_once(
    pruner: &Pruner,
    stop: &watch::Receiver<bool>,
) -> Option<PruneReport> {
    let shared = &pruner.shared;
    let settings = &pruner.settings;
    let store = shared.store();
    let started = std::time::Instant::now();
    let pause = settings.pause;
    let report = settings
        .policy
        .prune(
            store.as_ref(),
            OffsetDateTime::now_utc(),
            settings.batch,
            |kind, n| {
                shared.metrics().add(
                    "telephony_pruned_total",
                    &[("kind", kind.as_str())],
                    n as f64,
                );
                let stopping = *stop.borrow();
                async move {
                    if !stopping {
                        tokio::time::sleep(pause).await;
                    }
                    !stopping
                }
            },
        )
        .await;
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(account = shared.account(), error = %error_chain(&e), "retention pruning failed; retrying on the next run");
            return None;
        }
    };
    if report.total() == 0 {
        tracing::debug!(
            account = shared.account(),
            "retention pruner: nothing to remove"
        );
        return Some(report);
    }
    let removed: Vec<String> = report
        .kinds
        .iter()
        .map(|k| format!("{} {}", k.kind, k.removed))
        .collect();
    let pages = reclaim(pruner, stop).await;
    tracing::info!(
        account = shared.account(),
        removed = %removed.join(", "),
        total = report.total(),
        pages_reclaimed = pages,
        ms = started.elapsed().as_millis() as u64,
        "retention pruner removed old records"
    );
    Some(report)
}

/// Gives freed pages back in small steps until none is left (or the gateway stops).
async fn reclaim(pruner: &Pruner, stop: &watch::Receiver<bool>) -> u64 {
    let mut total = 0;
    while !*stop.borrow() {
        match pruner
            .shared
            .store()
            .reclaim_space(pruner.settings.vacuum_pages)
            .await
        {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "giving pruned space back failed; retrying on the next run");
                break;
            }
        }
        tokio::time::sleep(pruner.settings.pause).await;
    }
    total
}
