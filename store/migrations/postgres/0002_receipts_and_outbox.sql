-- Outbound messages: receipts and their history, the provider SID map, status callbacks
-- that beat the send's response, and the outbox.

CREATE TABLE receipts (
    id                  TEXT    NOT NULL PRIMARY KEY,
    recipient           TEXT    NOT NULL,
    body                TEXT    NOT NULL,
    media_urls_json     TEXT    NOT NULL DEFAULT '[]',
    status              TEXT    NOT NULL,
    provider_sids_json  TEXT    NOT NULL DEFAULT '[]',
    sender              TEXT,
    segments            BIGINT,
    price               TEXT,
    price_unit          TEXT,
    error_json          TEXT,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);

-- The send log and the per-day cap scan receipts by creation time.
CREATE INDEX receipts_by_created_at ON receipts (created_at, id);

-- Every status a receipt reached, in order (`seq` counts from 0). `provider_status` is
-- the status exactly as the provider named it, when it differs from the neutral one.
CREATE TABLE receipt_history (
    receipt_id       TEXT    NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    seq              BIGINT  NOT NULL,
    status           TEXT    NOT NULL,
    at               BIGINT  NOT NULL,
    provider_sid     TEXT,
    error_json       TEXT,
    provider_status  TEXT,
    PRIMARY KEY (receipt_id, seq)
);

-- Which receipt a provider message SID belongs to (status callbacks carry only the SID).
CREATE TABLE receipt_sids (
    provider_sid  TEXT NOT NULL PRIMARY KEY,
    receipt_id    TEXT NOT NULL REFERENCES receipts (id) ON DELETE CASCADE
);

CREATE INDEX receipt_sids_by_receipt ON receipt_sids (receipt_id);

-- Status callbacks that arrived before the send's response told us the SID; applied, in
-- arrival order, when a receipt gets that SID.
CREATE TABLE orphan_status (
    seq           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_sid  TEXT    NOT NULL,
    update_json   TEXT    NOT NULL,
    at            BIGINT  NOT NULL
);

CREATE INDEX orphan_status_by_sid ON orphan_status (provider_sid, seq);

-- Sends waiting for the provider. A row leaves the outbox when the provider accepted the
-- message or the send failed for good. Claims lock rows with FOR UPDATE SKIP LOCKED and
-- lease them until `leased_until`: a replica that dies mid-send leaves a lease that
-- expires, and any replica claims the row again. Held rows wait for approve_contact on
-- their recipient's number and are never claimed.
CREATE TABLE outbox (
    seq              BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    id               TEXT    NOT NULL PRIMARY KEY REFERENCES receipts (id) ON DELETE CASCADE,
    message_json     TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    leased_until     BIGINT,
    held             BOOLEAN NOT NULL DEFAULT FALSE,
    to_number        TEXT
);

-- Claims scan due rows in (next_attempt_at, seq) order.
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq) WHERE NOT held;
CREATE INDEX outbox_held ON outbox (to_number) WHERE held;
