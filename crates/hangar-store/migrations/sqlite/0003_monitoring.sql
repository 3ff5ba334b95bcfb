-- Monitoring: a version's baseline (its training data, as a CSV artifact) and
-- the prediction log, with true outcomes filled in as feedback arrives.

CREATE TABLE baselines (
    model_id      INTEGER NOT NULL REFERENCES models(id),
    version       INTEGER NOT NULL,
    digest        TEXT NOT NULL,             -- the CSV artifact
    label_column  TEXT,
    categorical   TEXT NOT NULL DEFAULT '[]', -- JSON array of feature names
    rows          INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (model_id, version),
    FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version)
);

CREATE TABLE predictions (
    id          INTEGER PRIMARY KEY,
    deployment  TEXT NOT NULL,
    at          TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    row         INTEGER NOT NULL,
    row_id      TEXT,
    revision    INTEGER NOT NULL,
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    inputs      TEXT NOT NULL,             -- JSON array: the row's feature values
    outputs     TEXT NOT NULL,             -- JSON object: the row's outputs
    score       REAL,                      -- probability of class 1 (classifiers)
    predicted   REAL,                      -- the model's label
    segments    TEXT NOT NULL DEFAULT '{}',-- JSON object: segment attribute values
    latency_us  INTEGER NOT NULL,
    purpose     TEXT,
    label       REAL,                      -- the true outcome, once known
    labeled_at  TEXT
);
CREATE INDEX predictions_by_time ON predictions (deployment, at);
CREATE INDEX predictions_by_row_id ON predictions (deployment, row_id);
CREATE INDEX predictions_by_request ON predictions (deployment, request_id, row);
