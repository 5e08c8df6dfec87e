DROP INDEX waiver_project;
ALTER TABLE waiver DROP COLUMN rule;
