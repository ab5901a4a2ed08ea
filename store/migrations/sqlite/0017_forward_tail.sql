-- `message.received` events are no longer copied into `forwards`: the inbox row is the
-- event. `inbox.forward_at` (ms) marks a row stored with an event (when it was created);
-- `forward_cursor.seq` is an inbox rowid at or below which every such event is settled
-- (delivered, or moved into `forwards` to be retried); `forward_cursor.delivered` counts
-- the events delivered that way; `forward_cursor.settled_json` lists the settled events
-- above it. See `store/src/sqlite/forward_tail.rs`.
ALTER TABLE inbox ADD COLUMN forward_at INTEGER;

CREATE TABLE forward_cursor (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    -- Events above `seq` that are settled already (delivered out of order), as a JSON
    -- array of rowids; NULL when there are none (the usual case).
    settled_json TEXT
) STRICT;

INSERT INTO forward_cursor (id, seq) SELECT 1, IFNULL(MAX(rowid), 0) FROM inbox;
