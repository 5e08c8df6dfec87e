-- The people the platform design names besides committee members (docs/WEB.md, ADR 0014):
-- foundation members (a flag admins set; they read every audit event), visitors (accounts
-- made at /signup, to cast non-binding votes, after a recorded consent to the personal data
-- kept: name and email address; withdrawing it removes that data and anonymises the
-- visitor's ballots), and invitations (a one-time link an admin sends, to set a password).
-- Mirrored in the other backend's migration of the same name.
ALTER TABLE users ADD COLUMN foundation_member BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN visitor BOOLEAN NOT NULL DEFAULT FALSE;
-- When the person agreed, and to which text (the version named in docs/WEB.md).
ALTER TABLE users ADD COLUMN consented_at BIGINT;
ALTER TABLE users ADD COLUMN consent_version TEXT;
-- Set when a visitor withdrew their consent: the row stays, so that the uid, which the audit
-- log names, is never given to anyone else; its personal data are gone.
ALTER TABLE users ADD COLUMN withdrawn_at BIGINT;

CREATE TABLE invitation (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the link's secret, like every other bearer secret.
    secret_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX invitation_user ON invitation (user_id);

-- The runners overview (/runners): the capacity each runner last asked for, and tasks counted
-- by when they finished (its throughput chart).
ALTER TABLE runner ADD COLUMN capacity BIGINT;
CREATE INDEX task_finished ON task (finished_at);
