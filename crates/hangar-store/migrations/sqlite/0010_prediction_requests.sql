-- A logged prediction's request id is stored once per request, not once per
-- row: a request of many rows with a long id (the body's `id` or
-- X-Request-Id, now at most 128 bytes) used to repeat it in every row and in
-- the (deployment, request_id, row) index entry of every row.
--
-- A request's rows have consecutive ids: row r is the id of row 0 plus r
-- (the log's writer inserts them so, in one transaction; every writer so far
-- has written a request's rows in order, from row 0, in one transaction).
-- The request id is kept here under the id of the request's row 0, so
-- feedback by (request id, row) finds row 0's id through the index below and
-- reaches row r at that id plus r, and readers join a row to its request on
-- `predictions.id - predictions.row`.

CREATE TABLE prediction_requests (
    id          INTEGER PRIMARY KEY,       -- predictions.id of the request's row 0
    request_id  TEXT NOT NULL
);

INSERT INTO prediction_requests (id, request_id)
SELECT id, request_id FROM predictions WHERE row = 0;

CREATE INDEX prediction_requests_by_request_id ON prediction_requests (request_id);

DROP INDEX predictions_by_request;
ALTER TABLE predictions DROP COLUMN request_id;
