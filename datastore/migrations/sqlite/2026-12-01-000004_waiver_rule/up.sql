-- A waiver names the rule it covers (CHECKS.md ids such as H1), or every rule of its checker.
-- Mirrored in the other backend's migration of the same name.
ALTER TABLE waiver ADD COLUMN rule TEXT;
CREATE INDEX waiver_project ON waiver (project_id, revoked_at);
