-- Trusted publishing (docs/TRUSTED-PUBLISHING.md): a project's PMC trusts a CI identity (an
-- OpenID Connect issuer, an audience, and constraints on the ID token's claims) to do some of
-- a release manager's work on the project's releases. A CI job exchanges its ID token for a
-- short-lived token (POST /api/v1/trusted-publishing/exchange); that token acts as the
-- project's CI user (uid `ci:<project>`, which no person's uid can be) and only within what
-- the trusts it matched grant. Deleted trusts are kept (deleted_at): the ids are never reused
-- and the tokens they granted stop working. Mirrored in the other backend's migration of the
-- same name.
CREATE TABLE trusted_publisher (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES project (id),
    issuer TEXT NOT NULL,
    audience TEXT NOT NULL,
    -- A JSON object: claim name -> the value (a glob) it must have.
    claims TEXT NOT NULL,
    -- A JSON array of actions: compose, vote_start, release.
    actions TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX trusted_publisher_project ON trusted_publisher (project_id, deleted_at);

-- Each ID token is exchanged once: its SHA-256 is kept until it expires.
CREATE TABLE oidc_token_used (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_token_used_expiry ON oidc_token_used (expires_at);
