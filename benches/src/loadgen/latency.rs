//! Latency percentiles from every recorded sample (a sorted vector: exact, not binned).

use std::time::Duration;

/// Latency summary of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Latency {
    /// Samples.
    pub count: usize,
    /// Mean.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Slowest.
    pub max: Duration,
}

/// The sample at quantile `q` (nearest rank) of sorted `s`.
fn rank(s: &[u64], q: f64) -> Duration {
    if s.is_empty() {
        return Duration::ZERO;
    }
    let r = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Duration::from_nanos(s[r - 1])
}

impl Latency {
    /// Summarizes nanosecond samples (sorts them in place).
    pub(crate) fn from_samples(samples: &mut [u64]) -> Latency {
        samples.sort_unstable();
        let sum: u128 = samples.iter().map(|&n| u128::from(n)).sum();
        Latency {
            count: samples.len(),
            mean: Duration::from_nanos(sum.checked_div(samples.len() as u128).unwrap_or(0) as u64),
            p50: rank(samples, 0.50),
            p90: rank(samples, 0.90),
            p99: rank(samples, 0.99),
            p999: rank(samples, 0.999),
            max: samples
                .last()
                .map_or(Duration::ZERO, |&n| Duration::from_nanos(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut s: Vec<u64> = (1..=1000).rev().collect();
        let l = Latency::from_samples(&mut s);
        assert_eq!(l.count, 1000);
        assert_eq!(l.p50, Duration::from_nanos(500));
        assert_eq!(l.p90, Duration::from_nanos(900));
        assert_eq!(l.p99, Duration::from_nanos(990));
        assert_eq!(l.p999, Duration::from_nanos(999));
        assert_eq!(l.max, Duration::from_nanos(1000));
        assert_eq!(l.mean, Duration::from_nanos(500));
        assert_eq!(Latency::from_samples(&mut []), Latency::default());
    }
}
