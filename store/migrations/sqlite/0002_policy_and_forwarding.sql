-- Sender policy state (pairing, opt-outs), outbound safety (known contacts, held sends,
-- the send log), and the forwarding queue.

-- Pairing requests, in creation order. A code is looked up by its newest request.
CREATE TABLE pairing_requests (
    seq         INTEGER NOT NULL PRIMARY KEY,
    code        TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX pairing_requests_by_code ON pairing_requests (code, seq);
CREATE INDEX pairing_requests_by_created_at ON pairing_requests (created_at);
CREATE INDEX pairing_requests_pending ON pairing_requests (sender) WHERE status = 'pending';

-- Numbers (E.164) approved through pairing.
CREATE TABLE approved_senders (
    number       TEXT    NOT NULL PRIMARY KEY,
    approved_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Numbers (E.164) that opted out and have not opted back in.
CREATE TABLE opt_outs (
    number        TEXT    NOT NULL PRIMARY KEY,
    opted_out_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Numbers (E.164) the owner approved as contacts (first-contact approval).
CREATE TABLE approved_contacts (
    number       TEXT    NOT NULL PRIMARY KEY,
    approved_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- "Has this number ever texted us?" (as `+1…` or `whatsapp:+1…`).
CREATE INDEX inbox_by_sender ON inbox (sender);

-- Held sends wait for approve_contact on their recipient's number and are never claimed.
ALTER TABLE outbox ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN to_number TEXT;
UPDATE outbox SET to_number = replace(json_extract(message_json, '$.to'), 'whatsapp:', '');
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE held = 0;
CREATE INDEX outbox_held ON outbox (to_number) WHERE held = 1;

-- The send log and the per-day cap scan receipts by creation time.
CREATE INDEX receipts_by_created_at ON receipts (created_at, id);

-- Events for the forward URL, delivered at least once. Delivered rows stay (delivered_at
-- set) for the statistics.
CREATE TABLE forwards (
    id               TEXT    NOT NULL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    payload_json     TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  INTEGER NOT NULL,
    leased_until     INTEGER,
    delivered_at     INTEGER
) STRICT;

CREATE INDEX forwards_due ON forwards (next_attempt_at) WHERE delivered_at IS NULL;
