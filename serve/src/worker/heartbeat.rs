//! The heartbeat worker: records this replica's beat ([`crate::cluster`]) in the store every
//! [`BEAT_EVERY`], and removes it when the replica stops.

use std::sync::Arc;

use telephony_core::error_chain;
use telephony_core::store::ReplicaBeat;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::cluster::{BEAT_EVERY, LIVE_FOR};
use crate::shared::Shared;

/// The heartbeat task: beats at once, then every [`BEAT_EVERY`]; on stop, leaves (deletes
/// its row). A failed beat is logged and tried again at the next one: the replica only
/// drops out of `telephony status` while the store is unreachable.
pub(crate) async fn heartbeat(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let store = shared.store().clone();
    let started_at = OffsetDateTime::now_utc();
    let replica = shared.replica().to_string();
    let mut failing = false;
    loop {
        let mut beat = ReplicaBeat::new(replica.clone(), started_at)
            .with_accounts(vec![shared.account().to_string()]);
        beat.last_seen = OffsetDateTime::now_utc();
        beat.holds = shared.holding().now();
        match store.heartbeat(&beat).await {
            Ok(()) if failing => {
                tracing::info!(replica = %replica, "replica heartbeat recorded again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(replica = %replica, error = %error_chain(&e), "could not record this replica's heartbeat; trying again in {}s", BEAT_EVERY.as_secs());
                failing = true;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(BEAT_EVERY) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    match store.leave(&replica).await {
        Ok(()) => tracing::debug!(replica = %replica, "replica left"),
        Err(e) => {
            tracing::warn!(replica = %replica, error = %error_chain(&e), "could not remove this replica's heartbeat; it drops out of the list {}s after its last beat", LIVE_FOR.as_secs())
        }
    }
}

/// The replicas whose heartbeat is younger than [`LIVE_FOR`], by id.
pub(crate) async fn live_replicas(
    shared: &Shared,
) -> Result<Vec<ReplicaBeat>, telephony_core::StoreError> {
    let since = OffsetDateTime::now_utc() - LIVE_FOR;
    shared.store().replicas(since).await
}
