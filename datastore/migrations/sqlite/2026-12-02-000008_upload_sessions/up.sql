-- Resumable uploads (docs/API-DESIGN.md, "Resumable uploads"; ADR 0015): a session names the
-- release, the file's path and its declared size, and counts the bytes confirmed so far; the
-- bytes wait in <state dir>/uploads/<id> until the session is committed as a revision file,
-- deleted, or left idle past DATASTORE_UPLOAD_SESSION_IDLE_SECS. Only its creator uses it.
-- Mirrored in the other backend's migration of the same name.
CREATE TABLE upload_session (
    -- Random (128 bits, hex): the session's URL, unguessable, never reused.
    id TEXT PRIMARY KEY NOT NULL,
    release_id BIGINT NOT NULL REFERENCES release (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- The SHA-512 the client says the whole file has (optional): a commit of other bytes is refused.
    expected_sha512 TEXT,
    received BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX upload_session_user ON upload_session (user_id);
CREATE INDEX upload_session_updated ON upload_session (updated_at);
