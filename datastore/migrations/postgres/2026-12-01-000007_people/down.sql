DROP INDEX task_finished;
ALTER TABLE runner DROP COLUMN capacity;
DROP TABLE invitation;
ALTER TABLE users DROP COLUMN withdrawn_at;
ALTER TABLE users DROP COLUMN consent_version;
ALTER TABLE users DROP COLUMN consented_at;
ALTER TABLE users DROP COLUMN visitor;
ALTER TABLE users DROP COLUMN foundation_member;
