-- Fencing and interrupted sends. Every claim of an outbox entry takes a new `lease_token`,
-- and only the latest claim may record the entry's outcome. `claimed_at` is when the
-- current (or last) lease was taken; `interrupted_at` is when the earliest claim started
-- whose lease ran out without an outcome (its worker died, perhaps after the provider
-- accepted the message), kept until the entry is completed or failed, so the worker asks
-- the provider before sending it again.
ALTER TABLE outbox ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN claimed_at BIGINT;
ALTER TABLE outbox ADD COLUMN interrupted_at BIGINT;

-- Entries leased when this migration runs were claimed with the fixed two-minute lease of
-- earlier versions: if that lease ran out, their claim counts as interrupted.
UPDATE outbox SET claimed_at = leased_until - 120000 WHERE leased_until IS NOT NULL;

-- Each sender's next free send time (GCRA's theoretical arrival time, nanoseconds since
-- the Unix epoch): replicas book their senders' slots here, a batch at a time, with one
-- upsert that advances it, so their combined sends keep to the sender's rate.
CREATE TABLE send_slots (
    sender        TEXT    NOT NULL PRIMARY KEY,
    next_free_ns  BIGINT  NOT NULL
);
