-- Events for the forward URL, delivered at least once. Claimed like the outbox (FOR UPDATE
-- SKIP LOCKED and a lease). Delivered rows stay (delivered_at set) for the statistics.
CREATE TABLE forwards (
    seq              BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    id               TEXT    NOT NULL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    payload_json     TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  BIGINT  NOT NULL,
    leased_until     BIGINT,
    delivered_at     BIGINT
);

CREATE INDEX forwards_due ON forwards (next_attempt_at, seq) WHERE delivered_at IS NULL;
