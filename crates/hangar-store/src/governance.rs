//! The governance tables: teams, users and their roles, tokens, approvals,
//! signing keys and signatures, and the hash-chained audit log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hangar_core::governance::{AuditEntry, Decision, Role, GENESIS_HASH};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::db::SqliteStore;
use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{Missing, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    /// Argon2id PHC string; `None` for token-only users.
    pub password_hash: Option<String>,
    pub superuser: bool,
    pub memberships: Vec<(String, Role)>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRecord {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A credential. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    /// `api`, `session` or `consumer`.
    pub kind: String,
    pub user: Option<String>,
    pub secret_hash: String,
    pub name: String,
    pub deployments: Vec<String>,
    pub purpose: String,
    pub rate_limit: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub model: String,
    pub version: u32,
    pub digest: String,
    pub approved: bool,
    pub comment: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

impl ApprovalRecord {
    pub fn decision(&self) -> Decision {
        Decision {
            digest: self.digest.clone(),
            approved: self.approved,
            by: self.by.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub name: String,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    pub public_key: String,
    pub signature: String,
    pub created_at: DateTime<Utc>,
}

/// The fields of a new audit entry; the store numbers and chains it.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    pub actor: String,
    pub address: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub detail: String,
    /// The teams the entry concerns: their admins and approvers may read it
    /// (Hangar administrators read every entry). Not part of the hashed
    /// entry; an index of who may read it.
    pub teams: Vec<String>,
}

/// Filters of the audit listing; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Entries whose object starts with this.
    pub object: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries concerning one of these teams; `None`: every entry.
    pub teams: Option<Vec<String>>,
    pub limit: u32,
}

fn token_from_row(r: &SqliteRow) -> Result<TokenRecord, StoreError> {
    let opt_ts = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        r.try_get::<Option<String>, _>(col)?
            .map(|s| parse_ts(&s))
            .transpose()
    };
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
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        created_by: r.try_get("created_by")?,
        expires_at: opt_ts("expires_at")?,
        revoked_at: opt_ts("revoked_at")?,
        last_used_at: opt_ts("last_used_at")?,
    })
}

fn audit_from_row(r: &SqliteRow) -> Result<AuditEntry, StoreError> {
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

const TOKEN_COLUMNS: &str = "id, kind, user, secret_hash, name, deployments, purpose, rate_limit, \
     created_at, created_by, expires_at, revoked_at, last_used_at";
const AUDIT_COLUMNS: &str =
    "seq, at, actor, address, action, object, outcome, detail, prev_hash, hash";

fn conflict_or(e: sqlx::Error, what: String) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Taken(what),
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::NotFound(Missing::TeamOrUser(what))
        }
        other => other.into(),
    }
}

#[async_trait::async_trait]
impl crate::repo::Governance for SqliteStore {
    // ---- teams and users -------------------------------------------------

    async fn create_team(&self, name: &str, actor: &str) -> Result<TeamRecord, StoreError> {
        sqlx::query("INSERT INTO teams (name, created_at, created_by) VALUES (?, ?, ?)")
            .bind(name)
            .bind(ts(Utc::now()))
            .bind(actor)
            .execute(self.pool())
            .await
            .map_err(|e| conflict_or(e, format!("team '{name}' already exists")))?;
        self.list_teams()
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| StoreError::NotFound(Missing::Team(name.to_string())))
    }

    async fn list_teams(&self) -> Result<Vec<TeamRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, created_at, created_by FROM teams ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamRecord {
                    name: r.try_get("name")?,
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn team_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT 1 FROM teams WHERE name = ?")
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
            "INSERT INTO users (name, password_hash, superuser, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(password_hash)
        .bind(superuser)
        .bind(ts(Utc::now()))
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, format!("user '{name}' already exists")))?;
        for (team, role) in memberships {
            sqlx::query("INSERT OR IGNORE INTO memberships (user, team, role) VALUES (?, ?, ?)")
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
        sqlx::query("INSERT OR IGNORE INTO memberships (user, team, role) VALUES (?, ?, ?)")
            .bind(user)
            .bind(team)
            .bind(role.as_str())
            .execute(self.pool())
            .await
            .map_err(|e| conflict_or(e, format!("user '{user}' in team '{team}'")))?;
        self.get_user(user).await
    }

    async fn set_password(&self, user: &str, password_hash: &str) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE users SET password_hash = ? WHERE name = ?")
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
        let row = sqlx::query(
            "SELECT name, password_hash, superuser, created_at, created_by, disabled_at FROM users WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(Missing::User(name.to_string())))?;
        let roles =
            sqlx::query("SELECT team, role FROM memberships WHERE user = ? ORDER BY team, role")
                .bind(name)
                .fetch_all(self.pool())
                .await?;
        let mut memberships = Vec::with_capacity(roles.len());
        for r in &roles {
            let role: String = r.try_get("role")?;
            memberships.push((
                r.try_get::<String, _>("team")?,
                role.parse::<Role>()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            ));
        }
        Ok(UserRecord {
            name: row.try_get("name")?,
            password_hash: row.try_get("password_hash")?,
            superuser: row.try_get("superuser")?,
            memberships,
            created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
            created_by: row.try_get("created_by")?,
            disabled: row.try_get::<Option<String>, _>("disabled_at")?.is_some(),
        })
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM users ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            out.push(self.get_user(&n).await?);
        }
        Ok(out)
    }

    async fn has_superuser(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT 1 FROM users WHERE superuser = 1 LIMIT 1")
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    // ---- tokens ----------------------------------------------------------

    async fn create_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?"))
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
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE kind = ? AND (? IS NULL OR user = ?) ORDER BY created_at DESC"
        ))
        .bind(kind)
        .bind(user)
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<TokenRecord, StoreError> {
        let n = sqlx::query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
            .bind(ts(Utc::now()))
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(Missing::Token(id.to_string())));
        }
        self.get_token(id).await
    }

    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET last_used_at = ? WHERE id = ?")
            .bind(ts(at))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ---- ownership -------------------------------------------------------

    async fn model_team(&self, model: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT COALESCE(owner_team, 'default') FROM models WHERE name = ?",
        )
        .bind(model)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    async fn deployment_team(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT team FROM deployments WHERE name = ?")
                .bind(name)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn deployment_teams(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, team FROM deployments ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().collect())
    }

    // ---- approvals -------------------------------------------------------

    async fn add_decision(&self, a: &ApprovalRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO approvals (model, version, digest, decision, comment, by, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
            "SELECT model, version, digest, decision, comment, by, at FROM approvals \
             WHERE model = ? AND version = ? ORDER BY id",
        )
        .bind(model)
        .bind(i64::from(version))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApprovalRecord {
                    model: r.try_get("model")?,
                    version: r.try_get::<i64, _>("version")? as u32,
                    digest: r.try_get("digest")?,
                    approved: r.try_get::<String, _>("decision")? == "approved",
                    comment: r.try_get("comment")?,
                    by: r.try_get("by")?,
                    at: parse_ts(&r.try_get::<String, _>("at")?)?,
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
            "INSERT INTO trusted_keys (name, public_key, created_at, created_by) VALUES (?, ?, ?, ?)",
        )
        .bind(name)
        .bind(public_key)
        .bind(ts(now))
        .bind(actor)
        .execute(self.pool())
        .await
        .map_err(|e| conflict_or(e, format!("trusted key '{name}' (or its public key) already exists")))?;
        Ok(TrustedKey {
            name: name.into(),
            public_key: public_key.into(),
            created_at: now,
            created_by: actor.into(),
        })
    }

    async fn list_trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, public_key, created_at, created_by FROM trusted_keys ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrustedKey {
                    name: r.try_get("name")?,
                    public_key: r.try_get("public_key")?,
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
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
        sqlx::query(
            "INSERT OR REPLACE INTO version_signatures (model, version, public_key, signature, created_at) \
             VALUES (?, ?, ?, ?, ?)",
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
            "SELECT public_key, signature, created_at FROM version_signatures \
             WHERE model = ? AND version = ? ORDER BY public_key",
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
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
                })
            })
            .collect()
    }

    // ---- audit -----------------------------------------------------------

    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_string()));
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
            "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        for team in &e.teams {
            sqlx::query("INSERT OR IGNORE INTO audit_teams (team, seq) VALUES (?, ?)")
                .bind(team)
                .bind(entry.seq)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) \
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
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log \
             WHERE (? IS NULL OR actor = ?) AND (? IS NULL OR object = ? OR object LIKE ? ESCAPE '\\') \
             AND (? IS NULL OR at >= ?) AND (? IS NULL OR at < ?) \
             AND (? IS NULL OR seq IN (SELECT seq FROM audit_teams WHERE team IN (SELECT value FROM json_each(?)))) \
             ORDER BY seq DESC LIMIT ?"
        ))
        .bind(&f.actor)
        .bind(&f.actor)
        .bind(&f.object)
        .bind(&f.object)
        .bind(f.object.as_ref().map(|o| {
            format!(
                "{}/%",
                o.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
            )
        }))
        .bind(f.from.map(ts))
        .bind(f.from.map(ts))
        .bind(f.to.map(ts))
        .bind(f.to.map(ts))
        .bind(f.teams.as_ref().map(|_| 1))
        .bind(f.teams.as_ref().map(|t| serde_json::Value::from(t.clone()).to_string()))
        .bind(i64::from(f.limit.max(1)))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_chain(&self) -> Result<(Vec<AuditEntry>, Option<(i64, String)>), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"
        ))
        .fetch_all(self.pool())
        .await?;
        let entries = rows
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        Ok((entries, head))
    }
}
