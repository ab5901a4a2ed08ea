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
//! Per-sender rate limits ([`crate::rate_limit::outbound`]), so that each sender with a
//! backlog uses every slot its rate gives it, never goes faster, and never waits on another:
//!
//! - slots are booked in the store ([`OutboxStore::reserve_send_slots`]), one call per
//!   sender per claimed batch, so every process on one store (replicas on one PostgreSQL
//!   schema) shares each sender's rate; a SQLite or in-memory store books in this
//!   process's memory, at no database cost;
//! - each sender has a lane: the claimed entries whose projected slot is less than
//!   [`HOLD`] away, in claim order, and the slots booked for them. The lane sleeps until
//!   its earliest slot and sends its first entry then, to the timer's precision, with no
//!   store round trip between two slots. A slot another process booked first can be
//!   further away than projected: such an entry is put back until [`EARLY`] before it,
//!   keeping its slot;
//! - an entry further away is put back in the store ([`OutboxStore::defer_outbound`]: no
//!   attempt counted, no error on the receipt) until [`EARLY`] before its projected slot,
//!   once, and joins the lane when claimed again; while a sender has entries put back,
//!   its newer entries are put back behind them, so a sender's entries keep their claim
//!   order, and the store keeps a recipient's order when an entry is put back;
//! - the worker sleeps until the store's earliest due entry
//!   ([`OutboxStore::next_outbound_due`]) or a new send, and half a second at most (to
//!   notice leases that ran out, and other processes' sends);
//! - sends run in per-recipient tasks (one recipient's sends one at a time, in order), at
//!   most `outbox_concurrency` at once, so a slow provider call holds up no other sender.
//!
//! [`OutboxStore::defer_outbound`]: telephony_core::OutboxStore::defer_outbound
//! [`OutboxStore::next_outbound_due`]: telephony_core::OutboxStore::next_outbound_due
//! [`OutboxStore::reserve_send_slots`]: telephony_core::OutboxStore::reserve_send_slots
//!
//! A claim is a lease ([`LEASE`](crate::outbox::LEASE) by default, [`Timing`](crate::outbox::Timing)): if the process dies, its entries
//! are claimed again when their leases run out. Every claim has a token and only the latest
//! claim records an outcome, so a worker that stalled past its lease cannot overwrite the
//! one that took the entry over (it logs the lost lease and moves on). An entry whose
//! earlier claim ended without an outcome comes back [interrupted](OutboxItem::interrupted):
//! the provider may have accepted it just before the process died. Before sending it
//! again the worker asks the provider ([`Provider::find_sent`](telephony_core::Provider::find_sent))
//! and records the message found instead of sending it twice; a provider that cannot tell
//! gets it again (at-least-once). An entry waits in memory about [`HOLD`] at most before
//! its slot; one that has not started within [`START_WITHIN`] of its claim is put back
//! instead of sent, and one attempt (with its lookup) is cut off at [`ATTEMPT_TIMEOUT`](crate::outbox::ATTEMPT_TIMEOUT), so
//! every attempt ends inside its lease. On shutdown the held entries are put back, due at
//! once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telephony_core::sync::lock;
use telephony_core::{
    MessageId, OutboxItem, ProviderError, ProviderReceipt, SendOptions, StoreError, error_chain,
};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::outbox::{Outbox, START_WITHIN};

/// Entries whose projected slot is at most this far away wait in their sender's lane in
/// memory; later ones are put back in the store.
pub(crate) const HOLD: Duration = Duration::from_secs(1);

/// An entry put back for its slot is due again this long before the slot, so that the
/// worker's wake-up and claim are done before the slot comes (they need not be punctual).
pub(crate) const EARLY: Duration = Duration::from_millis(500);

const _: () = assert!(EARLY.as_millis() < HOLD.as_millis());
const _: () = assert!(HOLD.as_secs() + EARLY.as_secs() < START_WITHIN.as_secs());

/// How many entries one claim takes at most: a second of a 100/s sender's backlog and its
/// new sends fit in one or two claims.
const CLAIM_BATCH: usize = 256;

/// How long the worker sleeps at most when the store knows of nothing due (a new send
/// wakes it at once; this finds entries whose lease ran out, and other processes' sends).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// When to try a failed send again, or `None` to fail it now.
///
/// `attempts` is how many attempts were made before the one that failed with `error`;
/// `max_attempts` is the gateway's `max_send_attempts`. A retry waits
/// [`retry::wait`](telephony_core::retry::wait)`(attempts, error.retry_after())`.
pub(crate) fn retry_in(
    error: &ProviderError,
    attempts: u32,
    max_attempts: u32,
) -> Option<Duration> {
    let may_try_again =
        error.is_retryable() && !error.is_timeout() && attempts.saturating_add(1) < max_attempts;
    may_try_again.then(|| telephony_core::retry::wait(attempts, error.retry_after()))
}

pub(crate) async fn run(outbox: Arc<Outbox>, mut stop: watch::Receiver<bool>) {
    let store = outbox.shared().store().clone();
    let shared = Shared {
        outbox: outbox.clone(),
        permits: Arc::new(Semaphore::new(outbox.concurrency().max(1))),
        tasks: Arc::new(Mutex::new(JoinSet::new())),
        senders: Arc::new(Mutex::new(HashMap::new())),
        recipients: Arc::new(Mutex::new(HashMap::new())),
        stop: stop.clone(),
    };
    let mut sched = Schedule::default();
    let mut others = store.watch_work(telephony_core::store::WorkKind::Outbound);
    let timing = outbox.timing();
    loop {
        if *stop.borrow() {
            break;
        }
        shared.reap();
        if shared.permits.available_permits() == 0 {
            // Every send slot is busy (a slow provider): claim nothing more until one is
            // free, so claimed entries do not pile up past their lease.
            tokio::select! {
                p = shared.permits.clone().acquire_owned() => drop(p),
                _ = stop.changed() => break,
            }
            continue;
        }
        let now = Now::read();
        let full = match store
            .claim_outbound(now.utc, timing.lease, CLAIM_BATCH)
            .await
        {
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "outbox claim failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => break,
                }
                continue;
            }
            Ok(items) => {
                let full = items.len() == CLAIM_BATCH;
                // Entries for sender lanes, by sender, booked together below.
                let mut holds: BTreeMap<String, Vec<(Held, Option<Instant>)>> = BTreeMap::new();
                for item in items {
                    let lane_len = |sender: &str| {
                        shared.lane_len(sender) + holds.get(sender).map_or(0, Vec::len)
                    };
                    match sched.decide(&outbox, &item, &now, lane_len) {
                        Turn::Send => shared.send(item),
                        Turn::Hold { sender, job, slot } => {
                            holds.entry(sender).or_default().push((*job, slot))
                        }
                        Turn::Defer { until } => defer(&outbox, &item, now.utc_of(until)).await,
                    }
                }
                for (sender, jobs) in holds {
                    book(&outbox, &shared, &mut sched, sender, jobs).await;
                }
                sched.prune(now.mono, timing.lease);
                full
            }
        };
        if full {
            continue;
        }
        let wake = match store.next_outbound_due().await {
            Ok(Some(at)) => {
                let left = at - OffsetDateTime::now_utc();
                // A millisecond past the due time (stored to the millisecond), at least a
                // millisecond from now so an entry that cannot be claimed does not spin.
                Duration::try_from(left)
                    .unwrap_or_default()
                    .saturating_add(Duration::from_millis(1))
                    .min(IDLE_POLL)
            }
            Ok(None) => IDLE_POLL,
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "could not read the outbox's next due time");
                IDLE_POLL
            }
        };
        tokio::select! {
            _ = outbox.woken() => {}
            _ = others.changed() => {}
            _ = tokio::time::sleep(wake) => {}
            _ = stop.changed() => break,
        }
    }
    shared.shut_down().await;
}

/// Books the slots of one sender's entries bound for its lane (one store call for those
/// without a slot yet) and hands them to the lane; an entry whose slot turns out further
/// than [`HOLD`] (another process booked the sender first) is put back until [`EARLY`]
/// before it, keeping the slot.
async fn book(
    outbox: &Outbox,
    shared: &Shared,
    sched: &mut Schedule,
    sender: String,
    jobs: Vec<(Held, Option<Instant>)>,
) {
    // Read now, not at the claim: slots booked from a time already past (the claim's
    // round trip) would be due at once, and their sends would bunch.
    let now = &Now::read();
    let need = jobs.iter().filter(|(_, slot)| slot.is_none()).count();
    let rate = outbox.limits().rate_for(&sender);
    let booked = if need == 0 {
        Ok(Vec::new())
    } else {
        outbox
            .shared()
            .store()
            .reserve_send_slots(
                &sender,
                rate.into(),
                u32::try_from(need).unwrap_or(u32::MAX),
                now.utc,
            )
            .await
    };
    let mut booked = match booked {
        Ok(slots) => slots
            .into_iter()
            .map(|t| now.mono_of(t))
            .collect::<Vec<_>>()
            .into_iter(),
        Err(e) => {
            tracing::error!(sender = %sender, entries = need, error = %error_chain(&e), "could not book send slots; the entries wait a second in the store");
            for (job, slot) in jobs {
                match slot {
                    Some(slot) => shared.hold(sender.clone(), job, slot),
                    None => defer(outbox, &job.item, now.utc + Duration::from_secs(1)).await,
                }
            }
            return;
        }
    };
    for (job, slot) in jobs {
        let (slot, fresh) = match slot {
            Some(slot) => (slot, false),
            None => match booked.next() {
                Some(slot) => (slot, true),
                // The store booked fewer slots than asked: the entry waits for its turn.
                None => {
                    tracing::error!(sender = %sender, message_id = %job.item.id, "the store booked fewer send slots than asked");
                    defer(outbox, &job.item, now.utc + Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        sched.observe(&sender, &job.item, slot);
        if fresh && slot.saturating_duration_since(now.mono) > HOLD {
            let until = slot.checked_sub(EARLY).unwrap_or(now.mono).max(now.mono);
            sched.keep_slot(&sender, &job, slot);
            defer(outbox, &job.item, now.utc_of(until)).await;
        } else {
            shared.hold(sender.clone(), job, slot);
        }
    }
}

/// Puts a claimed entry back until `at`, without counting an attempt.
async fn defer(outbox: &Outbox, item: &OutboxItem, at: OffsetDateTime) {
    tracing::debug!(message_id = %item.id, "send waits in the store for its sender's rate-limit slot");
    if let Err(e) = outbox
        .shared()
        .store()
        .defer_outbound(&item.id, item.lease, at)
        .await
    {
        // The lease runs out and the entry is claimed again: nothing is lost.
        store_error(item, &e, "could not put a rate-limited send back");
    }
}

/// Logs a failed store write about a claimed entry: a lost lease at warn (another claim
/// owns the entry and records its outcome), anything else at error (the lease runs out and
/// the entry is claimed again).
fn store_error(item: &OutboxItem, e: &StoreError, what: &'static str) {
    if e.is_lease_lost() {
        tracing::warn!(message_id = %item.id, lease = %item.lease, error = %e, "{what}: the lease ran out and another claim owns the entry");
    } else {
        tracing::error!(message_id = %item.id, error = %error_chain(e), "{what}");
    }
}

/// The wall clock and the monotonic clock read together; lanes sleep on tokio's monotonic
/// clock, the store's times (slots included) are wall-clock times.
#[derive(Debug, Clone, Copy)]
struct Now {
    utc: OffsetDateTime,
    mono: Instant,
}

impl Now {
    fn read() -> Self {
        Now {
            // The lanes' clock (tokio's).
            mono: tokio::time::Instant::now().into_std(),
            utc: OffsetDateTime::now_utc(),
        }
    }

    /// The wall-clock time of `t`. Put-back entries are due [`EARLY`] before their slot,
    /// so the two clocks' drift (microseconds per second) does not matter.
    fn utc_of(&self, t: Instant) -> OffsetDateTime {
        match t.checked_duration_since(self.mono) {
            Some(d) => self.utc + d,
            None => self.utc - self.mono.duration_since(t),
        }
    }

    /// The monotonic instant of the wall-clock time `t` (a slot the store booked at
    /// `self.utc`, so the offset is exact).
    fn mono_of(&self, t: OffsetDateTime) -> Instant {
        let d = t - self.utc;
        match Duration::try_from(d) {
            Ok(ahead) => self.mono + ahead,
            Err(_) => self
                .mono
                .checked_sub(Duration::try_from(-d).unwrap_or_default())
                .unwrap_or(self.mono),
        }
    }
}

/// What the worker does with a claimed entry.
#[derive(Debug)]
enum Turn {
    /// Send it now (its sender has no rate limit).
    Send,
    /// Queue it in its sender's lane, which sends its entries at its slots one by one;
    /// `slot` when it already has one (booked before it was put back).
    Hold {
        sender: String,
        job: Box<Held>,
        slot: Option<Instant>,
    },
    /// Put it back in the store until `until`.
    Defer { until: Instant },
}

/// A claimed entry in its sender's lane.
#[derive(Debug)]
struct Held {
    item: OutboxItem,
    /// When it was claimed (first claimed, for one put back), for the wait metrics and
    /// [`Timing::start_within`](crate::outbox::Timing::start_within).
    since: Instant,
    claimed: Instant,
    /// Whether it had to wait for a slot (it was put back, or found no slot in the lane).
    limited: bool,
}

/// An entry this worker put back until [`EARLY`] before its projected slot.
#[derive(Debug)]
struct Booked {
    sender: String,
    seq: i64,
    since: Instant,
    slot: Instant,
    /// Whether `slot` is booked in the store for it (not only projected).
    reserved: bool,
}

/// Per sender: the projected slot of its latest entry, and the queue places
/// ([`OutboxItem::seq`]) of its entries put back in the store and not claimed again yet.
#[derive(Debug)]
struct Tail {
    slot: Instant,
    booked: BTreeSet<i64>,
}

/// The worker's memory of the slots it projected: entries put back and when their slot
/// is, each sender's latest projected slot, and, per recipient, the sender and slot of
/// its latest entry (so that another sender's entry to it does not overtake).
#[derive(Debug, Default)]
struct Schedule {
    booked: HashMap<MessageId, Booked>,
    tails: HashMap<String, Tail>,
    recipients: HashMap<String, (String, Instant)>,
    pruned_at: Option<Instant>,
}

/// How long after another sender's slot for the same recipient an entry is put back
/// until, so that entry has been handed to the recipient's send lane first.
const AFTER_OTHER_SENDER: Duration = Duration::from_millis(100);

impl Schedule {
    /// Decides one claimed entry, in claim order. `lane_len` says how many entries a
    /// sender's lane holds.
    fn decide(
        &mut self,
        outbox: &Outbox,
        item: &OutboxItem,
        now: &Now,
        lane_len: impl Fn(&str) -> usize,
    ) -> Turn {
        let recipient = item.message.to.number().as_str().to_string();
        let booked = self.booked.remove(&item.id);
        if let Some(b) = &booked {
            if let Some(t) = self.tails.get_mut(&b.sender) {
                t.booked.remove(&item.seq);
            }
        }
        let sender = outbox.shared().provider().sender(&item.message);
        // Another sender's entry to this recipient still waits for its slot: go after it.
        if let Some((other, slot)) = self.recipients.get(&recipient) {
            if sender.as_ref() != Some(other) && *slot > now.mono {
                return Turn::Defer {
                    until: *slot + AFTER_OTHER_SENDER,
                };
            }
        }
        let Some(sender) = sender else {
            return Turn::Send;
        };
        let since = booked.as_ref().map_or(now.mono, |b| b.since);
        let job = Held {
            item: item.clone(),
            since,
            claimed: now.mono,
            limited: booked.is_some(),
        };
        if let Some(b) = booked {
            // Claimed again shortly before its slot: wait for the slot in the lane.
            self.recipients.insert(recipient, (sender.clone(), b.slot));
            let slot = b.reserved.then_some(b.slot);
            return Turn::Hold {
                sender,
                job: Box::new(job),
                slot,
            };
        }
        let interval = outbox.limits().rate_for(&sender).interval();
        if let Some(tail) = self.tails.get_mut(&sender) {
            if tail.booked.last().is_some_and(|last| *last > item.seq) {
                // Queued before entries of its sender that are put back (the store pushed
                // it back behind an earlier one of its recipient): its place is before
                // them, in the lane, which sends by queue place. Their slots move one on.
                tail.slot += interval;
                self.recipients
                    .insert(recipient, (sender.clone(), tail.slot));
                return Turn::Hold {
                    sender,
                    job: Box::new(job),
                    slot: None,
                };
            }
        }
        let queued = now.mono + interval * u32::try_from(lane_len(&sender)).unwrap_or(u32::MAX);
        let (slot, put_back) = project(self.tails.get(&sender), queued, now.mono, interval);
        self.recipients.insert(recipient, (sender.clone(), slot));
        let tail = self.tails.entry(sender.clone()).or_insert(Tail {
            slot,
            booked: BTreeSet::new(),
        });
        tail.slot = slot;
        if !put_back {
            return Turn::Hold {
                sender,
                job: Box::new(job),
                slot: None,
            };
        }
        tail.booked.insert(item.seq);
        self.booked.insert(
            item.id.clone(),
            Booked {
                sender,
                seq: item.seq,
                since,
                slot,
                reserved: false,
            },
        );
        Turn::Defer {
            until: slot.checked_sub(EARLY).unwrap_or(now.mono).max(now.mono),
        }
    }

    /// Takes in the slot booked for a sender's entry: the sender's next projection comes
    /// after it, and so does another sender's entry to the same recipient.
    fn observe(&mut self, sender: &str, item: &OutboxItem, slot: Instant) {
        if let Some(tail) = self.tails.get_mut(sender) {
            tail.slot = tail.slot.max(slot);
        }
        let recipient = item.message.to.number().as_str();
        if let Some((s, at)) = self.recipients.get_mut(recipient) {
            if s == sender {
                *at = (*at).max(slot);
            }
        }
    }

    /// Remembers the slot booked for an entry that is put back until shortly before it:
    /// claimed again by this worker, it takes that slot; later entries of its sender are
    /// put back behind it.
    fn keep_slot(&mut self, sender: &str, job: &Held, slot: Instant) {
        let tail = self.tails.entry(sender.to_string()).or_insert(Tail {
            slot,
            booked: BTreeSet::new(),
        });
        tail.booked.insert(job.item.seq);
        self.booked.insert(
            job.item.id.clone(),
            Booked {
                sender: sender.to_string(),
                seq: job.item.seq,
                since: job.since,
                slot,
                reserved: true,
            },
        );
    }

    /// Forgets what can no longer matter (entries another worker took, senders and
    /// recipients with nothing waiting), every half minute.
    fn prune(&mut self, now: Instant, lease: Duration) {
        if self
            .pruned_at
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(30))
        {
            return;
        }
        self.pruned_at = Some(now);
        let lost: Vec<MessageId> = self
            .booked
            .iter()
            .filter(|(_, b)| b.slot.checked_add(lease).is_some_and(|end| end <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in lost {
            if let Some(b) = self.booked.remove(&id) {
                if let Some(t) = self.tails.get_mut(&b.sender) {
                    t.booked.remove(&b.seq);
                }
            }
        }
        self.tails
            .retain(|_, t| t.slot > now || !t.booked.is_empty());
        self.recipients.retain(|_, (_, slot)| *slot > now);
    }
}

/// The projected slot of a sender's next new entry, and whether it is put back in the
/// store (`true`) or held in the lane: one interval after the sender's latest projected
/// slot, and no earlier than its lane's queue (`queued`) or `now`. It is put back when
/// the slot is more than [`HOLD`] away, or when entries of the sender are already put
/// back (it must not overtake them).
fn project(
    tail: Option<&Tail>,
    queued: Instant,
    now: Instant,
    interval: Duration,
) -> (Instant, bool) {
    let after_tail = tail.map_or(now, |t| t.slot + interval);
    let slot = after_tail.max(queued).max(now);
    let put_back = slot.duration_since(now) > HOLD || tail.is_some_and(|t| !t.booked.is_empty());
    (slot, put_back)
}

/// A sender's lane: its entries waiting for a slot, in queue order, and the slots booked
/// for them (as many), earliest first. The first entry goes at the earliest slot.
#[derive(Debug, Default)]
struct Lane {
    jobs: BTreeMap<i64, Held>,
    slots: BinaryHeap<Reverse<Instant>>,
}

/// What the worker's tasks share: sender lanes (entries waiting for their sender's slot),
/// recipient lanes (entries with a slot, sent one after the other per recipient), the send
/// permits, and the tasks themselves.
#[derive(Clone)]
struct Shared {
    outbox: Arc<Outbox>,
    permits: Arc<Semaphore>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    senders: Arc<Mutex<HashMap<String, Lane>>>,
    recipients: Arc<Mutex<HashMap<String, VecDeque<Held>>>>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        lock(&self.tasks).spawn(task);
    }

    fn reap(&self) {
        let mut tasks = lock(&self.tasks);
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "outbox task failed");
            }
        }
    }

    fn lane_len(&self, sender: &str) -> usize {
        lock(&self.senders).get(sender).map_or(0, |l| l.jobs.len())
    }

    /// Sends an entry with no rate limit.
    fn send(&self, item: OutboxItem) {
        let now = tokio::time::Instant::now().into_std();
        self.to_recipient(Held {
            item,
            since: now,
            claimed: now,
            limited: false,
        });
    }

    /// Queues an entry and its booked slot in its sender's lane (in queue order),
    /// starting the lane if it is idle.
    fn hold(&self, sender: String, job: Held, slot: Instant) {
        {
            let mut lanes = lock(&self.senders);
            let idle = !lanes.contains_key(&sender);
            let lane = lanes.entry(sender.clone()).or_default();
            lane.jobs.insert(job.item.seq, job);
            lane.slots.push(Reverse(slot));
            if !idle {
                return;
            }
        }
        let me = self.clone();
        self.spawn(me.sender_lane(sender));
    }

    /// Sends the lane's entries one by one at its slots, sleeping until the next slot in
    /// between.
    async fn sender_lane(self, sender: String) {
        let mut stop = self.stop.clone();
        loop {
            let next = {
                let mut lanes = lock(&self.senders);
                let Some(lane) = lanes.get_mut(&sender) else {
                    return;
                };
                let Some(mut head) = lane.jobs.first_entry() else {
                    lanes.remove(&sender);
                    return;
                };
                let now = tokio::time::Instant::now().into_std();
                match lane.slots.peek() {
                    Some(Reverse(slot)) if *slot > now => {
                        head.get_mut().limited = true;
                        Err(*slot)
                    }
                    _ => {
                        lane.slots.pop();
                        Ok(Some(head.remove()))
                    }
                }
            };
            match next {
                Ok(Some(job)) => {
                    if job.limited {
                        let m = self.outbox.shared().metrics();
                        m.inc("telephony_rate_limited_total", &[("limiter", "outbound")]);
                        m.add(
                            "telephony_rate_limit_wait_seconds_total",
                            &[("limiter", "outbound")],
                            tokio::time::Instant::now()
                                .into_std()
                                .saturating_duration_since(job.since)
                                .as_secs_f64(),
                        );
                    }
                    self.to_recipient(job);
                }
                Ok(None) => {}
                Err(earliest) => {
                    if *stop.borrow() {
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(earliest.into()) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
    }

    /// Hands an entry with its slot to its recipient's lane: one recipient's entries are
    /// sent one after the other, in the order they got here.
    fn to_recipient(&self, job: Held) {
        let key = job.item.message.to.number().as_str().to_string();
        {
            let mut lanes = lock(&self.recipients);
            if let Some(queue) = lanes.get_mut(&key) {
                queue.push_back(job);
                return;
            }
            lanes.insert(key.clone(), VecDeque::new());
        }
        let me = self.clone();
        self.spawn(me.recipient_lane(key, job));
    }

    async fn recipient_lane(self, key: String, mut job: Held) {
        let timing = self.outbox.timing();
        loop {
            let permit = self.permits.clone().acquire_owned().await;
            let stopping = *self.stop.borrow();
            let waited = tokio::time::Instant::now()
                .into_std()
                .saturating_duration_since(job.claimed);
            if stopping || waited > timing.start_within {
                // Not tried: due again at once (the attempt could outlive the lease, or
                // the worker is stopping).
                release(&self.outbox, &job.item).await;
            } else {
                let _held = self.outbox.shared().holding().send();
                attempt(self.outbox.clone(), job.item).await;
            }
            drop(permit);
            let mut lanes = lock(&self.recipients);
            match lanes.get_mut(&key).and_then(VecDeque::pop_front) {
                Some(next) => job = next,
                None => {
                    lanes.remove(&key);
                    return;
                }
            }
        }
    }

    /// Waits for the tasks to end (sends already started are finished and recorded), then
    /// puts back the entries still waiting in sender lanes.
    async fn shut_down(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *lock(&self.tasks));
            if tasks.is_empty() {
                break;
            }
            while let Some(done) = tasks.join_next().await {
                if let Err(e) = done {
                    tracing::error!(error = %e, "outbox task failed");
                }
            }
        }
        let waiting: Vec<Held> = lock(&self.senders)
            .drain()
            .flat_map(|(_, lane)| lane.jobs.into_values())
            .collect();
        for job in waiting {
            release(&self.outbox, &job.item).await;
        }
    }
}

/// Puts a claimed entry that was not tried back, due now.
async fn release(outbox: &Outbox, item: &OutboxItem) {
    if let Err(e) = outbox
        .shared()
        .store()
        .defer_outbound(&item.id, item.lease, OffsetDateTime::now_utc())
        .await
    {
        // The lease runs out and the entry is claimed again: nothing is lost.
        store_error(item, &e, "could not put an unsent entry back");
    }
}

/// How an attempt's provider calls ended.
enum Outcome {
    /// The provider accepted the message, now or (`found`) before an interruption.
    Accepted {
        receipt: ProviderReceipt,
        found: bool,
    },
    /// The send failed.
    Failed(ProviderError),
    /// Asking the provider about an interrupted send failed; nothing was sent.
    LookupFailed(ProviderError),
}

/// Asks the provider whether an interrupted entry was sent, then sends it if not, all
/// within one [`Timing::attempt_timeout`](crate::outbox::Timing::attempt_timeout).
async fn call_provider(outbox: &Outbox, item: &OutboxItem) -> Outcome {
    let provider = outbox.shared().provider();
    let timeout = outbox.timing().attempt_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    if let Some(since) = item.interrupted {
        let found = tokio::time::timeout_at(deadline, provider.find_sent(&item.message, since));
        match found.await {
            Ok(Ok(Some(receipt))) => {
                return Outcome::Accepted {
                    receipt,
                    found: true,
                };
            }
            Ok(Ok(None)) => {
                tracing::info!(message_id = %item.id, since = %telephony_core::rfc3339::format(since), "an interrupted send did not reach the provider; sending it");
            }
            Ok(Err(e)) if e.is_unsupported() => {
                tracing::warn!(message_id = %item.id, provider = provider.name(), "an interrupted send may have reached the provider, which cannot say; sending it again");
            }
            Ok(Err(e)) => return Outcome::LookupFailed(e),
            Err(_) => {
                return Outcome::LookupFailed(ProviderError::transport(
                    provider.name(),
                    "its API",
                    false,
                    format!(
                        "no answer to the sent-message lookup within {} s; nothing was sent",
                        timeout.as_secs()
                    ),
                ));
            }
        }
    }
    let opts = match outbox.shared().status_callback_url() {
        Some(u) => SendOptions::with_status_callback(u),
        None => SendOptions::default(),
    };
    match tokio::time::timeout_at(deadline, provider.send(&item.message, &opts)).await {
        Ok(Ok(receipt)) => Outcome::Accepted {
            receipt,
            found: false,
        },
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Failed(ProviderError::transport(
            provider.name(),
            "its API",
            true,
            format!(
                "no answer within {} s; not sent again, it may have been accepted",
                timeout.as_secs()
            ),
        )),
    }
}

async fn attempt(outbox: Arc<Outbox>, item: OutboxItem) {
    let store = outbox.shared().store();
    let attempt_no = item.attempts + 1;
    let max_attempts = outbox.max_send_attempts();
    if let (0, None, Some(queued)) = (item.attempts, item.interrupted, item.id.generated_at()) {
        // The first attempt: how long the message waited since it was queued (its id's time).
        let waited = (OffsetDateTime::now_utc() - queued).as_seconds_f64();
        outbox
            .shared()
            .metrics()
            .observe("telephony_outbox_wait_seconds", &[], waited);
    }
    let traces = outbox.shared().traces();
    let span = traces.step("send", item.id.as_str(), true);
    let outcome = call_provider(&outbox, &item).instrument(span.clone()).await;
    if let Outcome::Accepted { receipt, .. } = &outcome {
        // Its status callbacks join this trace.
        traces.link(&receipt.sid, &span);
    }
    let now = OffsetDateTime::now_utc();
    let mut retrying = false;
    let recorded = match outcome {
        Outcome::Accepted { mut receipt, found } => {
            if receipt.num_segments.is_none() {
                // Twilio reports "0" for Messaging Service sends until it picks a sender;
                // record our own count (the segment calculator's rules) instead of nothing.
                receipt.num_segments =
                    Some(telephony_core::sms::analyze(&item.message.body).segments as u32);
            }
            if found {
                tracing::info!(message_id = %item.id, message_sid = %receipt.sid, status = %receipt.status, attempt = attempt_no, "the provider had accepted this message before its send was interrupted; not sent again");
            } else {
                tracing::info!(message_id = %item.id, message_sid = %receipt.sid, status = %receipt.status, segments = ?receipt.num_segments, attempt = attempt_no, "provider accepted message");
            }
            store
                .complete_outbound(&item.id, item.lease, &receipt, now)
                .await
                .map(Some)
        }
        Outcome::LookupFailed(e) if retry_in(&e, item.attempts, max_attempts).is_some() => {
            retrying = true;
            let wait = retry_in(&e, item.attempts, max_attempts).unwrap_or_default();
            tracing::warn!(message_id = %item.id, attempt = attempt_no, wait_ms = wait.as_millis() as u64, error = %e, "could not ask the provider whether an interrupted send went out; will ask again");
            match store
                .retry_outbound(&item.id, item.lease, &e.to_error_info(), now + wait)
                .await
            {
                Ok(()) => store.receipt(&item.id).await,
                Err(e) => Err(e),
            }
        }
        Outcome::LookupFailed(e) => {
            // Sending could deliver it twice; the receipt says why it was not sent.
            tracing::warn!(message_id = %item.id, attempt = attempt_no, code = ?e.code(), error = %e, "could not ask the provider whether an interrupted send went out; not sending it again");
            let mut info = e.to_error_info();
            info.message = format!(
                "this send was interrupted (its process stopped) and the provider could not say whether it went out, so it was not sent again: {}",
                info.message
            );
            store
                .fail_outbound(&item.id, item.lease, &info, now)
                .await
                .map(Some)
        }
        Outcome::Failed(e) if retry_in(&e, item.attempts, max_attempts).is_some() => {
            retrying = true;
            let wait = retry_in(&e, item.attempts, max_attempts).unwrap_or_default();
            tracing::warn!(message_id = %item.id, attempt = attempt_no, wait_ms = wait.as_millis() as u64, error = %e, "send failed, will retry");
            match store
                .retry_outbound(&item.id, item.lease, &e.to_error_info(), now + wait)
                .await
            {
                Ok(()) => store.receipt(&item.id).await,
                Err(e) => Err(e),
            }
        }
        Outcome::Failed(e) => {
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
                .fail_outbound(&item.id, item.lease, &e.to_error_info(), now)
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
            outbox
                .shared()
                .metrics()
                .inc("telephony_sends_total", &[("status", status)]);
            outbox.notify_waiters(&receipt)
        }
        Ok(None) => {}
        // A lost lease: the claim that took the entry over records its outcome. Anything
        // else: the lease expires and the entry is claimed again (and asked about first).
        Err(e) => store_error(&item, &e, "could not record send result"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Option<Duration>) -> Option<u64> {
        d.map(|d| d.as_secs())
    }

    /// The examples of `retry_in`'s documentation (a doctest while it was public).
    #[test]
    fn retry_in_examples() {
        let limited = ProviderError::api("acme", 429, "slow down")
            .with_retry_after(Some(Duration::from_secs(5)));
        assert_eq!(retry_in(&limited, 0, 8), Some(Duration::from_secs(5)));
        let unavailable = ProviderError::api("acme", 503, "down");
        assert_eq!(retry_in(&unavailable, 2, 8), Some(Duration::from_secs(4)));
        assert_eq!(
            retry_in(&unavailable, 7, 8),
            None,
            "the 8th attempt was the last"
        );
        assert_eq!(
            retry_in(&ProviderError::api("acme", 400, "bad number"), 0, 8),
            None
        );
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

    /// Projects `n` new entries of one idle sender, claimed at once, as `decide` does.
    fn projections(n: usize, interval: Duration) -> Vec<(Duration, bool)> {
        let now = Instant::now();
        let mut tail: Option<Tail> = None;
        let mut out = Vec::new();
        let mut held = 0u32;
        for _ in 0..n {
            let queued = now + interval * held;
            let (slot, put_back) = project(tail.as_ref(), queued, now, interval);
            let t = tail.get_or_insert(Tail {
                slot,
                booked: BTreeSet::new(),
            });
            t.slot = slot;
            if put_back {
                t.booked.insert(out.len() as i64);
            } else {
                held += 1;
            }
            out.push((slot - now, put_back));
        }
        out
    }

    #[test]
    fn a_backlog_gets_successive_slots_held_up_to_a_second_ahead() {
        let third = Duration::from_nanos(333_333_333);
        let expected: Vec<(Duration, bool)> = (0..6u32).map(|k| (third * k, k >= 4)).collect();
        assert_eq!(projections(6, third), expected);
        // A long code: now, 1 s (held: exactly the horizon), then 2 s put back.
        let second = Duration::from_secs(1);
        assert_eq!(
            projections(3, second),
            [(Duration::ZERO, false), (second, false), (second * 2, true)]
        );
        // A short code: 101 slots 10 ms apart within the second, the rest put back.
        let p = projections(150, Duration::from_millis(10));
        assert_eq!(p.iter().filter(|(_, back)| !back).count(), 101);
        assert_eq!(p[149], (Duration::from_millis(1490), true));
    }

    #[test]
    fn nothing_overtakes_entries_put_back_or_the_lane() {
        let now = Instant::now();
        let interval = Duration::from_millis(100);
        // An entry is put back: the next one, though its slot is near, goes back too.
        let tail = Tail {
            slot: now + Duration::from_millis(200),
            booked: BTreeSet::from([7]),
        };
        assert_eq!(
            project(Some(&tail), now, now, interval),
            (now + Duration::from_millis(300), true)
        );
        // The lane holds 7 entries (700 ms of slots) while the last projection is older:
        // the new one goes after the lane.
        let stale = Tail {
            slot: now - Duration::from_secs(5),
            booked: BTreeSet::new(),
        };
        let queued = now + interval * 7;
        assert_eq!(
            project(Some(&stale), queued, now, interval),
            (queued, false)
        );
        // An idle sender whose last slot has passed: now.
        assert_eq!(project(Some(&stale), now, now, interval), (now, false));
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
