-- The write probe (HealthStore::probe_write): while writes fail, readiness inserts one row
-- that takes new pages and deletes it in a second transaction, so it commits only once
-- the store can grow again. Empty between probes.
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    pad BLOB NOT NULL
);
