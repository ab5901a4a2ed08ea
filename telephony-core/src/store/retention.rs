//! Retention: how long the store keeps each kind of record ([`RetentionPolicy`]), and
//! the store's side of pruning ([`RetentionStore`]): deleting, in small batches, records
//! older than a cutoff that nothing uses any more.
//!
//! What is never pruned, whatever its age: sends still in the outbox (queued, retrying,
//! held for approval), inbound messages still `queued` (waiting for dispatch, being
//! dispatched, or waiting for a retry), calls that have not reached a final status (and
//! so their history, transcript and pending answer), pairing requests still pending,
//! forward events not delivered yet, opt-outs and approvals (senders, contacts).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use telephony_core::store::prelude::*;
//! use telephony_core::store::{PruneKind, RetentionPolicy};
//! use telephony_core::{InboxState, MemoryStore};
//! use time::OffsetDateTime;
//!
//! let store = MemoryStore::new();
//! let now = OffsetDateTime::now_utc();
//! let mut old = telephony_core::store_suite::inbound("SM1", "+15557654321", "hi", 0);
//! old.received_at = now - Duration::from_secs(100 * 86_400);
//! store.insert_inbound_in_state(&old, InboxState::Accepted, None).await?;
//!
//! let policy = RetentionPolicy::keep_everything()
//!     .with(PruneKind::Messages, Some(telephony_core::store::parse_retention("90d")?));
//! // A dry run counts; a run deletes, 500 records per batch.
//! let counted = policy.count(&store, now).await?;
//! assert_eq!(counted.removed(PruneKind::Messages), Some(1));
//! let pruned = policy.prune(&store, now, 500, |_, _| async { true }).await?;
//! assert_eq!(pruned.removed(PruneKind::Messages), Some(1));
//! assert_eq!(pruned.removed(PruneKind::Calls), None); // calls are kept
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// A kind of record a [`RetentionPolicy`] limits. (Exhaustive on purpose: a new kind must
/// be handled by every backend's [`RetentionStore`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PruneKind {
    /// Inbound messages (the inbox), by the time they were received.
    Messages,
    /// The send log: receipts with their status history and provider ids, by the time the
    /// send was accepted; and status callbacks for unknown messages, by arrival.
    Sends,
    /// Calls with their status history, transcript and pending answer, by the time they
    /// started; status callbacks for unknown calls, by arrival; expired stream tokens.
    Calls,
    /// Forward events delivered to `forward.url`, by the time they were created.
    Forwards,
    /// Pairing requests that were approved, rejected or expired, by creation time.
    Pairing,
}

impl PruneKind {
    /// Every kind, in the order pruning runs.
    pub const ALL: [PruneKind; 5] = [
        PruneKind::Messages,
        PruneKind::Sends,
        PruneKind::Calls,
        PruneKind::Forwards,
        PruneKind::Pairing,
    ];

    /// The kind's name in `store.retention`, the metric label and the CLI output.
    pub fn as_str(self) -> &'static str {
        match self {
            PruneKind::Messages => "messages",
            PruneKind::Sends => "sends",
            PruneKind::Calls => "calls",
            PruneKind::Forwards => "forwards",
            PruneKind::Pairing => "pairing",
        }
    }

    /// The kind named by [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> Option<PruneKind> {
        PruneKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn index(self) -> usize {
        match self {
            PruneKind::Messages => 0,
            PruneKind::Sends => 1,
            PruneKind::Calls => 2,
            PruneKind::Forwards => 3,
            PruneKind::Pairing => 4,
        }
    }
}

impl std::fmt::Display for PruneKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The store's side of retention: delete one small batch of old records of one kind,
/// count what a run would delete, and give freed space back to the filesystem.
///
/// Part of every [`Store`](super::Store); [`RetentionPolicy::prune`] drives it.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes, in one transaction, at most `limit` records of `kind` older than `before`
    /// that nothing uses any more (never: sends still in the outbox, inbound messages still
    /// `queued`, calls not in a final status, pending pairing requests, undelivered forward
    /// events, opt-outs and approvals), and returns how many it
    /// deleted. Records that belong to one (a receipt's history, a call's transcript) go
    /// with it and are not counted. Oldest first; a result under `limit` means none is
    /// left. Inbound messages that go leave their sender known
    /// ([`ContactStore::is_known_contact`](super::ContactStore::is_known_contact) stays
    /// true), so first-contact approval does not start over.
    async fn prune_batch(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StoreError>;

    /// How many records [`prune_batch`](Self::prune_batch) would delete in all with this
    /// cutoff (for a dry run); changes nothing.
    async fn count_prunable(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
    ) -> Result<usize, StoreError>;

    /// Gives at most `max_pages` free database pages back to the filesystem and returns
    /// how many it gave back. SQLite runs an incremental vacuum; backends whose server
    /// reclaims space itself (PostgreSQL's autovacuum) or that hold no file return 0.
    async fn reclaim_space(&self, max_pages: u32) -> Result<u64, StoreError>;
}

/// How long each [`PruneKind`] is kept: `None` keeps it forever (the default).
///
/// ```
/// use std::time::Duration;
/// use telephony_core::store::{PruneKind, RetentionPolicy};
///
/// let day = Duration::from_secs(86_400);
/// let p = RetentionPolicy::uniform(90 * day).with(PruneKind::Messages, Some(30 * day));
/// assert_eq!(p.get(PruneKind::Messages), Some(30 * day));
/// assert_eq!(p.get(PruneKind::Calls), Some(90 * day));
/// assert_eq!(p.describe(), "messages 30d, sends 90d, calls 90d, forwards 90d, pairing 90d");
/// assert_eq!(RetentionPolicy::default().describe(), "keep everything");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    keep: [Option<Duration>; 5],
}

/// Sends are kept at least since the start of the current UTC day: the daily cap
/// (`outboundPolicy.maxPerDay`) counts them. Pairing requests are kept at least an hour:
/// the hourly cap on pairing messages counts them.
const PAIRING_FLOOR: Duration = Duration::from_secs(3600);

impl RetentionPolicy {
    /// Keeps every kind forever.
    pub fn keep_everything() -> Self {
        RetentionPolicy::default()
    }

    /// Keeps every kind for `keep`.
    pub fn uniform(keep: Duration) -> Self {
        RetentionPolicy {
            keep: [Some(keep); 5],
        }
    }

    /// This policy with `kind` kept for `keep` (`None`: forever).
    pub fn with(mut self, kind: PruneKind, keep: Option<Duration>) -> Self {
        self.keep[kind.index()] = keep;
        self
    }

    /// How long `kind` is kept (`None`: forever).
    pub fn get(&self, kind: PruneKind) -> Option<Duration> {
        self.keep[kind.index()]
    }

    /// True when nothing is ever pruned.
    pub fn keeps_everything(&self) -> bool {
        self.keep.iter().all(Option::is_none)
    }

    /// `keep everything`, or each kind with its duration (`messages 30d, sends keep, …`).
    pub fn describe(&self) -> String {
        if self.keeps_everything() {
            return "keep everything".into();
        }
        PruneKind::ALL
            .iter()
            .map(|k| match self.get(*k) {
                Some(d) => format!("{k} {}", format_retention(d)),
                None => format!("{k} keep"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The time before which records of `kind` are pruned at `now`, or `None` when the
    /// kind is kept forever. Sends are never pruned from the current UTC day (the daily
    /// cap counts them), pairing requests never from the last hour (the hourly cap counts
    /// them).
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_core::store::{PruneKind, RetentionPolicy};
    /// use time::macros::datetime;
    ///
    /// let p = RetentionPolicy::uniform(Duration::from_secs(60));
    /// let now = datetime!(2026-01-02 03:04:05 UTC);
    /// assert_eq!(p.cutoff(PruneKind::Messages, now), Some(datetime!(2026-01-02 03:03:05 UTC)));
    /// assert_eq!(p.cutoff(PruneKind::Sends, now), Some(datetime!(2026-01-02 00:00:00 UTC)));
    /// assert_eq!(p.cutoff(PruneKind::Pairing, now), Some(datetime!(2026-01-02 02:04:05 UTC)));
    /// ```
    pub fn cutoff(&self, kind: PruneKind, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let keep = self.get(kind)?;
        let cutoff = now.checked_sub(time::Duration::try_from(keep).ok()?)?;
        Some(match kind {
            PruneKind::Sends => {
                let day_start = now
                    .to_offset(time::UtcOffset::UTC)
                    .replace_time(time::Time::MIDNIGHT);
                cutoff.min(day_start)
            }
            PruneKind::Pairing => cutoff.min(now - PAIRING_FLOOR),
            _ => cutoff,
        })
    }

    /// Counts, per kind kept for a limited time, what [`prune`](Self::prune) would delete
    /// at `now` (a dry run): changes nothing.
    pub async fn count<S: RetentionStore + ?Sized>(
        &self,
        store: &S,
        now: OffsetDateTime,
    ) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        for kind in PruneKind::ALL {
            let Some(before) = self.cutoff(kind, now) else {
                continue;
            };
            let removed = store.count_prunable(kind, before).await?;
            report.kinds.push(KindPruned {
                kind,
                before,
                removed,
            });
        }
        Ok(report)
    }

    /// Deletes, kind by kind, every record older than its kind's cutoff at `now` that
    /// nothing uses, `batch` records per transaction, calling `between(kind, removed)`
    /// after each batch that removed something (to count it, and to pause so other
    /// writers get the database); when it answers `false` the run stops there (the
    /// report then has what was removed so far). On an error, the batches before it stay
    /// deleted (each is its own transaction).
    pub async fn prune<S, F, Fut>(
        &self,
        store: &S,
        now: OffsetDateTime,
        batch: usize,
        mut between: F,
    ) -> Result<PruneReport, StoreError>
    where
        S: RetentionStore + ?Sized,
        F: FnMut(PruneKind, usize) -> Fut,
        Fut: Future<Output = bool>,
    {
        let batch = batch.max(1);
        let mut report = PruneReport::default();
        for kind in PruneKind::ALL {
            let Some(before) = self.cutoff(kind, now) else {
                continue;
            };
            let mut removed = 0;
            let mut stopped = false;
            loop {
                let n = store.prune_batch(kind, before, batch).await?;
                removed += n;
                if n > 0 && !between(kind, n).await {
                    stopped = true;
                    break;
                }
                if n < batch {
                    break;
                }
            }
            report.kinds.push(KindPruned {
                kind,
                before,
                removed,
            });
            if stopped {
                return Ok(report);
            }
        }
        Ok(report)
    }
}

/// What a pruning run removed (or, for a dry run, would remove), per kind it pruned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// One entry per kind kept for a limited time, in [`PruneKind::ALL`] order.
    pub kinds: Vec<KindPruned>,
}

impl PruneReport {
    /// What was removed of `kind`, or `None` when the kind is kept forever.
    pub fn removed(&self, kind: PruneKind) -> Option<usize> {
        self.kinds
            .iter()
            .find(|k| k.kind == kind)
            .map(|k| k.removed)
    }

    /// Every record removed, all kinds together.
    pub fn total(&self) -> usize {
        self.kinds.iter().map(|k| k.removed).sum()
    }
}

/// One kind's part of a [`PruneReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindPruned {
    /// The kind.
    pub kind: PruneKind,
    /// Records older than this were pruned.
    pub before: OffsetDateTime,
    /// How many were removed (or would be).
    pub removed: usize,
}

/// A retention duration that could not be parsed (see [`parse_retention`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a retention duration: use a whole number and one of s, m, h, d, w (30s, 12h, 90d, 2w)"
)]
pub struct RetentionParseError {
    /// What was given.
    pub value: String,
}

/// Parses a retention duration: a positive whole number and a unit, `s`, `m`, `h`, `d`
/// or `w` (`30s`, `12h`, `90d`, `2w`).
///
/// ```
/// use std::time::Duration;
/// use telephony_core::store::parse_retention;
/// assert_eq!(parse_retention("90d").unwrap(), Duration::from_secs(90 * 86_400));
/// assert_eq!(parse_retention("12h").unwrap(), Duration::from_secs(12 * 3600));
/// assert!(parse_retention("90").is_err());
/// assert!(parse_retention("0d").is_err());
/// assert!(parse_retention("1y").is_err());
/// ```
pub fn parse_retention(value: &str) -> Result<Duration, RetentionParseError> {
    let bad = || RetentionParseError {
        value: value.to_string(),
    };
    let split = value.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    // At most about 10,000 years, so a cutoff is always a valid time.
    match n.checked_mul(unit_secs) {
        Some(secs) if secs > 0 && secs <= 10_000 * 365 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(bad()),
    }
}

/// A duration in the largest of `d`, `h`, `m`, `s` that divides it (`90d`, `36h`; weeks
/// are shown as days).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(telephony_core::store::format_retention(Duration::from_secs(14 * 86_400)), "14d");
/// assert_eq!(telephony_core::store::format_retention(Duration::from_secs(90)), "90s");
/// ```
pub fn format_retention(d: Duration) -> String {
    let secs = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format_back() {
        for (s, secs, shown) in [
            ("30s", 30, "30s"),
            ("15m", 900, "15m"),
            ("12h", 43_200, "12h"),
            ("90d", 7_776_000, "90d"),
            ("2w", 1_209_600, "14d"),
            ("120m", 7200, "2h"),
        ] {
            assert_eq!(parse_retention(s), Ok(Duration::from_secs(secs)), "{s}");
            assert_eq!(format_retention(Duration::from_secs(secs)), shown);
        }
        for bad in [
            "",
            "d",
            "90",
            "90D",
            "1.5d",
            "-1d",
            "0s",
            "1y",
            " 1d",
            "1d ",
            "99999999999999999999d",
        ] {
            assert_eq!(
                parse_retention(bad),
                Err(RetentionParseError { value: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_default_keeps_everything_and_prunes_nothing() {
        let p = RetentionPolicy::default();
        assert!(p.keeps_everything());
        let now = OffsetDateTime::now_utc();
        for k in PruneKind::ALL {
            assert_eq!(p.cutoff(k, now), None);
            assert_eq!(PruneKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(PruneKind::parse("recordings"), None);
    }

    #[test]
    fn long_retention_is_not_clamped() {
        let day = Duration::from_secs(86_400);
        let p = RetentionPolicy::uniform(30 * day).with(PruneKind::Calls, None);
        let now = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        let expect = time::macros::datetime!(2026-01-30 12:00:00 UTC);
        assert_eq!(p.cutoff(PruneKind::Sends, now), Some(expect));
        assert_eq!(p.cutoff(PruneKind::Pairing, now), Some(expect));
        assert_eq!(p.cutoff(PruneKind::Calls, now), None);
        assert_eq!(
            p.describe(),
            "messages 30d, sends 30d, calls keep, forwards 30d, pairing 30d"
        );
    }
}
