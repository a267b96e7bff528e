//! SQL transactions: `riff:platform/sql`, riff's extension to Spin's statement-at-a-time SQL.
//!
//! A `transaction` resource owns one connection of the database's pool for its whole life, with
//! `BEGIN IMMEDIATE` issued on it: it holds SQLite's write lock from the start, so concurrent
//! transactions never interleave (a second one waits, up to the busy timeout, then gets
//! `conflict`). The same grants apply as for Spin's interfaces: only the component's
//! `sqlite_databases`.
//!
//! Nothing half-done survives: an uncommitted transaction is rolled back when the guest drops
//! it, when its store is dropped (the request ended, or the guest trapped), and — for a warm
//! instance, whose store outlives the request — when the request ends
//! ([`RequestState::end_transactions`]).

use std::sync::{Arc, Weak};

use tokio::sync::Mutex;
use wasmtime::component::Resource;

use super::bindings::riff::platform::sql as wit;
use super::sql::{describe_error, run, OpenError, SqlValue};
use crate::state::RequestState;

type Open = Arc<Mutex<Option<sqlx::Transaction<'static, sqlx::Sqlite>>>>;

/// The resource behind `riff:platform/sql.transaction`.
pub struct Transaction {
    inner: Open,
}

/// The transactions a store has opened, so the host can end them with the request.
#[derive(Default)]
pub struct OpenTransactions(Vec<Weak<Mutex<Option<sqlx::Transaction<'static, sqlx::Sqlite>>>>>);

impl RequestState {
    /// Roll back every transaction the guest left open (called before a warm instance's store
    /// is kept for another request).
    pub fn end_transactions(&mut self) {
        for open in self.transactions.0.drain(..) {
            if let Some(open) = open.upgrade() {
                if let Ok(mut slot) = open.try_lock() {
                    if slot.take().is_some() {
                        tracing::warn!(component = %self.component.id, "a transaction left open was rolled back");
                    }
                }
            }
        }
    }
}

fn from_wit(v: wit::Value) -> SqlValue {
    match v {
        wit::Value::Integer(i) => SqlValue::Integer(i),
        wit::Value::Real(f) => SqlValue::Real(f),
        wit::Value::Text(s) => SqlValue::Text(s),
        wit::Value::Blob(b) => SqlValue::Blob(b),
        wit::Value::Null => SqlValue::Null,
    }
}

fn to_wit(v: SqlValue) -> wit::Value {
    match v {
        SqlValue::Integer(i) => wit::Value::Integer(i),
        SqlValue::Real(f) => wit::Value::Real(f),
        SqlValue::Text(s) => wit::Value::Text(s),
        SqlValue::Blob(b) => wit::Value::Blob(b),
        SqlValue::Null => wit::Value::Null,
    }
}

/// SQLite reports lock timeouts and constraint failures in its message; they are conflicts
/// the caller can act on (retry, or report), not I/O failures.
fn classify(message: String) -> wit::Error {
    let lower = message.to_ascii_lowercase();
    if lower.contains("database is locked") || lower.contains("busy") || lower.contains("constraint failed") {
        wit::Error::Conflict(message)
    } else {
        wit::Error::Io(message)
    }
}

impl wit::Host for RequestState {}

impl wit::HostTransaction for RequestState {
    async fn begin(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Transaction>, wit::Error>> {
        let db = match self.granted_database(&database) {
            Ok(db) => db,
            Err(OpenError::AccessDenied) => return Ok(Err(wit::Error::AccessDenied)),
        };
        let tx = match db.begin().await {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(classify(e))),
        };
        let inner: Open = Arc::new(Mutex::new(Some(tx)));
        self.transactions.0.retain(|w| w.strong_count() > 0);
        self.transactions.0.push(Arc::downgrade(&inner));
        Ok(Ok(self.table.push(Transaction { inner })?))
    }

    async fn execute(
        &mut self,
        tx: Resource<Transaction>,
        statement: String,
        params: Vec<wit::Value>,
    ) -> wasmtime::Result<Result<wit::RowSet, wit::Error>> {
        let inner = self.table.get(&tx)?.inner.clone();
        let mut slot = inner.lock().await;
        let Some(open) = slot.as_mut() else { return Ok(Err(wit::Error::Finished)) };
        let params = params.into_iter().map(from_wit).collect();
        Ok(run(open, &statement, params).await.map_err(classify).map(|o| wit::RowSet {
            columns: o.columns,
            rows: o.rows.into_iter().map(|r| r.into_iter().map(to_wit).collect()).collect(),
            rows_affected: o.rows_affected,
            last_insert_rowid: o.last_insert_rowid,
        }))
    }

    async fn commit(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<Result<(), wit::Error>> {
        let inner = self.table.get(&tx)?.inner.clone();
        let Some(open) = inner.lock().await.take() else { return Ok(Err(wit::Error::Finished)) };
        Ok(open.commit().await.map_err(|e| classify(describe_error(e))))
    }

    async fn rollback(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<Result<(), wit::Error>> {
        let inner = self.table.get(&tx)?.inner.clone();
        let Some(open) = inner.lock().await.take() else { return Ok(Err(wit::Error::Finished)) };
        Ok(open.rollback().await.map_err(|e| classify(describe_error(e))))
    }

    async fn drop(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<()> {
        // Dropping an uncommitted sqlx transaction rolls it back.
        self.table.delete(tx)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts_and_constraints_are_conflicts() {
        assert!(matches!(classify("database is locked".into()), wit::Error::Conflict(_)));
        assert!(matches!(classify("UNIQUE constraint failed: t.id".into()), wit::Error::Conflict(_)));
        assert!(matches!(classify("no such table: t".into()), wit::Error::Io(_)));
    }

    /// Two transactions on one database: the second waits for the first, and an uncommitted
    /// one leaves nothing behind.
    #[tokio::test]
    async fn transactions_are_isolated_and_dropped_ones_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let db =
            Arc::new(crate::capabilities::sql::SqlDatabase::open(&dir.path().join("t.db")).await.unwrap());
        db.execute("CREATE TABLE t (n INTEGER)", vec![]).await.unwrap();

        let mut first = db.begin().await.unwrap();
        run(&mut first, "INSERT INTO t VALUES (1)", vec![]).await.unwrap();
        // Not visible outside before commit.
        let outside = db.execute("SELECT COUNT(*) FROM t", vec![]).await.unwrap();
        assert_eq!(outside.rows[0][0], SqlValue::Integer(0));
        // A second writer waits for the first to finish.
        let db2 = db.clone();
        let second = tokio::spawn(async move {
            let mut tx = db2.begin().await.unwrap();
            run(&mut tx, "INSERT INTO t VALUES (2)", vec![]).await.unwrap();
            tx.commit().await.unwrap();
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the second transaction must wait for the write lock");
        first.commit().await.unwrap();
        second.await.unwrap();
        let after = db.execute("SELECT COUNT(*) FROM t", vec![]).await.unwrap();
        assert_eq!(after.rows[0][0], SqlValue::Integer(2));

        // Dropped without commit: rolled back.
        {
            let mut tx = db.begin().await.unwrap();
            run(&mut tx, "INSERT INTO t VALUES (3)", vec![]).await.unwrap();
        }
        let after = db.execute("SELECT COUNT(*) FROM t WHERE n = 3", vec![]).await.unwrap();
        assert_eq!(after.rows[0][0], SqlValue::Integer(0));
    }
}
