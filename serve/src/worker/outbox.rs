//! The outbox worker: claims due messages from the durable outbox and hands them to the
//! provider. Retryable failures (429, 5xx, network) are retried with exponential backoff
//! that honors `Retry-After`; permanent ones (an invalid number, an opted-out recipient)
//! fail the receipt at once with the provider's code and message.
//!
//! Delivery to the provider is at-least-once: a claim is a lease, so if the process dies
//! between the provider accepting a message and the store recording it, the message is
//! sent again when the lease (two minutes) runs out.

use std::time::Duration;

use telephony_core::{error_chain, OutboxItem, SendOptions};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::gateway::Gateway;

/// How long a claimed message is reserved for the worker that claimed it.
pub const LEASE: Duration = Duration::from_secs(120);

/// Backoff before attempt `attempts + 1`: 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(8)).min(Duration::from_secs(300))
}

pub(crate) async fn run(gw: Gateway, mut stop: watch::Receiver<bool>) {
    let store = gw.inner.store.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let batch = store
            .claim_outbound(now, LEASE, gw.inner.settings.outbox_concurrency)
            .await;
        match batch {
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "outbox claim failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
            Ok(items) if items.is_empty() => {
                tokio::select! {
                    _ = gw.inner.outbox_wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => return,
                }
            }
            Ok(items) => {
                let mut set = JoinSet::new();
                for item in items {
                    set.spawn(attempt(gw.clone(), item));
                }
                while let Some(r) = set.join_next().await {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "outbox attempt task failed");
                    }
                }
            }
        }
    }
}

async fn attempt(gw: Gateway, item: OutboxItem) {
    let store = &gw.inner.store;
    let opts = match gw.status_callback_url() {
        Some(u) => SendOptions::with_status_callback(u),
        None => SendOptions::default(),
    };
    let attempt_no = item.attempts + 1;
    let result = gw.inner.provider.send(&item.message, &opts).await;
    let now = OffsetDateTime::now_utc();
    let recorded = match result {
        Ok(mut r) => {
            if r.num_segments.is_none() {
                // Twilio reports "0" for Messaging Service sends until it picks a sender;
                // record our own count (the segment calculator's rules) instead of nothing.
                r.num_segments =
                    Some(telephony_core::sms::analyze(&item.message.body).segments as u32);
            }
            tracing::info!(message_id = %item.id, message_sid = %r.sid, status = %r.status, segments = ?r.num_segments, attempt = attempt_no, "provider accepted message");
            store.complete_outbound(&item.id, &r, now).await.map(Some)
        }
        Err(e) if e.is_retryable() && attempt_no < gw.inner.settings.max_send_attempts => {
            let wait = e
                .retry_after()
                .unwrap_or_default()
                .max(backoff(item.attempts));
            tracing::warn!(message_id = %item.id, attempt = attempt_no, wait_ms = wait.as_millis() as u64, error = %e, "send failed, will retry");
            match store
                .retry_outbound(&item.id, &e.to_error_info(), now + wait)
                .await
            {
                Ok(()) => store.receipt(&item.id).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => {
            tracing::warn!(message_id = %item.id, attempt = attempt_no, code = ?e.code(), error = %e, "send failed permanently");
            if e.is_opted_out() {
                // The provider knows the recipient texted STOP: remember it so later sends
                // fail without a provider call.
                let n = item.message.to.number();
                if let Err(se) = store.set_opted_out(n, true, now).await {
                    tracing::error!(error = %error_chain(&se), "could not record opt-out");
                }
            }
            store
                .fail_outbound(&item.id, &e.to_error_info(), now)
                .await
                .map(Some)
        }
    };
    match recorded {
        Ok(Some(receipt)) => gw.notify_waiters(&receipt),
        Ok(None) => {}
        Err(e) => {
            // The lease expires and the message is tried again: at-least-once.
            tracing::error!(message_id = %item.id, error = %error_chain(&e), "could not record send result");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(8), Duration::from_secs(256));
        assert_eq!(backoff(30), Duration::from_secs(256));
    }
}
