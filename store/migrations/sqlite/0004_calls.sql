-- Calls and call sessions (CallStore): every call the gateway saw or placed, its status
-- history and transcript, status callbacks for unknown calls, and answers kept for calls
-- on hold.

-- One row per call. `call_id` is the provider's id, or the gateway's reservation id
-- (`pending_…`) until an outbound call's create returns; renaming it cascades to the
-- tables below. `session` is 1 when the call holds a session slot while it is live.
CREATE TABLE calls (
    call_id        TEXT    NOT NULL PRIMARY KEY,
    direction      TEXT    NOT NULL,
    caller         TEXT    NOT NULL,
    callee         TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    session        INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    answered_at    INTEGER,
    ended_at       INTEGER,
    updated_at     INTEGER NOT NULL,
    duration_secs  INTEGER,
    note           TEXT
) STRICT;

-- The call list scans calls by start time.
CREATE INDEX calls_by_started_at ON calls (started_at);

-- Live sessions (the slot count of every begin_call): only sessions whose status is not
-- terminal are in this partial index, so counting them stays cheap however many calls
-- are kept. The store's queries repeat this condition word for word.
CREATE INDEX calls_live ON calls (started_at)
    WHERE session = 1 AND status IN ('queued', 'ringing', 'in-progress');

-- Every status a call reached, in order.
CREATE TABLE call_history (
    seq      INTEGER NOT NULL PRIMARY KEY,
    call_id  TEXT    NOT NULL REFERENCES calls (call_id) ON UPDATE CASCADE ON DELETE CASCADE,
    status   TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    source   TEXT    NOT NULL
) STRICT;

CREATE INDEX call_history_by_call ON call_history (call_id, seq);

-- What the caller said or typed, in order. `confidence` is the recognizer's (0.0–1.0).
CREATE TABLE call_turns (
    seq         INTEGER NOT NULL PRIMARY KEY,
    call_id     TEXT    NOT NULL REFERENCES calls (call_id) ON UPDATE CASCADE ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    speech      TEXT,
    confidence  REAL,
    digits      TEXT
) STRICT;

CREATE INDEX call_turns_by_call ON call_turns (call_id, seq);

-- Status updates for call ids no call has, in arrival order.
CREATE TABLE orphan_call_status (
    seq      INTEGER NOT NULL PRIMARY KEY,
    call_id  TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    at       INTEGER NOT NULL
) STRICT;

-- An answer produced after the provider's deadline, kept until the call's hold redirect
-- takes it (at most one per call; a terminal status deletes it).
CREATE TABLE call_pending_answers (
    call_id       TEXT NOT NULL PRIMARY KEY
                  REFERENCES calls (call_id) ON UPDATE CASCADE ON DELETE CASCADE,
    content_type  TEXT NOT NULL,
    body          TEXT NOT NULL
) STRICT, WITHOUT ROWID;
