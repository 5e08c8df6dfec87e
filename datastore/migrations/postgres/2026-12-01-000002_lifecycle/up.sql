-- Mirrors ../../sqlite/<same name>/up.sql.
ALTER TABLE release ADD COLUMN manifest_digest TEXT;
ALTER TABLE release ADD COLUMN vote_round BIGINT NOT NULL DEFAULT 0;
ALTER TABLE release ADD COLUMN vote_expedited_reason TEXT;
ALTER TABLE release ADD COLUMN vote_outcome TEXT CHECK (vote_outcome IN ('passed', 'failed'));
ALTER TABLE release ADD COLUMN vote_resolved_at BIGINT;
ALTER TABLE release ADD COLUMN vote_resolution TEXT;
ALTER TABLE release ADD COLUMN published_revision BIGINT;
ALTER TABLE release ADD COLUMN published_digest TEXT;
ALTER TABLE release ADD COLUMN archived_at BIGINT;

ALTER TABLE vote ADD COLUMN round BIGINT NOT NULL DEFAULT 0;
CREATE INDEX vote_round ON vote (release_id, round, voter, id);
