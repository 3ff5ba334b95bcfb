-- E-mail notification channels. SQLite cannot alter a CHECK constraint in
-- place, so alert_channels is rebuilt with the new kind and the e-mail
-- columns, and its rows are copied over. For an email channel, `url` is the
-- SMTP server (smtp://HOST:PORT), `email_to` a JSON array of recipients and
-- `email_from` the sender; both are NULL for the other kinds.

CREATE TABLE alert_channels_v2 (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    url         TEXT NOT NULL,
    email_to    TEXT CHECK (email_to IS NULL OR (json_valid(email_to) AND json_type(email_to) = 'array')),
    email_from  TEXT,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    CHECK ((kind = 'email') = (email_to IS NOT NULL AND email_from IS NOT NULL))
);
INSERT INTO alert_channels_v2 (name, kind, url, email_to, email_from, created_at, created_by)
SELECT name, kind, url, NULL, NULL, created_at, created_by FROM alert_channels;
DROP TABLE alert_channels;
ALTER TABLE alert_channels_v2 RENAME TO alert_channels;
