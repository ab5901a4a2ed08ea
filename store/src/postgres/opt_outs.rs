//! Numbers that opted out (STOP) and have not opted back in (START).

use sqlx::PgConnection;
use telephony_core::{PhoneNumber, StoreError};
use time::OffsetDateTime;

use super::codec;

/// Records an opt-out (`true`, idempotent) or an opt-in (`false`).
pub(crate) async fn set(
    conn: &mut PgConnection,
    number: &PhoneNumber,
    opted_out: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let query = if opted_out {
        sqlx::query(
            "INSERT INTO opt_outs (number, opted_out_at) VALUES ($1, $2) \
             ON CONFLICT (number) DO NOTHING",
        )
        .bind(number.as_str())
        .bind(codec::to_ms(now))
    } else {
        sqlx::query("DELETE FROM opt_outs WHERE number = $1").bind(number.as_str())
    };
    query.execute(conn).await.map_err(StoreError::backend)?;
    Ok(())
}

/// True if the number opted out and has not opted back in.
pub(crate) async fn is_opted_out(
    conn: &mut PgConnection,
    number: &PhoneNumber,
) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM opt_outs WHERE number = $1)")
        .bind(number.as_str())
        .fetch_one(conn)
        .await
        .map_err(StoreError::backend)
}
