//! One rate per key (governor's keyed limiter on a DashMap), with keys stored as 64-bit
//! keyed hashes so a million senders cost tens of megabytes, not hundreds.

use std::fmt;
use std::hash::BuildHasher;

use governor::RateLimiter;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;

use super::rate::Rate;

/// A [`Rate`] per key (a sender, an account), in memory.
///
/// Keys are kept as SipHash values under a random per-limiter key (std's `RandomState`):
/// 8 bytes each instead of the string, and no outsider can pick two keys that share a
/// limit. [`prune`](KeyedLimiter::prune) forgets keys whose state is back to fresh.
///
/// ```
/// use telephony_serve::rate_limit::{KeyedLimiter, Rate};
/// let limiter = KeyedLimiter::new(Rate::per_minute(1.0)?);
/// assert!(limiter.check("+15557654321").is_ok());
/// assert!(limiter.check("+15557654321").is_err(), "one a minute");
/// assert!(limiter.check("+15550001111").is_ok(), "another key has its own limit");
/// # Ok::<(), telephony_serve::rate_limit::RateError>(())
/// ```
pub struct KeyedLimiter<C: Clock = DefaultClock> {
    rate: Rate,
    hasher: std::hash::RandomState,
    limiter: RateLimiter<u64, DashMapStateStore<u64>, C, NoOpMiddleware<C::Instant>>,
}

impl<C: Clock> fmt::Debug for KeyedLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("rate", &self.rate)
            .field("keys", &self.limiter.len())
            .finish()
    }
}

impl KeyedLimiter {
    /// A limiter on the monotonic clock.
    pub fn new(rate: Rate) -> Self {
        KeyedLimiter::with_clock(rate, DefaultClock::default())
    }
}

impl<C: Clock> KeyedLimiter<C> {
    /// A limiter on `clock` (governor's `FakeRelativeClock` in tests).
    pub fn with_clock(rate: Rate, clock: C) -> Self {
        KeyedLimiter {
            rate,
            hasher: std::hash::RandomState::new(),
            limiter: RateLimiter::dashmap_with_clock(rate.quota(), clock),
        }
    }

    /// The rate every key gets.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes one event for `key` now, or says when the next one conforms (nothing is
    /// taken then).
    pub fn check(&self, key: &str) -> Result<(), C::Instant> {
        self.limiter
            .check_key(&self.hasher.hash_one(key))
            .map_err(|not_until| not_until.earliest_possible())
    }

    /// Forgets the keys whose state is indistinguishable from a fresh one (their last
    /// event is at least two intervals old: governor keeps a key until the time its next
    /// event would conform, one interval after the last, is an interval in the past) and
    /// returns the freed memory.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;
    use governor::nanos::Nanos;

    use super::*;

    fn nanos(d: Duration) -> Nanos {
        Nanos::from(d)
    }

    #[test]
    fn burst_then_one_per_interval_per_key() {
        let clock = FakeRelativeClock::default();
        let rate = Rate::per_second(2.0).unwrap().with_burst(3).unwrap();
        let l = KeyedLimiter::with_clock(rate, clock.clone());
        for _ in 0..3 {
            assert_eq!(l.check("a"), Ok(()));
        }
        // The burst is spent: the next cell conforms one interval (500 ms) later.
        assert_eq!(l.check("a"), Err(nanos(Duration::from_millis(500))));
        assert_eq!(l.check("b"), Ok(()), "keys do not share a limit");
        clock.advance(Duration::from_millis(499));
        assert_eq!(l.check("a"), Err(nanos(Duration::from_millis(500))));
        clock.advance(Duration::from_millis(1));
        assert_eq!(l.check("a"), Ok(()));
        assert_eq!(l.check("a"), Err(nanos(Duration::from_millis(1000))));
    }

    #[test]
    fn pruning_forgets_keys_back_to_fresh() {
        let clock = FakeRelativeClock::default();
        let l = KeyedLimiter::with_clock(Rate::per_second(1.0).unwrap(), clock.clone());
        for i in 0..1000 {
            assert_eq!(l.check(&format!("+1555000{i:04}")), Ok(()));
        }
        assert_eq!(l.len(), 1000);
        l.prune();
        assert_eq!(l.len(), 1000, "all still inside their interval");
        clock.advance(Duration::from_millis(500));
        assert_eq!(l.check("+15550000000"), Err(nanos(Duration::from_secs(1))));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(l.check("+15550000001"), Ok(()));
        l.prune();
        assert_eq!(
            l.len(),
            1,
            "only the key used within the last interval stays"
        );
        assert!(!l.is_empty());
    }
}
