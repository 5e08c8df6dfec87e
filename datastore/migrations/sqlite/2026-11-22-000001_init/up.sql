-- The whole data model of ARCHITECTURE.md. Mirrored in ../../postgres/<same name>/up.sql:
-- the same tables, columns and constraints, in each backend's dialect.
-- Times are BIGINT milliseconds since the Unix epoch, UTC (docs/adr/0003-times-as-epoch-millis.md).
-- JSON documents are TEXT, parsed and validated in the application.

CREATE TABLE committee (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    podling BOOLEAN NOT NULL DEFAULT 0,
    retired BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE project (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    committee_id BIGINT NOT NULL REFERENCES committee (id),
    display_name TEXT NOT NULL,
    policy TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX project_committee ON project (committee_id);

CREATE TABLE product (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES project (id),
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    name TEXT,
    email TEXT,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE membership (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    committee_id BIGINT NOT NULL REFERENCES committee (id),
    role TEXT NOT NULL CHECK (role IN ('committer', 'release_manager', 'pmc_member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, committee_id, role)
);
CREATE INDEX membership_committee ON membership (committee_id);

CREATE TABLE signing_key (
    fingerprint TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    bits INTEGER,
    key_created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked BOOLEAN NOT NULL DEFAULT 0,
    primary_uid TEXT,
    uids TEXT NOT NULL DEFAULT '[]',
    armored TEXT NOT NULL,
    owner_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    added_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX signing_key_key_id ON signing_key (key_id);

CREATE TABLE committee_key (
    committee_id BIGINT NOT NULL REFERENCES committee (id),
    fingerprint TEXT NOT NULL REFERENCES signing_key (fingerprint) ON DELETE CASCADE,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (committee_id, fingerprint)
);
CREATE INDEX committee_key_fingerprint ON committee_key (fingerprint);

CREATE TABLE release (
    id INTEGER PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES product (id),
    version TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('draft', 'candidate', 'preview', 'current', 'archived', 'revoked')),
    revision BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    vote_policy TEXT,
    vote_revision BIGINT,
    vote_started_at BIGINT,
    vote_closes_at BIGINT,
    released_at BIGINT,
    revoked_at BIGINT,
    revoked_reason TEXT,
    UNIQUE (product_id, version)
);
CREATE INDEX release_phase ON release (phase);

CREATE TABLE blob (
    sha256 TEXT PRIMARY KEY,
    sha512 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE revision (
    id INTEGER PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES release (id),
    seq BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    description TEXT NOT NULL,
    UNIQUE (release_id, seq)
);

CREATE TABLE revision_file (
    revision_id BIGINT NOT NULL REFERENCES revision (id),
    path TEXT NOT NULL,
    blob_sha256 TEXT NOT NULL REFERENCES blob (sha256),
    PRIMARY KEY (revision_id, path)
);
CREATE INDEX revision_file_blob ON revision_file (blob_sha256);

CREATE TABLE runner (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    capabilities TEXT NOT NULL DEFAULT '[]',
    version TEXT,
    last_seen_at BIGINT,
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE task (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    release_id BIGINT REFERENCES release (id),
    revision_seq BIGINT,
    checker_version TEXT,
    path TEXT NOT NULL DEFAULT '',
    args TEXT NOT NULL DEFAULT '{}',
    inputs TEXT NOT NULL DEFAULT '[]',
    inputs_hash TEXT NOT NULL,
    policy_hash TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('queued', 'leased', 'completed', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    not_before BIGINT NOT NULL,
    runner_id BIGINT REFERENCES runner (id),
    lease_token TEXT,
    lease_expires_at BIGINT,
    progress TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX task_claimable ON task (status, priority, not_before);
CREATE INDEX task_release ON task (release_id, revision_seq);
CREATE INDEX task_inputs ON task (kind, inputs_hash);

CREATE TABLE task_log (
    task_id BIGINT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE check_result (
    id INTEGER PRIMARY KEY,
    task_id BIGINT REFERENCES task (id),
    checker TEXT NOT NULL,
    checker_version TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    path TEXT NOT NULL,
    member TEXT,
    status TEXT NOT NULL CHECK (status IN ('success', 'warning', 'failure', 'error', 'waived')),
    message TEXT NOT NULL,
    data TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX check_result_key ON check_result (checker, checker_version, inputs_hash, policy_hash);

CREATE TABLE key_use (
    fingerprint TEXT NOT NULL REFERENCES signing_key (fingerprint),
    release_id BIGINT NOT NULL REFERENCES release (id),
    path TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (fingerprint, release_id, path)
);

CREATE TABLE waiver (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES project (id),
    checker TEXT NOT NULL,
    path_glob TEXT NOT NULL,
    reason TEXT NOT NULL,
    author_id BIGINT REFERENCES users (id),
    release_id BIGINT REFERENCES release (id),
    revision_seq BIGINT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE vote (
    id INTEGER PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES release (id),
    revision_seq BIGINT NOT NULL,
    voter_id BIGINT REFERENCES users (id),
    voter TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
    binding BOOLEAN NOT NULL,
    comment TEXT,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX vote_release ON vote (release_id);

CREATE TABLE cve (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    project_id BIGINT NOT NULL REFERENCES project (id),
    title TEXT NOT NULL,
    description TEXT,
    published_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE cve_release (
    cve_id BIGINT NOT NULL REFERENCES cve (id),
    release_id BIGINT NOT NULL REFERENCES release (id),
    relation TEXT NOT NULL CHECK (relation IN ('affected', 'fixed')),
    PRIMARY KEY (cve_id, release_id, relation)
);

CREATE TABLE distribution (
    id INTEGER PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES release (id),
    channel TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE event (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    release_id BIGINT REFERENCES release (id),
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX event_release ON event (release_id, id);

CREATE TABLE api_token (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX api_token_user ON api_token (user_id);

CREATE TABLE server_secret (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
