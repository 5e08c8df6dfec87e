-- The vote and what follows it (docs/LIFECYCLE.md). Mirrored in ../../postgres/<same name>/up.sql.
-- A release's vote: the digest of the frozen revision, the round (a failed vote sends the
-- release back to draft; the next vote is a new round, and ballots of earlier rounds never
-- count again), an expedited vote's reason, the outcome and who resolved it with what reason.
ALTER TABLE release ADD COLUMN manifest_digest TEXT;
ALTER TABLE release ADD COLUMN vote_round BIGINT NOT NULL DEFAULT 0;
ALTER TABLE release ADD COLUMN vote_expedited_reason TEXT;
ALTER TABLE release ADD COLUMN vote_outcome TEXT CHECK (vote_outcome IN ('passed', 'failed'));
ALTER TABLE release ADD COLUMN vote_resolved_at BIGINT;
ALTER TABLE release ADD COLUMN vote_resolution TEXT;
-- What went out: the revision published under /current/ and its digest.
ALTER TABLE release ADD COLUMN published_revision BIGINT;
ALTER TABLE release ADD COLUMN published_digest TEXT;
ALTER TABLE release ADD COLUMN archived_at BIGINT;

-- Every ballot is kept; a person's latest ballot of a round is the one that counts.
ALTER TABLE vote ADD COLUMN round BIGINT NOT NULL DEFAULT 0;
CREATE INDEX vote_round ON vote (release_id, round, voter, id);
