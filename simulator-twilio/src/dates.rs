//! Dates as Twilio writes them in resources and callbacks.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// RFC 2822 date as Twilio writes it: `Thu, 24 Aug 2023 05:01:45 +0000`.
pub(crate) fn rfc2822(t: OffsetDateTime) -> String {
    t.format(&Rfc2822).unwrap_or_default()
}
