-- Monitoring aggregates: per deployment, version and period (minute, hour,
-- day), everything the unlabelled monitoring figures need, so that a long
-- window is computed without reading its raw prediction rows. The body is
-- hangar-core's `monitor::aggregate::Aggregate` in its binary form (counts on
-- the baseline's bins, category counts, CBPE sums, a bounded row sample).
-- Minutes are written by the prediction log's writer; each minute is merged
-- into its hour and day rows as it is written.

CREATE TABLE monitoring_aggregates (
    deployment  TEXT NOT NULL,
    resolution  TEXT NOT NULL CHECK (resolution IN ('minute', 'hour', 'day')),
    start       INTEGER NOT NULL,          -- Unix seconds (UTC), aligned to the period
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    baseline    TEXT,                      -- digest the counts were binned against
    body        BLOB NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (deployment, resolution, start, model, version)
) WITHOUT ROWID;

-- The prediction log stores a row's feature values as little-endian f64
-- (8 bytes each) instead of JSON text; `inputs` stays for rows written before.
ALTER TABLE predictions ADD COLUMN features BLOB;

-- Labelled rows of a long window are found without walking its unlabelled ones.
CREATE INDEX predictions_labelled ON predictions (deployment, at) WHERE label IS NOT NULL;

-- Feedback by row id only looks for rows that have one; deployments without
-- row ids no longer pay for an index entry per logged row.
DROP INDEX predictions_by_row_id;
CREATE INDEX predictions_by_row_id ON predictions (deployment, row_id) WHERE row_id IS NOT NULL;
