//! Rate limits (governor): per-sender outbound sends ([`outbound`]), inbound messages per
//! sender and status callbacks (one [`KeyedLimiter`] each), and the periodic pruning that
//! keeps their memory bounded.
//!
//! Outbound send slots are booked in the store, so gateway processes sharing one store
//! (replicas on one PostgreSQL schema) share each sender's rate. The inbound and
//! status-callback limiters are in this process's memory: each replica enforces them on
//! its own.

mod keyed;
pub mod outbound;
mod rate;
pub(crate) mod webhooks;

use std::num::NonZeroU32;
use std::time::Duration;

pub use self::keyed::KeyedLimiter;
pub use self::outbound::{NumberKind, OutboundLimits};
pub use self::rate::{Rate, RateError};

/// The gateway's rate limits (`rateLimits.*`); set them with
/// [`GatewayBuilder::rate_limits`](crate::GatewayBuilder::rate_limits).
///
/// ```
/// use telephony_serve::rate_limit::{OutboundLimits, Rate, RateLimits};
/// let limits = RateLimits {
///     outbound: OutboundLimits::default()
///         .per_sender("+18005550100", Rate::per_second(5.0)?),
///     ..RateLimits::default()
/// };
/// assert_eq!(limits.inbound_per_sender.to_string(), "10/min, burst 10");
/// assert_eq!(limits.status_callbacks.to_string(), "500/s, burst 1000");
/// # Ok::<(), telephony_serve::rate_limit::RateError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Outbound sends per sender number / Messaging Service / messaging profile.
    pub outbound: OutboundLimits,
    /// Inbound messages per sender (account + `From`), counted after the signature is
    /// valid; messages over it are stored `throttled` and not dispatched. Default 10 per
    /// minute with a burst of 10: a person texting in quick bursts is never throttled, a
    /// looping bot or a flood from one number is held to one message every 6 s.
    pub inbound_per_sender: Rate,
    /// Status callbacks per provider account, separate from the message limits; over it
    /// the callback is answered 429. Default 500/s with a burst of 1000: far above what
    /// the outbound limits can cause (a few callbacks per message, at most 100 messages/s
    /// per short code), so only a runaway or replayed stream is cut.
    pub status_callbacks: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            outbound: OutboundLimits::default(),
            inbound_per_sender: Rate {
                interval: Duration::from_secs(6),
                burst: NonZeroU32::new(10).expect("non-zero"),
            },
            status_callbacks: Rate {
                interval: Duration::from_millis(2),
                burst: NonZeroU32::new(1000).expect("non-zero"),
            },
        }
    }
}

/// How often the limiters forget keys that are back to fresh.
pub(crate) const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Runs `prune` every [`PRUNE_EVERY`] until told to stop, so the limiters' memory follows
/// the senders of the last minute, not every sender ever seen.
pub(crate) async fn prune_periodically(
    prune: impl Fn() + Send + 'static,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        prune();
    }
}
