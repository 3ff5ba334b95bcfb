-- Governance: teams, users with roles per team, tokens (API tokens, dashboard
-- sessions, consumer keys), approvals, signing keys and signatures, and the
-- hash-chained audit log.

CREATE TABLE teams (
    name        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);
INSERT INTO teams (name, created_at, created_by) VALUES ('default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'hangar');

CREATE TABLE users (
    name           TEXT PRIMARY KEY,
    password_hash  TEXT,                 -- Argon2id PHC string, or NULL (token-only)
    superuser      INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    disabled_at    TEXT
);

CREATE TABLE memberships (
    user   TEXT NOT NULL REFERENCES users(name),
    team   TEXT NOT NULL REFERENCES teams(name),
    role   TEXT NOT NULL CHECK (role IN ('admin', 'maintainer', 'data-scientist', 'approver', 'viewer')),
    PRIMARY KEY (user, team, role)
);

-- Every credential. The secret is never stored: only its SHA-256 (tokens are
-- 256-bit random values, so a fast hash is the right tool; passwords use
-- Argon2id above). `kind` is api (a user's API token), session (a dashboard
-- login) or consumer (an inference key scoped to deployments).
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('api', 'session', 'consumer')),
    user          TEXT REFERENCES users(name),
    secret_hash   TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    deployments   TEXT NOT NULL DEFAULT '[]',  -- consumer keys: JSON array of deployment names
    purpose       TEXT NOT NULL DEFAULT '',    -- consumer keys: the declared purpose
    rate_limit    REAL,                        -- consumer keys: requests per second, NULL = server default
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT
);
CREATE INDEX tokens_by_user ON tokens (user);

-- Approvals and rejections of one exact version (by digest); append-only.
CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    digest      TEXT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    comment     TEXT NOT NULL,
    by          TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX approvals_by_version ON approvals (model, version);
CREATE TRIGGER approvals_append_only BEFORE UPDATE ON approvals
BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
CREATE TRIGGER approvals_undeletable BEFORE DELETE ON approvals
BEGIN SELECT RAISE(ABORT, 'approvals cannot be deleted'); END;

-- Public keys whose signatures a deployment policy may require.
CREATE TABLE trusted_keys (
    name        TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL UNIQUE,  -- Ed25519, 32 bytes hex
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

-- Ed25519 signatures over a version's digest.
CREATE TABLE version_signatures (
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    public_key  TEXT NOT NULL,         -- hex
    signature   TEXT NOT NULL,         -- hex, 64 bytes
    created_at  TEXT NOT NULL,
    PRIMARY KEY (model, version, public_key)
);

-- Who pushed a version is model_versions.created_by; who may see a deployment
-- follows the team of the model it was created for.
ALTER TABLE deployments ADD COLUMN team TEXT NOT NULL DEFAULT 'default';

-- The audit log: append-only, hash-chained (see hangar_core::governance).
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    address    TEXT NOT NULL,
    action     TEXT NOT NULL,
    object     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_by_object ON audit_log (object, seq);
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_undeletable BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit entries are never deleted'); END;

-- The last entry written, so that removing entries from the end is detected.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
