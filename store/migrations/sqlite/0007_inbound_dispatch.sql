-- Inbound dispatch by several workers: a claim leases queued messages under a fencing
-- token and counts an attempt; a failed attempt leaves the message queued with a due time
-- (its sender's later messages wait behind it); after the last attempt it is `failed`
-- (the dead letter), which `telephony retry` puts back with its attempts reset.
ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbox ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE inbox ADD COLUMN leased_until INTEGER;
ALTER TABLE inbox ADD COLUMN lease_token INTEGER;

-- The queued messages that may hold their sender's lane (leased, or waiting for a retry),
-- by sender: a claim checks "is an earlier message of this sender held?" here. Small: only
-- messages being dispatched or waiting for a retry are in it.
CREATE INDEX inbox_held_by_sender ON inbox (sender, received_at)
    WHERE state = 'queued' AND (leased_until IS NOT NULL OR next_attempt_at IS NOT NULL);

-- Dead letters, for `telephony inbox --failed`.
CREATE INDEX inbox_failed ON inbox (received_at) WHERE state = 'failed';

-- Forward events: the fencing token of the claim that holds the lease.
ALTER TABLE forwards ADD COLUMN lease_token INTEGER;
