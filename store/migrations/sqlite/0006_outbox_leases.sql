-- Fencing and interrupted sends. Every claim of an outbox entry takes a new `lease_token`,
-- and only the latest claim may record the entry's outcome. `claimed_at` is when the
-- current (or last) lease was taken; `interrupted_at` is when the earliest claim started
-- whose lease ran out without an outcome (its worker died, perhaps after the provider
-- accepted the message), kept until the entry is completed or failed, so the worker asks
-- the provider before sending it again.
ALTER TABLE outbox ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN claimed_at INTEGER;
ALTER TABLE outbox ADD COLUMN interrupted_at INTEGER;

-- Entries leased when this migration runs were claimed with the fixed two-minute lease of
-- earlier versions: if that lease ran out, their claim counts as interrupted.
UPDATE outbox SET claimed_at = leased_until - 120000 WHERE leased_until IS NOT NULL;
