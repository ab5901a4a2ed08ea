-- Retention: the indexes that let pruning pick the oldest prunable records of each kind
-- without scanning their table (the inbox, receipts, calls and pairing requests already
-- have one on their time).

-- Delivered forward events, oldest first (the undelivered ones are in forwards_due).
CREATE INDEX forwards_delivered ON forwards (created_at) WHERE delivered_at IS NOT NULL;

-- Status updates for unknown messages and calls, by arrival.
CREATE INDEX orphan_status_by_at ON orphan_status (at);
CREATE INDEX orphan_call_status_by_at ON orphan_call_status (at);
