//! The one way riff opens a SQLite file of its own (key-value stores, databases, the message
//! queue): created with its directory if missing, WAL (readers never wait for the writer),
//! `synchronous = NORMAL` (durable across a crash of the process), foreign keys on, and a busy
//! timeout so concurrent writers wait instead of failing.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// Open the SQLite file at `path` with up to `connections` connections; `what` names it in errors.
pub async fn open_pool(path: &Path, connections: u32, what: &str) -> Result<SqlitePool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {what} {}", path.display()))
}
