-- Every version of every resource, as the exact JSON text received.
CREATE TABLE resource_versions (
    ty TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (ty, id, version)
);
CREATE INDEX resource_versions_history ON resource_versions (ty, last_updated);

-- The current version of each resource.
CREATE TABLE resources (
    ty TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    PRIMARY KEY (ty, id)
);
CREATE INDEX resources_updated ON resources (ty, last_updated, id);

-- Search parameter values of current versions: one row per value.
CREATE TABLE search_index (
    ty TEXT NOT NULL,
    id TEXT NOT NULL,
    param TEXT NOT NULL,
    kind TEXT NOT NULL,
    system TEXT,
    value TEXT COLLATE "C",
    low BIGINT,
    high BIGINT
);
CREATE INDEX search_index_value ON search_index (ty, param, value);
CREATE INDEX search_index_date ON search_index (ty, param, low, high);
CREATE INDEX search_index_owner ON search_index (ty, id);

-- Responses to requests that must not be applied twice.
CREATE TABLE remembered (
    key TEXT PRIMARY KEY,
    status BIGINT NOT NULL,
    body TEXT NOT NULL
);
