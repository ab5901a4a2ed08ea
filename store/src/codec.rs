//! Conversions between domain values and column values, shared by the backends.
//!
//! Times are stored as unix milliseconds; JSON columns hold serde_json text. Anything that
//! does not decode is reported as [`StoreError::Corrupt`] naming `table.column`.

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;
use telephony_core::voice::CallDirection;
use telephony_core::{Channel, StoreError};
use time::OffsetDateTime;

/// The error for a stored value that does not decode; `what` is `table.column`.
pub(crate) fn corrupt(what: &'static str, reason: impl Display) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: reason.to_string(),
    }
}

/// Defines the column readers (`get`, `get_json`, `get_time`, …) for one backend's row
/// type, so every backend reports a bad value the same way (naming `table.column`).
macro_rules! row_getters {
    ($row:ty, $db:ty) => {
        /// Reads column `what` (`table.column`) of a row, naming it if the value has the wrong type.
        pub(crate) fn get<'r, T>(
            row: &'r $row,
            what: &'static str,
        ) -> Result<T, ::telephony_core::StoreError>
        where
            T: sqlx::Decode<'r, $db> + sqlx::Type<$db>,
        {
            let column = what.rsplit_once('.').map_or(what, |(_, c)| c);
            sqlx::Row::try_get(row, column).map_err(|e| $crate::codec::corrupt(what, e))
        }

        /// Reads a JSON column.
        pub(crate) fn get_json<T: ::serde::de::DeserializeOwned>(
            row: &$row,
            what: &'static str,
        ) -> Result<T, ::telephony_core::StoreError> {
            let text: String = get(row, what)?;
            $crate::codec::from_json(what, &text)
        }

        /// Reads a nullable JSON column.
        pub(crate) fn get_json_opt<T: ::serde::de::DeserializeOwned>(
            row: &$row,
            what: &'static str,
        ) -> Result<Option<T>, ::telephony_core::StoreError> {
            let text: Option<String> = get(row, what)?;
            text.map(|t| $crate::codec::from_json(what, &t)).transpose()
        }

        /// Reads a unix-milliseconds column.
        pub(crate) fn get_time(
            row: &$row,
            what: &'static str,
        ) -> Result<::time::OffsetDateTime, ::telephony_core::StoreError> {
            $crate::codec::from_ms(what, get(row, what)?)
        }

        /// Reads a nullable unix-milliseconds column.
        pub(crate) fn get_time_opt(
            row: &$row,
            what: &'static str,
        ) -> Result<Option<::time::OffsetDateTime>, ::telephony_core::StoreError> {
            let ms: Option<i64> = get(row, what)?;
            ms.map(|ms| $crate::codec::from_ms(what, ms)).transpose()
        }

        /// Reads a non-negative count column.
        pub(crate) fn get_u32(
            row: &$row,
            what: &'static str,
        ) -> Result<u32, ::telephony_core::StoreError> {
            let n: i64 = get(row, what)?;
            u32::try_from(n)
                .map_err(|_| $crate::codec::corrupt(what, format_args!("{n} is not a valid count")))
        }

        /// Reads a nullable non-negative count column.
        pub(crate) fn get_u32_opt(
            row: &$row,
            what: &'static str,
        ) -> Result<Option<u32>, ::telephony_core::StoreError> {
            let n: Option<i64> = get(row, what)?;
            n.map(|n| {
                u32::try_from(n).map_err(|_| {
                    $crate::codec::corrupt(what, format_args!("{n} is not a valid count"))
                })
            })
            .transpose()
        }

        /// Reads a delivery status column.
        pub(crate) fn get_status(
            row: &$row,
            what: &'static str,
        ) -> Result<::telephony_core::DeliveryStatus, ::telephony_core::StoreError> {
            let s: String = get(row, what)?;
            s.parse().map_err(|e| $crate::codec::corrupt(what, e))
        }

        /// Reads an inbox state column.
        pub(crate) fn get_inbox_state(
            row: &$row,
            what: &'static str,
        ) -> Result<::telephony_core::InboxState, ::telephony_core::StoreError> {
            let s: String = get(row, what)?;
            ::telephony_core::InboxState::parse(&s).ok_or_else(|| {
                $crate::codec::corrupt(what, format_args!("unknown inbox state {s:?}"))
            })
        }

        /// Reads a channel column.
        pub(crate) fn get_channel(
            row: &$row,
            what: &'static str,
        ) -> Result<::telephony_core::Channel, ::telephony_core::StoreError> {
            get_serde_name(row, what)
        }

        /// Reads a call direction column.
        pub(crate) fn get_direction(
            row: &$row,
            what: &'static str,
        ) -> Result<::telephony_core::voice::CallDirection, ::telephony_core::StoreError> {
            get_serde_name(row, what)
        }

        /// Reads a call status column (its wire name: `in-progress`, `no-answer`, …).
        pub(crate) fn get_call_status(
            row: &$row,
            what: &'static str,
        ) -> Result<::telephony_core::voice::CallStatus, ::telephony_core::StoreError> {
            let s: String = get(row, what)?;
            s.parse().map_err(|e| $crate::codec::corrupt(what, e))
        }

        /// Reads a call status source column.
        pub(crate) fn get_status_source(
            row: &$row,
            what: &'static str,
        ) -> Result<::telephony_core::store::StatusSource, ::telephony_core::StoreError> {
            let s: String = get(row, what)?;
            ::telephony_core::store::StatusSource::parse(&s).ok_or_else(|| {
                $crate::codec::corrupt(what, format_args!("unknown status source {s:?}"))
            })
        }

        /// Reads a column holding an enum's serde name.
        fn get_serde_name<T: ::serde::de::DeserializeOwned>(
            row: &$row,
            what: &'static str,
        ) -> Result<T, ::telephony_core::StoreError> {
            let s: String = get(row, what)?;
            ::serde_json::from_value(::serde_json::Value::String(s))
                .map_err(|e| $crate::codec::corrupt(what, e))
        }
    };
}
pub(crate) use row_getters;

/// The stored name of a channel (its serde name: `sms`, `whatsapp`, `voice`).
pub(crate) fn channel_name(channel: Channel) -> Result<String, StoreError> {
    serde_name(channel)
}

/// The stored name of a call direction (its serde name: `inbound`, `outbound`, …).
pub(crate) fn direction_name(direction: CallDirection) -> Result<String, StoreError> {
    serde_name(direction)
}

/// The serde name of a unit enum variant, the form enums without a wire name are stored in.
fn serde_name<T: Serialize>(value: T) -> Result<String, StoreError> {
    match serde_json::to_value(value).map_err(StoreError::backend)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::backend(std::io::Error::other(format!(
            "{other} is not a unit variant's name"
        )))),
    }
}

/// JSON text of a value.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

/// Decodes JSON text stored in column `what`.
pub(crate) fn from_json<T: DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// Unix milliseconds of an instant (sub-millisecond digits are dropped, rounding down).
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    // ±9999 years in milliseconds is far inside i64, so the cast cannot truncate.
    t.unix_timestamp_nanos().div_euclid(1_000_000) as i64
}

/// The instant `t` as it reads back from the store: UTC, millisecond precision.
pub(crate) fn stored(t: OffsetDateTime) -> OffsetDateTime {
    from_ms("", to_ms(t)).unwrap_or(t)
}

/// The instant of a unix-milliseconds value stored in column `what`.
pub(crate) fn from_ms(what: &'static str, ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| corrupt(what, e))
}

/// Milliseconds of a duration, saturating.
pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A `LIMIT` value.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `lease_token` column's value of a token.
pub(crate) fn lease_value(token: telephony_core::LeaseToken) -> i64 {
    token.as_i64()
}

/// The token a `lease_token` column holds.
pub(crate) fn lease_token(value: i64) -> telephony_core::LeaseToken {
    telephony_core::LeaseToken::from_i64(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_and_round_down() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_767_323_045_123_456_789).unwrap();
        assert_eq!(to_ms(t), 1_767_323_045_123);
        assert_eq!(
            stored(t),
            OffsetDateTime::from_unix_timestamp_nanos(1_767_323_045_123_000_000).unwrap()
        );
        let before_epoch = OffsetDateTime::from_unix_timestamp_nanos(-1).unwrap();
        assert_eq!(to_ms(before_epoch), -1);
        assert_eq!(from_ms("t", -1).unwrap().unix_timestamp_nanos(), -1_000_000);
        assert!(matches!(
            from_ms("t.at", i64::MAX),
            Err(StoreError::Corrupt { what: "t.at", .. })
        ));
    }

    #[test]
    fn channel_names_are_serde_names() {
        assert_eq!(channel_name(Channel::Sms).unwrap(), "sms");
        assert_eq!(channel_name(Channel::Whatsapp).unwrap(), "whatsapp");
        assert_eq!(channel_name(Channel::Voice).unwrap(), "voice");
    }

    #[test]
    fn call_directions_are_serde_names() {
        assert_eq!(direction_name(CallDirection::Inbound).unwrap(), "inbound");
        assert_eq!(direction_name(CallDirection::Outbound).unwrap(), "outbound");
        assert_eq!(direction_name(CallDirection::Dialed).unwrap(), "dialed");
        assert_eq!(direction_name(CallDirection::Unknown).unwrap(), "unknown");
    }
}

/// A forward event's columns (`forwards`), as both backends store it: encoded where it is
/// made (a webhook's task), so the writer only binds values.
#[derive(Debug)]
pub(crate) struct ForwardRow {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) payload_json: String,
    pub(crate) created_at: i64,
    pub(crate) attempts: i64,
    pub(crate) last_error: Option<String>,
    /// When it is due: its creation time, unless it failed or was put back.
    pub(crate) next_attempt_at: i64,
}

impl ForwardRow {
    pub(crate) fn encode(event: &telephony_core::ForwardEvent) -> Result<Self, StoreError> {
        Ok(ForwardRow {
            id: event.id.clone(),
            kind: event.kind.clone(),
            payload_json: match &event.encoded {
                Some(text) => text.to_string(),
                None => to_json(&event.payload)?,
            },
            created_at: to_ms(event.created_at),
            attempts: i64::from(event.attempts),
            last_error: event.last_error.clone(),
            next_attempt_at: to_ms(event.created_at),
        })
    }
}

/// The forward events of a group-commit batch's messages that were inserted (a
/// duplicate's or a refused row's event is not stored), in batch order: `forwards` gives
/// each request's event, `outcomes` each request's insert outcome.
pub(crate) fn inserted_events<'a>(
    forwards: impl Iterator<Item = Option<&'a ForwardRow>>,
    outcomes: &[Result<telephony_core::InsertOutcome, StoreError>],
) -> Vec<&'a ForwardRow> {
    forwards
        .zip(outcomes)
        .filter(|(_, o)| matches!(o, Ok(telephony_core::InsertOutcome::Inserted)))
        .filter_map(|(f, _)| f)
        .collect()
}
