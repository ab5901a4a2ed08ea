//! Pairing requests and the senders approved through them.
//!
//! The rules are MemoryStore's: a sender keeps its pending code; new requests are capped
//! by the number pending and by the number created in the last hour; a request expires
//! at `expires_at`. Each operation runs in the caller's transaction.

use std::time::Duration;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use telephony_core::{
    PairingLimits, PairingOutcome, PairingRequest, PairingResolution, PairingStatus, PhoneNumber,
    StoreError,
};
use time::OffsetDateTime;

use super::codec::{self, get, get_time};

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// The window of [`PairingLimits::max_per_hour`].
const HOUR: Duration = Duration::from_secs(3600);

fn decode(row: &SqliteRow) -> Result<PairingRequest, StoreError> {
    let sender: String = get(row, "pairing_requests.sender")?;
    let status: String = get(row, "pairing_requests.status")?;
    Ok(PairingRequest {
        code: get(row, "pairing_requests.code")?,
        sender: PhoneNumber::parse(&sender)
            .map_err(|e| codec::corrupt("pairing_requests.sender", e))?,
        status: PairingStatus::parse(&status).ok_or_else(|| {
            codec::corrupt(
                "pairing_requests.status",
                format_args!("unknown pairing status {status:?}"),
            )
        })?,
        created_at: get_time(row, "pairing_requests.created_at")?,
        expires_at: get_time(row, "pairing_requests.expires_at")?,
    })
}

/// Expires overdue requests, then returns the sender's pending request or creates one.
pub(crate) async fn request(
    conn: &mut SqliteConnection,
    sender: &PhoneNumber,
    code: &str,
    limits: &PairingLimits,
    now: OffsetDateTime,
) -> Result<PairingOutcome, StoreError> {
    let now_ms = codec::to_ms(now);
    sqlx::query(
        "UPDATE pairing_requests SET status = 'expired' \
         WHERE status = 'pending' AND expires_at <= ?1",
    )
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    let existing = sqlx::query(
        "SELECT code, sender, status, created_at, expires_at FROM pairing_requests \
         WHERE status = 'pending' AND sender = ?1 ORDER BY seq LIMIT 1",
    )
    .bind(sender.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    if let Some(row) = existing {
        return Ok(PairingOutcome::Existing(decode(&row)?));
    }
    let (pending, recent): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM pairing_requests WHERE status = 'pending'), \
                (SELECT COUNT(*) FROM pairing_requests WHERE created_at > ?1)",
    )
    .bind(codec::to_ms(now - HOUR))
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    let at_least = |n: i64, cap: usize| usize::try_from(n).map_or(true, |n| n >= cap);
    if at_least(pending, limits.max_pending) || at_least(recent, limits.max_per_hour) {
        return Ok(PairingOutcome::Limited);
    }
    let req = PairingRequest {
        code: code.to_string(),
        sender: sender.clone(),
        status: PairingStatus::Pending,
        created_at: now,
        expires_at: codec::stored(now + limits.ttl),
    };
    sqlx::query(
        "INSERT INTO pairing_requests (code, sender, status, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&req.code)
    .bind(req.sender.as_str())
    .bind(req.status.as_str())
    .bind(now_ms)
    .bind(codec::to_ms(req.expires_at))
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(PairingOutcome::Created(req))
}

/// Pending requests not yet expired at `now`, oldest first.
pub(crate) async fn pending(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
) -> Result<Vec<PairingRequest>, StoreError> {
    sqlx::query(
        "SELECT code, sender, status, created_at, expires_at FROM pairing_requests \
         WHERE status = 'pending' AND expires_at > ?1 ORDER BY seq",
    )
    .bind(codec::to_ms(now))
    .fetch_all(conn)
    .await
    .map_err(backend)?
    .iter()
    .map(decode)
    .collect()
}

/// Approves (adding the sender to the approved senders) or rejects the newest request with
/// this code.
pub(crate) async fn resolve(
    conn: &mut SqliteConnection,
    code: &str,
    approve: bool,
    now: OffsetDateTime,
) -> Result<PairingResolution, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT seq, code, sender, status, created_at, expires_at FROM pairing_requests \
         WHERE code = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(code)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    else {
        return Ok(PairingResolution::NotFound);
    };
    let seq: i64 = get(&row, "pairing_requests.seq")?;
    let mut req = decode(&row)?;
    let outcome = match req.status {
        PairingStatus::Pending if req.expires_at <= now => {
            req.status = PairingStatus::Expired;
            PairingResolution::Expired(req.clone())
        }
        PairingStatus::Pending => {
            req.status = if approve {
                PairingStatus::Approved
            } else {
                PairingStatus::Rejected
            };
            if approve {
                sqlx::query(
                    "INSERT INTO approved_senders (number, approved_at) VALUES (?1, ?2) \
                     ON CONFLICT (number) DO NOTHING",
                )
                .bind(req.sender.as_str())
                .bind(codec::to_ms(now))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            }
            PairingResolution::Resolved(req.clone())
        }
        PairingStatus::Expired => return Ok(PairingResolution::Expired(req)),
        // Approved, rejected, or a status added later: nothing to do.
        _ => return Ok(PairingResolution::AlreadyResolved(req)),
    };
    sqlx::query("UPDATE pairing_requests SET status = ?2 WHERE seq = ?1")
        .bind(seq)
        .bind(req.status.as_str())
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(outcome)
}

/// True if the number was approved through pairing.
pub(crate) async fn is_approved(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM approved_senders WHERE number = ?1)")
        .bind(number.as_str())
        .fetch_one(conn)
        .await
        .map_err(backend)
}

/// Which of `numbers` are approved senders, in one query (a few hundred numbers at most per
/// statement, far under SQLite's bound-parameter limit).
pub(crate) async fn approved_among(
    conn: &mut SqliteConnection,
    numbers: &[PhoneNumber],
) -> Result<std::collections::HashSet<PhoneNumber>, StoreError> {
    let mut approved = std::collections::HashSet::new();
    for chunk in numbers.chunks(500) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT number FROM approved_senders WHERE number IN (",
        );
        let mut list = q.separated(", ");
        for n in chunk {
            list.push_bind(n.as_str());
        }
        q.push(")");
        let rows: Vec<String> = q
            .build_query_scalar()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        let rows: std::collections::HashSet<String> = rows.into_iter().collect();
        approved.extend(chunk.iter().filter(|n| rows.contains(n.as_str())).cloned());
    }
    Ok(approved)
}

/// The pending, unexpired requests (oldest first), which of `numbers` are approved and how
/// many requests were created in the last hour, in **one** query (one trip to the
/// connection's thread): what [`pending`] and [`approved_among`] answer, and the count.
/// The numbers go in as one JSON array (`json_each`), so the statement's text is the same
/// for every batch and is prepared once: with an `IN (…)` list per batch size, the group
/// commit's batches kept preparing it anew (its varying lists pushed each other out of the
/// connection's statement cache).
pub(crate) async fn state(
    conn: &mut SqliteConnection,
    numbers: &[PhoneNumber],
    now: OffsetDateTime,
) -> Result<telephony_core::store::PairingState, StoreError> {
    let list = crate::codec::to_json(&numbers.iter().map(PhoneNumber::as_str).collect::<Vec<_>>())?;
    let q = sqlx::query(
        "SELECT 0 AS kind, seq, code, sender, status, created_at, expires_at \
         FROM pairing_requests WHERE status = 'pending' AND expires_at > ?1 \
         UNION ALL SELECT 2, COUNT(*), NULL, NULL, NULL, NULL, NULL \
         FROM pairing_requests WHERE created_at > ?2 \
         UNION ALL SELECT 1, 0, NULL, number, NULL, NULL, NULL \
         FROM approved_senders WHERE number IN (SELECT value FROM json_each(?3)) \
         ORDER BY kind, seq",
    )
    .bind(codec::to_ms(now))
    .bind(codec::to_ms(now - HOUR))
    .bind(list);
    let rows = q.fetch_all(&mut *conn).await.map_err(backend)?;
    let mut state = telephony_core::store::PairingState::default();
    let mut approved = std::collections::HashSet::new();
    for row in &rows {
        let kind: i64 = get(row, "pairing_state.kind")?;
        match kind {
            0 => state.pending.push(decode(row)?),
            1 => {
                let number: String = get(row, "pairing_state.sender")?;
                approved.insert(number);
            }
            _ => {
                let created: i64 = get(row, "pairing_state.seq")?;
                state.created_last_hour = Some(usize::try_from(created).unwrap_or(0));
            }
        }
    }
    state.approved = numbers
        .iter()
        .filter(|n| approved.contains(n.as_str()))
        .cloned()
        .collect();
    Ok(state)
}
