-- Replicas sharing the store (ClusterStore): heartbeats for `telephony status`, and leases
-- for the jobs that must run on one replica at a time (the voice reaper).

-- One heartbeat row per running replica; a replica that stops cleanly deletes its row, a
-- crashed one's row stops being refreshed (readers filter on last_seen).
CREATE TABLE replicas (
    id               TEXT    NOT NULL PRIMARY KEY,
    host             TEXT    NOT NULL,
    pid              BIGINT  NOT NULL,
    version          TEXT    NOT NULL,
    started_at       BIGINT  NOT NULL,
    last_seen        BIGINT  NOT NULL,
    accounts_json    TEXT    NOT NULL,
    realtime_calls   BIGINT  NOT NULL,
    sends_in_flight  BIGINT  NOT NULL,
    dispatching      BIGINT  NOT NULL,
    extra_json       TEXT
);

-- Once-per-cluster jobs: who runs `task` until `until_ms`. Taken and renewed with one
-- INSERT … ON CONFLICT DO UPDATE … WHERE, which locks the row: two replicas racing for an
-- expired lease cannot both win.
CREATE TABLE singleton_leases (
    task      TEXT    NOT NULL PRIMARY KEY,
    holder    TEXT    NOT NULL,
    until_ms  BIGINT  NOT NULL
);
