-- Work the datastore does on a clock (docs/OPERATIONS.md#scheduled-work): one row per job, its
-- interval from the configuration (0: off), when it runs next, and how its last run went.
CREATE TABLE schedule (
    name TEXT PRIMARY KEY,
    interval_secs BIGINT NOT NULL,
    next_run_at BIGINT NOT NULL,
    last_started_at BIGINT,
    last_finished_at BIGINT,
    last_outcome TEXT CHECK (last_outcome IN ('success', 'failure')),
    last_detail TEXT,
    runs BIGINT NOT NULL DEFAULT 0
);
