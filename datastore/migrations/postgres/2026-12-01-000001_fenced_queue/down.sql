DROP INDEX check_result_identity;
DROP INDEX task_live_identity;
DROP INDEX task_identity;
DROP INDEX task_leases;
CREATE INDEX check_result_key ON check_result (checker, checker_version, inputs_hash, policy_hash);
CREATE INDEX task_inputs ON task (kind, inputs_hash);
ALTER TABLE check_result DROP COLUMN ordinal;
ALTER TABLE signing_key DROP COLUMN armored_sha256;
