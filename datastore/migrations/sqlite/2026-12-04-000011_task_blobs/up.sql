-- The blobs a runner uploaded under a task's lease (an svn import's files): only these may
-- become files of the revision the task's result makes.
CREATE TABLE task_blob (
    task_id BIGINT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, sha256)
);
