-- The audit log as a hash chain (docs/AUDIT.md): every event carries its place (seq), the hash
-- of the event before it, and its own hash; audit_head holds the latest, and is updated in the
-- transaction of every event, which orders event writes. Events written before this migration
-- are chained, in id order, when the datastore starts (domain::audit::backfill).
-- Mirrored in ../../postgres/<same name>/up.sql.
ALTER TABLE event ADD COLUMN seq BIGINT;
ALTER TABLE event ADD COLUMN prev_hash TEXT;
ALTER TABLE event ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX event_seq ON event (seq);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed statements of the chain's length and head: a later rewrite of history contradicts them.
CREATE TABLE audit_checkpoint (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
