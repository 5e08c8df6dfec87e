-- What leaves the platform: mail (rendered from per-project templates) and webhook deliveries,
-- made from the event log by one dispatcher (domain/outbox.rs) that keeps its place in
-- outbox_cursor. Each delivery is one task; its dedupe key makes a second delivery of the same
-- event to the same place impossible. Also: per-product and per-release policy overrides.
-- Mirrored in the other backend's migration of the same name.
CREATE TABLE mail_template (
    project_id BIGINT NOT NULL REFERENCES project (id),
    kind TEXT NOT NULL CHECK (kind IN ('vote', 'result', 'announce')),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, kind)
);

CREATE TABLE webhook (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES project (id),
    url TEXT NOT NULL,
    -- A JSON array of event actions (release.created, vote.started, ...).
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The place of its webhook.created event: it hears of the events after that one.
    created_seq BIGINT NOT NULL DEFAULT 0,
    deleted_at BIGINT
);
CREATE INDEX webhook_project ON webhook (project_id, deleted_at);

CREATE TABLE delivery (
    id BIGSERIAL PRIMARY KEY,
    -- 'mail:<event seq>' or 'webhook:<webhook id>:<event seq>'.
    dedupe TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('mail', 'webhook')),
    event_seq BIGINT NOT NULL,
    action TEXT NOT NULL,
    webhook_id BIGINT REFERENCES webhook (id),
    release_id BIGINT REFERENCES release (id),
    task_id BIGINT NOT NULL REFERENCES task (id),
    -- The list a mail went to, or the URL of a webhook.
    recipient TEXT NOT NULL,
    -- A mail's subject; a webhook's delivery id.
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX delivery_webhook ON delivery (webhook_id, id);
CREATE INDEX delivery_release ON delivery (release_id, id);

-- The last event the dispatcher handled. Events before this migration are history: no mail
-- or webhook is made for them (events not yet in the audit chain are numbered after the
-- chained ones when the datastore starts, so they count too).
CREATE TABLE outbox_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO outbox_cursor (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) + COALESCE(SUM(CASE WHEN seq IS NULL THEN 1 ELSE 0 END), 0) FROM event;

-- A ballot may be signed (OpenPGP, over the canonical ballot text): the signature and the key
-- that made it.
ALTER TABLE vote ADD COLUMN signature TEXT;
ALTER TABLE vote ADD COLUMN signed_by TEXT;

-- A podling's vote has two stages: its PPMC ('podling'), then the Incubator PMC ('incubator');
-- NULL for a committee's single vote.
ALTER TABLE release ADD COLUMN vote_stage TEXT;

-- verify-by-hash: blobs by SHA-512.
CREATE INDEX blob_sha512 ON blob (sha512);

-- Vote policy set for a product or a release over the project's (JSON objects, null: none).
ALTER TABLE product ADD COLUMN policy_override TEXT;
ALTER TABLE release ADD COLUMN policy_override TEXT;
