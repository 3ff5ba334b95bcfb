//! PostgreSQL: the governance tables — teams, users and their roles, tokens,
//! ownership lookups, approvals, signing keys and signatures, and the
//! hash-chained audit log. Same answers, errors and order as the SQLite
//! implementation (`crate::governance`), which is the reference.
//!
//! Two things SQLite gives for free are spelled out here:
//!
//! - **Byte order.** SQLite compares text bytewise; PostgreSQL uses the
//!   database's collation, which in most locales sorts `team-b` after
//!   `teama` and `Bob` after `alice`. Every ORDER BY and range comparison on
//!   text says `COLLATE "C"`, which is bytewise.
//! - **One writer for the audit chain.** SQLite's `BEGIN IMMEDIATE` lets one
//!   process append at a time. Here several Hangar processes share the
//!   database, so [`AUDIT_LOCK`] (a transaction-scoped advisory lock) is
//!   taken before the head is read: the number, the previous hash and the
//!   head's move happen under it, and it is released by the commit that
//!   makes them visible. A row lock on `audit_head` would not do: there is
//!   no row to lock before the first entry.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hangar_core::governance::{AuditEntry, Role, GENESIS_HASH};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{
    ApprovalRecord, AuditFilter, Missing, NewAuditEntry, SignatureRecord, StoreError, TeamRecord,
    TokenRecord, TrustedKey, UserRecord,
};

use super::PostgresStore;

/// The advisory lock key that serialises audit appends across every process
/// sharing the database ("hangaraudit" folded into 63 bits; any constant no
/// other lock of Hangar's uses would do).
const AUDIT_LOCK: i64 = 0x6861_6e67_6172_6175;

const TOKEN_COLUMNS: &str = r#"id, kind, "user", secret_hash, name, deployments, purpose, rate_limit,
     created_at, created_by, expires_at, revoked_at, last_used_at"#;
const AUDIT_COLUMNS: &str =
    "seq, at, actor, address, action, object, outcome, detail, prev_hash, hash";

/// ASCII upper and lower case, for `translate`: SQLite's LIKE (which the
/// audit listing's object prefix uses) folds ASCII letters and nothing
/// else, and PostgreSQL's ILIKE would fold every letter the locale knows.
const ASCII_UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ASCII_LOWER: &str = "abcdefghijklmnopqrstuvwxyz";

fn conflict_or(e: sqlx::Error, what: String) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Taken(what),
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::NotFound(Missing::TeamOrUser(what))
        }
        other => other.into(),
    }
}

fn opt_ts(r: &PgRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| parse_ts(&s))
        .transpose()
}

fn req_ts(r: &PgRow, col: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_ts(&r.try_get::<String, _>(col)?)
}

fn version_of(r: &PgRow) -> Result<u32, StoreError> {
    let v: i64 = r.try_get("version")?;
    u32::try_from(v).map_err(|_| StoreError::Invalid(format!("version number {v}")))
}

fn token_from_row(r: &PgRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        user: r.try_get("user")?,
        secret_hash: r.try_get("secret_hash")?,
        name: r.try_get("name")?,
        deployments: serde_json::from_str(&r.try_get::<String, _>("deployments")?)
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        purpose: r.try_get("purpose")?,
        rate_limit: r.try_get("rate_limit")?,
        created_at: req_ts(r, "created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: opt_ts(r, "expires_at")?,
        revoked_at: opt_ts(r, "revoked_at")?,
        last_used_at: opt_ts(r, "last_used_at")?,
    })
}

fn audit_from_row(r: &PgRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        address: r.try_get("address")?,
        action: r.try_get("action")?,
        object: r.try_get("object")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

fn team_from_row(r: &PgRow) -> Result<TeamRecord, StoreError> {
    Ok(TeamRecord {
        name: r.try_get("name")?,
        created_at: req_ts(r, "created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

fn role_of(r: &PgRow) -> Result<Role, StoreError> {
    r.try_get::<String, _>("role")?
        .parse::<Role>()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A user row with the memberships found for it.
fn user_from_row(r: &PgRow, memberships: Vec<(String, Role)>) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        name: r.try_get("name")?,
        password_hash: r.try_get("password_hash")?,
        superuser: r.try_get::<i64, _>("superuser")? != 0,
        memberships,
        created_at: req_ts(r, "created_at")?,
        created_by: r.try_get("created_by")?,
        disabled: r.try_get::<Option<String>, _>("disabled_at")?.is_some(),
    })
}

const USER_COLUMNS: &str = "name, password_hash, superuser, created_at, created_by, disabled_at";

#[async_trait::async_trait]
impl crate::repo::Governance for PostgresStore {
    // ---- teams and users -------------------------------------------------

    async fn create_team(&self, name: &str, actor: &str) -> Result<TeamRecord, StoreError> {
        let row = sqlx::query(
            "INSERT INTO teams (name, created_at, created_by) VALUES ($1, $2, $3) \
             RETURNING name, created_at, created_by",
        )
        .bind(name)
        .bind(ts(Utc::now()))
        .bind(actor)
        .fetch_one(self.pool())
        .await
        .map_err(|e| conflict_or(e, format!("team '{name}' already exists")))?;
        team_from_row(&row)
    }

    async fn list_teams(&self) -> Result<Vec<TeamRecord>, StoreError> {
        let rows = sqlx::query(
            r#"SELECT name, created_at, created_by FROM teams ORDER BY name COLLATE "C""#,
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(team_from_row).collect()
    }

    async fn team_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i32>("SELECT 1 FROM teams WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        superuser: bool,
        memberships: &[(String, Role)],
        actor: &str,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (name, password_hash, superuser, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(password_hash)
        .bind(i64::from(superuser))
        .bind(ts(Utc::now()))
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, format!("user '{name}' already exists")))?;
        for (team, role) in memberships {
            sqlx::query(
                r#"INSERT INTO memberships ("user", team, role) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING"#,
            )
            .bind(name)
            .bind(team)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, format!("user '{name}' in team '{team}'")))?;
        }
        tx.commit().await?;
        self.get_user(name).await
    }

    async fn add_membership(
        &self,
        user: &str,
        team: &str,
        role: Role,
    ) -> Result<UserRecord, StoreError> {
        sqlx::query(
            r#"INSERT INTO memberships ("user", team, role) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING"#,
        )
        .bind(user)
        .bind(team)
        .bind(role.as_str())
        .execute(self.pool())
        .await
        .map_err(|e| conflict_or(e, format!("user '{user}' in team '{team}'")))?;
        self.get_user(user).await
    }

    async fn set_password(&self, user: &str, password_hash: &str) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
            .bind(password_hash)
            .bind(user)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(Missing::User(user.to_string())));
        }
        Ok(())
    }

    async fn get_user(&self, name: &str) -> Result<UserRecord, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::User(name.to_string())))?;
        let roles = sqlx::query(
            r#"SELECT team, role FROM memberships WHERE "user" = $1
               ORDER BY team COLLATE "C", role COLLATE "C""#,
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        let memberships = roles
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("team")?, role_of(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        user_from_row(&row, memberships)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        // Two queries for any number of users (SQLite, in-process, reads
        // each user's roles on its own; over a network that is a round trip
        // per user).
        let mut tx = self.pool().begin().await?;
        let users = sqlx::query(&format!(
            r#"SELECT {USER_COLUMNS} FROM users ORDER BY name COLLATE "C""#
        ))
        .fetch_all(&mut *tx)
        .await?;
        let roles = sqlx::query(
            r#"SELECT "user", team, role FROM memberships
               ORDER BY "user" COLLATE "C", team COLLATE "C", role COLLATE "C""#,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut by_user: BTreeMap<String, Vec<(String, Role)>> = BTreeMap::new();
        for r in &roles {
            by_user
                .entry(r.try_get("user")?)
                .or_default()
                .push((r.try_get("team")?, role_of(r)?));
        }
        users
            .iter()
            .map(|u| {
                let name: String = u.try_get("name")?;
                user_from_row(u, by_user.remove(&name).unwrap_or_default())
            })
            .collect()
    }

    async fn has_superuser(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i32>("SELECT 1 FROM users WHERE superuser = 1 LIMIT 1")
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    // ---- tokens ----------------------------------------------------------

    async fn create_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO tokens ({TOKEN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&t.id)
        .bind(&t.kind)
        .bind(&t.user)
        .bind(&t.secret_hash)
        .bind(&t.name)
        .bind(serde_json::to_string(&t.deployments).unwrap_or_else(|_| "[]".into()))
        .bind(&t.purpose)
        .bind(t.rate_limit)
        .bind(ts(t.created_at))
        .bind(&t.created_by)
        .bind(t.expires_at.map(ts))
        .bind(t.revoked_at.map(ts))
        .bind(t.last_used_at.map(ts))
        .execute(self.pool())
        .await
        .map_err(|e| conflict_or(e, format!("token '{}'", t.id)))?;
        Ok(())
    }

    async fn get_token(&self, id: &str) -> Result<TokenRecord, StoreError> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Token(id.to_string())))?;
        token_from_row(&row)
    }

    async fn list_tokens(
        &self,
        kind: &str,
        user: Option<&str>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            r#"SELECT {TOKEN_COLUMNS} FROM tokens
               WHERE kind = $1 AND ($2::text IS NULL OR "user" = $2)
               ORDER BY created_at COLLATE "C" DESC"#
        ))
        .bind(kind)
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<TokenRecord, StoreError> {
        // A second revocation keeps the first time (COALESCE), as on SQLite.
        let row = sqlx::query(&format!(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 \
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(ts(Utc::now()))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(Missing::Token(id.to_string())))?;
        token_from_row(&row)
    }

    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
            .bind(ts(at))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ---- ownership -------------------------------------------------------
    // These read the registry's tables (0001_registry.sql).

    async fn model_team(&self, model: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT COALESCE(owner_team, 'default') FROM models WHERE name = $1",
        )
        .bind(model)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    async fn deployment_team(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT team FROM deployments WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn deployment_teams(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, team FROM deployments")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().collect())
    }

    // ---- approvals -------------------------------------------------------

    async fn add_decision(&self, a: &ApprovalRecord) -> Result<(), StoreError> {
        sqlx::query(
            r#"INSERT INTO approvals (model, version, digest, decision, comment, "by", at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        )
        .bind(&a.model)
        .bind(i64::from(a.version))
        .bind(&a.digest)
        .bind(if a.approved { "approved" } else { "rejected" })
        .bind(&a.comment)
        .bind(&a.by)
        .bind(ts(a.at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn decisions(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows = sqlx::query(
            r#"SELECT model, version, digest, decision, comment, "by", at FROM approvals
               WHERE model = $1 AND version = $2 ORDER BY id"#,
        )
        .bind(model)
        .bind(i64::from(version))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApprovalRecord {
                    model: r.try_get("model")?,
                    version: version_of(r)?,
                    digest: r.try_get("digest")?,
                    approved: r.try_get::<String, _>("decision")? == "approved",
                    comment: r.try_get("comment")?,
                    by: r.try_get("by")?,
                    at: req_ts(r, "at")?,
                })
            })
            .collect()
    }

    // ---- signing ---------------------------------------------------------

    async fn add_trusted_key(
        &self,
        name: &str,
        public_key: &str,
        actor: &str,
    ) -> Result<TrustedKey, StoreError> {
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO trusted_keys (name, public_key, created_at, created_by) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(public_key)
        .bind(ts(now))
        .bind(actor)
        .execute(self.pool())
        .await
        .map_err(|e| {
            conflict_or(
                e,
                format!("trusted key '{name}' (or its public key) already exists"),
            )
        })?;
        Ok(TrustedKey {
            name: name.into(),
            public_key: public_key.into(),
            created_at: now,
            created_by: actor.into(),
        })
    }

    async fn list_trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        let rows = sqlx::query(
            r#"SELECT name, public_key, created_at, created_by FROM trusted_keys
               ORDER BY name COLLATE "C""#,
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrustedKey {
                    name: r.try_get("name")?,
                    public_key: r.try_get("public_key")?,
                    created_at: req_ts(r, "created_at")?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn add_signature(
        &self,
        model: &str,
        version: u32,
        public_key: &str,
        signature: &str,
    ) -> Result<(), StoreError> {
        // SQLite's INSERT OR REPLACE: a key signing again replaces its
        // signature and time.
        sqlx::query(
            "INSERT INTO version_signatures (model, version, public_key, signature, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (model, version, public_key) \
             DO UPDATE SET signature = excluded.signature, created_at = excluded.created_at",
        )
        .bind(model)
        .bind(i64::from(version))
        .bind(public_key)
        .bind(signature)
        .bind(ts(Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn signatures(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Vec<SignatureRecord>, StoreError> {
        let rows = sqlx::query(
            r#"SELECT public_key, signature, created_at FROM version_signatures
               WHERE model = $1 AND version = $2 ORDER BY public_key COLLATE "C""#,
        )
        .bind(model)
        .bind(i64::from(version))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignatureRecord {
                    public_key: r.try_get("public_key")?,
                    signature: r.try_get("signature")?,
                    created_at: req_ts(r, "created_at")?,
                })
            })
            .collect()
    }

    // ---- audit -----------------------------------------------------------

    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = self.pool().begin().await?;
        // Held until the commit: no other process reads the head until this
        // entry and the moved head are visible (see the module doc).
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK)
            .execute(&mut *tx)
            .await?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_string()));
        // The time is taken under the lock, so times rise with numbers as
        // far as the processes' clocks agree.
        let mut entry = AuditEntry {
            seq: prev_seq + 1,
            at: ts(Utc::now()),
            actor: e.actor.clone(),
            address: e.address.clone(),
            action: e.action.clone(),
            object: e.object.clone(),
            outcome: e.outcome.clone(),
            detail: e.detail.clone(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        sqlx::query(&format!(
            "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(entry.seq)
        .bind(&entry.at)
        .bind(&entry.actor)
        .bind(&entry.address)
        .bind(&entry.action)
        .bind(&entry.object)
        .bind(&entry.outcome)
        .bind(&entry.detail)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .execute(&mut *tx)
        .await?;
        if !e.teams.is_empty() {
            sqlx::query(
                "INSERT INTO audit_teams (team, seq) SELECT DISTINCT t, $2 FROM UNNEST($1::text[]) AS t \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&e.teams)
            .bind(entry.seq)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(entry.seq)
        .bind(&entry.hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(entry)
    }

    async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        // The object filter is the object itself or anything under it
        // (`models/credit` finds `models/credit/versions/3`); the prefix is
        // matched as SQLite's LIKE matches it, ASCII letters in either case.
        let under = f.object.as_ref().map(|o| {
            format!(
                "{}/%",
                o.to_ascii_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        let rows = sqlx::query(&format!(
            r#"SELECT {AUDIT_COLUMNS} FROM audit_log
               WHERE ($1::text IS NULL OR actor = $1)
               AND ($2::text IS NULL OR object = $2
                    OR translate(object, '{ASCII_UPPER}', '{ASCII_LOWER}') LIKE $3 ESCAPE '\')
               AND ($4::text IS NULL OR at COLLATE "C" >= $4)
               AND ($5::text IS NULL OR at COLLATE "C" < $5)
               AND ($6::text[] IS NULL OR seq IN (SELECT seq FROM audit_teams WHERE team = ANY($6)))
               ORDER BY seq DESC LIMIT $7"#
        ))
        .bind(&f.actor)
        .bind(&f.object)
        .bind(under)
        .bind(f.from.map(ts))
        .bind(f.to.map(ts))
        .bind(&f.teams)
        .bind(i64::from(f.limit.max(1)))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_chain(&self) -> Result<(Vec<AuditEntry>, Option<(i64, String)>), StoreError> {
        // One snapshot for both reads: an append between them would
        // otherwise show a head past the last entry read (a false
        // "truncated").
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let entries = rows
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok((entries, head))
    }
}
