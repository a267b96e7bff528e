//! The host side of the SQL interfaces: a component's grants, its open transactions, the view a
//! store's data lends this capability, and the wiring into a linker.
//!
//! A component opens only the labels in its `sqlite_databases`; any other gives
//! `access-denied`. `spin:sqlite@3.0.0` is implemented once; `fermyon:spin/sqlite@2.0.0` delegates
//! to it. `riff:platform/sql` transactions run on the same backends.
//!
//! Nothing half-done survives: an uncommitted transaction is rolled back when the guest drops
//! it, when its store is dropped (the request ended, or the guest trapped), and — for a warm
//! instance, whose store outlives the request — when the call ends ([`SqlState::end_transactions`]).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::sync::Mutex;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::{SqlBackend, SqlError, SqlOutcome, SqlTransaction, SqlValue};

/// Host bindings for the SQL interfaces (WIT vendored in `wit/`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../wit/deps/spin@2.0.0", "../../wit/deps/spin-sqlite@3.0.0", "../../wit/platform"],
        inline: "
            package riff:sql-host;
            world sql {
                import fermyon:spin/sqlite@2.0.0;
                import spin:sqlite/sqlite@3.0.0;
                import riff:platform/sql@0.1.0;
            }
        ",
        world: "riff:sql-host/sql",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/sqlite.connection": super::Connection,
            "spin:sqlite/sqlite.connection": super::Connection,
            "riff:platform/sql.transaction": super::Transaction,
        },
    });
}

use bindings::fermyon::spin::sqlite as v2;
use bindings::riff::platform::sql as platform;
use bindings::spin::sqlite::sqlite as v3;

/// The databases one component may open, by label.
#[derive(Clone, Default)]
pub struct SqlGrants {
    databases: HashMap<String, Arc<dyn SqlBackend>>,
}

impl SqlGrants {
    pub fn new(databases: HashMap<String, Arc<dyn SqlBackend>>) -> Self {
        Self { databases }
    }

    pub fn get(&self, label: &str) -> Option<&Arc<dyn SqlBackend>> {
        self.databases.get(label)
    }
}

/// A transaction's slot: `None` once committed, rolled back or ended by the host.
type Slot = Mutex<Option<Box<dyn SqlTransaction>>>;
type OpenTransaction = Arc<Slot>;

/// Per-instance state: the transactions its guest opened, so the host can end them.
#[derive(Default)]
pub struct SqlState {
    open: Vec<Weak<Slot>>,
}

impl SqlState {
    /// Roll back every transaction the guest left open; returns how many there were (called
    /// before a warm instance's store is kept for another call).
    pub fn end_transactions(&mut self) -> usize {
        let mut ended = 0;
        for open in self.open.drain(..) {
            if let Some(open) = open.upgrade() {
                if let Ok(mut slot) = open.try_lock() {
                    ended += slot.take().is_some() as usize;
                }
            }
        }
        ended
    }
}

/// An open connection resource (both Spin interface versions).
pub struct Connection {
    backend: Arc<dyn SqlBackend>,
    last_insert_rowid: i64,
    changes: u64,
}

/// The resource behind `riff:platform/sql.transaction`.
pub struct Transaction {
    inner: OpenTransaction,
}

/// What a store's data lends this capability for one call.
pub struct SqlCtxView<'a> {
    pub grants: &'a SqlGrants,
    pub state: &'a mut SqlState,
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data type to give the SQL host its view.
pub trait SqlView: Send {
    fn sql(&mut self) -> SqlCtxView<'_>;
}

struct HasSql;

impl HasData for HasSql {
    type Data<'a> = SqlCtxView<'a>;
}

/// Add `spin:sqlite@3.0.0`, `fermyon:spin/sqlite@2.0.0` and `riff:platform/sql` to `linker`.
pub fn add_to_linker<T: SqlView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    v3::add_to_linker::<T, HasSql>(linker, T::sql)?;
    v2::add_to_linker::<T, HasSql>(linker, T::sql)?;
    platform::add_to_linker::<T, HasSql>(linker, T::sql)?;
    Ok(())
}

/// `From` both ways between [`SqlValue`] and an interface's `value` variant (identical shapes).
macro_rules! value_conversions {
    ($wit:ty) => {
        impl From<$wit> for SqlValue {
            fn from(v: $wit) -> Self {
                type W = $wit;
                match v {
                    W::Integer(i) => SqlValue::Integer(i),
                    W::Real(f) => SqlValue::Real(f),
                    W::Text(s) => SqlValue::Text(s),
                    W::Blob(b) => SqlValue::Blob(b),
                    W::Null => SqlValue::Null,
                }
            }
        }

        impl From<SqlValue> for $wit {
            fn from(v: SqlValue) -> Self {
                type W = $wit;
                match v {
                    SqlValue::Integer(i) => W::Integer(i),
                    SqlValue::Real(f) => W::Real(f),
                    SqlValue::Text(s) => W::Text(s),
                    SqlValue::Blob(b) => W::Blob(b),
                    SqlValue::Null => W::Null,
                }
            }
        }
    };
}

value_conversions!(v3::Value);
value_conversions!(v2::Value);
value_conversions!(platform::Value);

impl SqlCtxView<'_> {
    async fn run(
        &mut self,
        conn: &Resource<Connection>,
        statement: &str,
        params: Vec<SqlValue>,
    ) -> wasmtime::Result<Result<SqlOutcome, SqlError>> {
        let backend = self.table.get(conn)?.backend.clone();
        let result = backend.execute(statement, params).await;
        if let Ok(outcome) = &result {
            let c = self.table.get_mut(conn)?;
            c.changes = outcome.rows_affected;
            if outcome.rows_affected > 0 {
                c.last_insert_rowid = outcome.last_insert_rowid;
            }
        }
        Ok(result)
    }

    fn transaction(&self, tx: &Resource<Transaction>) -> wasmtime::Result<OpenTransaction> {
        Ok(self.table.get(tx)?.inner.clone())
    }
}

// --- spin:sqlite/sqlite@3.0.0 ----------------------------------------------------------------

impl v3::Host for SqlCtxView<'_> {}

impl v3::HostConnection for SqlCtxView<'_> {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, v3::Error>> {
        let Some(backend) = self.grants.get(&database).cloned() else {
            return Ok(Err(v3::Error::AccessDenied));
        };
        Ok(Ok(self.table.push(Connection { backend, last_insert_rowid: 0, changes: 0 })?))
    }

    async fn execute(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<Result<v3::QueryResult, v3::Error>> {
        let params = parameters.into_iter().map(SqlValue::from).collect();
        Ok(self.run(&conn, &statement, params).await?.map_err(|e| v3::Error::Io(e.to_string())).map(|o| {
            v3::QueryResult {
                columns: o.columns,
                rows: o
                    .rows
                    .into_iter()
                    .map(|r| v3::RowResult { values: r.into_iter().map(Into::into).collect() })
                    .collect(),
            }
        }))
    }

    async fn last_insert_rowid(&mut self, conn: Resource<Connection>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&conn)?.last_insert_rowid)
    }

    async fn changes(&mut self, conn: Resource<Connection>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&conn)?.changes)
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

// --- fermyon:spin/sqlite@2.0.0: delegates to 3.0.0 ----------------------------------------------

fn v2_error(e: v3::Error) -> v2::Error {
    match e {
        v3::Error::NoSuchDatabase => v2::Error::NoSuchDatabase,
        v3::Error::AccessDenied => v2::Error::AccessDenied,
        v3::Error::InvalidConnection => v2::Error::InvalidConnection,
        v3::Error::DatabaseFull => v2::Error::DatabaseFull,
        v3::Error::Io(message) => v2::Error::Io(message),
    }
}

fn v2_value(v: v3::Value) -> v2::Value {
    SqlValue::from(v).into()
}

impl v2::Host for SqlCtxView<'_> {}

impl v2::HostConnection for SqlCtxView<'_> {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, v2::Error>> {
        Ok(v3::HostConnection::open(self, database).await?.map_err(v2_error))
    }

    async fn execute(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> wasmtime::Result<Result<v2::QueryResult, v2::Error>> {
        let params = parameters.into_iter().map(|v| SqlValue::from(v).into()).collect();
        let result = v3::HostConnection::execute(self, conn, statement, params).await?;
        Ok(result.map_err(v2_error).map(|o| v2::QueryResult {
            columns: o.columns,
            rows: o
                .rows
                .into_iter()
                .map(|r| v2::RowResult { values: r.values.into_iter().map(v2_value).collect() })
                .collect(),
        }))
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        v3::HostConnection::drop(self, conn).await
    }
}

// --- riff:platform/sql: transactions ---------------------------------------------------------

/// Lock timeouts and broken constraints are conflicts the caller can act on (retry, or report).
fn platform_error(e: SqlError) -> platform::Error {
    match e {
        SqlError::Finished => platform::Error::Finished,
        e if e.is_conflict() => platform::Error::Conflict(e.to_string()),
        e => platform::Error::Io(e.to_string()),
    }
}

impl platform::Host for SqlCtxView<'_> {}

impl platform::HostTransaction for SqlCtxView<'_> {
    async fn begin(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Transaction>, platform::Error>> {
        let Some(backend) = self.grants.get(&database).cloned() else {
            return Ok(Err(platform::Error::AccessDenied));
        };
        let tx = match backend.begin().await {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(platform_error(e))),
        };
        let inner: OpenTransaction = Arc::new(Mutex::new(Some(tx)));
        self.state.open.retain(|w| w.strong_count() > 0);
        self.state.open.push(Arc::downgrade(&inner));
        Ok(Ok(self.table.push(Transaction { inner })?))
    }

    async fn execute(
        &mut self,
        tx: Resource<Transaction>,
        statement: String,
        params: Vec<platform::Value>,
    ) -> wasmtime::Result<Result<platform::RowSet, platform::Error>> {
        let inner = self.transaction(&tx)?;
        let mut slot = inner.lock().await;
        let Some(open) = slot.as_mut() else { return Ok(Err(platform::Error::Finished)) };
        let params = params.into_iter().map(SqlValue::from).collect();
        Ok(open.execute(&statement, params).await.map_err(platform_error).map(|o| platform::RowSet {
            columns: o.columns,
            rows: o.rows.into_iter().map(|r| r.into_iter().map(Into::into).collect()).collect(),
            rows_affected: o.rows_affected,
            last_insert_rowid: o.last_insert_rowid,
        }))
    }

    async fn commit(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<Result<(), platform::Error>> {
        let inner = self.transaction(&tx)?;
        let Some(open) = inner.lock().await.take() else { return Ok(Err(platform::Error::Finished)) };
        Ok(open.commit().await.map_err(platform_error))
    }

    async fn rollback(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<Result<(), platform::Error>> {
        let inner = self.transaction(&tx)?;
        let Some(open) = inner.lock().await.take() else { return Ok(Err(platform::Error::Finished)) };
        Ok(open.rollback().await.map_err(platform_error))
    }

    async fn drop(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<()> {
        // Dropping an uncommitted transaction rolls it back.
        self.table.delete(tx)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! In-process capability tests: grants as the loader builds them, the host side called
    //! directly — no wasm, no process.
    use super::*;
    use crate::sqlite::SqliteDatabase;
    use v3::HostConnection as _;

    struct Data {
        grants: SqlGrants,
        state: SqlState,
        table: ResourceTable,
    }

    impl SqlView for Data {
        fn sql(&mut self) -> SqlCtxView<'_> {
            SqlCtxView { grants: &self.grants, state: &mut self.state, table: &mut self.table }
        }
    }

    async fn granted(dir: &std::path::Path) -> Data {
        let db: Arc<dyn SqlBackend> = Arc::new(SqliteDatabase::open(&dir.join("default.db")).await.unwrap());
        let grants = SqlGrants::new(HashMap::from([("default".to_string(), db)]));
        Data { grants, state: SqlState::default(), table: ResourceTable::new() }
    }

    #[tokio::test]
    async fn only_granted_databases_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = granted(dir.path()).await;
        let mut view = data.sql();
        assert!(view.open("default".into()).await.unwrap().is_ok());
        assert!(matches!(view.open("other".into()).await.unwrap(), Err(v3::Error::AccessDenied)));
        let v2 = v2::HostConnection::open(&mut view, "other".into()).await.unwrap();
        assert!(matches!(v2, Err(v2::Error::AccessDenied)));
        let tx = platform::HostTransaction::begin(&mut view, "other".into()).await.unwrap();
        assert!(matches!(tx, Err(platform::Error::AccessDenied)));
    }

    #[tokio::test]
    async fn v2_and_v3_share_one_implementation_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = granted(dir.path()).await;
        let mut view = data.sql();
        let conn = view.open("default".into()).await.unwrap().unwrap();
        let borrow = || Resource::<Connection>::new_borrow(conn.rep());
        view.execute(borrow(), "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)".into(), vec![])
            .await
            .unwrap()
            .unwrap();
        let params = vec![v2::Value::Text("a".into())];
        v2::HostConnection::execute(&mut view, borrow(), "INSERT INTO t (name) VALUES (?)".into(), params)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.last_insert_rowid(borrow()).await.unwrap(), 1);
        assert_eq!(view.changes(borrow()).await.unwrap(), 1);
        let rows = v2::HostConnection::execute(&mut view, borrow(), "SELECT name FROM t".into(), vec![])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows.columns, ["name"]);
        assert!(matches!(&rows.rows[0].values[0], v2::Value::Text(s) if s == "a"));
        let dup = view
            .execute(borrow(), "INSERT INTO t (name) VALUES ('a')".into(), vec![])
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(dup, v3::Error::Io(m) if m.contains("UNIQUE")));
    }

    #[tokio::test]
    async fn transactions_conflict_typed_and_end_with_the_call() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = granted(dir.path()).await;
        {
            let mut view = data.sql();
            let conn = view.open("default".into()).await.unwrap().unwrap();
            view.execute(conn, "CREATE TABLE t (id INTEGER PRIMARY KEY)".into(), vec![])
                .await
                .unwrap()
                .unwrap();
            let tx = platform::HostTransaction::begin(&mut view, "default".into()).await.unwrap().unwrap();
            let borrow = || Resource::<Transaction>::new_borrow(tx.rep());
            let insert = "INSERT INTO t (id) VALUES (1)".to_string();
            platform::HostTransaction::execute(&mut view, borrow(), insert.clone(), vec![])
                .await
                .unwrap()
                .unwrap();
            let dup = platform::HostTransaction::execute(&mut view, borrow(), insert, vec![]).await.unwrap();
            assert!(matches!(dup, Err(platform::Error::Conflict(_))), "a constraint is a conflict");
            // The guest forgets the transaction: the call's end rolls it back.
        }
        assert_eq!(data.state.end_transactions(), 1);
        let db = data.grants.get("default").unwrap();
        let out = db.execute("SELECT COUNT(*) FROM t", vec![]).await.unwrap();
        assert_eq!(out.rows[0][0], SqlValue::Integer(0), "the open transaction was rolled back");
    }
}
