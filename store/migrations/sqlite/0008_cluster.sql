-- Replicas sharing the store (ClusterStore). On SQLite there is one process, but the same
-- rows serve `telephony status` and the voice reaper's lease, so both backends agree.

-- One heartbeat row per running replica; a replica that stops cleanly deletes its row, a
-- crashed one's row stops being refreshed (readers filter on last_seen).
CREATE TABLE replicas (
    id               TEXT    NOT NULL PRIMARY KEY,
    host             TEXT    NOT NULL,
    pid              INTEGER NOT NULL,
    version          TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    accounts_json    TEXT    NOT NULL,
    realtime_calls   INTEGER NOT NULL,
    sends_in_flight  INTEGER NOT NULL,
    dispatching      INTEGER NOT NULL,
    extra_json       TEXT
) WITHOUT ROWID;

-- Once-per-cluster jobs (the voice reaper): who runs `task` until `until_ms`.
CREATE TABLE singleton_leases (
    task      TEXT    NOT NULL PRIMARY KEY,
    holder    TEXT    NOT NULL,
    until_ms  INTEGER NOT NULL
) WITHOUT ROWID;
