//! Per-sender outbound limits: Twilio sends at most 1 message a second from a long code, 3
//! from a toll-free number and 100 from a short code (seed 003, "Rate limiting"); the
//! outbox waits for a slot instead of making the provider queue (or refuse) the excess.
//!
//! The key is what the provider sends from ([`Provider::sender`](telephony_core::Provider::sender)):
//! the number, or the Messaging Service / messaging profile when the provider picks the
//! number from a pool. Its rate, first match wins: `rateLimits.perNumber[key]`,
//! `rateLimits.default`, the default of its [`NumberKind`].
//!
//! The slots themselves are booked in the store
//! ([`OutboxStore::reserve_send_slots`](telephony_core::OutboxStore::reserve_send_slots)),
//! a batch per sender at a time, so every gateway process on one store (replicas on one
//! PostgreSQL schema) shares each sender's rate.

use std::collections::BTreeMap;
use std::fmt;

use super::rate::Rate;

/// What kind of sender a number is; each kind has its own default rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NumberKind {
    /// An ordinary 10-digit (or international) number: 1 message a second.
    LongCode,
    /// A toll-free number: 3 messages a second.
    TollFree,
    /// A 5–6 digit short code: 100 messages a second (burst 5).
    ShortCode,
}

/// North American toll-free area codes (NANP: 800, 833, 844, 855, 866, 877, 888).
const NANP_TOLL_FREE: [&str; 7] = ["800", "833", "844", "855", "866", "877", "888"];

impl NumberKind {
    /// The configuration name: `long-code`, `toll-free` or `short-code`.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::LongCode => "long-code",
            NumberKind::TollFree => "toll-free",
            NumberKind::ShortCode => "short-code",
        }
    }

    /// Parses a configuration name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            NumberKind::LongCode,
            NumberKind::TollFree,
            NumberKind::ShortCode,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The kind a sender visibly is: a North American toll-free number (`+1800…`,
    /// `+1833…` … `+1888…`) or a short code (5 or 6 digits, with or without `+`); `None`
    /// for anything else (an ordinary number, a Messaging Service, a profile id).
    ///
    /// ```
    /// use telephony_serve::rate_limit::NumberKind;
    /// assert_eq!(NumberKind::recognize("+18885550100"), Some(NumberKind::TollFree));
    /// assert_eq!(NumberKind::recognize("12345"), Some(NumberKind::ShortCode));
    /// assert_eq!(NumberKind::recognize("+15555550100"), None);
    /// ```
    pub fn recognize(sender: &str) -> Option<Self> {
        let digits = sender.strip_prefix('+').unwrap_or(sender);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if (5..=6).contains(&digits.len()) {
            return Some(NumberKind::ShortCode);
        }
        let toll_free = sender.starts_with("+1")
            && digits.len() == 11
            && NANP_TOLL_FREE.contains(&&digits[1..4]);
        toll_free.then_some(NumberKind::TollFree)
    }

    /// The kind's default rate: long code 1/s, toll-free 3/s (both burst 1), short code
    /// 100/s with a burst of 5 ([`slack_burst`]).
    pub fn default_rate(self) -> Rate {
        let (per_second, burst) = match self {
            NumberKind::LongCode => (1.0, 1),
            NumberKind::TollFree => (3.0, 1),
            NumberKind::ShortCode => (100.0, slack_burst(100.0)),
        };
        Rate::per_second(per_second)
            .and_then(|r| r.with_burst(burst))
            .expect("the kinds' rates are valid")
    }
}

impl fmt::Display for NumberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The burst an outbound rate gets when none is configured: 50 ms worth of sends, at
/// least 1 (1 for up to 20/s, 5 at 100/s). The outbox starts a send a millisecond or two
/// after its slot; with a burst of 1 each such delay would push every later slot back, so
/// at 100/s the achieved rate would fall several percent short. 50 ms of slack absorbs
/// the delay without letting more than a handful go at once.
///
/// ```
/// assert_eq!(telephony_serve::rate_limit::outbound::slack_burst(1.0), 1);
/// assert_eq!(telephony_serve::rate_limit::outbound::slack_burst(100.0), 5);
/// ```
pub fn slack_burst(per_second: f64) -> u32 {
    (per_second * 0.05).ceil().clamp(1.0, u32::MAX as f64) as u32
}

/// Outbound limits per sender (`rateLimits.default`, `perNumber`, `numberKind`).
///
/// ```
/// use telephony_serve::rate_limit::{NumberKind, OutboundLimits, Rate};
/// let limits = OutboundLimits::default()
///     .per_sender("+15550001234", Rate::per_second(2.0)?)
///     .number_kind(NumberKind::TollFree);
/// assert_eq!(limits.rate_for("+15550001234").to_string(), "2/s, burst 1");
/// assert_eq!(limits.rate_for("12345").to_string(), "100/s, burst 5");
/// // A Messaging Service is not recognizable: it takes `number_kind`.
/// assert_eq!(limits.rate_for("MG0123").to_string(), "3/s, burst 1");
/// # Ok::<(), telephony_serve::rate_limit::RateError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundLimits {
    /// The rate of every sender without a [`per_sender`](Self::per_sender) entry; `None`
    /// for the default of its [`NumberKind`].
    pub default: Option<Rate>,
    /// Rates of given senders (E.164 number, short code, `MG…` SID, messaging profile id).
    pub per_sender: BTreeMap<String, Rate>,
    /// The kind of a sender that is not recognizable from its number (an ordinary number,
    /// a Messaging Service, a profile); `None` for long code.
    pub number_kind: Option<NumberKind>,
}

impl OutboundLimits {
    /// Sets the rate of one sender.
    pub fn per_sender(mut self, sender: impl Into<String>, rate: Rate) -> Self {
        self.per_sender.insert(sender.into(), rate);
        self
    }

    /// Sets the rate of every sender without its own entry.
    pub fn default_rate(mut self, rate: Rate) -> Self {
        self.default = Some(rate);
        self
    }

    /// Sets the kind of senders that are not recognizable from their number.
    pub fn number_kind(mut self, kind: NumberKind) -> Self {
        self.number_kind = Some(kind);
        self
    }

    /// The kind a sender is taken to be: [`NumberKind::recognize`], else the configured
    /// kind, else long code.
    pub fn kind_of(&self, sender: &str) -> NumberKind {
        NumberKind::recognize(sender)
            .or(self.number_kind)
            .unwrap_or(NumberKind::LongCode)
    }

    /// The rate `sender` is held to.
    pub fn rate_for(&self, sender: &str) -> Rate {
        match self.per_sender.get(sender) {
            Some(r) => *r,
            None => self
                .default
                .unwrap_or_else(|| self.kind_of(sender).default_rate()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn kinds_are_recognized_from_the_number() {
        for (sender, kind) in [
            ("+18005550100", Some(NumberKind::TollFree)),
            ("+18335550100", Some(NumberKind::TollFree)),
            ("+18885550100", Some(NumberKind::TollFree)),
            ("+18995550100", None),
            ("+15555550100", None),
            ("+448005550100", None),
            ("12345", Some(NumberKind::ShortCode)),
            ("+123456", Some(NumberKind::ShortCode)),
            ("1234", None),
            ("1234567", None),
            ("MG00000000000000000000000000000001", None),
            ("40017f8e-49bd-4f16-9e3d-ef103f916228", None),
            ("", None),
        ] {
            assert_eq!(NumberKind::recognize(sender), kind, "{sender}");
        }
        assert_eq!(NumberKind::parse("toll-free"), Some(NumberKind::TollFree));
        assert_eq!(NumberKind::parse("tollfree"), None);
    }

    #[test]
    fn rate_precedence_per_sender_then_default_then_kind() {
        let two = Rate::per_second(2.0).unwrap();
        let limits = OutboundLimits::default().per_sender("+15550001234", two);
        assert_eq!(limits.rate_for("+15550001234"), two);
        assert_eq!(limits.rate_for("+15550009999").to_string(), "1/s, burst 1");
        assert_eq!(limits.rate_for("+18005550100").to_string(), "3/s, burst 1");
        assert_eq!(limits.rate_for("22395").to_string(), "100/s, burst 5");
        let five = Rate::per_second(5.0).unwrap();
        let limits = limits.default_rate(five);
        assert_eq!(limits.rate_for("+18005550100"), five);
        assert_eq!(limits.rate_for("+15550001234"), two);
    }

    /// Each kind's default rate, booked in a store: a long code gets one slot a second, a
    /// toll-free number one every 333.333333 ms on its own, a short code five at once then
    /// one every 10 ms.
    #[tokio::test]
    async fn senders_wait_for_their_own_slots() {
        use telephony_core::OutboxStore;
        let store = telephony_core::MemoryStore::new();
        let limits = OutboundLimits::default().number_kind(NumberKind::LongCode);
        let now = time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045);
        let book = |sender: &'static str, count: u32, at: Duration| {
            let rate = limits.rate_for(sender).into();
            let store = &store;
            async move {
                let slots = store
                    .reserve_send_slots(sender, rate, count, now + at)
                    .await
                    .unwrap();
                slots
                    .iter()
                    .map(|t| Duration::try_from(*t - now).unwrap())
                    .collect::<Vec<_>>()
            }
        };
        let at = |ms: u64| Duration::from_millis(ms);
        // Long code: one a second.
        assert_eq!(book("+15550001234", 2, at(0)).await, [at(0), at(1000)]);
        // Toll-free: one every 333.333333 ms, on its own.
        assert_eq!(
            book("+18005550100", 2, at(0)).await,
            [at(0), Duration::from_nanos(333_333_333)]
        );
        // Short code: five at once, then one every 10 ms.
        assert_eq!(
            book("12345", 6, at(0)).await,
            [at(0), at(0), at(0), at(0), at(0), at(10)]
        );
        assert_eq!(book("12345", 1, at(10)).await, [at(20)]);
        assert_eq!(book("+15550001234", 1, at(1000)).await, [at(2000)]);
    }
}
