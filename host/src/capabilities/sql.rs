//! SQL: `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0`, backed by SQLite through sqlx.
//!
//! Each database label is one SQLite file (WAL mode, so readers never wait for the writer).
//! Statements run exactly as the guest wrote them with its parameters *bound*, never spliced into
//! the SQL text, so a parameter cannot change what a statement does.
//!
//! Access control mirrors key-value: a component opens only its `sqlite_databases`; any other
//! label gives `access-denied`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use futures::TryStreamExt;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Column, Executor, Row, SqlitePool, Statement, TypeInfo, ValueRef};
use wasmtime::component::Resource;

use super::bindings::fermyon::spin::sqlite as v2;
use super::bindings::spin::sqlite::sqlite as v3;
use crate::state::RequestState;

/// A value crossing the SQL boundary, independent of interface version.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

/// Rows (and counters) a statement produced.
#[derive(Debug, Default, PartialEq)]
pub struct SqlOutcome {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlValue>>,
    pub rows_affected: u64,
    pub last_insert_rowid: i64,
}

/// One labelled database.
pub struct SqlDatabase {
    pool: SqlitePool,
}

impl SqlDatabase {
    pub async fn open(path: &Path) -> Result<Self> {
        let pool = crate::sqlite::open_pool(path, 4, "database").await?;
        Ok(Self { pool })
    }

    /// Run one statement with bound parameters.
    pub async fn execute(&self, statement: &str, params: Vec<SqlValue>) -> Result<SqlOutcome, String> {
        let mut conn = self.pool.acquire().await.map_err(|e| e.to_string())?;
        run(&mut conn, statement, params).await
    }

    /// Begin a transaction (`BEGIN IMMEDIATE`: it takes the write lock at once, so two
    /// transactions never interleave their writes). Dropping it uncommitted rolls it back.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, String> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(describe_error)
    }
}

/// Run one statement with bound parameters on `conn`.
pub async fn run(
    conn: &mut sqlx::SqliteConnection,
    statement: &str,
    params: Vec<SqlValue>,
) -> Result<SqlOutcome, String> {
    let mut args = SqliteArguments::default();
    for p in params {
        let added = match p {
            SqlValue::Integer(i) => args.add(i),
            SqlValue::Real(f) => args.add(f),
            SqlValue::Text(s) => args.add(s),
            SqlValue::Blob(b) => args.add(b),
            SqlValue::Null => args.add(Option::<i64>::None),
        };
        added.map_err(|e| e.to_string())?;
    }
    let mut outcome = SqlOutcome::default();
    {
        // `fetch_many` yields rows *and* the statement's counters in one round trip to
        // SQLite's worker thread. It is deprecated only for multi-statement strings, which
        // Spin's interface does not promise either.
        #[allow(deprecated)]
        let mut stream = sqlx::query_with(statement, args).fetch_many(&mut *conn);
        while let Some(item) = stream.try_next().await.map_err(describe_error)? {
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

pub fn describe_error(e: sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

fn read_row(row: &SqliteRow) -> Result<Vec<SqlValue>, String> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let kind = raw.type_info().name().to_string();
            let value = match kind.as_str() {
                "INTEGER" => SqlValue::Integer(row.try_get_unchecked(i).map_err(|e| e.to_string())?),
                "REAL" => SqlValue::Real(row.try_get_unchecked(i).map_err(|e| e.to_string())?),
                "BLOB" => SqlValue::Blob(row.try_get_unchecked(i).map_err(|e| e.to_string())?),
                _ => SqlValue::Text(row.try_get_unchecked(i).map_err(|e| e.to_string())?),
            };
            Ok(value)
        })
        .collect()
}

/// All databases of an app, by label.
#[derive(Default, Clone)]
pub struct SqlDatabases {
    databases: HashMap<String, Arc<SqlDatabase>>,
}

impl SqlDatabases {
    pub fn insert(&mut self, label: String, db: Arc<SqlDatabase>) {
        self.databases.insert(label, db);
    }

    pub fn get(&self, label: &str) -> Option<&Arc<SqlDatabase>> {
        self.databases.get(label)
    }

    pub fn contains(&self, label: &str) -> bool {
        self.databases.contains_key(label)
    }
}

/// An open connection resource (both interface versions).
pub struct SqlConnection {
    db: Arc<SqlDatabase>,
    last_insert_rowid: i64,
    changes: u64,
}

pub enum OpenError {
    AccessDenied,
}

impl RequestState {
    /// The database labelled `label`, if this component is granted it.
    pub fn granted_database(&self, label: &str) -> Result<Arc<SqlDatabase>, OpenError> {
        let runtime = &self.component;
        match runtime.sql_databases.get(label) {
            Some(db) => Ok(db.clone()),
            None => Err(OpenError::AccessDenied),
        }
    }

    fn open_sql(&mut self, label: &str) -> Result<Resource<SqlConnection>, OpenError> {
        let db = self.granted_database(label)?;
        // A full resource table is the only failure here; report it as an access problem.
        self.table
            .push(SqlConnection { db, last_insert_rowid: 0, changes: 0 })
            .map_err(|_| OpenError::AccessDenied)
    }

    async fn run_sql(
        &mut self,
        conn: &Resource<SqlConnection>,
        statement: &str,
        params: Vec<SqlValue>,
    ) -> wasmtime::Result<Result<SqlOutcome, String>> {
        let db = self.table.get(conn)?.db.clone();
        let result = db.execute(statement, params).await;
        if let Ok(outcome) = &result {
            let c = self.table.get_mut(conn)?;
            c.changes = outcome.rows_affected;
            if outcome.rows_affected > 0 {
                c.last_insert_rowid = outcome.last_insert_rowid;
            }
        }
        Ok(result)
    }
}

// --- fermyon:spin/sqlite@2.0.0 ---------------------------------------------------------------

fn from_v2(v: v2::Value) -> SqlValue {
    match v {
        v2::Value::Integer(i) => SqlValue::Integer(i),
        v2::Value::Real(f) => SqlValue::Real(f),
        v2::Value::Text(s) => SqlValue::Text(s),
        v2::Value::Blob(b) => SqlValue::Blob(b),
        v2::Value::Null => SqlValue::Null,
    }
}

fn to_v2(v: SqlValue) -> v2::Value {
    match v {
        SqlValue::Integer(i) => v2::Value::Integer(i),
        SqlValue::Real(f) => v2::Value::Real(f),
        SqlValue::Text(s) => v2::Value::Text(s),
        SqlValue::Blob(b) => v2::Value::Blob(b),
        SqlValue::Null => v2::Value::Null,
    }
}

impl v2::Host for RequestState {}

impl v2::HostConnection for RequestState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConnection>, v2::Error>> {
        Ok(self.open_sql(&database).map_err(|e| match e {
            OpenError::AccessDenied => v2::Error::AccessDenied,
        }))
    }

    async fn execute(
        &mut self,
        conn: Resource<SqlConnection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> wasmtime::Result<Result<v2::QueryResult, v2::Error>> {
        let params = parameters.into_iter().map(from_v2).collect();
        Ok(self.run_sql(&conn, &statement, params).await?.map_err(v2::Error::Io).map(|o| v2::QueryResult {
            columns: o.columns,
            rows: o
                .rows
                .into_iter()
                .map(|r| v2::RowResult { values: r.into_iter().map(to_v2).collect() })
                .collect(),
        }))
    }

    async fn drop(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

// --- spin:sqlite/sqlite@3.0.0 ----------------------------------------------------------------

fn from_v3(v: v3::Value) -> SqlValue {
    match v {
        v3::Value::Integer(i) => SqlValue::Integer(i),
        v3::Value::Real(f) => SqlValue::Real(f),
        v3::Value::Text(s) => SqlValue::Text(s),
        v3::Value::Blob(b) => SqlValue::Blob(b),
        v3::Value::Null => SqlValue::Null,
    }
}

fn to_v3(v: SqlValue) -> v3::Value {
    match v {
        SqlValue::Integer(i) => v3::Value::Integer(i),
        SqlValue::Real(f) => v3::Value::Real(f),
        SqlValue::Text(s) => v3::Value::Text(s),
        SqlValue::Blob(b) => v3::Value::Blob(b),
        SqlValue::Null => v3::Value::Null,
    }
}

impl v3::Host for RequestState {}

impl v3::HostConnection for RequestState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConnection>, v3::Error>> {
        Ok(self.open_sql(&database).map_err(|e| match e {
            OpenError::AccessDenied => v3::Error::AccessDenied,
        }))
    }

    async fn execute(
        &mut self,
        conn: Resource<SqlConnection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<Result<v3::QueryResult, v3::Error>> {
        let params = parameters.into_iter().map(from_v3).collect();
        Ok(self.run_sql(&conn, &statement, params).await?.map_err(v3::Error::Io).map(|o| v3::QueryResult {
            columns: o.columns,
            rows: o
                .rows
                .into_iter()
                .map(|r| v3::RowResult { values: r.into_iter().map(to_v3).collect() })
                .collect(),
        }))
    }

    async fn last_insert_rowid(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&conn)?.last_insert_rowid)
    }

    async fn changes(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&conn)?.changes)
    }

    async fn drop(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
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

    #[tokio::test]
    async fn every_value_type_round_trips_and_parameters_stay_data() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqlDatabase::open(&dir.path().join("t.db")).await.unwrap();
        db.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)", vec![]).await.unwrap();
        let values = vec![
            SqlValue::Integer(-7),
            SqlValue::Real(2.5),
            SqlValue::Text("x'); DROP TABLE t; --".into()),
            SqlValue::Blob(vec![0, 255]),
            SqlValue::Null,
        ];
        let out = db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", values.clone()).await.unwrap();
        assert_eq!(out.rows_affected, 1);
        assert_eq!(out.last_insert_rowid, 1);
        let out = db.execute("SELECT * FROM t", vec![]).await.unwrap();
        assert_eq!(out.columns, vec!["i", "r", "s", "b", "n"]);
        assert_eq!(out.rows, vec![values]);
        let empty = db.execute("SELECT i, s FROM t WHERE i = ?", vec![SqlValue::Integer(1)]).await.unwrap();
        assert_eq!(empty.columns, vec!["i", "s"]);
        assert!(empty.rows.is_empty());
        let insert = db.execute("INSERT INTO t (i) VALUES (1)", vec![]).await.unwrap();
        assert!(insert.columns.is_empty() && insert.rows_affected == 1);
        let returning = db.execute("DELETE FROM t WHERE i = 1 RETURNING i", vec![]).await.unwrap();
        assert_eq!(returning.columns, vec!["i"]);
        let err = db.execute("SELECT * FROM nope", vec![]).await.unwrap_err();
        assert!(err.contains("no such table"), "{err}");
    }
}
