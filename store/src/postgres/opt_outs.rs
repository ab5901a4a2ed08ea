//! Numbers that opted out (STOP) and have not opted back in (START).
//!
//! A row holds the E.164 number, or, once the number was erased (`telephony forget`), its
//! keyed hash ([`OptOutKey::hash`]) under the store's key in `store_keys`: every check
//! matches either form.

use sqlx::PgConnection;
use telephony_core::store::{OPT_OUT_KEY_NAME, OptOutKey};
use telephony_core::{PhoneNumber, StoreError};
use time::OffsetDateTime;

use super::codec;

/// Records an opt-out (`true`, idempotent) or an opt-in (`false`, which also removes the
/// number's hashed opt-out if it was erased).
pub(crate) async fn set(
    conn: &mut PgConnection,
    number: &PhoneNumber,
    opted_out: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if opted_out {
        sqlx::query(
            "INSERT INTO opt_outs (number, opted_out_at) VALUES ($1, $2) \
             ON CONFLICT (number) DO NOTHING",
        )
        .bind(number.as_str())
        .bind(codec::to_ms(now))
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
        return Ok(());
    }
    let hashed = key(&mut *conn).await?.map(|k| k.hash(number));
    sqlx::query("DELETE FROM opt_outs WHERE number IN ($1, $2)")
        .bind(number.as_str())
        .bind(hashed)
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

/// True if the number opted out and has not opted back in, under either form.
pub(crate) async fn is_opted_out(
    conn: &mut PgConnection,
    number: &PhoneNumber,
) -> Result<bool, StoreError> {
    // One statement reads the plain row and the key from one snapshot (the key never
    // changes once made); a second only when a number was ever erased and this one has no
    // plain opt-out.
    let (plain, key): (bool, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE number = $1), \
                (SELECT key FROM store_keys WHERE name = $2)",
    )
    .bind(number.as_str())
    .bind(OPT_OUT_KEY_NAME)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    let Some(key) = key else {
        return Ok(plain);
    };
    if plain {
        return Ok(true);
    }
    let hashed = OptOutKey::from_bytes(&key)?.hash(number);
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM opt_outs WHERE number = $1)")
        .bind(hashed)
        .fetch_one(conn)
        .await
        .map_err(StoreError::backend)
}

/// Replaces the number's opt-out (if it has one) with its keyed hash, making the store's
/// key first if there is none; returns whether it had one. Runs in the caller's write
/// transaction.
pub(crate) async fn hash(
    conn: &mut PgConnection,
    number: &PhoneNumber,
) -> Result<bool, StoreError> {
    let plain: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM opt_outs WHERE number = $1)")
            .bind(number.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::backend)?;
    if !plain {
        return Ok(false);
    }
    let hashed = key_or_create(&mut *conn).await?.hash(number);
    // A number that opted out again after an earlier erasure already has its hash.
    sqlx::query(
        "INSERT INTO opt_outs (number, opted_out_at) \
         SELECT $2, opted_out_at FROM opt_outs WHERE number = $1 \
         ON CONFLICT (number) DO NOTHING",
    )
    .bind(number.as_str())
    .bind(&hashed)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    sqlx::query("DELETE FROM opt_outs WHERE number = $1")
        .bind(number.as_str())
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(true)
}

/// The store's opt-out key, if one was made.
async fn key(conn: &mut PgConnection) -> Result<Option<OptOutKey>, StoreError> {
    let key: Option<Vec<u8>> = sqlx::query_scalar("SELECT key FROM store_keys WHERE name = $1")
        .bind(OPT_OUT_KEY_NAME)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::backend)?;
    key.map(|k| OptOutKey::from_bytes(&k)).transpose()
}

/// The store's opt-out key, made now if there is none.
async fn key_or_create(conn: &mut PgConnection) -> Result<OptOutKey, StoreError> {
    sqlx::query(
        "INSERT INTO store_keys (name, key, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(OPT_OUT_KEY_NAME)
    .bind(OptOutKey::generate().as_bytes())
    .bind(codec::to_ms(OffsetDateTime::now_utc()))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    key(conn).await?.ok_or_else(|| StoreError::Corrupt {
        what: "store_keys.key",
        reason: "the opt-out key was stored but cannot be read back".into(),
    })
}
