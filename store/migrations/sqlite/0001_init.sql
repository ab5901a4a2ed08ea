-- Initial schema of the telephony gateway's SQLite store.
--
-- Conventions:
-- * times are unix milliseconds (INTEGER, UTC);
-- * `*_json` free-form values are JSON text, decoded (and validated) by the store;
-- * enums (`state`, `status`, `channel`) are their stable wire names;
-- * tables are STRICT, so a wrongly typed value is refused when written.

-- Inbound messages, one row per provider message SID (duplicate webhook deliveries are
-- recognized by the UNIQUE constraint and never stored twice).
CREATE TABLE inbox (
    id            TEXT    NOT NULL PRIMARY KEY,
    provider_sid  TEXT    NOT NULL UNIQUE,
    account_sid   TEXT,
    channel       TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    media_json    TEXT    NOT NULL DEFAULT '[]',
    num_segments  INTEGER,
    received_at   INTEGER NOT NULL,
    extra_json    TEXT    NOT NULL DEFAULT '{}',
    state         TEXT    NOT NULL DEFAULT 'queued',
    note          TEXT
) STRICT;

-- `inbox since …` scans a range of this index in (received_at, rowid) order.
CREATE INDEX inbox_by_received_at ON inbox (received_at);

-- The dispatch queue: only `queued` rows are in this partial index, oldest first, so it
-- stays small however large the inbox grows.
CREATE INDEX inbox_queued ON inbox (received_at) WHERE state = 'queued';

-- Outbound messages and what became of them.
CREATE TABLE receipts (
    id                  TEXT    NOT NULL PRIMARY KEY,
    recipient           TEXT    NOT NULL,
    body                TEXT    NOT NULL,
    media_urls_json     TEXT    NOT NULL DEFAULT '[]',
    status              TEXT    NOT NULL,
    provider_sids_json  TEXT    NOT NULL DEFAULT '[]',
    sender              TEXT,
    segments            INTEGER,
    price               TEXT,
    price_unit          TEXT,
    error_json          TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

-- Every status a receipt reached, in order (`seq` counts from 0).
CREATE TABLE receipt_history (
    receipt_id    TEXT    NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    provider_sid  TEXT,
    error_json    TEXT,
    PRIMARY KEY (receipt_id, seq)
) STRICT, WITHOUT ROWID;

-- Which receipt a provider message SID belongs to (status callbacks carry only the SID).
CREATE TABLE receipt_sids (
    provider_sid  TEXT NOT NULL PRIMARY KEY,
    receipt_id    TEXT NOT NULL REFERENCES receipts (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX receipt_sids_by_receipt ON receipt_sids (receipt_id);

-- Sends waiting for the provider. A row leaves the outbox when the provider accepted the
-- message or the send failed for good; a crashed worker's lease simply expires.
CREATE TABLE outbox (
    id               TEXT    NOT NULL PRIMARY KEY REFERENCES receipts (id) ON DELETE CASCADE,
    message_json     TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    leased_until     INTEGER
) STRICT;

-- Claims scan due rows in (next_attempt_at, rowid) order.
CREATE INDEX outbox_due ON outbox (next_attempt_at);

-- Status callbacks that arrived before the send's response told us the SID; applied, in
-- arrival order, when a receipt gets that SID.
CREATE TABLE orphan_status (
    seq          INTEGER NOT NULL PRIMARY KEY,
    provider_sid TEXT    NOT NULL,
    update_json  TEXT    NOT NULL,
    at           INTEGER NOT NULL
) STRICT;

CREATE INDEX orphan_status_by_sid ON orphan_status (provider_sid, seq);
