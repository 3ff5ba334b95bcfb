-- Registry: models, immutable versions, aliases with full history, deployments.
-- Times are UTC RFC 3339 with microseconds and 'Z', so text order is time order.

CREATE TABLE models (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL DEFAULT '',
    owner_team         TEXT,
    intended_use       TEXT,
    out_of_scope_uses  TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    risk_tier          TEXT NOT NULL DEFAULT 'low' CHECK (risk_tier IN ('low', 'medium', 'high')),
    tags               TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    created_by         TEXT NOT NULL
);

CREATE TABLE model_versions (
    model_id       INTEGER NOT NULL REFERENCES models(id),
    version        INTEGER NOT NULL CHECK (version >= 1),
    digest         TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    format         TEXT NOT NULL,
    signature      TEXT NOT NULL,                   -- JSON
    feature_names  TEXT,                            -- JSON array or NULL
    description    TEXT NOT NULL DEFAULT '',
    source_commit  TEXT,
    training_run   TEXT,
    metrics        TEXT NOT NULL DEFAULT '{}',      -- JSON object name -> number
    metadata       TEXT NOT NULL DEFAULT '{}',      -- JSON object name -> string
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (model_id, version)
);

-- Versions are immutable: the database refuses edits and deletions.
CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
BEGIN SELECT RAISE(ABORT, 'model versions are immutable'); END;
CREATE TRIGGER model_versions_undeletable BEFORE DELETE ON model_versions
BEGIN SELECT RAISE(ABORT, 'model versions cannot be deleted'); END;

CREATE TABLE aliases (
    model_id    INTEGER NOT NULL REFERENCES models(id),
    alias       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version)
);

-- Every set, move and delete of an alias; never updated or deleted.
CREATE TABLE alias_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id      INTEGER NOT NULL REFERENCES models(id),
    alias         TEXT NOT NULL,
    from_version  INTEGER,
    to_version    INTEGER,
    actor         TEXT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX alias_events_by_alias ON alias_events (model_id, alias, at);

CREATE TABLE deployments (
    name          TEXT PRIMARY KEY,
    model_id      INTEGER NOT NULL REFERENCES models(id),
    target_version INTEGER,          -- pinned version, or NULL when following an alias
    target_alias  TEXT,              -- followed alias, or NULL
    version       INTEGER NOT NULL,  -- the version serving now
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    CHECK ((target_version IS NULL) <> (target_alias IS NULL)),
    FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version)
);
