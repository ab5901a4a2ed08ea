//! The outbox worker: claims due messages from the durable outbox and hands them to the
//! provider. This is the **only** place sends are retried:
//!
//! - a provider's `send` makes one HTTP attempt per call (Twilio's and Telnyx's do);
//! - a retryable failure (429, 5xx, a network error before the request reached the
//!   provider) is tried again after [`telephony_core::retry::wait`]: the longer of the
//!   provider's `Retry-After` and the one backoff (1 s, 2 s, 4 s … at most 5 minutes), for
//!   at most `max_send_attempts` attempts in all;
//! - a permanent failure (an invalid number, an opted-out recipient, 4xx) fails the receipt
//!   at once with the provider's code and message;
//! - a timeout is never replayed: the provider may have accepted the message, and sending
//!   it again could deliver it twice, so the receipt fails with the timeout.
//!
//! Delivery to the provider is at-least-once: a claim is a lease, so if the process dies
//! between the provider accepting a message and the store recording it, the message is
//! sent again when the lease (two minutes) runs out. Waiting happens between claims (the
//! store's next-attempt time), never inside one, and one attempt is cut off at
//! [`ATTEMPT_TIMEOUT`], well inside the lease.

use std::time::Duration;

use telephony_core::{error_chain, OutboxItem, ProviderError, SendOptions};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::gateway::Gateway;

/// How long a claimed message is reserved for the worker that claimed it.
pub const LEASE: Duration = Duration::from_secs(120);

/// The longest one send attempt may take before it is given up as a timeout (and, like any
/// timeout, not replayed). Shorter than [`LEASE`], so no other worker can claim a message
/// while an attempt on it is still running.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(90);

const _: () = assert!(ATTEMPT_TIMEOUT.as_secs() < LEASE.as_secs());

/// When to try a failed send again, or `None` to fail it now.
///
/// `attempts` is how many attempts were made before the one that failed with `error`;
/// `max_attempts` is the gateway's `max_send_attempts`. A retry waits
/// [`retry::wait`](telephony_core::retry::wait)`(attempts, error.retry_after())`.
///
/// ```
/// use std::time::Duration;
/// use telephony_core::ProviderError;
/// use telephony_serve::worker::outbox::retry_in;
///
/// let limited = ProviderError::api("acme", 429, "slow down")
///     .with_retry_after(Some(Duration::from_secs(5)));
/// assert_eq!(retry_in(&limited, 0, 8), Some(Duration::from_secs(5)));
/// let unavailable = ProviderError::api("acme", 503, "down");
/// assert_eq!(retry_in(&unavailable, 2, 8), Some(Duration::from_secs(4)));
/// assert_eq!(retry_in(&unavailable, 7, 8), None, "the 8th attempt was the last");
/// assert_eq!(retry_in(&ProviderError::api("acme", 400, "bad number"), 0, 8), None);
/// ```
pub fn retry_in(error: &ProviderError, attempts: u32, max_attempts: u32) -> Option<Duration> {
    let may_try_again =
        error.is_retryable() && !error.is_timeout() && attempts.saturating_add(1) < max_attempts;
    may_try_again.then(|| telephony_core::retry::wait(attempts, error.retry_after()))
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
    let provider = &gw.inner.provider;
    let result =
        match tokio::time::timeout(ATTEMPT_TIMEOUT, provider.send(&item.message, &opts)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::transport(
                provider.name(),
                "its API",
                true,
                format!(
                    "no answer within {} s; not sent again, it may have been accepted",
                    ATTEMPT_TIMEOUT.as_secs()
                ),
            )),
        };
    let now = OffsetDateTime::now_utc();
    let retrying = matches!(&result, Err(e) if retry_in(e, item.attempts, gw.inner.settings.max_send_attempts).is_some());
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
        Err(e) if retry_in(&e, item.attempts, gw.inner.settings.max_send_attempts).is_some() => {
            let wait = retry_in(&e, item.attempts, gw.inner.settings.max_send_attempts)
                .unwrap_or_default();
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
        Ok(Some(receipt)) => {
            let status = if retrying {
                "retrying"
            } else {
                receipt.status.as_str()
            };
            gw.metrics()
                .inc("telephony_sends_total", &[("status", status)]);
            gw.notify_waiters(&receipt)
        }
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

    fn secs(d: Option<Duration>) -> Option<u64> {
        d.map(|d| d.as_secs())
    }

    #[test]
    fn retryable_errors_wait_for_backoff_or_retry_after() {
        let unavailable = ProviderError::api("p", 500, "down");
        let waits: Vec<_> = (0..8).map(|n| secs(retry_in(&unavailable, n, 8))).collect();
        assert_eq!(
            waits,
            [
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(64),
                None
            ]
        );
        let limited =
            ProviderError::api("p", 429, "slow").with_retry_after(Some(Duration::from_secs(30)));
        assert_eq!(secs(retry_in(&limited, 0, 8)), Some(30));
        assert_eq!(secs(retry_in(&limited, 6, 8)), Some(64));
        // Retry-After: 0 never shortens the backoff.
        let now = ProviderError::api("p", 429, "slow").with_retry_after(Some(Duration::ZERO));
        assert_eq!(secs(retry_in(&now, 1, 8)), Some(2));
    }

    #[test]
    fn permanent_errors_timeouts_and_the_last_attempt_fail() {
        assert_eq!(retry_in(&ProviderError::api("p", 400, "bad"), 0, 8), None);
        let opted_out = ProviderError::api("p", 409, "stop").with_opted_out(true);
        assert_eq!(retry_in(&opted_out, 0, 8), None);
        let timeout = ProviderError::transport("p", "http://x", true, "timed out");
        assert_eq!(
            retry_in(&timeout, 0, 8),
            None,
            "a timeout is never replayed"
        );
        let refused = ProviderError::transport("p", "http://x", false, "refused");
        assert_eq!(secs(retry_in(&refused, 0, 8)), Some(1));
        assert_eq!(retry_in(&refused, 0, 1), None, "one attempt allowed");
        assert_eq!(retry_in(&refused, 0, 0), None);
    }
}
