-- Mirrors ../../sqlite/<same name>/up.sql.
ALTER TABLE event ADD COLUMN seq BIGINT;
ALTER TABLE event ADD COLUMN prev_hash TEXT;
ALTER TABLE event ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX event_seq ON event (seq);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoint (
    id BIGSERIAL PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
