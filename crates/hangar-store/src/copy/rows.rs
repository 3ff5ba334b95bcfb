//! The row copy itself: a reader thread walks the SQLite tables in batches,
//! and each batch becomes one multi-row INSERT in the copy's transaction;
//! then the identity sequences are moved past the copied ids.

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::{
    data_rows_sql, quote, CopyError, CopyReport, Kind, Plan, Progress, Table, Value, SEEDED,
};
use crate::StoreError;

/// Rows per INSERT statement at most (fewer for wide tables: PostgreSQL
/// takes at most 65 535 parameters per statement).
const BATCH_ROWS: usize = 1000;
const MAX_PARAMETERS: usize = 65_535;
/// Batches read ahead of the inserts: the SQLite reader runs on its own
/// thread, at most this many batches in front, so memory stays bounded
/// however long the prediction log is.
const READ_AHEAD: usize = 2;

impl Plan {
    /// Copies every row in one transaction, then moves the identity
    /// sequences past the copied ids, and commits. The target is checked
    /// for data again inside the transaction.
    pub async fn copy_rows(
        self,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<CopyReport, CopyError> {
        let Plan {
            source,
            target,
            tables,
            high_water,
            ..
        } = self;
        let mut tx = target.begin().await?;
        // Another process may have written since the plan was made.
        for table in &tables {
            let rows: i64 = sqlx::query_scalar(&data_rows_sql(&table.name))
                .fetch_one(&mut *tx)
                .await?;
            if rows > 0 {
                return Err(CopyError::TargetNotEmpty {
                    table: table.name.clone(),
                    rows,
                });
            }
        }
        for (table, seed) in SEEDED {
            if tables.iter().any(|t| t.name == *table) {
                sqlx::query(&format!("DELETE FROM {} WHERE {seed}", quote(table)))
                    .execute(&mut *tx)
                    .await?;
            }
        }

        // The reader: its own thread, a bounded channel of batches.
        let (send, mut batches) = tokio::sync::mpsc::channel(READ_AHEAD);
        let plan_tables = tables.clone();
        let reader = tokio::task::spawn_blocking(move || read_rows(source, &plan_tables, send));

        let mut report = CopyReport::default();
        for (index, table) in tables.iter().enumerate() {
            progress(Progress {
                table: &table.name,
                done: 0,
                total: table.rows,
            });
            let mut done = 0u64;
            if table.rows > 0 {
                loop {
                    let batch = match batches.recv().await {
                        Some(batch) => batch?,
                        None => break,
                    };
                    let Batch { table: of, rows } = batch;
                    if of != index {
                        return Err(StoreError::Invalid(format!(
                            "the reader sent rows of another table than '{}'",
                            table.name
                        ))
                        .into());
                    }
                    if rows.is_empty() {
                        break;
                    }
                    insert(&mut tx, table, &rows).await?;
                    done += rows.len() as u64;
                    progress(Progress {
                        table: &table.name,
                        done,
                        total: table.rows,
                    });
                }
            }
            // The reader reads the snapshot the rows were counted in, so
            // anything else means it stopped early: nothing is committed.
            if done != table.rows {
                return Err(StoreError::Invalid(format!(
                    "table '{}': read {done} of its {} rows",
                    table.name, table.rows
                ))
                .into());
            }
            report.tables.push((table.name.clone(), done));
        }
        drop(batches);
        reader
            .await
            .map_err(|e| StoreError::Invalid(format!("reading the source: {e}")))?;

        for table in &tables {
            reset_sequences(&mut tx, table, high_water.get(&table.name).copied()).await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// Rows of the table at `table` (an index into the plan's tables); an
/// empty batch ends a table.
struct Batch {
    table: usize,
    rows: Vec<Vec<Value>>,
}

fn batch_rows(columns: usize) -> usize {
    (MAX_PARAMETERS / columns.max(1)).clamp(1, BATCH_ROWS)
}

/// The reader's side: every table's rows in batches, each table ended by an
/// empty batch. Stops quietly when the writer has gone (it failed).
fn read_rows(
    conn: Connection,
    tables: &[Table],
    send: tokio::sync::mpsc::Sender<Result<Batch, CopyError>>,
) {
    let read = |index: usize, table: &Table| -> Result<bool, CopyError> {
        if table.rows == 0 {
            return Ok(true);
        }
        let columns = table
            .columns
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = conn.prepare(&format!("SELECT {columns} FROM {}", quote(&table.name)))?;
        let mut rows = stmt.query([])?;
        let per_batch = batch_rows(table.columns.len());
        let mut batch = Vec::with_capacity(per_batch);
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(table.columns.len());
            for (i, column) in table.columns.iter().enumerate() {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Integer(n),
                    ValueRef::Real(x) => Value::Real(x),
                    ValueRef::Text(t) => {
                        Value::Text(String::from_utf8(t.to_vec()).map_err(|_| {
                            CopyError::Value {
                                table: table.name.clone(),
                                column: column.name.clone(),
                                problem: "text that is not UTF-8".into(),
                            }
                        })?)
                    }
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            batch.push(values);
            if batch.len() == per_batch {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(per_batch));
                if send
                    .blocking_send(Ok(Batch {
                        table: index,
                        rows: full,
                    }))
                    .is_err()
                {
                    return Ok(false);
                }
            }
        }
        if !batch.is_empty()
            && send
                .blocking_send(Ok(Batch {
                    table: index,
                    rows: batch,
                }))
                .is_err()
        {
            return Ok(false);
        }
        Ok(send
            .blocking_send(Ok(Batch {
                table: index,
                rows: Vec::new(),
            }))
            .is_ok())
    };
    for (index, table) in tables.iter().enumerate() {
        match read(index, table) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let _ = send.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// One multi-row INSERT of a batch, each value cast to its column's type.
async fn insert(
    tx: &mut sqlx::PgConnection,
    table: &Table,
    rows: &[Vec<Value>],
) -> Result<(), CopyError> {
    let columns = table
        .columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!(
        "INSERT INTO {} ({columns}) OVERRIDING SYSTEM VALUE VALUES ",
        quote(&table.name)
    );
    let mut n = 0;
    for (r, _) in rows.iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (c, column) in table.columns.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push_str(&format!("CAST(${n} AS {})", column.pg_type));
        }
        sql.push(')');
    }
    let mut query = sqlx::query(&sql);
    for row in rows {
        for (value, column) in row.iter().zip(&table.columns) {
            let problem = |problem: &str| CopyError::Value {
                table: table.name.clone(),
                column: column.name.clone(),
                problem: problem.to_string(),
            };
            query = match (value, column.kind) {
                // Text casts to any type, so a NULL goes as text.
                (Value::Null, _) => query.bind(None::<String>),
                (Value::Integer(i), Kind::Bool) => query.bind(*i != 0),
                (Value::Integer(i), _) => query.bind(*i),
                (Value::Real(x), Kind::Integer) if x.fract() != 0.0 => {
                    return Err(problem(&format!(
                        "{x} is not a whole number and the target column is {}",
                        column.pg_type
                    )))
                }
                (Value::Real(x), _) => query.bind(*x),
                (Value::Text(_), Kind::Bytes) => {
                    return Err(problem("text where the target column is bytea"))
                }
                (Value::Text(t), _) => query.bind(t.clone()),
                (Value::Blob(b), Kind::Bytes) => query.bind(b.clone()),
                (Value::Blob(_), _) => {
                    return Err(problem(&format!(
                        "a BLOB where the target column is {}",
                        column.pg_type
                    )))
                }
            };
        }
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Moves each sequence-backed column's sequence (identity or serial) of
/// `table` past its largest copied value and SQLite's AUTOINCREMENT mark,
/// so the next generated id is the one SQLite would have given.
async fn reset_sequences(
    tx: &mut sqlx::PgConnection,
    table: &Table,
    high_water: Option<i64>,
) -> Result<(), CopyError> {
    for column in &table.columns {
        let sequence: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
            .bind(quote(&table.name))
            .bind(&column.name)
            .fetch_one(&mut *tx)
            .await?;
        let Some(sequence) = sequence else { continue };
        let max: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MAX({})::BIGINT FROM {}",
            quote(&column.name),
            quote(&table.name)
        ))
        .fetch_one(&mut *tx)
        .await?;
        let Some(last) = max.into_iter().chain(high_water).max() else {
            continue;
        };
        sqlx::query("SELECT setval($1::regclass, $2)")
            .bind(&sequence)
            .bind(last)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_under_postgres_parameter_limit() {
        for (columns, rows) in [(1, 1000), (18, 1000), (100, 655), (70_000, 1)] {
            assert_eq!(batch_rows(columns), rows, "{columns} columns");
            assert!(rows * columns <= MAX_PARAMETERS || rows == 1);
        }
    }
}
