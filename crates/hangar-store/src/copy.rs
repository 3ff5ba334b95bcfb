//! `hangar store copy`: moves an embedded install (the SQLite file and the
//! artifact files of a data directory) into PostgreSQL and another artifact
//! store, so that an install that started on one machine can grow.
//!
//! The row copy is generic: every table of the SQLite file is copied, column
//! for column, into the PostgreSQL table of the same name (the PostgreSQL
//! schema mirrors SQLite's by rule, see [`crate::postgres`]), with each value
//! bound by its SQLite storage class (INTEGER → i64, REAL → f64, TEXT →
//! String, BLOB → bytes, NULL) and cast to the target column's type. So a
//! table added to both backends is copied without touching this module.
//!
//! **Invariants.**
//! - The source is only read: the SQLite file is opened read-only, and read
//!   in one transaction (one snapshot, even if a server were still writing).
//! - The target is all or nothing: every row is inserted in one PostgreSQL
//!   transaction, in foreign-key order, and a target that already holds data
//!   is refused before anything is written ([`CopyError::TargetNotEmpty`]).
//! - Numbers continue: each identity column's sequence is moved past the
//!   largest copied id (and past SQLite's AUTOINCREMENT high-water mark), so
//!   the next event, approval or logged row gets the id SQLite would give.
//! - Rows are copied as they are: the audit log keeps its hashes, so the
//!   chain verifies on the target exactly as it did on the source.
//!
//! Artifacts ([`copy_artifacts`]) are copied before the rows by the caller,
//! so a row never names an artifact the target lacks: a copy that fails
//! halfway leaves at most some content-addressed files, which a retry
//! rewrites as the same bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use sqlx::postgres::PgPool;
use sqlx::Row;

use crate::{PostgresStore, StoreError};

/// The SQLite schema this build of Hangar writes: a source must be exactly
/// at its last migration for its tables to have the columns the target has.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Rows that the target's migrations write themselves, which an otherwise
/// empty target holds: the `default` team (SQLite's 0006, PostgreSQL's
/// 0002). They do not make the target count as holding data; they are
/// replaced by the source's own rows (its `default` team, with its creation
/// time) in the copy's transaction.
const SEEDED: &[(&str, &str)] = &[("teams", "name = 'default'")];

/// Why a copy was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{}: no Hangar database there (is --data-dir the server's data directory?)", path.display())]
    NoSource { path: PathBuf },
    #[error(
        "the source database is at migration {at}, this Hangar writes migration {expected}: \
         start this version's `hangar serve` on the data directory once (it upgrades the file), \
         stop it, then copy"
    )]
    SourceOlder { at: i64, expected: i64 },
    #[error(
        "the source database was written by a newer Hangar (migration {at}, this one knows up to \
         {expected}): copy it with that version"
    )]
    SourceNewer { at: i64, expected: i64 },
    #[error(
        "the target database is not empty: table '{table}' holds {rows} row(s). \
         `hangar store copy` only copies into an empty database"
    )]
    TargetNotEmpty { table: String, rows: i64 },
    /// The target lacks a table or column the source has: it is not a
    /// Hangar database of this version.
    #[error("the target database does not fit the source: {0}")]
    TargetSchema(String),
    /// A stored value the target column cannot hold as it is.
    #[error("table '{table}', column '{column}': {problem}")]
    Value {
        table: String,
        column: String,
        problem: String,
    },
    #[error("artifact URL {0:?}: {1}")]
    ArtifactTarget(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(e.into())
    }
}

impl From<rusqlite::Error> for CopyError {
    fn from(e: rusqlite::Error) -> Self {
        CopyError::Store(e.into())
    }
}

/// Where the row copy is: `done` of `total` rows of `table`. Reported once
/// when a table starts (done = 0) and after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    pub table: &'a str,
    pub done: u64,
    pub total: u64,
}

/// Where the artifact copy is: bytes and files done of the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactProgress {
    pub bytes: u64,
    pub total_bytes: u64,
    pub files: u64,
    pub total_files: u64,
}

/// What a copy wrote: rows per table, in the order they were copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

/// The kind of a target column, as far as binding a value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Integer,
    Float,
    Text,
    Bytes,
    /// Anything else (numeric, json, a timestamp …): bound as stored and
    /// cast by PostgreSQL.
    Other,
}

impl Kind {
    fn of(pg_type: &str) -> Kind {
        match pg_type {
            "boolean" => Kind::Bool,
            "bigint" | "integer" | "smallint" => Kind::Integer,
            "double precision" | "real" => Kind::Float,
            "bytea" => Kind::Bytes,
            t if t == "text" || t.starts_with("character") => Kind::Text,
            _ => Kind::Other,
        }
    }
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// PostgreSQL's name of the target column's type (`format_type`).
    pg_type: String,
    kind: Kind,
}

/// One table to copy.
#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    rows: u64,
}

/// A value as SQLite stores it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A copy that has checked its source and target and is ready to write:
/// [`plan`], then (the artifacts, then) [`Plan::copy_rows`].
pub struct Plan {
    source: Connection,
    target: PgPool,
    /// In foreign-key order.
    tables: Vec<Table>,
    /// SQLite's AUTOINCREMENT high-water marks (`sqlite_sequence`).
    high_water: HashMap<String, i64>,
    digests: BTreeSet<String>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("tables", &self.tables)
            .field("digests", &self.digests.len())
            .finish()
    }
}

/// `"name"`, quoted for SQLite and PostgreSQL alike (`user` is a reserved
/// word in PostgreSQL).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Copies the SQLite database at `source` into the PostgreSQL database at
/// `target_url` (migrating it first): [`plan`] then [`Plan::copy_rows`],
/// without artifacts.
pub async fn copy_database(
    source: &Path,
    target_url: &str,
    progress: impl FnMut(Progress<'_>),
) -> Result<CopyReport, CopyError> {
    plan(source, target_url).await?.copy_rows(progress).await
}

/// Opens the source read-only and checks it is at this build's schema,
/// connects to the target (applying its migrations), checks that the target
/// has every table and column of the source and holds no data, and orders
/// the tables by the target's foreign keys. Nothing is written yet.
pub async fn plan(source: &Path, target_url: &str) -> Result<Plan, CopyError> {
    let (conn, mut tables, high_water, digests) = {
        let source = source.to_path_buf();
        tokio::task::spawn_blocking(move || read_source(&source))
            .await
            .map_err(|e| StoreError::Invalid(format!("reading the source: {e}")))??
    };
    let target = PostgresStore::connect(target_url).await?.pool().clone();

    let pg_columns = target_columns(&target).await?;
    for table in &mut tables {
        let Some(columns) = pg_columns.get(&table.name) else {
            return Err(CopyError::TargetSchema(format!(
                "it has no table '{}'",
                table.name
            )));
        };
        for column in &mut table.columns {
            let Some(pg_type) = columns.get(&column.name) else {
                return Err(CopyError::TargetSchema(format!(
                    "its table '{}' has no column '{}'",
                    table.name, column.name
                )));
            };
            column.kind = Kind::of(pg_type);
            column.pg_type = pg_type.clone();
        }
    }
    let all: Vec<String> = pg_columns.keys().cloned().collect();
    check_empty(&target, &all).await?;
    let tables = in_foreign_key_order(&target, tables).await?;
    Ok(Plan {
        source: conn,
        target,
        tables,
        high_water,
        digests,
    })
}

type Source = (
    Connection,
    Vec<Table>,
    HashMap<String, i64>,
    BTreeSet<String>,
);

/// Opens the SQLite file read-only inside one read transaction and reads
/// what the plan needs: its tables, columns and row counts, its
/// AUTOINCREMENT marks and the artifacts its rows name.
fn read_source(path: &Path) -> Result<Source, CopyError> {
    if !path.is_file() {
        return Err(CopyError::NoSource {
            path: path.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // One snapshot for the counts now and the rows later.
    conn.execute_batch("BEGIN")?;

    let expected = SQLITE_MIGRATIONS
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let has_migrations: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !has_migrations {
        return Err(CopyError::NoSource {
            path: path.to_path_buf(),
        });
    }
    let at: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        [],
        |r| r.get(0),
    )?;
    if at < expected {
        return Err(CopyError::SourceOlder { at, expected });
    }
    if at > expected {
        return Err(CopyError::SourceNewer { at, expected });
    }

    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let columns = conn
            .prepare(&format!("PRAGMA table_info({})", quote(&name)))?
            .query_map([], |r| r.get::<_, String>(1))?
            .map(|c| {
                c.map(|name| Column {
                    name,
                    pg_type: String::new(),
                    kind: Kind::Other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rows: i64 =
            conn.query_row(&format!("SELECT COUNT(*) FROM {}", quote(&name)), [], |r| {
                r.get(0)
            })?;
        tables.push(Table {
            name,
            columns,
            rows: rows as u64,
        });
    }

    let mut high_water = HashMap::new();
    let has_sequence: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence')",
        [],
        |r| r.get(0),
    )?;
    if has_sequence {
        let mut stmt = conn.prepare("SELECT name, seq FROM sqlite_sequence")?;
        let marks = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for mark in marks {
            let (table, seq) = mark?;
            high_water.insert(table, seq);
        }
    }

    let digests = conn
        .prepare("SELECT digest FROM model_versions UNION SELECT digest FROM baselines")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok((conn, tables, high_water, digests))
}

/// Every table of the target's schema with its columns' types.
async fn target_columns(
    pool: &PgPool,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, CopyError> {
    let rows = sqlx::query(
        "SELECT c.relname AS table_name, a.attname AS column_name, \
                format_type(a.atttypid, a.atttypmod) AS column_type \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
           AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await?;
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        tables
            .entry(row.try_get("table_name")?)
            .or_default()
            .insert(row.try_get("column_name")?, row.try_get("column_type")?);
    }
    Ok(tables)
}

/// The rows of `table` that are not the migrations' own ([`SEEDED`]).
fn data_rows_sql(table: &str) -> String {
    match SEEDED.iter().find(|(t, _)| *t == table) {
        Some((_, seed)) => format!("SELECT COUNT(*) FROM {} WHERE NOT ({seed})", quote(table)),
        None => format!("SELECT COUNT(*) FROM {}", quote(table)),
    }
}

/// Refuses a target any of whose tables holds data (beyond [`SEEDED`]).
async fn check_empty(target: &PgPool, tables: &[String]) -> Result<(), CopyError> {
    for table in tables {
        let rows: i64 = sqlx::query_scalar(&data_rows_sql(table))
            .fetch_one(target)
            .await?;
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty {
                table: table.clone(),
                rows,
            });
        }
    }
    Ok(())
}

/// Orders the tables so that each comes after every table its foreign keys
/// (the target's, which are the ones enforced) point to; ties by name.
async fn in_foreign_key_order(pool: &PgPool, tables: Vec<Table>) -> Result<Vec<Table>, CopyError> {
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::TEXT, p.relname::TEXT FROM pg_constraint k \
         JOIN pg_class c ON c.oid = k.conrelid \
         JOIN pg_class p ON p.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE k.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await?;
    let order = topological(tables.iter().map(|t| t.name.clone()).collect(), &edges)
        .map_err(CopyError::TargetSchema)?;
    let mut by_name: HashMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    Ok(order
        .into_iter()
        .filter_map(|name| by_name.remove(&name))
        .collect())
}

/// Kahn's algorithm over `(child, parent)` edges: parents first, ties in
/// name order. Edges to tables outside `names`, and a table's references to
/// itself, are left out.
fn topological(names: BTreeSet<String>, edges: &[(String, String)]) -> Result<Vec<String>, String> {
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = names
        .iter()
        .map(|n| (n.as_str(), BTreeSet::new()))
        .collect();
    for (child, parent) in edges {
        if child != parent && names.contains(child) && names.contains(parent) {
            if let Some(p) = parents.get_mut(child.as_str()) {
                p.insert(parent.as_str());
            }
        }
    }
    let mut order = Vec::with_capacity(names.len());
    while !parents.is_empty() {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(_, p)| p.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = parents.keys().copied().collect();
            return Err(format!(
                "the foreign keys of tables {} form a cycle",
                stuck.join(", ")
            ));
        }
        for name in ready {
            parents.remove(name);
            for p in parents.values_mut() {
                p.remove(name);
            }
            order.push(name.to_string());
        }
    }
    Ok(order)
}

impl Plan {
    /// The artifacts the source's rows name (versions and baselines): what
    /// [`copy_artifacts`] must copy before the rows.
    pub fn digests(&self) -> Vec<String> {
        self.digests.iter().cloned().collect()
    }

    /// Rows per table to copy, in the order they will be copied.
    pub fn tables(&self) -> impl Iterator<Item = (&str, u64)> {
        self.tables.iter().map(|t| (t.name.as_str(), t.rows))
    }
}

mod artifacts;
mod rows;

pub use artifacts::{copy_artifacts, open_artifact_target};

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn edges(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn parents_come_first_and_ties_go_by_name() {
        let order = topological(
            names(&[
                "aliases",
                "model_versions",
                "models",
                "alert_deliveries",
                "alert_events",
            ]),
            &edges(&[
                ("aliases", "model_versions"),
                ("aliases", "models"),
                ("model_versions", "models"),
                ("alert_deliveries", "alert_events"),
                // Outside the copied set, and to itself: ignored.
                ("models", "elsewhere"),
                ("models", "models"),
            ]),
        )
        .unwrap();
        assert_eq!(
            order,
            vec![
                "alert_events",
                "models",
                "alert_deliveries",
                "model_versions",
                "aliases"
            ]
        );
    }

    #[test]
    fn a_cycle_is_refused_with_its_tables() {
        let err = topological(
            names(&["a", "b", "c"]),
            &edges(&[("a", "b"), ("b", "a"), ("c", "a")]),
        )
        .unwrap_err();
        assert_eq!(err, "the foreign keys of tables a, b, c form a cycle");
    }

    #[test]
    fn identifiers_are_quoted_for_both_databases() {
        assert_eq!(quote("user"), "\"user\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn column_kinds_follow_postgres_type_names() {
        for (t, k) in [
            ("bigint", Kind::Integer),
            ("integer", Kind::Integer),
            ("boolean", Kind::Bool),
            ("double precision", Kind::Float),
            ("text", Kind::Text),
            ("character varying(20)", Kind::Text),
            ("bytea", Kind::Bytes),
            ("jsonb", Kind::Other),
        ] {
            assert_eq!(Kind::of(t), k, "{t}");
        }
    }
}
