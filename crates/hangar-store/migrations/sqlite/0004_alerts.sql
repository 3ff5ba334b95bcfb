-- Alerting: rules (a deployment name or '*' for all), the history of alert
-- events, notification channels and every delivery attempt.

CREATE TABLE alert_rules (
    name         TEXT NOT NULL,
    deployment   TEXT NOT NULL,
    metric       TEXT NOT NULL,
    comparison   TEXT NOT NULL,
    threshold    REAL NOT NULL,
    window_secs  INTEGER NOT NULL,
    for_secs     INTEGER NOT NULL,
    severity     TEXT NOT NULL,
    guardrail    INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    PRIMARY KEY (name, deployment)
);

CREATE TABLE alert_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rule        TEXT NOT NULL,
    deployment  TEXT NOT NULL,
    kind        TEXT NOT NULL,   -- pending | firing | resolved | acknowledged
    severity    TEXT NOT NULL,
    value       REAL,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX alert_events_by_time ON alert_events (at);

CREATE TABLE alert_channels (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('webhook', 'slack')),
    url         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE alert_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    INTEGER NOT NULL REFERENCES alert_events(id),
    channel     TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    detail      TEXT NOT NULL,
    at          TEXT NOT NULL
);
