-- Deployments become a sequence of immutable revisions, each with its full
-- routing table (routes with weights, optional shadow) and settings.

CREATE TABLE deployment_revisions (
    deployment  TEXT NOT NULL,
    revision    INTEGER NOT NULL CHECK (revision >= 1),
    routing     TEXT NOT NULL,               -- JSON: {"routes":[{"target","weight","version"}],"shadow":null|{"target","version"}}
    settings    TEXT NOT NULL DEFAULT '{}',  -- JSON; absent keys take their defaults
    kind        TEXT NOT NULL,               -- deploy | promote | rollback | alias_moved | guardrail_rollback
    detail      TEXT NOT NULL DEFAULT '{}',  -- JSON: rollback target, alias, guardrail reason
    message     TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (deployment, revision)
);

CREATE TRIGGER deployment_revisions_immutable BEFORE UPDATE ON deployment_revisions
BEGIN SELECT RAISE(ABORT, 'deployment revisions are immutable'); END;

INSERT INTO deployment_revisions (deployment, revision, routing, settings, kind, detail, message, actor, at)
SELECT d.name, 1,
       json_object('routes', json_array(json_object(
           'target', m.name || CASE WHEN d.target_version IS NOT NULL THEN ':' || d.target_version ELSE '@' || d.target_alias END,
           'weight', 100,
           'version', d.version)),
         'shadow', json('null')),
       '{}', 'deploy', '{}', '', d.updated_by, d.updated_at
FROM deployments d JOIN models m ON m.id = d.model_id;

CREATE TABLE deployments_v2 (
    name        TEXT PRIMARY KEY,
    revision    INTEGER NOT NULL,            -- the current revision
    created_at  TEXT NOT NULL,
    FOREIGN KEY (name, revision) REFERENCES deployment_revisions(deployment, revision)
);
INSERT INTO deployments_v2 (name, revision, created_at) SELECT name, 1, created_at FROM deployments;
DROP TABLE deployments;
ALTER TABLE deployments_v2 RENAME TO deployments;
