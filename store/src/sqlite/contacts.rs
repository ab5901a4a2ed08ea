//! Known contacts: numbers that texted us, were approved through pairing, or were approved
//! by the owner (which releases the sends held for them).

use sqlx::SqliteConnection;
use telephony_core::{MessageId, PhoneNumber, StoreError};
use time::OffsetDateTime;

use super::codec;
use super::outbox;

/// True if the number texted us (on any channel; a message of it is still stored: the
/// `inbox_senders` counts, kept by triggers) or was approved.
pub(crate) async fn is_known(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM approved_contacts WHERE number = ?1) \
             OR EXISTS (SELECT 1 FROM approved_senders WHERE number = ?1) \
             OR EXISTS (SELECT 1 FROM inbox_senders WHERE sender IN (?1, 'whatsapp:' || ?1))",
    )
    .bind(number.as_str())
    .fetch_one(conn)
    .await
    .map_err(StoreError::backend)
}

/// Approves a contact and releases its held sends (due at `now`); returns their ids.
pub(crate) async fn approve(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
    now: OffsetDateTime,
) -> Result<Vec<MessageId>, StoreError> {
    sqlx::query(
        "INSERT INTO approved_contacts (number, approved_at) VALUES (?1, ?2) \
         ON CONFLICT (number) DO NOTHING",
    )
    .bind(number.as_str())
    .bind(codec::to_ms(now))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    outbox::release_held(conn, number, now).await
}
