-- The PostgreSQL schema of the telephony gateway's store, one migration per table family.
--
-- Conventions (the SQLite schema's, so both backends store the same values):
-- * times are unix milliseconds (BIGINT, UTC);
-- * `*_json` free-form values are JSON text, decoded (and validated) by the store;
-- * enums (`state`, `status`, `channel`) are their stable wire names;
-- * `seq` (an identity column) is the insertion order where SQLite uses its rowid.
-- Every table lives in the store's schema (the connection's search_path): one schema per
-- account, so no query can reach another account's rows.

-- Inbound messages, one row per provider message SID: a duplicate webhook delivery,
-- even one inserted at the same moment by another replica, is stopped by the UNIQUE
-- constraint and never stored twice.
CREATE TABLE inbox (
    seq           BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    id            TEXT    NOT NULL PRIMARY KEY,
    provider_sid  TEXT    NOT NULL UNIQUE,
    account_sid   TEXT,
    channel       TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    media_json    TEXT    NOT NULL DEFAULT '[]',
    num_segments  BIGINT,
    received_at   BIGINT  NOT NULL,
    extra_json    TEXT    NOT NULL DEFAULT '{}',
    state         TEXT    NOT NULL DEFAULT 'queued',
    note          TEXT
);

-- `inbox since …` scans a range of this index in (received_at, seq) order.
CREATE INDEX inbox_by_received_at ON inbox (received_at, seq);

-- The dispatch queue: only `queued` rows are in this partial index, oldest first.
CREATE INDEX inbox_queued ON inbox (received_at, seq) WHERE state = 'queued';

-- "Has this number ever texted us?" (as `+1…` or `whatsapp:+1…`).
CREATE INDEX inbox_by_sender ON inbox (sender);
