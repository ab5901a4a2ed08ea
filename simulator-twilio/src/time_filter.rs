//! The date filters of Twilio's lists (`DateSent`, `StartTime`, `EndTime`, `DateCreated`,
//! each with `<` and `>` forms), as the SDKs send them: a date (`2024-05-01`) or a UTC
//! time (`2024-05-01T12:00:00Z`, what twilio-python sends for a `datetime`).

use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::{Date, OffsetDateTime, UtcOffset};

use crate::errors::ApiError;
use crate::form::first;

/// One bound: a whole UTC day, or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Day(Date),
    Instant(OffsetDateTime),
}

impl Bound {
    fn parse(key: &str, v: &str) -> Result<Self, ApiError> {
        let v = v.trim();
        let format = time::macros::format_description!("[year]-[month]-[day]");
        if let Ok(d) = Date::parse(v, &format) {
            return Ok(Bound::Day(d));
        }
        OffsetDateTime::parse(v, &Rfc3339)
            .map(|t| Bound::Instant(t.to_offset(UtcOffset::UTC)))
            .map_err(|_| {
                ApiError::bad_request(
                    20001,
                    format!(
                        "Invalid {key} value {v:?}: expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
                    ),
                )
            })
    }

    fn query_value(self) -> String {
        match self {
            Bound::Day(d) => d.to_string(),
            Bound::Instant(t) => t.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// `Name` (on that UTC day: a time given counts as its day), `Name<` (on or before: the
/// day, or the instant), `Name>` (on or after) for one date field.
#[derive(Debug)]
pub(crate) struct TimeFilter {
    name: &'static str,
    on: Option<Bound>,
    until: Option<Bound>,
    since: Option<Bound>,
}

impl TimeFilter {
    /// The filter on `name` in `query` (a value that is not a date or time is 400, 20001).
    pub(crate) fn from_query(
        name: &'static str,
        query: &[(String, String)],
    ) -> Result<Self, ApiError> {
        let bound = |key: String| -> Result<Option<Bound>, ApiError> {
            first(query, &key)
                .map(|v| Bound::parse(&key, &v))
                .transpose()
        };
        Ok(TimeFilter {
            name,
            on: bound(name.to_string())?,
            until: bound(format!("{name}<"))?,
            since: bound(format!("{name}>"))?,
        })
    }

    fn is_empty(&self) -> bool {
        self.on.is_none() && self.until.is_none() && self.since.is_none()
    }

    /// Whether a resource whose field is `value` (an RFC 2822 date, as resources carry
    /// them) passes. A resource without the date passes no bound.
    pub(crate) fn admits(&self, value: Option<&str>) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(t) = value
            .and_then(|d| OffsetDateTime::parse(d.trim(), &Rfc2822).ok())
            .map(|t| t.to_offset(UtcOffset::UTC))
        else {
            return false;
        };
        let day = t.date();
        let on = self.on.is_none_or(|b| match b {
            Bound::Day(d) => day == d,
            Bound::Instant(i) => day == i.date(),
        });
        let until = self.until.is_none_or(|b| match b {
            Bound::Day(d) => day <= d,
            Bound::Instant(i) => t <= i,
        });
        let since = self.since.is_none_or(|b| match b {
            Bound::Day(d) => day >= d,
            Bound::Instant(i) => t >= i,
        });
        on && until && since
    }

    /// The bounds as they go back into page URIs.
    pub(crate) fn push_to(&self, q: &mut Vec<(String, String)>) {
        for (suffix, bound) in [("", self.on), ("<", self.until), (">", self.since)] {
            if let Some(b) = bound {
                q.push((format!("{}{suffix}", self.name), b.query_value()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const SENT: &str = "Wed, 01 May 2024 12:30:00 +0000";

    #[test]
    fn a_day_bounds_by_day_and_a_time_by_instant() {
        let f = |pairs: &[(&str, &str)]| TimeFilter::from_query("DateSent", &q(pairs)).unwrap();
        assert!(f(&[]).admits(Some(SENT)));
        assert!(f(&[("DateSent", "2024-05-01")]).admits(Some(SENT)));
        assert!(f(&[("DateSent", "2024-05-01T00:00:00Z")]).admits(Some(SENT)));
        assert!(!f(&[("DateSent", "2024-05-02")]).admits(Some(SENT)));
        assert!(f(&[("DateSent<", "2024-05-01")]).admits(Some(SENT)));
        assert!(!f(&[("DateSent<", "2024-05-01T12:29:59Z")]).admits(Some(SENT)));
        assert!(f(&[("DateSent>", "2024-05-01T12:30:00Z")]).admits(Some(SENT)));
        assert!(!f(&[("DateSent>", "2024-05-01T12:30:01Z")]).admits(Some(SENT)));
        assert!(!f(&[("DateSent>", "2024-05-02")]).admits(Some(SENT)));
        assert!(!f(&[("DateSent>", "2024-04-01")]).admits(None));
    }

    #[test]
    fn a_value_that_is_no_date_is_refused_naming_the_key() {
        let err =
            TimeFilter::from_query("StartTime", &q(&[("StartTime>", "yesterday")])).unwrap_err();
        assert_eq!((err.status, err.code), (400, 20001));
        assert_eq!(
            err.message,
            "Invalid StartTime> value \"yesterday\": expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
        );
    }

    #[test]
    fn bounds_go_back_into_page_uris() {
        let f = TimeFilter::from_query(
            "DateSent",
            &q(&[
                ("DateSent>", "2024-05-01T12:00:00Z"),
                ("DateSent<", "2024-05-03"),
            ]),
        )
        .unwrap();
        let mut out = Vec::new();
        f.push_to(&mut out);
        assert_eq!(
            out,
            q(&[
                ("DateSent<", "2024-05-03"),
                ("DateSent>", "2024-05-01T12:00:00Z")
            ])
        );
    }
}
