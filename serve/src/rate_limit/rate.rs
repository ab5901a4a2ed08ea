//! [`Rate`]: how many events at once, and how fast the budget refills.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;

/// Why a [`Rate`] cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// The count per period is zero, negative or not a number.
    #[error("must be a number greater than 0, not {0}")]
    NotPositive(f64),
    /// The rate is faster than one event per nanosecond, or slower than one per century.
    #[error("{0} is out of range (between one per century and 10^9 per second)")]
    OutOfRange(f64),
    /// A burst of zero would never let anything through.
    #[error("must be at least 1")]
    ZeroBurst,
}

/// A rate: one event every [`interval`](Rate::interval), with up to [`burst`](Rate::burst)
/// at once (GCRA, as governor implements it).
///
/// ```
/// use std::time::Duration;
/// use telephony_serve::rate_limit::Rate;
/// let r = Rate::per_second(3.0)?.with_burst(2)?;
/// assert_eq!((r.interval(), r.burst()), (Duration::from_nanos(333_333_333), 2));
/// assert_eq!(Rate::per_minute(10.0)?.interval(), Duration::from_secs(6));
/// assert!(Rate::per_second(0.0).is_err());
/// # Ok::<(), telephony_serve::rate_limit::RateError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub(crate) interval: Duration,
    pub(crate) burst: NonZeroU32,
}

impl Rate {
    /// `events` per second (fractions allowed: 0.5 is one every two seconds), burst 1.
    pub fn per_second(events: f64) -> Result<Rate, RateError> {
        Rate::per(events, 1.0)
    }

    /// `events` per minute, burst 1.
    pub fn per_minute(events: f64) -> Result<Rate, RateError> {
        Rate::per(events, 60.0)
    }

    fn per(events: f64, period_secs: f64) -> Result<Rate, RateError> {
        if events.is_nan() || events <= 0.0 {
            return Err(RateError::NotPositive(events));
        }
        let secs = period_secs / events;
        if !(1e-9..=3.2e9).contains(&secs) {
            return Err(RateError::OutOfRange(events));
        }
        Ok(Rate {
            interval: Duration::from_nanos((secs * 1e9) as u64),
            burst: NonZeroU32::MIN,
        })
    }

    /// The same rate with up to `burst` events at once.
    pub fn with_burst(self, burst: u32) -> Result<Rate, RateError> {
        Ok(Rate {
            burst: NonZeroU32::new(burst).ok_or(RateError::ZeroBurst)?,
            ..self
        })
    }

    /// The time between two events at the steady rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How many events may go at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// Events per second at the steady rate.
    pub fn per_second_value(&self) -> f64 {
        1.0 / self.interval.as_secs_f64()
    }

    pub(crate) fn quota(&self) -> Quota {
        // `per` keeps the interval at 1 ns or more, so the quota always exists.
        Quota::with_period(self.interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(self.burst)
    }
}

impl From<Rate> for telephony_core::SendRate {
    /// The rate as the store books send slots.
    fn from(rate: Rate) -> Self {
        telephony_core::SendRate::new(rate.interval, rate.burst)
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({self})")
    }
}

impl fmt::Display for Rate {
    /// `3/s, burst 1`; `10/min, burst 10` for rates under one per second.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_second = self.per_second_value();
        if per_second >= 1.0 {
            write!(f, "{}/s", round(per_second))?;
        } else {
            write!(f, "{}/min", round(per_second * 60.0))?;
        }
        write!(f, ", burst {}", self.burst)
    }
}

/// Up to 3 decimals, without trailing zeros.
fn round(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_their_errors() {
        assert_eq!(
            Rate::per_second(100.0).unwrap().interval(),
            Duration::from_millis(10)
        );
        assert_eq!(
            Rate::per_second(0.5).unwrap().interval(),
            Duration::from_secs(2)
        );
        assert_eq!(Rate::per_second(-1.0), Err(RateError::NotPositive(-1.0)));
        assert!(matches!(
            Rate::per_second(f64::NAN),
            Err(RateError::NotPositive(_))
        ));
        assert_eq!(Rate::per_second(2e9), Err(RateError::OutOfRange(2e9)));
        assert_eq!(
            Rate::per_second(1.0).unwrap().with_burst(0),
            Err(RateError::ZeroBurst)
        );
        assert_eq!(
            Rate::per_second(0.5).unwrap().to_string(),
            "30/min, burst 1"
        );
        assert_eq!(
            Rate::per_second(3.0)
                .unwrap()
                .with_burst(4)
                .unwrap()
                .to_string(),
            "3/s, burst 4"
        );
        assert_eq!(
            Rate::per_minute(1.5).unwrap().to_string(),
            "1.5/min, burst 1"
        );
    }
}
