-- One-time tokens for real-time call sockets (media streams, relays): the SHA-256 of the
-- token the gateway put in the call's TwiML, never the token itself.
CREATE TABLE call_stream_tokens (
    call_id     TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (call_id, token_hash)
) WITHOUT ROWID;

CREATE INDEX call_stream_tokens_expiry ON call_stream_tokens (expires_ms);
