-- Which teams an audit entry concerns, so that a team's admins and approvers
-- read their own team's entries and nothing of another team's (Hangar
-- administrators read everything). Written with the entry, in the same
-- transaction; an entry concerning no team (logins, users, tokens, denials
-- of unauthenticated requests) has no row and is shown to administrators
-- only. The hash chain covers the entries themselves; this is an index of
-- who may read them.
CREATE TABLE audit_teams (
    team  TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (team, seq)
) WITHOUT ROWID;

-- Entries written before this table existed: the team of the model or
-- deployment their object names, as it is now.
INSERT OR IGNORE INTO audit_teams (team, seq)
SELECT COALESCE(m.owner_team, 'default'), a.seq
FROM (SELECT seq, substr(object, 8) || '/' AS rest FROM audit_log WHERE substr(object, 1, 7) = 'models/') a
JOIN models m ON m.name = substr(a.rest, 1, instr(a.rest, '/') - 1);

INSERT OR IGNORE INTO audit_teams (team, seq)
SELECT d.team, a.seq
FROM (SELECT seq, substr(object, 13) || '/' AS rest FROM audit_log WHERE substr(object, 1, 12) = 'deployments/') a
JOIN deployments d ON d.name = substr(a.rest, 1, instr(a.rest, '/') - 1);

INSERT OR IGNORE INTO audit_teams (team, seq)
SELECT d.team, a.seq
FROM (SELECT seq, substr(object, 11) || '/' AS rest FROM audit_log WHERE substr(object, 1, 10) = 'v2/models/') a
JOIN deployments d ON d.name = substr(a.rest, 1, instr(a.rest, '/') - 1);

-- A fourth kind of credential: `metrics`, a token that may read /metrics and
-- nothing else (what a Prometheus scraper holds). SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt.
CREATE TABLE tokens_new (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('api', 'session', 'consumer', 'metrics')),
    user          TEXT REFERENCES users(name),
    secret_hash   TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    deployments   TEXT NOT NULL DEFAULT '[]',
    purpose       TEXT NOT NULL DEFAULT '',
    rate_limit    REAL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT
);
INSERT INTO tokens_new (id, kind, user, secret_hash, name, deployments, purpose, rate_limit,
                        created_at, created_by, expires_at, revoked_at, last_used_at)
SELECT id, kind, user, secret_hash, name, deployments, purpose, rate_limit,
       created_at, created_by, expires_at, revoked_at, last_used_at
FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_by_user ON tokens (user);
