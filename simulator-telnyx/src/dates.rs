//! Dates as Telnyx writes them in resources and webhooks.

/// An RFC 3339 timestamp with milliseconds, as Telnyx writes them
/// (`2023-11-14T22:13:20.000+00:00`).
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}
