-- Sender policy state: pairing requests, approved senders, opt-outs, approved contacts.

-- Pairing requests, in creation order. A code is looked up by its newest request.
CREATE TABLE pairing_requests (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE INDEX pairing_requests_by_code ON pairing_requests (code, seq);
CREATE INDEX pairing_requests_by_created_at ON pairing_requests (created_at);
CREATE INDEX pairing_requests_pending ON pairing_requests (sender) WHERE status = 'pending';

-- Numbers (E.164) approved through pairing.
CREATE TABLE approved_senders (
    number       TEXT    NOT NULL PRIMARY KEY,
    approved_at  BIGINT  NOT NULL
);

-- Numbers (E.164) that opted out and have not opted back in.
CREATE TABLE opt_outs (
    number        TEXT    NOT NULL PRIMARY KEY,
    opted_out_at  BIGINT  NOT NULL
);

-- Numbers (E.164) the owner approved as contacts (first-contact approval).
CREATE TABLE approved_contacts (
    number       TEXT    NOT NULL PRIMARY KEY,
    approved_at  BIGINT  NOT NULL
);
