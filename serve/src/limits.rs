//! The invalid-request limiter (`rateLimits.invalidRequests`): requests to the webhook
//! routes that fail validation (a missing or bad signature, a malformed or oversized body,
//! a wrong content type: any 4xx answer), counted per client IP.
//!
//! A request is counted only **after** it has failed: valid signed callbacks are never
//! counted and never refused, so a flood of bad requests through a shared proxy address
//! cannot shut out the provider's real traffic from the same address. Once a client is
//! over its rate, its invalid requests are answered `429 Too Many Requests` (with
//! `Retry-After`) instead of the 4xx they earned, and counted in
//! `telephony_rate_limited_total{limiter="invalid_requests"}`.
//!
//! The client is the socket's peer address, or the `X-Forwarded-For` hop the
//! [`TrustedProxies`](crate::client_ip::TrustedProxies) rule picks when the peer is a
//! trusted proxy. IPv6 clients are keyed by their /64 prefix (one host usually has a whole
//! /64 to rotate through); IPv4-mapped IPv6 addresses count as IPv4. Without a peer
//! address (a router served without `ConnectInfo<SocketAddr>`, e.g. with plain
//! `axum::serve(listener, app)`) the limiter stays on: every such request counts against
//! one shared "unknown peer" budget, so a flood of invalid requests is still cut, and a
//! warning (once) says to serve with `into_make_service_with_connect_info::<SocketAddr>()`
//! so that each client is limited on its own.
//!
//! Memory stays bounded: the per-client states (GCRA, one 8-byte cell each) are pruned
//! of clients whose budget has refilled completely, at most once a minute, or once a
//! second while more than [`PRUNE_ABOVE`] clients are tracked; pruning happens on the
//! path of invalid requests only, so valid traffic never pays for it.
//!
//! ```
//! use std::net::IpAddr;
//! use std::num::NonZeroU32;
//! use telephony_serve::limits::{InvalidRequestLimiter, Quota};
//!
//! let limiter = InvalidRequestLimiter::new(
//!     Quota::per_minute(NonZeroU32::new(60).unwrap()).allow_burst(NonZeroU32::new(2).unwrap()),
//! );
//! let flooder: IpAddr = "203.0.113.9".parse().unwrap();
//! assert!(limiter.check(flooder).is_ok());
//! assert!(limiter.check(flooder).is_ok());
//! // The third invalid request within a second is over the burst: retry in about 1 s.
//! let wait = limiter.check(flooder).unwrap_err();
//! assert!(wait.as_millis() > 900 && wait.as_millis() <= 1000, "{wait:?}");
//! // Another client has its own budget.
//! assert!(limiter.check("198.51.100.1".parse().unwrap()).is_ok());
//! ```

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::DefaultKeyedRateLimiter;
use governor::clock::Clock;

/// A rate: how many events may go at once (`burst`) and how fast the budget refills.
/// Re-exported from `governor`.
pub use governor::Quota;

/// The default `rateLimits.invalidRequests`: 60 a minute per client, bursts of 30.
///
/// A real provider almost never sends an invalid request (a misconfigured `publicUrl`
/// makes every request fail, and then the answer hardly matters); a client that fails 30
/// times in a row and keeps failing once a second is probing or flooding. The burst lets a
/// developer's manual tests and a small batch of retries through with their real error.
pub const DEFAULT_INVALID_REQUESTS: Quota =
    Quota::per_minute(NonZeroU32::new(60).unwrap()).allow_burst(NonZeroU32::new(30).unwrap());

/// Tracked clients above which pruning runs every second instead of every minute.
pub const PRUNE_ABOVE: usize = 10_000;

/// How often tracked clients are pruned (normally).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often a warning about limited clients is logged at most.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Counts invalid requests per client IP and says when a client is over its rate (see the
/// [module docs](self)).
pub struct InvalidRequestLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    quota: Quota,
    started: Instant,
    /// Milliseconds since `started` of the last prune.
    pruned_at: AtomicU64,
    /// Requests refused since the last warning, and when that was (ms since `started`;
    /// `u64::MAX` before the first).
    refused_since_warn: AtomicU64,
    warned_at: AtomicU64,
}

impl std::fmt::Debug for InvalidRequestLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvalidRequestLimiter")
            .field("quota", &self.quota)
            .field("tracked", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl InvalidRequestLimiter {
    /// A limiter allowing `quota` invalid requests per client.
    pub fn new(quota: Quota) -> Self {
        InvalidRequestLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            quota,
            started: Instant::now(),
            pruned_at: AtomicU64::new(0),
            refused_since_warn: AtomicU64::new(0),
            warned_at: AtomicU64::new(u64::MAX),
        }
    }

    /// The rate this limiter enforces.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Counts one invalid request from `client`: `Ok` while the client is within its
    /// rate, else `Err` with how long until its next invalid request would be.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let key = client_key(client);
        let res = self
            .limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()));
        self.maybe_prune();
        res
    }

    /// How many clients have state (for tests and diagnostics).
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }

    /// Forgets clients whose budget has refilled completely, and gives the memory back.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn maybe_prune(&self) {
        let now = self.elapsed_ms();
        let last = self.pruned_at.load(Ordering::Relaxed);
        let since = now.saturating_sub(last);
        let due = since >= PRUNE_EVERY.as_millis() as u64
            || (since >= 1000 && self.limiter.len() > PRUNE_ABOVE);
        // One request prunes; the others go on.
        if due
            && self
                .pruned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let before = self.limiter.len();
            self.prune();
            tracing::debug!(
                before,
                after = self.limiter.len(),
                "pruned the invalid-request limiter"
            );
        }
    }

    /// Logs one warning a minute at most while clients are being refused.
    fn note_refused(&self, client: IpAddr) {
        let refused = self.refused_since_warn.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.elapsed_ms();
        let last = self.warned_at.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if due
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.refused_since_warn
                .fetch_sub(refused, Ordering::Relaxed);
            tracing::warn!(
                client = %client,
                refused,
                burst = self.quota.burst_size().get(),
                replenish_every_ms = self.quota.replenish_interval().as_millis() as u64,
                "invalid requests over rateLimits.invalidRequests answered 429 (this client is the latest; one warning a minute)"
            );
        }
    }
}

/// The limiter's key for a client: IPv4 as is (IPv4-mapped IPv6 included), IPv6 by /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl InvalidRequestLimiter {
    /// Counts one invalid request (a 4xx answer) from `client`: `None` while the client is
    /// within its rate, else the 429 to answer instead (logged, one warning a minute).
    pub(crate) fn refuse(&self, client: IpAddr) -> Option<Response> {
        let wait = self.check(client).err()?;
        self.note_refused(client);
        Some(too_many_requests(wait))
    }
}

fn too_many_requests(wait: Duration) -> Response {
    // Whole seconds, rounded up, at least 1.
    let secs = wait.as_millis().div_ceil(1000).max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (header::RETRY_AFTER, secs.to_string()),
        ],
        format!("too many invalid requests from this address (rateLimits.invalidRequests); retry in {secs} s\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_v4_is_v4() {
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_key("::ffff:192.0.2.4".parse().unwrap()),
            "192.0.2.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_key("192.0.2.4".parse().unwrap()),
            "192.0.2.4".parse::<IpAddr>().unwrap()
        );
        let l = InvalidRequestLimiter::new(Quota::per_hour(NonZeroU32::new(1).unwrap()));
        assert!(l.check("2001:db8:1:2::7".parse().unwrap()).is_ok());
        // Another address in the same /64: the same budget, already spent.
        assert!(l.check("2001:db8:1:2::8".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:1:3::8".parse().unwrap()).is_ok());
        assert_eq!(l.tracked(), 2);
    }

    #[test]
    fn pruning_forgets_clients_whose_budget_refilled() {
        // 1000 a second: a spent cell refills within 1 ms.
        let l = InvalidRequestLimiter::new(Quota::per_second(NonZeroU32::new(1000).unwrap()));
        for i in 0..50u8 {
            l.check(IpAddr::from([10, 0, 0, i])).unwrap();
        }
        assert_eq!(l.tracked(), 50);
        std::thread::sleep(Duration::from_millis(20));
        l.prune();
        assert_eq!(l.tracked(), 0);
        // A client still over its rate is kept.
        let slow = InvalidRequestLimiter::new(Quota::per_hour(NonZeroU32::new(1).unwrap()));
        slow.check(IpAddr::from([10, 0, 0, 1])).unwrap();
        slow.prune();
        assert_eq!(slow.tracked(), 1);
    }

    #[test]
    fn the_429_says_when_to_retry() {
        let r = too_many_requests(Duration::from_millis(1200));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = too_many_requests(Duration::ZERO);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
