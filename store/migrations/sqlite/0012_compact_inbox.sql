-- Smaller inbox rows (see store/src/sqlite/compact.rs): the message id, the provider SID and
-- the account SID are stored as their bytes when they have one of the known shapes (gateway
-- message ids, Twilio SIDs, UUIDs), and the provider's extra parameters as a compact blob
-- (rows stored before keep their JSON text, which still reads back). The columns become
-- `ANY`, so a value keeps the type it is written with (a blob, or text for other shapes).
-- The rows keep their rowids (arrival order, the dispatch and export cursors).
CREATE TABLE inbox_compact (
    id              ANY     NOT NULL PRIMARY KEY,
    provider_sid    ANY     NOT NULL UNIQUE,
    account_sid     ANY,
    channel         TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    media_json      TEXT    NOT NULL DEFAULT '[]',
    num_segments    INTEGER,
    received_at     INTEGER NOT NULL,
    extra_json      ANY     NOT NULL DEFAULT '{}',
    state           TEXT    NOT NULL DEFAULT 'queued',
    note            TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    leased_until    INTEGER,
    lease_token     INTEGER
) STRICT;

-- The same packing rules as `compact::Key::pack`.
INSERT INTO inbox_compact (rowid, id, provider_sid, account_sid, channel, sender, recipient,
    body, media_json, num_segments, received_at, extra_json, state, note, attempts,
    next_attempt_at, leased_until, lease_token)
SELECT rowid,
    CASE
        WHEN length(id) = 32 AND substr(id, 1, 4) = 'msg_'
             AND substr(id, 5) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(substr(id, 5))
        WHEN length(id) = 34 AND substr(id, 1, 2) GLOB '[A-Z][A-Z]'
             AND substr(id, 3) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(hex(substr(id, 1, 2)) || substr(id, 3))
        WHEN length(id) = 36 AND id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(replace(id, '-', ''))
        ELSE id
      END,
    CASE
        WHEN length(provider_sid) = 32 AND substr(provider_sid, 1, 4) = 'msg_'
             AND substr(provider_sid, 5) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(substr(provider_sid, 5))
        WHEN length(provider_sid) = 34 AND substr(provider_sid, 1, 2) GLOB '[A-Z][A-Z]'
             AND substr(provider_sid, 3) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(hex(substr(provider_sid, 1, 2)) || substr(provider_sid, 3))
        WHEN length(provider_sid) = 36 AND provider_sid GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(replace(provider_sid, '-', ''))
        ELSE provider_sid
      END,
    CASE
        WHEN length(account_sid) = 32 AND substr(account_sid, 1, 4) = 'msg_'
             AND substr(account_sid, 5) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(substr(account_sid, 5))
        WHEN length(account_sid) = 34 AND substr(account_sid, 1, 2) GLOB '[A-Z][A-Z]'
             AND substr(account_sid, 3) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(hex(substr(account_sid, 1, 2)) || substr(account_sid, 3))
        WHEN length(account_sid) = 36 AND account_sid GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
          THEN unhex(replace(account_sid, '-', ''))
        ELSE account_sid
      END,
    channel, sender, recipient, body, media_json, num_segments, received_at, extra_json, state,
    note, attempts, next_attempt_at, leased_until, lease_token
FROM inbox;

DROP TABLE inbox;
ALTER TABLE inbox_compact RENAME TO inbox;

CREATE INDEX inbox_by_received_at ON inbox (received_at);
CREATE INDEX inbox_queued ON inbox (received_at) WHERE state = 'queued';
CREATE INDEX inbox_by_sender ON inbox (sender);
CREATE INDEX inbox_held_by_sender ON inbox (sender, received_at)
    WHERE state = 'queued' AND (leased_until IS NOT NULL OR next_attempt_at IS NOT NULL);
CREATE INDEX inbox_failed ON inbox (received_at) WHERE state = 'failed';
