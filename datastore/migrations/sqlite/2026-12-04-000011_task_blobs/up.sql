-- The blobs a runner uploaded under a task's lease (an svn import's files, a generated SBOM):
-- only these may become files of the revision the task's result makes. Per lease, so that an
-- attempt's uploads count against that attempt's limit only.
CREATE TABLE task_blob (
    task_id BIGINT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    lease_token TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, lease_token, sha256)
);
