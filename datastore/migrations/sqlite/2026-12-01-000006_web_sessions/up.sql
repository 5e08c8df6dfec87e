-- People at the web pages: server-side sessions behind an HttpOnly cookie, and the failed
-- logins that rate-limit guessing (per account and per address). The cookie holds a random
-- secret; only its SHA-256 is stored, like every other bearer secret. Passwords (argon2id)
-- live in users.password_hash, there since the first schema.
-- Mirrored in the other backend's migration of the same name.
CREATE TABLE web_session (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    -- Sent with every form and cookie-authenticated write (the synchroniser token pattern).
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- Set by logout or by an admin; a revoked session never authenticates again.
    revoked_at BIGINT,
    address TEXT
);
CREATE INDEX web_session_user ON web_session (user_id);

CREATE TABLE login_failure (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL,
    address TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failure_uid ON login_failure (uid, at);
CREATE INDEX login_failure_address ON login_failure (address, at);
