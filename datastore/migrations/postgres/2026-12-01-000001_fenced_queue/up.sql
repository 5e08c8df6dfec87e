-- Mirrors ../../sqlite/<same name>/up.sql. PostgreSQL sequences never reuse ids already.
-- Check results get an ordinal, unique per check identity, so that one verdict can never be
-- stored twice; at most one live task (queued or leased) per check identity.
-- Signing keys get the SHA-256 of their armored bytes: a check's identity covers the keys' packets.

-- Of duplicated live tasks of one identity (possible before), the oldest stays.
UPDATE task SET status = 'cancelled', lease_expires_at = NULL
    WHERE status IN ('queued', 'leased') AND id NOT IN (
        SELECT MIN(id) FROM task WHERE status IN ('queued', 'leased')
        GROUP BY kind, checker_version, inputs_hash, policy_hash);
-- Cancelled tasks keep no lease (the reaper looked at them forever).
UPDATE task SET lease_expires_at = NULL WHERE status = 'cancelled';
DROP INDEX task_inputs;
CREATE INDEX task_leases ON task (status, lease_expires_at);
CREATE UNIQUE INDEX task_live_identity ON task (inputs_hash, kind, checker_version, policy_hash)
    WHERE status IN ('queued', 'leased');
CREATE INDEX task_identity ON task (inputs_hash, kind);

-- A verdict stored twice (possible before) keeps the rows of the first task that stored it.
DELETE FROM check_result WHERE task_id IS NOT NULL AND task_id > (
    SELECT MIN(earliest.task_id) FROM check_result earliest
    WHERE earliest.checker = check_result.checker AND earliest.checker_version = check_result.checker_version
      AND earliest.inputs_hash = check_result.inputs_hash AND earliest.policy_hash = check_result.policy_hash);
ALTER TABLE check_result ADD COLUMN ordinal INTEGER;
UPDATE check_result SET ordinal = numbered.n - 1 FROM (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY checker, checker_version, inputs_hash, policy_hash ORDER BY id) AS n
    FROM check_result) numbered
    WHERE numbered.id = check_result.id;
ALTER TABLE check_result ALTER COLUMN ordinal SET NOT NULL;
DROP INDEX check_result_key;
CREATE UNIQUE INDEX check_result_identity ON check_result (inputs_hash, checker, checker_version, policy_hash, ordinal);

ALTER TABLE signing_key ADD COLUMN armored_sha256 TEXT NOT NULL DEFAULT '';
