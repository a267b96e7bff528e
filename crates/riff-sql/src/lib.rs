//! # riff-sql
//!
//! The SQL capability: what a component may open (its `sqlite_databases`), the host side of
//! `spin:sqlite/sqlite@3.0.0` (with `fermyon:spin/sqlite@2.0.0` delegating to it) and of riff's
//! transactions (`riff:platform/sql`), and the one trait every backend implements,
//! [`SqlBackend`] — statements with bound parameters, and `begin` → [`SqlTransaction`].
//!
//! * [`host`]: grants, per-instance state (open transactions), the view, `add_to_linker`;
//! * [`sqlite`]: the embedded backend (one SQLite file per label, WAL mode);
//! * [`postgres`]: the backend replicas share (one PostgreSQL schema per label), running the
//!   components' SQLite-flavoured statements through [`dialect`], the documented portable subset;
//! * [`conformance`]: the suite every backend must pass.
//!
//! Errors are typed ([`SqlError`]) from the driver's error kinds and codes, never from message
//! text, so the interfaces can tell a conflict (retry) from a broken statement.

pub mod conformance;
pub mod dialect;
pub mod host;
pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

/// A value crossing the SQL boundary, whatever the interface version or backend.
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

/// Which constraint a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    Unique,
    ForeignKey,
    NotNull,
    Check,
    Other,
}

/// A statement or transaction that failed, sorted by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// A write broke a constraint: report it (a duplicate, a missing parent row, ...).
    #[error("{message}")]
    Constraint { kind: Constraint, message: String },
    /// Another writer held the database past the busy timeout: retry.
    #[error("{0}")]
    Busy(String),
    /// The statement was refused or failed (syntax, no such table, type mismatch, ...).
    #[error("{0}")]
    Statement(String),
    /// The database could not be reached (I/O, connection, pool).
    #[error("{0}")]
    Io(String),
    /// The transaction was already committed or rolled back.
    #[error("the transaction has already finished")]
    Finished,
}

impl SqlError {
    /// Sort a sqlx error by its kind; `is_busy` recognises the backend's lock-timeout codes.
    pub fn from_sqlx(error: sqlx::Error, is_busy: impl Fn(&str) -> bool) -> Self {
        use sqlx::error::ErrorKind;
        match error {
            sqlx::Error::Database(db) => {
                let message = db.message().to_string();
                let constraint = match db.kind() {
                    ErrorKind::UniqueViolation => Some(Constraint::Unique),
                    ErrorKind::ForeignKeyViolation => Some(Constraint::ForeignKey),
                    ErrorKind::NotNullViolation => Some(Constraint::NotNull),
                    ErrorKind::CheckViolation => Some(Constraint::Check),
                    _ => None,
                };
                match constraint {
                    Some(kind) => SqlError::Constraint { kind, message },
                    None if db.code().is_some_and(|code| is_busy(&code)) => SqlError::Busy(message),
                    None => SqlError::Statement(message),
                }
            }
            sqlx::Error::PoolTimedOut => SqlError::Busy(error.to_string()),
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
                SqlError::Io(error.to_string())
            }
            other => SqlError::Statement(other.to_string()),
        }
    }

    /// A conflict the caller may retry or report: a lock timeout or a broken constraint.
    pub fn is_conflict(&self) -> bool {
        matches!(self, SqlError::Busy(_) | SqlError::Constraint { .. })
    }
}

/// One labelled database, as a backend provides it; shared by every request granted the label.
#[async_trait]
pub trait SqlBackend: Send + Sync {
    /// Run one statement with its parameters bound (never spliced into the text).
    async fn execute(&self, statement: &str, params: Vec<SqlValue>) -> Result<SqlOutcome, SqlError>;
    /// Begin a transaction, isolated from every other one until it commits.
    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, SqlError>;
}

/// An open transaction. Dropping it without `commit` must roll it back.
#[async_trait]
pub trait SqlTransaction: Send {
    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<SqlOutcome, SqlError>;
    async fn commit(self: Box<Self>) -> Result<(), SqlError>;
    async fn rollback(self: Box<Self>) -> Result<(), SqlError>;
}

/// Where a backend may keep files, and the label it serves.
#[derive(Debug, Clone)]
pub struct DatabaseContext {
    pub label: String,
    /// The default file for an embedded database of this label, under the state directory.
    pub default_path: PathBuf,
    /// Relative paths in the runtime config are relative to this directory.
    pub config_dir: PathBuf,
}

/// Makes databases of one backend type from its runtime-config section (`[sqlite_database.<label>]`).
#[async_trait]
pub trait MakeSqlDatabase: Send + Sync + 'static {
    /// The runtime config's `type` values that select this backend.
    const TYPES: &'static [&'static str];
    type Config: serde::de::DeserializeOwned + Send;
    async fn make_database(
        &self,
        config: Self::Config,
        context: &DatabaseContext,
    ) -> anyhow::Result<Arc<dyn SqlBackend>>;
}
