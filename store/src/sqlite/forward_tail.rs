//! `message.received` forward events on SQLite, stored as the inbox rows they came with.
//!
//! The event of an accepted message is the message plus an id and a time, so it is not
//! copied into `forwards`: its inbox row is marked with the event's time
//! (`inbox.forward_at`) in the same insert, and nothing more is written for it until it is
//! settled. One durable **cursor** (`forward_cursor.seq`, an inbox rowid) says that every
//! event at or below it is settled: delivered, or moved into `forwards` (with its
//! attempts and error) to be retried there like any other event. Delivering a batch of
//! them writes that one row, not a row per event.
//!
//! The events above the cursor are kept in this process's memory (one process owns a
//! SQLite database, as for [`forward_claims`](super::forward_claims)), pushed there by
//! the inbound writer right after their batch commits, and claimed from there. Past
//! [`MEMORY_CAP`] unsettled events (a slow receiver), or after a restart, the rest stay in
//! the database only and are read back, oldest first, [`SCAN`] at a time, rebuilt from
//! their rows in the shape an earlier version stored (`data` in snake case, which the
//! forwarder re-encodes) with times to the millisecond.
//!
//! Rowids are not reused while a larger one exists, so an event stored later always has a
//! larger rowid than the cursor, except after the rows with the largest rowids were
//! deleted (erasure, retention): the store then lowers the cursor to the largest rowid
//! left, in the deleting transaction and here ([`Tail::clamp`]), and a push of a rowid at
//! or below what this process has seen does the same.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::SqliteConnection;
use telephony_core::{ForwardEvent, InboundMessage, StoreError};
use time::OffsetDateTime;

use super::codec;

/// The most unsettled events kept in memory; beyond them, events stay in the database
/// until the backlog is read back.
pub(crate) const MEMORY_CAP: usize = 8192;

/// Events read back from the database at once, when fewer than this many are in memory.
pub(crate) const SCAN: usize = 1024;

/// The kind of event kept this way.
pub(crate) const KIND: &str = "message.received";

/// The event id of a message's `message.received` event.
pub(crate) fn event_id(message_id: &str) -> String {
    format!("evt_{message_id}")
}

/// Whether `event` is `msg`'s `message.received` event, which the inbox row can stand
/// for (any other event given with a message is stored in `forwards`).
pub(crate) fn stands_for(event: &ForwardEvent, msg: &InboundMessage) -> bool {
    event.kind == KIND
        && event.attempts == 0
        && event.last_error.is_none()
        && event.id.strip_prefix("evt_") == Some(msg.id.as_str())
}

/// An unsettled event in memory.
#[derive(Debug)]
struct Pending {
    event: ForwardEvent,
    /// The message's sender and recipient (erasure finds events by number).
    numbers: [String; 2],
}

/// The tail as the store and its inbound writer share it.
pub(crate) type SharedTail = std::sync::Arc<std::sync::Mutex<Tail>>;

/// The unsettled events above the cursor, and what is settled above it.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// As stored: every event at or below this rowid is settled.
    cursor: i64,
    pending: BTreeMap<i64, Pending>,
    /// Event id → rowid, for the events in `pending`.
    rowids: HashMap<String, i64>,
    /// Settled events above the cursor (delivered or moved out of order).
    settled: BTreeSet<i64>,
    /// Unsettled events from this rowid on may be in the database only.
    scan_from: Option<i64>,
    /// The largest rowid left in the database only since the backlog began.
    dropped_max: i64,
}

/// What settling a claim's tail events changes, to write with its outcomes.
#[derive(Debug, Default)]
pub(crate) struct Settling {
    /// The events taken out of memory, by rowid (given back if the write fails).
    taken: Vec<(i64, ForwardEvent, [String; 2])>,
    /// The cursor to store.
    pub cursor: i64,
    /// The settled events above it, to store with it.
    pub settled_above: Vec<i64>,
    /// Events delivered.
    pub delivered: u64,
}

impl Tail {
    /// The state of a database whose cursor is `cursor`, with `settled` events above it:
    /// the events above it (`backlog`: there are some) are read back on the first claim.
    pub(crate) fn opened(cursor: i64, settled: Vec<i64>, backlog: bool) -> Self {
        Tail {
            cursor,
            settled: settled.into_iter().filter(|k| *k > cursor).collect(),
            scan_from: backlog.then(|| cursor.saturating_add(1)),
            ..Tail::default()
        }
    }

    fn high_water(&self) -> i64 {
        let pending = self.pending.last_key_value().map_or(0, |(k, _)| *k);
        let settled = self.settled.last().copied().unwrap_or(0);
        self.cursor.max(pending).max(settled).max(self.dropped_max)
    }

    /// Forgets everything above rowid `max`: those rows were deleted, and their rowids
    /// may be given again.
    pub(crate) fn clamp(&mut self, max: i64) {
        self.pending.retain(|k, _| *k <= max);
        self.rowids.retain(|_, k| *k <= max);
        self.settled.retain(|k| *k <= max);
        self.cursor = self.cursor.min(max);
        self.dropped_max = self.dropped_max.min(max);
        if let Some(from) = self.scan_from {
            self.scan_from = Some(from.min(max.saturating_add(1)));
        }
    }

    /// An event the inbound writer just committed at `rowid`.
    pub(crate) fn push(&mut self, rowid: i64, event: ForwardEvent, numbers: [String; 2]) {
        if rowid <= self.high_water() {
            // Rows at the largest rowids were deleted and this one took a rowid again.
            self.clamp(rowid - 1);
        }
        if self.scan_from.is_none() && self.pending.len() < MEMORY_CAP {
            self.rowids.insert(event.id.clone(), rowid);
            self.pending.insert(rowid, Pending { event, numbers });
        } else {
            let from = self.scan_from.map_or(rowid, |f| f.min(rowid));
            self.scan_from = Some(from);
            self.dropped_max = self.dropped_max.max(rowid);
        }
    }

    /// Where to read the backlog from, when memory runs low and there is one.
    pub(crate) fn scan_needed(&self) -> Option<i64> {
        self.scan_from.filter(|_| self.pending.len() < SCAN)
    }

    /// Adds the events read from `from` on (`asked` were asked for), and ends the backlog
    /// when the read reached the end of what was left in the database only.
    pub(crate) fn loaded(
        &mut self,
        from: i64,
        rows: Vec<(i64, ForwardEvent, [String; 2])>,
        asked: usize,
    ) {
        if self.scan_from != Some(from) {
            return; // Clamped or read meanwhile: the next claim reads again.
        }
        let got = rows.len();
        let mut last = from - 1;
        for (rowid, event, numbers) in rows {
            last = last.max(rowid);
            if rowid <= self.cursor
                || self.settled.contains(&rowid)
                || self.pending.contains_key(&rowid)
            {
                continue;
            }
            self.rowids.insert(event.id.clone(), rowid);
            self.pending.insert(rowid, Pending { event, numbers });
        }
        self.scan_from = if got >= asked || self.dropped_max > last {
            Some(last + 1)
        } else {
            None
        };
    }

    /// Up to `n` unsettled events in memory, oldest first, with their due time.
    pub(crate) fn candidates(&self, n: usize) -> Vec<(ForwardEvent, OffsetDateTime)> {
        self.pending
            .values()
            .take(n)
            .map(|p| (p.event.clone(), p.event.created_at))
            .collect()
    }

    /// Whether the event is an unsettled one of this tail.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.rowids.contains_key(id)
    }

    /// Events in memory, whether some are in the database only (from which rowid on), and
    /// how many events from there on are settled.
    pub(crate) fn in_memory(&self) -> (usize, Option<i64>, usize) {
        let settled = self
            .scan_from
            .map_or(0, |f| self.settled.range(f..).count());
        (self.pending.len(), self.scan_from, settled)
    }

    /// Takes the events `delivered` and `moved` (to `forwards`) out of memory as settled,
    /// and says the cursor that stores it; [`restore`](Self::restore) undoes it if the
    /// write fails. Ids this tail does not hold are skipped.
    pub(crate) fn settle<'a>(
        &mut self,
        delivered: impl Iterator<Item = &'a str>,
        moved: impl Iterator<Item = &'a str>,
    ) -> (Settling, Vec<ForwardEvent>) {
        let mut s = Settling::default();
        let mut out = Vec::new();
        for (id, is_delivered) in delivered
            .map(|i| (i, true))
            .chain(moved.map(|i| (i, false)))
        {
            let Some(rowid) = self.rowids.remove(id) else {
                continue;
            };
            let Some(p) = self.pending.remove(&rowid) else {
                continue;
            };
            self.settled.insert(rowid);
            if is_delivered {
                s.delivered += 1;
            } else {
                out.push(p.event.clone());
            }
            s.taken.push((rowid, p.event, p.numbers));
        }
        let lowest = match (self.pending.first_key_value(), self.scan_from) {
            (Some((k, _)), Some(f)) => Some((*k).min(f)),
            (Some((k, _)), None) => Some(*k),
            (None, f) => f,
        };
        s.cursor = match lowest {
            Some(u) => (u - 1).max(self.cursor),
            None => self.cursor.max(self.settled.last().copied().unwrap_or(0)),
        };
        s.settled_above = self.settled.range(s.cursor + 1..).copied().collect();
        (s, out)
    }

    /// The settling was stored: the cursor moves.
    pub(crate) fn stored(&mut self, s: &Settling) {
        self.cursor = self.cursor.max(s.cursor);
        let cursor = self.cursor;
        self.settled.retain(|k| *k > cursor);
    }

    /// The settling was not stored: its events are unsettled again.
    pub(crate) fn restore(&mut self, s: Settling) {
        for (rowid, event, numbers) in s.taken {
            self.settled.remove(&rowid);
            self.rowids.insert(event.id.clone(), rowid);
            self.pending.insert(rowid, Pending { event, numbers });
        }
    }

    /// Takes out of memory the events whose message has one of `numbers` as sender or
    /// recipient (erasure), to give back with [`put_back`](Self::put_back) if it fails.
    pub(crate) fn take_numbers(
        &mut self,
        numbers: &[String],
    ) -> Vec<(i64, ForwardEvent, [String; 2])> {
        let hit: Vec<i64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.numbers.iter().any(|n| numbers.contains(n)))
            .map(|(k, _)| *k)
            .collect();
        hit.into_iter()
            .filter_map(|k| {
                let p = self.pending.remove(&k)?;
                self.rowids.remove(&p.event.id);
                Some((k, p.event, p.numbers))
            })
            .collect()
    }

    /// Gives back events taken by [`take_numbers`](Self::take_numbers).
    pub(crate) fn put_back(&mut self, taken: Vec<(i64, ForwardEvent, [String; 2])>) {
        for (rowid, event, numbers) in taken {
            self.rowids.insert(event.id.clone(), rowid);
            self.pending.insert(rowid, Pending { event, numbers });
        }
    }

    /// The cursor as this tail holds it (tests).
    #[cfg(test)]
    fn cursor(&self) -> i64 {
        self.cursor
    }
}

/// The stored cursor, the settled events above it, and whether events are stored above it.
pub(crate) async fn read_cursor(
    conn: &mut SqliteConnection,
) -> Result<(i64, Vec<i64>, bool), StoreError> {
    let (seq, settled, backlog): (i64, Option<String>, bool) = sqlx::query_as(
        "SELECT seq, settled_json, \
           EXISTS (SELECT 1 FROM inbox WHERE rowid > seq AND forward_at IS NOT NULL) \
         FROM forward_cursor WHERE id = 1",
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::backend)?;
    let settled = match settled {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| codec::corrupt("forward_cursor.settled_json", e))?,
        None => Vec::new(),
    };
    Ok((seq, settled, backlog))
}

/// Stores the cursor and counts the delivered events, in the caller's transaction.
pub(crate) async fn write_cursor(
    conn: &mut SqliteConnection,
    s: &Settling,
) -> Result<(), StoreError> {
    let settled = if s.settled_above.is_empty() {
        None
    } else {
        Some(codec::to_json(&s.settled_above)?)
    };
    sqlx::query(
        "UPDATE forward_cursor SET seq = MAX(seq, ?1), delivered = delivered + ?2, \
           settled_json = ?3 WHERE id = 1",
    )
    .bind(s.cursor)
    .bind(i64::try_from(s.delivered).unwrap_or(i64::MAX))
    .bind(settled)
    .execute(conn)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

/// Events stored from rowid `scan_from` on that are in the database only, and the events
/// delivered past the cursor so far.
pub(crate) async fn stats(
    conn: &mut SqliteConnection,
    scan_from: Option<i64>,
) -> Result<(usize, usize), StoreError> {
    let (unread, delivered): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM inbox WHERE ?1 IS NOT NULL AND rowid >= ?1 \
                   AND forward_at IS NOT NULL), \
                (SELECT delivered FROM forward_cursor WHERE id = 1)",
    )
    .bind(scan_from)
    .fetch_one(conn)
    .await
    .map_err(StoreError::backend)?;
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    Ok((count(unread), count(delivered)))
}

/// Lowers the stored cursor to the largest inbox rowid left, after rows were deleted in
/// the caller's transaction; returns that rowid.
pub(crate) async fn clamp_cursor(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "UPDATE forward_cursor SET seq = MIN(seq, (SELECT IFNULL(MAX(rowid), 0) FROM inbox)) \
         WHERE id = 1 RETURNING (SELECT IFNULL(MAX(rowid), 0) FROM inbox)",
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::backend)
}

/// Up to `limit` events stored with their inbox rows from rowid `from` on, oldest first,
/// rebuilt from the rows.
pub(crate) async fn backlog(
    conn: &mut SqliteConnection,
    from: i64,
    limit: usize,
) -> Result<Vec<(i64, ForwardEvent, [String; 2])>, StoreError> {
    let rows = sqlx::query(
        "SELECT rowid AS seq, forward_at, id, provider_sid, account_sid, channel, sender, \
           recipient, body, media_json, num_segments, received_at, extra_json \
         FROM inbox WHERE rowid >= ?1 AND forward_at IS NOT NULL ORDER BY rowid LIMIT ?2",
    )
    .bind(from)
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(StoreError::backend)?;
    rows.iter()
        .map(|row| {
            let rowid: i64 = codec::get(row, "inbox.seq")?;
            let created_at = codec::get_time(row, "inbox.forward_at")?;
            let msg = super::inbox::decode_message(row)?;
            let numbers = [msg.from.clone(), msg.to.clone()];
            Ok((rowid, rebuilt(&msg, created_at)?, numbers))
        })
        .collect()
}

/// A message's event as an earlier version stored it in `forwards.payload_json`.
pub(crate) fn rebuilt(
    msg: &InboundMessage,
    created_at: OffsetDateTime,
) -> Result<ForwardEvent, StoreError> {
    let id = event_id(msg.id.as_str());
    let at = created_at
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(StoreError::backend)?;
    let data = serde_json::to_value(msg).map_err(StoreError::backend)?;
    Ok(ForwardEvent {
        payload: serde_json::json!({"id": id, "type": KIND, "createdAt": at, "data": data}),
        id,
        kind: KIND.to_string(),
        created_at,
        attempts: 0,
        last_error: None,
        encoded: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: i64) -> (ForwardEvent, InboundMessage) {
        let msg = InboundMessage {
            id: telephony_core::MessageId::from_string(format!("msg_{n}")),
            provider_sid: format!("SM{n}"),
            account_sid: None,
            channel: telephony_core::Channel::Sms,
            from: "+15550000001".into(),
            to: "+15550000002".into(),
            body: "hi".into(),
            media: vec![],
            num_segments: None,
            received_at: OffsetDateTime::UNIX_EPOCH,
            extra: Default::default(),
        };
        (rebuilt(&msg, OffsetDateTime::UNIX_EPOCH).unwrap(), msg)
    }

    fn push(t: &mut Tail, n: i64) {
        let (e, m) = ev(n);
        t.push(n, e, [m.from, m.to]);
    }

    #[test]
    fn the_cursor_stops_below_the_oldest_unsettled_event() {
        let mut t = Tail::default();
        for n in 1..=4 {
            push(&mut t, n);
        }
        // 2 and 4 delivered out of order: 1 is still unsettled.
        let (s, moved) = t.settle(["evt_msg_2", "evt_msg_4"].into_iter(), std::iter::empty());
        assert_eq!((s.cursor, s.delivered, moved.len()), (0, 2, 0));
        t.stored(&s);
        // 1 moved to the table, 3 delivered: everything up to 4 is settled.
        let (s, moved) = t.settle(["evt_msg_3"].into_iter(), ["evt_msg_1"].into_iter());
        assert_eq!((s.cursor, s.delivered), (4, 1));
        assert_eq!(
            moved.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["evt_msg_1"]
        );
        t.stored(&s);
        assert_eq!((t.cursor(), t.in_memory()), (4, (0, None, 0)));
    }

    #[test]
    fn a_failed_write_gives_the_events_back() {
        let mut t = Tail::default();
        push(&mut t, 1);
        let (s, _) = t.settle(["evt_msg_1"].into_iter(), std::iter::empty());
        assert_eq!(s.cursor, 1);
        t.restore(s);
        assert!(t.holds("evt_msg_1"));
        let (s, _) = t.settle(["evt_msg_1"].into_iter(), std::iter::empty());
        assert_eq!((s.cursor, s.delivered), (1, 1));
    }

    #[test]
    fn a_reused_rowid_lowers_the_cursor() {
        let mut t = Tail::default();
        push(&mut t, 5);
        let (s, _) = t.settle(["evt_msg_5"].into_iter(), std::iter::empty());
        t.stored(&s);
        assert_eq!(t.cursor(), 5);
        // Row 5 was erased and the next message took rowid 5 again.
        push(&mut t, 5);
        assert_eq!(t.cursor(), 4);
        let (s, _) = t.settle(std::iter::empty(), std::iter::empty());
        assert_eq!(s.cursor, 4);
    }

    #[test]
    fn past_the_cap_events_wait_in_the_database_and_are_read_back() {
        let mut t = Tail::default();
        for n in 1..=(MEMORY_CAP as i64 + 2) {
            push(&mut t, n);
        }
        let first_dropped = MEMORY_CAP as i64 + 1;
        assert_eq!(t.in_memory(), (MEMORY_CAP, Some(first_dropped), 0));
        // Nothing is read back while memory holds plenty.
        assert_eq!(t.scan_needed(), None);
        let all: Vec<String> = (1..=MEMORY_CAP as i64)
            .map(|n| format!("evt_msg_{n}"))
            .collect();
        let (s, _) = t.settle(all.iter().map(String::as_str), std::iter::empty());
        // The cursor stops below the first event left in the database only.
        assert_eq!(s.cursor, MEMORY_CAP as i64);
        t.stored(&s);
        assert_eq!(t.scan_needed(), Some(first_dropped));
        // A read that found both rows, fewer than asked: the backlog is over.
        let rows = (first_dropped..=first_dropped + 1)
            .map(|n| {
                let (e, m) = ev(n);
                (n, e, [m.from, m.to])
            })
            .collect();
        t.loaded(first_dropped, rows, SCAN);
        assert_eq!(t.in_memory(), (2, None, 0));
        // A read that ends before a row pushed during it keeps the backlog open.
        let mut t = Tail::opened(0, Vec::new(), true);
        push(&mut t, 1);
        t.loaded(1, Vec::new(), SCAN);
        assert_eq!(t.in_memory(), (0, Some(1), 0));
    }
}
