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
//! Per-sender rate limits ([`crate::rate_limit::outbound`]): an entry whose sender has no
//! slot yet is put back in the store until its slot ([`OutboxStore::defer_outbound`]:
//! no attempt counted, no error on the receipt), so the send API still answers at once and
//! nothing is dropped. A sender's backlog is spread over its successive slots (each entry
//! is put back once, not at every slot); a recipient's entries keep their order (a later
//! one never goes before one put back, and one recipient's sends go one at a time); and
//! sends run in their own tasks, so one sender waiting or a slow provider call never holds
//! up another sender.
//!
//! [`OutboxStore::defer_outbound`]: telephony_core::OutboxStore::defer_outbound
//!
//! Delivery to the provider is at-least-once: a claim is a lease, so if the process dies
//! between the provider accepting a message and the store recording it, the message is
//! sent again when the lease (two minutes) runs out. Waiting happens between claims (the
//! store's next-attempt time), never inside one, and one attempt is cut off at
//! [`ATTEMPT_TIMEOUT`], well inside the lease.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telephony_core::{error_chain, MessageId, OutboxItem, ProviderError, SendOptions};
use time::OffsetDateTime;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
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
    let permits = Arc::new(Semaphore::new(gw.inner.settings.outbox_concurrency.max(1)));
    let lanes = Lanes::default();
    let mut tasks = JoinSet::new();
    let mut sched = Schedule::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "outbox send task failed");
            }
        }
        let free = permits.available_permits();
        if free == 0 {
            // Every send slot is busy: wait for one to finish (other senders' sends and
            // deferrals go on in their own tasks meanwhile).
            tokio::select! {
                p = permits.clone().acquire_owned() => drop(p),
                _ = stop.changed() => break,
            }
            continue;
        }
        let clock = sched.clock();
        let batch = store.claim_outbound(clock.utc, LEASE, free).await;
        match batch {
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "outbox claim failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => break,
                }
            }
            Ok(items) => {
                let full = items.len() == free;
                let mut blocked = HashMap::new();
                for item in items {
                    match sched.decide(&gw, &item, &clock, &mut blocked) {
                        Turn::Send => {
                            let permit = permits
                                .clone()
                                .try_acquire_owned()
                                .expect("claimed no more entries than free permits");
                            lanes.push(&gw, &mut tasks, item, permit);
                        }
                        Turn::Wait { until, first } => {
                            defer(&gw, &item, until, &clock, first).await;
                        }
                    }
                }
                sched.prune(clock.mono);
                if full {
                    continue;
                }
                let wake = sched
                    .next_wake(Instant::now())
                    .unwrap_or(IDLE_POLL)
                    .min(IDLE_POLL);
                tokio::select! {
                    _ = gw.inner.outbox_wake.notified() => {}
                    _ = tokio::time::sleep(wake) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    // Entries claimed but not started go back to the outbox now (due at once, no attempt
    // counted), so the next start sends them without waiting for their lease; the sends
    // already started finish and are recorded.
    let now = OffsetDateTime::now_utc();
    for job in lanes.take_waiting() {
        if let Err(e) = store.defer_outbound(&job.item.id, now).await {
            // Its lease runs out and the next start claims it again: nothing is lost.
            tracing::error!(message_id = %job.item.id, error = %error_chain(&e), "could not release a claimed send at shutdown");
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "outbox send task failed");
        }
    }
}

/// How long the worker sleeps when it knows of nothing due (a new send wakes it at once).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Puts a claimed entry back until its slot, without counting an attempt.
async fn defer(gw: &Gateway, item: &OutboxItem, until: Instant, clock: &Now, first: bool) {
    let wait = until.saturating_duration_since(clock.mono);
    let at = clock.utc_of(until);
    if first {
        gw.metrics()
            .inc("telephony_rate_limited_total", &[("limiter", "outbound")]);
    }
    gw.metrics().add(
        "telephony_rate_limit_wait_seconds_total",
        &[("limiter", "outbound")],
        wait.as_secs_f64(),
    );
    tracing::debug!(message_id = %item.id, wait_ms = wait.as_millis() as u64, "send waits for its sender's rate-limit slot");
    if let Err(e) = gw.inner.store.defer_outbound(&item.id, at).await {
        // The lease runs out and the entry is claimed again: nothing is lost.
        tracing::error!(message_id = %item.id, error = %error_chain(&e), "could not put a rate-limited send back");
    }
}

/// The wall clock and the monotonic clock read together; slots are monotonic instants
/// (governor's clock), the store's times are wall-clock times.
#[derive(Debug, Clone, Copy)]
struct Now {
    utc: OffsetDateTime,
    mono: Instant,
    /// The pair slot times are converted with, so one slot always maps to the same stored
    /// time (two entries deferred to one slot keep their order).
    anchor: (OffsetDateTime, Instant),
}

impl Now {
    fn utc_of(&self, t: Instant) -> OffsetDateTime {
        let (utc, mono) = self.anchor;
        let at = match t.checked_duration_since(mono) {
            Some(d) => utc + d,
            None => utc - mono.duration_since(t),
        };
        // Stored to the millisecond, rounded down: due no later than the slot.
        let ms = at.unix_timestamp_nanos().div_euclid(1_000_000);
        OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap_or(at)
    }
}

/// What the worker does with a claimed entry.
enum Turn {
    /// Send it now.
    Send,
    /// Put it back until `until`; `first` when it had not waited before.
    Wait { until: Instant, first: bool },
}

/// The worker's memory of the slots it handed out: which deferred entry waits for which
/// slot, the last slot given per sender (so a backlog is spread over successive slots
/// instead of being claimed and put back at every slot), and when to wake up.
struct Schedule {
    booked: HashMap<MessageId, Instant>,
    tails: HashMap<String, Instant>,
    wakes: BinaryHeap<Reverse<Instant>>,
    anchor: (OffsetDateTime, Instant),
    pruned_at: Instant,
}

/// How far the wall clock may drift from the anchor before slots are converted with a
/// new one.
const MAX_DRIFT: Duration = Duration::from_millis(5);

impl Schedule {
    fn new() -> Self {
        let now = Instant::now();
        Schedule {
            booked: HashMap::new(),
            tails: HashMap::new(),
            wakes: BinaryHeap::new(),
            anchor: (OffsetDateTime::now_utc(), now),
            pruned_at: now,
        }
    }

    fn clock(&mut self) -> Now {
        let mono = Instant::now();
        let utc = OffsetDateTime::now_utc();
        let expected = self.anchor.0 + mono.duration_since(self.anchor.1);
        if (utc - expected).unsigned_abs() > MAX_DRIFT {
            self.anchor = (utc, mono);
        }
        Now {
            utc,
            mono,
            anchor: self.anchor,
        }
    }

    /// Decides one claimed entry, in claim order. `blocked` holds, for this batch, the
    /// recipients with an entry put back and until when: later entries to them wait at
    /// least as long, so no recipient's messages overtake each other.
    fn decide(
        &mut self,
        gw: &Gateway,
        item: &OutboxItem,
        clock: &Now,
        blocked: &mut HashMap<String, Instant>,
    ) -> Turn {
        let recipient = item.message.to.number().as_str().to_string();
        let first = self.booked.remove(&item.id).is_none();
        let sender = gw.inner.provider.sender(&item.message);
        let limiter = &gw.inner.limiters.outbound;
        let until = match &sender {
            // Earlier sends from this sender wait for later slots: take the next one.
            Some(sender) if first && self.tails.get(sender).is_some_and(|t| *t > clock.mono) => {
                self.tails[sender] + limiter.rate_for(sender).interval()
            }
            // An earlier entry to this recipient was put back: wait behind it, taking no slot.
            _ if blocked.contains_key(&recipient) => {
                let until = blocked[&recipient];
                self.book(&item.id, until);
                return Turn::Wait { until, first };
            }
            None => return Turn::Send,
            Some(sender) => match limiter.check(sender) {
                Ok(()) => return Turn::Send,
                Err(earliest) => earliest,
            },
        };
        let until = blocked.get(&recipient).map_or(until, |b| until.max(*b));
        if let Some(sender) = sender {
            let tail = self.tails.entry(sender).or_insert(until);
            *tail = (*tail).max(until);
        }
        self.book(&item.id, until);
        let held = blocked.entry(recipient).or_insert(until);
        *held = (*held).max(until);
        Turn::Wait { until, first }
    }

    fn book(&mut self, id: &MessageId, until: Instant) {
        self.booked.insert(id.clone(), until);
        self.wakes.push(Reverse(until));
    }

    /// How long until the next booked slot, if any is ahead.
    fn next_wake(&mut self, now: Instant) -> Option<Duration> {
        while let Some(Reverse(t)) = self.wakes.peek() {
            if *t > now {
                // A millisecond late, so the slot's stored (rounded down) time has passed.
                return Some(t.duration_since(now) + Duration::from_millis(1));
            }
            self.wakes.pop();
        }
        None
    }

    /// Forgets slots that can no longer matter (entries another worker took, senders with
    /// nothing waiting), every half minute.
    fn prune(&mut self, now: Instant) {
        if now.duration_since(self.pruned_at) < Duration::from_secs(30) {
            return;
        }
        self.pruned_at = now;
        self.tails.retain(|_, t| *t > now);
        self.booked
            .retain(|_, t| t.checked_add(LEASE).is_none_or(|end| end > now));
    }
}

/// A claimed entry ready to send, with the concurrency permit it holds until recorded.
struct Job {
    item: OutboxItem,
    permit: OwnedSemaphorePermit,
}

/// One sending lane per recipient: entries to one recipient go one after the other, in
/// claim order; different recipients (and senders) in parallel.
#[derive(Clone, Default)]
struct Lanes(Arc<Mutex<HashMap<String, VecDeque<Job>>>>);

impl Lanes {
    fn push(
        &self,
        gw: &Gateway,
        tasks: &mut JoinSet<()>,
        item: OutboxItem,
        permit: OwnedSemaphorePermit,
    ) {
        let key = item.message.to.number().as_str().to_string();
        let job = Job { item, permit };
        {
            let mut lanes = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(queue) = lanes.get_mut(&key) {
                queue.push_back(job);
                return;
            }
            lanes.insert(key.clone(), VecDeque::new());
        }
        tasks.spawn(self.clone().drive(gw.clone(), key, job));
    }

    /// Takes the entries waiting behind another in their lane (claimed, not yet tried).
    fn take_waiting(&self) -> Vec<Job> {
        let mut lanes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lanes.values_mut().flat_map(|q| q.drain(..)).collect()
    }

    async fn drive(self, gw: Gateway, key: String, mut job: Job) {
        loop {
            attempt(gw.clone(), job.item).await;
            drop(job.permit);
            let mut lanes = self.0.lock().unwrap_or_else(|p| p.into_inner());
            match lanes.get_mut(&key).and_then(VecDeque::pop_front) {
                Some(next) => job = next,
                None => {
                    lanes.remove(&key);
                    return;
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
