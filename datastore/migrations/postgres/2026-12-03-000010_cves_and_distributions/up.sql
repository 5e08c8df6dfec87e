-- CVE records (docs/CVES.md) and distribution records (docs/DISTRIBUTION.md). The first
-- schema's tables of these names were never written to; they are made again with what the
-- features need, and ids that are never reused. Mirrored in the other backend's migration of
-- the same name.
DROP TABLE cve_release;
DROP TABLE cve;
DROP TABLE distribution;

CREATE TABLE cve (
    id BIGSERIAL PRIMARY KEY,
    -- CVE-2026-12345: one record per CVE and project (one CVE may concern several
    -- projects; and a global uniqueness would tell one PMC of another's embargoed CVE).
    name TEXT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES project (id),
    title TEXT NOT NULL,
    description TEXT,
    severity TEXT CHECK (severity IN ('low', 'moderate', 'important', 'critical')),
    cvss_vector TEXT,
    advisory_url TEXT,
    -- Embargoed until then (NULL: until someone sets it).
    published_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX cve_project ON cve (project_id, name);

CREATE TABLE cve_release (
    cve_id BIGINT NOT NULL REFERENCES cve (id),
    release_id BIGINT NOT NULL REFERENCES release (id),
    relation TEXT NOT NULL CHECK (relation IN ('affected', 'fixed')),
    PRIMARY KEY (cve_id, release_id, relation)
);
CREATE INDEX cve_release_release ON cve_release (release_id);

CREATE TABLE distribution (
    id BIGSERIAL PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES release (id),
    channel TEXT NOT NULL CHECK (channel IN ('maven_central', 'pypi', 'npm', 'docker_hub', 'artifact_hub', 'github_releases', 'other')),
    url TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('recorded', 'verified', 'mismatch', 'unreachable')),
    -- What the last check of the channel found.
    detail TEXT,
    checked_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (release_id, channel, url)
);
