-- The write probe (HealthStore::probe_write): while writes fail, readiness inserts one row
-- that takes new pages and deletes it in a second transaction, so it commits only once
-- the store can write again. Empty between probes. EXTERNAL: the padding is stored out of
-- line and uncompressed, so it takes the space it says.
CREATE TABLE store_probe (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    pad BYTEA NOT NULL
);
ALTER TABLE store_probe ALTER COLUMN pad SET STORAGE EXTERNAL;
