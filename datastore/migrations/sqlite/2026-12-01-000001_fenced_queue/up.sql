-- Ids that are never reused (AUTOINCREMENT): a deleted personal access token must not come
-- back as a new one (its JWTs named it by id), nor a task or an event by id.
-- Check results get an ordinal, unique per check identity, so that one verdict can never be
-- stored twice; at most one live task (queued or leased) per check identity.
-- Signing keys get the SHA-256 of their armored bytes: a check's identity covers the keys' packets.
-- Mirrored in ../../postgres/<same name>/up.sql.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE api_token_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT
);
INSERT INTO api_token_new (id, user_id, label, token_hash, created_at, last_used_at, expires_at)
    SELECT id, user_id, label, token_hash, created_at, last_used_at, expires_at FROM api_token;
DROP TABLE api_token;
ALTER TABLE api_token_new RENAME TO api_token;
CREATE INDEX api_token_user ON api_token (user_id);

CREATE TABLE event_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    release_id BIGINT REFERENCES release (id),
    details TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO event_new (id, at, actor, action, target, release_id, details)
    SELECT id, at, actor, action, target, release_id, details FROM event;
DROP TABLE event;
ALTER TABLE event_new RENAME TO event;
CREATE INDEX event_release ON event (release_id, id);

-- Of duplicated live tasks of one identity (possible before), the oldest stays.
UPDATE task SET status = 'cancelled', lease_expires_at = NULL
    WHERE status IN ('queued', 'leased') AND id NOT IN (
        SELECT MIN(id) FROM task WHERE status IN ('queued', 'leased')
        GROUP BY kind, checker_version, inputs_hash, policy_hash);
-- Cancelled tasks keep no lease (the reaper looked at them forever).
UPDATE task SET lease_expires_at = NULL WHERE status = 'cancelled';

CREATE TABLE task_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO task_new SELECT id, kind, release_id, revision_seq, checker_version, path, args, inputs, inputs_hash,
    policy_hash, status, priority, attempt, max_attempts, not_before, runner_id, lease_token, lease_expires_at,
    progress, error, created_at, started_at, finished_at FROM task;

CREATE TABLE task_log_new (
    task_id BIGINT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (task_id, seq)
);
INSERT INTO task_log_new (task_id, seq, text, at) SELECT task_id, seq, text, at FROM task_log;

-- A verdict stored twice (possible before) keeps the rows of the first task that stored it.
DELETE FROM check_result WHERE task_id IS NOT NULL AND task_id > (
    SELECT MIN(earliest.task_id) FROM check_result earliest
    WHERE earliest.checker = check_result.checker AND earliest.checker_version = check_result.checker_version
      AND earliest.inputs_hash = check_result.inputs_hash AND earliest.policy_hash = check_result.policy_hash);
CREATE TABLE check_result_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT REFERENCES task (id),
    checker TEXT NOT NULL,
    checker_version TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    path TEXT NOT NULL,
    member TEXT,
    status TEXT NOT NULL CHECK (status IN ('success', 'warning', 'failure', 'error', 'waived')),
    message TEXT NOT NULL,
    data TEXT,
    created_at BIGINT NOT NULL
);
INSERT INTO check_result_new (id, task_id, checker, checker_version, inputs_hash, policy_hash, ordinal, path, member,
        status, message, data, created_at)
    SELECT id, task_id, checker, checker_version, inputs_hash, policy_hash,
        ROW_NUMBER() OVER (PARTITION BY checker, checker_version, inputs_hash, policy_hash ORDER BY id) - 1,
        path, member, status, message, data, created_at
    FROM check_result;

DROP TABLE check_result;
DROP TABLE task_log;
DROP TABLE task;
ALTER TABLE task_new RENAME TO task;
ALTER TABLE task_log_new RENAME TO task_log;
ALTER TABLE check_result_new RENAME TO check_result;
CREATE INDEX task_claimable ON task (status, priority, not_before);
CREATE INDEX task_release ON task (release_id, revision_seq);
CREATE INDEX task_leases ON task (status, lease_expires_at);
CREATE UNIQUE INDEX task_live_identity ON task (inputs_hash, kind, checker_version, policy_hash)
    WHERE status IN ('queued', 'leased');
CREATE INDEX task_identity ON task (inputs_hash, kind);
CREATE UNIQUE INDEX check_result_identity ON check_result (inputs_hash, checker, checker_version, policy_hash, ordinal);

ALTER TABLE signing_key ADD COLUMN armored_sha256 TEXT NOT NULL DEFAULT '';

COMMIT;
PRAGMA foreign_keys = ON;
