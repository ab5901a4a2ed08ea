-- Call recordings (CallStore::add_recording): the metadata of each finished recording the
-- provider announced, never the audio (that stays with the provider, fetched on demand with
-- its credentials). Rows go with their call: erasing or pruning a call removes them.
CREATE TABLE call_recordings (
    seq            BIGINT   GENERATED ALWAYS AS IDENTITY UNIQUE,
    recording_id   TEXT     NOT NULL PRIMARY KEY,
    call_id        TEXT     NOT NULL REFERENCES calls (call_id) ON UPDATE CASCADE ON DELETE CASCADE,
    duration_secs  BIGINT,
    channels       SMALLINT NOT NULL,
    format         TEXT     NOT NULL,
    url            TEXT,
    created_at     BIGINT   NOT NULL,
    source         TEXT,
    extra_json     TEXT     NOT NULL DEFAULT '{}'
);

CREATE INDEX call_recordings_by_call ON call_recordings (call_id, created_at);
CREATE INDEX call_recordings_by_created_at ON call_recordings (created_at, seq);
