//! The one retry rule of the gateway: how long to wait before trying again, and how to read
//! a provider's `Retry-After`.
//!
//! Every retrying loop uses these two functions (the outbox for sends, the forwarder for
//! events, the Twilio client for its reads), so there is one backoff to reason about:
//!
//! | retries already scheduled | [`backoff`] |
//! |---|---|
//! | 0 | 1 s |
//! | 1 | 2 s |
//! | 2 | 4 s |
//! | n | 2ⁿ s |
//! | 9 and more | 5 min ([`MAX_BACKOFF`]) |
//!
//! [`wait`] combines it with `Retry-After`: the longer of the two, so a provider that asks
//! for more time gets it and one that asks for less does not make us hammer it.
//!
//! Sends are retried in one place only, the gateway's outbox: a provider's `send` makes one
//! HTTP attempt and returns a [`ProviderError`](crate::ProviderError) the outbox asks
//! [`is_retryable`](crate::ProviderError::is_retryable) and
//! [`retry_after`](crate::ProviderError::retry_after).

use std::time::Duration;

use time::OffsetDateTime;

/// The first backoff step.
pub const BASE_BACKOFF: Duration = Duration::from_secs(1);

/// The longest backoff step.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How long to wait before the next try when `failures` earlier tries already failed and
/// were retried (0 after the first failure): 1 s doubling, at most 5 minutes.
///
/// ```
/// use std::time::Duration;
/// use telephony_core::retry::backoff;
///
/// assert_eq!(backoff(0), Duration::from_secs(1));
/// assert_eq!(backoff(3), Duration::from_secs(8));
/// assert_eq!(backoff(40), Duration::from_secs(300));
/// ```
pub fn backoff(failures: u32) -> Duration {
    // 2^9 s is already past the cap; the min keeps the shift in range.
    BASE_BACKOFF
        .saturating_mul(1u32 << failures.min(9))
        .min(MAX_BACKOFF)
}

/// [`backoff`]`(failures)`, or the provider's `Retry-After` when that is longer.
///
/// ```
/// use std::time::Duration;
/// use telephony_core::retry::wait;
///
/// // Retry-After: 5 wins over the 2 s step; Retry-After: 0 does not shorten it.
/// assert_eq!(wait(1, Some(Duration::from_secs(5))), Duration::from_secs(5));
/// assert_eq!(wait(1, Some(Duration::ZERO)), Duration::from_secs(2));
/// assert_eq!(wait(1, None), Duration::from_secs(2));
/// ```
pub fn wait(failures: u32, retry_after: Option<Duration>) -> Duration {
    backoff(failures).max(retry_after.unwrap_or_default())
}

/// The `Retry-After` header of a response as a duration from `now`.
///
/// ```
/// use std::time::Duration;
/// use telephony_core::retry::retry_after;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
/// let now = time::OffsetDateTime::now_utc();
/// assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
/// assert_eq!(retry_after(&http::HeaderMap::new(), now), None);
/// ```
pub fn retry_after(headers: &http::HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// A `Retry-After` value (RFC 9110 §10.2.3) as a duration from `now`: delta-seconds, or an
/// HTTP-date (IMF-fixdate, or RFC 2822 with an offset); a date in the past is zero.
/// Anything else is `None`.
///
/// ```
/// use std::time::Duration;
/// use telephony_core::retry::parse_retry_after;
///
/// let now = time::macros::datetime!(1994-11-06 08:49:30 UTC);
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    let delta = at - now;
    Some(if delta.is_negative() {
        Duration::ZERO
    } else {
        delta.unsigned_abs()
    })
}

/// An HTTP-date: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) or RFC 2822 with an offset.
fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    const IMF_FIXDATE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    if let Ok(t) = time::PrimitiveDateTime::parse(value, IMF_FIXDATE) {
        return Some(t.assume_utc());
    }
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let secs: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(30), Duration::from_secs(300));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn wait_is_the_longer_of_backoff_and_retry_after() {
        assert_eq!(wait(0, None), Duration::from_secs(1));
        assert_eq!(
            wait(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            wait(3, Some(Duration::from_secs(2))),
            Duration::from_secs(8)
        );
        assert_eq!(
            wait(0, Some(Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
        assert_eq!(
            wait(20, Some(Duration::from_secs(3600))),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = OffsetDateTime::parse(
            "Sun, 06 Nov 1994 08:49:30 +0000",
            &time::format_description::well_known::Rfc2822,
        )
        .unwrap();
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 +0000", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_forms_telnyx_examples() {
        let now = time::macros::datetime!(2015-10-21 07:28:00 UTC);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_header() {
        let now = time::macros::datetime!(2015-10-21 07:28:00 UTC);
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:02 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(2)));
    }
}
