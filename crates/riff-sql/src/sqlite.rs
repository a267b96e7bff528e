//! The embedded backend: each database label is one SQLite file (WAL mode, so readers never wait
//! for the writer), reached through sqlx.
//!
//! Transactions begin with `BEGIN IMMEDIATE` on a connection of their own: each holds SQLite's
//! write lock from the start, so concurrent transactions never interleave (a second one waits,
//! up to the busy timeout, then gets [`SqlError::Busy`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use serde::Deserialize;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Column, Executor, Row, SqlitePool, Statement, TypeInfo, ValueRef};

use crate::{DatabaseContext, MakeSqlDatabase, SqlBackend, SqlError, SqlOutcome, SqlTransaction, SqlValue};

/// One labelled SQLite database.
pub struct SqliteDatabase {
    pool: SqlitePool,
}

impl SqliteDatabase {
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let pool = riff_core::sqlite::open_pool(path, 4, "database").await?;
        Ok(Self { pool })
    }
}

/// SQLite's lock-timeout result codes: `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6), with their
/// extended codes (the low byte is the primary code).
fn is_busy(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

fn error(e: sqlx::Error) -> SqlError {
    SqlError::from_sqlx(e, is_busy)
}

#[async_trait]
impl SqlBackend for SqliteDatabase {
    async fn execute(&self, statement: &str, params: Vec<SqlValue>) -> Result<SqlOutcome, SqlError> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        run(&mut conn, statement, params).await
    }

    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, SqlError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        Ok(Box::new(SqliteTransaction { tx }))
    }
}

/// An open SQLite transaction; sqlx rolls it back when dropped uncommitted.
pub struct SqliteTransaction {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
}

#[async_trait]
impl SqlTransaction for SqliteTransaction {
    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<SqlOutcome, SqlError> {
        run(&mut self.tx, statement, params).await
    }

    async fn commit(self: Box<Self>) -> Result<(), SqlError> {
        self.tx.commit().await.map_err(error)
    }

    async fn rollback(self: Box<Self>) -> Result<(), SqlError> {
        self.tx.rollback().await.map_err(error)
    }
}

/// Run one statement with bound parameters on `conn`.
async fn run(
    conn: &mut sqlx::SqliteConnection,
    statement: &str,
    params: Vec<SqlValue>,
) -> Result<SqlOutcome, SqlError> {
    let mut args = SqliteArguments::default();
    for p in params {
        let added = match p {
            SqlValue::Integer(i) => args.add(i),
            SqlValue::Real(f) => args.add(f),
            SqlValue::Text(s) => args.add(s),
            SqlValue::Blob(b) => args.add(b),
            SqlValue::Null => args.add(Option::<i64>::None),
        };
        added.map_err(|e| SqlError::Statement(e.to_string()))?;
    }
    let mut outcome = SqlOutcome::default();
    {
        // `fetch_many` yields rows *and* the statement's counters in one round trip to
        // SQLite's worker thread. It is deprecated only for multi-statement strings, which
        // Spin's interface does not promise either.
        #[allow(deprecated)]
        let mut stream = sqlx::query_with(statement, args).fetch_many(&mut *conn);
        while let Some(item) = stream.try_next().await.map_err(error)? {
            match item {
                sqlx::Either::Left(done) => {
                    outcome.rows_affected += done.rows_affected();
                    outcome.last_insert_rowid = done.last_insert_rowid();
                }
                sqlx::Either::Right(row) => {
                    if outcome.columns.is_empty() {
                        outcome.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    outcome.rows.push(read_row(&row)?);
                }
            }
        }
    }
    if outcome.rows.is_empty() && may_return_rows(statement) {
        // No row to read column names from: ask the (cached) prepared statement.
        if let Ok(stmt) = (&mut *conn).prepare(statement).await {
            outcome.columns = stmt.columns().iter().map(|c| c.name().to_string()).collect();
        }
    }
    Ok(outcome)
}

/// Whether a statement can produce a result set, so an empty one still needs column names.
/// Writes and schema changes cannot, which saves them a second round trip to SQLite.
fn may_return_rows(statement: &str) -> bool {
    let first = statement.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    let reads =
        ["SELECT", "WITH", "VALUES", "PRAGMA", "EXPLAIN"].iter().any(|k| first.eq_ignore_ascii_case(k));
    reads || statement.to_ascii_uppercase().contains("RETURNING")
}

fn read_row(row: &SqliteRow) -> Result<Vec<SqlValue>, SqlError> {
    let decode = |e: sqlx::Error| SqlError::Statement(e.to_string());
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let kind = raw.type_info().name().to_string();
            let value = match kind.as_str() {
                "INTEGER" => SqlValue::Integer(row.try_get_unchecked(i).map_err(decode)?),
                "REAL" => SqlValue::Real(row.try_get_unchecked(i).map_err(decode)?),
                "BLOB" => SqlValue::Blob(row.try_get_unchecked(i).map_err(decode)?),
                _ => SqlValue::Text(row.try_get_unchecked(i).map_err(decode)?),
            };
            Ok(value)
        })
        .collect()
}

/// `type = "spin"` (or `"sqlite"`): `path` is optional, relative to the runtime config's directory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteDatabaseConfig {
    pub path: Option<PathBuf>,
}

/// Makes [`SqliteDatabase`]s: the default backend of every label.
pub struct MakeSqliteDatabase;

#[async_trait]
impl MakeSqlDatabase for MakeSqliteDatabase {
    const TYPES: &'static [&'static str] = &["spin", "sqlite"];
    type Config = SqliteDatabaseConfig;

    async fn make_database(
        &self,
        config: SqliteDatabaseConfig,
        context: &DatabaseContext,
    ) -> anyhow::Result<Arc<dyn SqlBackend>> {
        let path = match config.path {
            Some(path) => context.config_dir.join(path),
            None => context.default_path.clone(),
        };
        Ok(Arc::new(SqliteDatabase::open(&path).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_may_return_rows() {
        assert!(may_return_rows("  select 1"));
        assert!(may_return_rows("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(may_return_rows("insert into t values (1) returning id"));
        assert!(!may_return_rows("INSERT INTO t VALUES (1)"));
        assert!(!may_return_rows("CREATE TABLE t (a)"));
    }

    #[test]
    fn busy_codes() {
        assert!(is_busy("5") && is_busy("6") && is_busy("517") && is_busy("261"));
        assert!(!is_busy("19") && !is_busy("2067") && !is_busy("not a number"));
    }

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(SqliteDatabase::open(&dir.path().join("t.db")).await.unwrap());
        crate::conformance::check(db).await;
    }
}
