-- Secret keys the store keeps for itself, made once and never sent anywhere.
--
-- `opt_out_hash` (32 random bytes) keys the HMAC-SHA256 that `telephony forget` stores in
-- place of an erased number's opt-out: `opt_outs.number` then holds
-- `hmac-sha256:<64 hex digits>` instead of the E.164 number, and the opt-out check matches
-- either form, so an erased number that sent STOP is still never sent to. The key lives
-- with the data it protects (a backup carries it; it cannot be lost or changed apart from
-- the opt-outs).
CREATE TABLE store_keys (
    name        TEXT    NOT NULL PRIMARY KEY,
    key         BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
