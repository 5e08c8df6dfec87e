DROP TABLE distribution;
DROP TABLE cve_release;
DROP TABLE cve;

CREATE TABLE cve (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    project_id BIGINT NOT NULL REFERENCES project (id),
    title TEXT NOT NULL,
    description TEXT,
    published_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE cve_release (
    cve_id BIGINT NOT NULL REFERENCES cve (id),
    release_id BIGINT NOT NULL REFERENCES release (id),
    relation TEXT NOT NULL CHECK (relation IN ('affected', 'fixed')),
    PRIMARY KEY (cve_id, release_id, relation)
);

CREATE TABLE distribution (
    id BIGSERIAL PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES release (id),
    channel TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
