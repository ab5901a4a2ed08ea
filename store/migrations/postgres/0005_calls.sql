-- Calls and call sessions (CallStore): every call the gateway saw or placed, its status
-- history and transcript, status callbacks for unknown calls, answers kept for calls on
-- hold, and one-time tokens for their real-time sockets.

-- One row per call. `call_id` is the provider's id, or the gateway's reservation id
-- (`pending_…`) until an outbound call's create returns; renaming it cascades to the
-- tables below. `session` is true when the call holds a session slot while it is live.
CREATE TABLE calls (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    call_id        TEXT    NOT NULL PRIMARY KEY,
    direction      TEXT    NOT NULL,
    caller         TEXT    NOT NULL,
    callee         TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    session        BOOLEAN NOT NULL,
    started_at     BIGINT  NOT NULL,
    answered_at    BIGINT,
    ended_at       BIGINT,
    updated_at     BIGINT  NOT NULL,
    duration_secs  BIGINT,
    note           TEXT
);

-- The call list scans calls by start time.
CREATE INDEX calls_by_started_at ON calls (started_at, seq);

-- Live sessions (the slot count of every begin_call): only sessions whose status is not
-- terminal are in this partial index. The store's queries repeat this condition word for
-- word.
CREATE INDEX calls_live ON calls (started_at, seq)
    WHERE session AND status IN ('queued', 'ringing', 'in-progress');

-- Every status a call reached, in order.
CREATE TABLE call_history (
    seq      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id  TEXT    NOT NULL REFERENCES calls (call_id) ON UPDATE CASCADE ON DELETE CASCADE,
    status   TEXT    NOT NULL,
    at       BIGINT  NOT NULL,
    source   TEXT    NOT NULL
);

CREATE INDEX call_history_by_call ON call_history (call_id, seq);

-- What the caller said or typed, in order. `confidence` is the recognizer's (0.0–1.0).
CREATE TABLE call_turns (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id     TEXT    NOT NULL REFERENCES calls (call_id) ON UPDATE CASCADE ON DELETE CASCADE,
    at          BIGINT  NOT NULL,
    speech      TEXT,
    confidence  DOUBLE PRECISION,
    digits      TEXT
);

CREATE INDEX call_turns_by_call ON call_turns (call_id, seq);

-- Status updates for call ids no call has, in arrival order.
CREATE TABLE orphan_call_status (
    seq      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id  TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    at       BIGINT  NOT NULL
);

-- An answer produced after the provider's deadline, kept until the call's hold redirect
-- takes it (at most one per call; a terminal status deletes it).
CREATE TABLE call_pending_answers (
    call_id       TEXT NOT NULL PRIMARY KEY
                  REFERENCES calls (call_id) ON UPDATE CASCADE ON DELETE CASCADE,
    content_type  TEXT NOT NULL,
    body          TEXT NOT NULL
);

-- One-time tokens for real-time call sockets (media streams, relays): the SHA-256 of the
-- token the gateway put in the call's TwiML, never the token itself.
CREATE TABLE call_stream_tokens (
    call_id     TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    expires_ms  BIGINT  NOT NULL,
    PRIMARY KEY (call_id, token_hash)
);

CREATE INDEX call_stream_tokens_expiry ON call_stream_tokens (expires_ms);
