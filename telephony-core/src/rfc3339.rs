//! The one RFC 3339 formatter and parser of the workspace (timestamps in the admin API,
//! the CLI, error messages and logs).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `t` as RFC 3339 (`2026-01-02T03:04:05.5Z`: fractional seconds only when present).
///
/// ```
/// use telephony_core::rfc3339;
/// use time::macros::datetime;
///
/// assert_eq!(rfc3339::format(datetime!(2026-01-02 03:04:05 UTC)), "2026-01-02T03:04:05Z");
/// assert_eq!(rfc3339::format(datetime!(2026-01-02 03:04:05.5 +01:00)), "2026-01-02T03:04:05.5+01:00");
/// ```
pub fn format(t: OffsetDateTime) -> String {
    // Only what RFC 3339 cannot express fails (a year outside 0..=9999, an offset with
    // seconds); show those in `time`'s own form rather than nothing.
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Parses an RFC 3339 timestamp (`2026-01-02T03:04:05Z`, any offset, optional fraction).
///
/// ```
/// use telephony_core::rfc3339;
///
/// let t = rfc3339::parse("2026-01-02T03:04:05+02:00")?;
/// assert_eq!(rfc3339::format(t.to_offset(time::UtcOffset::UTC)), "2026-01-02T01:04:05Z");
/// assert!(rfc3339::parse("yesterday").is_err());
/// # Ok::<(), time::error::Parse>(())
/// ```
pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}
