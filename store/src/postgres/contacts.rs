//! Known contacts: numbers that texted us, were approved through pairing, or were approved
//! by the owner (which releases the sends held for them).

use sqlx::PgConnection;
use telephony_core::{MessageId, PhoneNumber, StoreError};
use time::OffsetDateTime;

use super::codec;
use super::outbox;

/// True if the number ever texted us (on any channel) or was approved.
pub(crate) async fn is_known(
    conn: &mut PgConnection,
    number: &PhoneNumber,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM approved_contacts WHERE number = $1) \
             OR EXISTS (SELECT 1 FROM approved_senders WHERE number = $1) \
             OR EXISTS (SELECT 1 FROM inbox WHERE sender IN ($1, 'whatsapp:' || $1::text))",
    )
    .bind(number.as_str())
    .fetch_one(conn)
    .await
    .map_err(StoreError::backend)
}

/// Approves a contact and releases its held sends (due at `now`); returns their ids.
pub(crate) async fn approve(
    conn: &mut PgConnection,
    number: &PhoneNumber,
    now: OffsetDateTime,
) -> Result<Vec<MessageId>, StoreError> {
    sqlx::query(
        "INSERT INTO approved_contacts (number, approved_at) VALUES ($1, $2) \
         ON CONFLICT (number) DO NOTHING",
    )
    .bind(number.as_str())
    .bind(codec::to_ms(now))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    outbox::release_held(conn, number, now).await
}

/// Takes the schema's send-cap lock until the transaction ends: capped sends on every
/// replica count and insert one at a time.
pub(crate) async fn lock_send_cap(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), $1)")
        .bind(super::LOCK_SEND_CAP)
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}
