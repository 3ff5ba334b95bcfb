-- The prediction log without a time index: rows are appended in the order
-- they are logged, so a deployment's minute of rows lies within one range of
-- ids. This table records that range per deployment and minute (the writer
-- updates it once per batch); a window is read as the id range of its
-- minutes, filtered on the exact time. An index on (deployment, at) cost
-- the writer a third of its SQLite work per row (docs/benchmarks.md).

CREATE TABLE prediction_spans (
    deployment  TEXT NOT NULL,
    minute      INTEGER NOT NULL,          -- Unix seconds (UTC), a multiple of 60
    first_id    INTEGER NOT NULL,          -- smallest predictions.id of the minute
    last_id     INTEGER NOT NULL,          -- largest
    rows        INTEGER NOT NULL,
    PRIMARY KEY (deployment, minute)
) WITHOUT ROWID;

INSERT INTO prediction_spans (deployment, minute, first_id, last_id, rows)
SELECT deployment, CAST(strftime('%s', substr(at, 1, 16)) AS INTEGER), MIN(id), MAX(id), COUNT(*)
FROM predictions
GROUP BY deployment, substr(at, 1, 16);

DROP INDEX predictions_by_time;
