//! The PostgreSQL backend: the same `spin:sqlite` statements and transactions, on a server that
//! several riff replicas share.
//!
//! * **A label is a schema.** Where the embedded backend keeps one SQLite file per label, this one
//!   keeps one PostgreSQL schema per label (named after it unless `schema` says otherwise), created
//!   if missing, and sets each connection's `search_path` to it, so components that use the same
//!   table names in different databases (three services have a `plays` table) do not collide.
//! * **Statements are rewritten** from SQLite's dialect by [`crate::dialect`] (the portable
//!   subset is documented there and in the README). The rewrite of a statement text is cached.
//! * **Transactions are serialised per label**, as SQLite's `BEGIN IMMEDIATE` serialises them
//!   per file: each takes a transaction-scoped advisory lock on its schema, across every replica,
//!   waiting at most [`LOCK_TIMEOUT`] (then [`SqlError::Busy`]). Components written for SQLite
//!   check-then-write inside a transaction, and that stays correct with many replicas.
//!   Schema changes (`CREATE`, `ALTER`, `DROP`) take the same lock, so replicas starting at once
//!   do not race on `CREATE TABLE IF NOT EXISTS`.
//! * **Values** keep SQLite's four types: integers are `BIGINT`, reals `DOUBLE PRECISION`, blobs
//!   `BYTEA`; results of other numeric types (`NUMERIC` from `SUM`, `BOOLEAN` from a comparison,
//!   `INTEGER` from `LENGTH`) come back as integers or reals. `NULL` parameters are sent untyped,
//!   so PostgreSQL infers their type from where they are used, as SQLite would accept them.
//! * **`last_insert_rowid`** is the identity column's value of the last row an `INSERT` wrote
//!   (a `RETURNING` the backend adds when the guest's statement has none), or 0 for a table
//!   without one.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures::TryStreamExt;
use serde::Deserialize;
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgTypeInfo, Postgres,
};
use sqlx::{Arguments, Column, Executor, PgConnection, Row, Statement, TypeInfo, ValueRef};

use crate::dialect::{self, TableInfo, Translated};
use crate::{DatabaseContext, MakeSqlDatabase, SqlBackend, SqlError, SqlOutcome, SqlTransaction, SqlValue};

/// The longest a transaction waits for another one on the same label before it is `Busy`.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Statement rewrites kept per label; the cache is emptied when it grows past this.
const TRANSLATIONS_KEPT: usize = 4096;

/// One labelled database: a schema in a PostgreSQL database.
pub struct PostgresDatabase {
    shared: Arc<Shared>,
}

/// What the database and its open transactions share.
struct Shared {
    pool: PgPool,
    /// The advisory lock that serialises this schema's transactions.
    lock_key: i64,
    translations: Mutex<HashMap<String, Arc<Translated>>>,
    tables: Mutex<HashMap<String, TableInfo>>,
}

impl PostgresDatabase {
    /// Connect to `url` with up to `pool_size` connections, with `schema` (created if missing) as
    /// every connection's search path.
    pub async fn connect(url: &str, schema: &str, pool_size: u32) -> anyhow::Result<Self> {
        let redacted = redact(url);
        let options = PgConnectOptions::from_str(url)
            .with_context(|| format!("{redacted} is not a PostgreSQL URL"))?
            .options([("search_path", dialect::quote(schema))]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {redacted}"))?;
        let shared = Shared {
            pool,
            lock_key: lock_key(schema),
            translations: Mutex::new(HashMap::new()),
            tables: Mutex::new(HashMap::new()),
        };
        let create = format!("CREATE SCHEMA IF NOT EXISTS {}", dialect::quote(schema));
        shared
            .locked(|conn| Box::pin(async move { conn.execute(create.as_str()).await.map(|_| ()) }))
            .await
            .with_context(|| format!("creating schema {schema:?} in {redacted}"))?;
        Ok(Self { shared: Arc::new(shared) })
    }
}

/// A stable 64-bit key for a schema's advisory lock (FNV-1a over "riff:" and the name).
fn lock_key(schema: &str) -> i64 {
    let hash = format!("riff:{schema}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash as i64
}

/// `url` with its password hidden, for messages.
fn redact(url: &str) -> String {
    riff_core::redact::url(url, riff_core::redact::BareUser::IsName)
}

/// PostgreSQL's "retry me" codes: serialization failure, deadlock, lock timeout.
fn is_busy(code: &str) -> bool {
    matches!(code, "40001" | "40P01" | "55P03")
}

fn error(e: sqlx::Error) -> SqlError {
    let code = e.as_database_error().and_then(|db| db.code()).map(|c| c.to_string());
    let mapped = SqlError::from_sqlx(e, is_busy);
    // Say it as SQLite does, so a component's messages read the same on both backends.
    match (code.as_deref(), mapped) {
        (Some("42P01"), SqlError::Statement(m)) => {
            SqlError::Statement(sqlite_wording(&m, "relation", "no such table"))
        }
        (Some("42703"), SqlError::Statement(m)) => {
            SqlError::Statement(sqlite_wording(&m, "column", "no such column"))
        }
        (Some("42P18"), SqlError::Statement(m)) => SqlError::Statement(format!(
            "{m}: a NULL parameter where nothing says its type; write CAST(? AS TEXT) (or BIGINT, ...)"
        )),
        (_, other) => other,
    }
}

/// `relation "x" does not exist` → `no such table: x (relation "x" does not exist)`.
fn sqlite_wording(message: &str, what: &str, sqlite: &str) -> String {
    let name = message.strip_prefix(what).and_then(|rest| rest.trim().split('"').nth(1));
    match name {
        Some(name) => format!("{sqlite}: {name} ({message})"),
        None => message.to_string(),
    }
}

impl Shared {
    /// Run `work` in a transaction holding this schema's lock.
    async fn locked<F>(&self, work: F) -> Result<(), sqlx::Error>
    where
        F: for<'c> FnOnce(&'c mut PgConnection) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>>,
    {
        let mut tx = self.begin_locked().await?;
        work(&mut tx).await?;
        tx.commit().await
    }

    async fn begin_locked(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        let begin = format!("BEGIN; SET LOCAL lock_timeout = '{}ms'", LOCK_TIMEOUT.as_millis());
        let mut tx = self.pool.begin_with(begin).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(self.lock_key).execute(&mut *tx).await?;
        Ok(tx)
    }

    fn translate(&self, statement: &str) -> Result<Arc<Translated>, SqlError> {
        if let Some(t) = self.translations.lock().expect("translations").get(statement) {
            return Ok(t.clone());
        }
        let translated =
            Arc::new(dialect::translate(statement).map_err(|e| SqlError::Statement(e.to_string()))?);
        let mut cache = self.translations.lock().expect("translations");
        if cache.len() >= TRANSLATIONS_KEPT {
            cache.clear();
        }
        cache.insert(statement.to_string(), translated.clone());
        Ok(translated)
    }

    /// The primary key and identity column of `table` (cached; `None` if there is no such table).
    async fn table_info(&self, conn: &mut PgConnection, table: &str) -> Result<Option<TableInfo>, SqlError> {
        if let Some(info) = self.tables.lock().expect("tables").get(table) {
            return Ok(Some(info.clone()));
        }
        let rows: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT a.attname::text, a.attidentity <> '', COALESCE(a.attnum = ANY(i.indkey::int2[]), false) \
             FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(error)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let info = TableInfo {
            primary_key: rows.iter().filter(|r| r.2).map(|r| r.0.clone()).collect(),
            identity: rows.iter().find(|r| r.1).map(|r| r.0.clone()),
        };
        self.tables.lock().expect("tables").insert(table.to_string(), info.clone());
        Ok(Some(info))
    }

    /// Run one statement on `conn`.
    async fn run(
        &self,
        conn: &mut PgConnection,
        statement: &str,
        params: Vec<SqlValue>,
    ) -> Result<SqlOutcome, SqlError> {
        let translated = self.translate(statement)?;
        if params.len() != translated.parameters {
            return Err(SqlError::Statement(format!(
                "the statement takes {} parameters, {} were given",
                translated.parameters,
                params.len()
            )));
        }
        let table = match &translated.insert {
            Some(insert) => self.table_info(conn, &insert.table).await?,
            None => None,
        };
        let (mut sql, adds_identity) =
            translated.complete(table.as_ref()).map_err(|e| SqlError::Statement(e.to_string()))?;
        // sqlx caches prepared statements by their text, and a statement's parameter types are
        // fixed when it is prepared: the types go into the text so each combination has its own.
        if !params.is_empty() {
            sql.push_str(" /* ");
            sql.extend(params.iter().map(type_letter));
            sql.push_str(" */");
        }
        let args = arguments(params)?;
        let mut outcome = SqlOutcome::default();
        {
            // One round trip yields the rows and the counters (see the SQLite backend).
            #[allow(deprecated)]
            let mut stream = sqlx::query_with(&sql, args).fetch_many(&mut *conn);
            while let Some(item) = stream.try_next().await.map_err(error)? {
                match item {
                    sqlx::Either::Left(done) => outcome.rows_affected += done.rows_affected(),
                    sqlx::Either::Right(row) => {
                        if outcome.columns.is_empty() {
                            outcome.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                        }
                        outcome.rows.push(read_row(&row)?);
                    }
                }
            }
        }
        if adds_identity {
            if let Some(SqlValue::Integer(id)) = outcome.rows.last().and_then(|r| r.last()) {
                outcome.last_insert_rowid = *id;
            }
            outcome.rows.clear();
            outcome.columns.clear();
        } else if outcome.rows.is_empty() && translated.returns_rows {
            // No row to read column names from: ask the (cached) prepared statement.
            let described = (&mut *conn).prepare(&sql).await.map_err(error)?;
            outcome.columns = described.columns().iter().map(|c| c.name().to_string()).collect();
        }
        if translated.is_query {
            outcome.rows_affected = 0; // as SQLite: only writes count changes
        }
        if translated.is_ddl {
            self.tables.lock().expect("tables").clear();
        }
        Ok(outcome)
    }
}

fn type_letter(value: &SqlValue) -> char {
    match value {
        SqlValue::Integer(_) => 'i',
        SqlValue::Real(_) => 'r',
        SqlValue::Text(_) => 't',
        SqlValue::Blob(_) => 'b',
        SqlValue::Null => 'n',
    }
}

/// A `NULL` without a type, so PostgreSQL infers one from where it is used.
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn arguments(params: Vec<SqlValue>) -> Result<PgArguments, SqlError> {
    let mut args = PgArguments::default();
    for p in params {
        let added = match p {
            SqlValue::Integer(i) => args.add(i),
            SqlValue::Real(f) => args.add(f),
            SqlValue::Text(s) => args.add(s),
            SqlValue::Blob(b) => args.add(b),
            SqlValue::Null => args.add(UntypedNull),
        };
        added.map_err(|e| SqlError::Statement(e.to_string()))?;
    }
    Ok(args)
}

fn read_row(row: &PgRow) -> Result<Vec<SqlValue>, SqlError> {
    let decode = |e: sqlx::Error| SqlError::Statement(e.to_string());
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let kind = raw.type_info().name().to_string();
            let value = match kind.as_str() {
                "INT8" => SqlValue::Integer(row.try_get(i).map_err(decode)?),
                "INT4" => SqlValue::Integer(row.try_get::<i32, _>(i).map_err(decode)?.into()),
                "INT2" => SqlValue::Integer(row.try_get::<i16, _>(i).map_err(decode)?.into()),
                "BOOL" => SqlValue::Integer(row.try_get::<bool, _>(i).map_err(decode)?.into()),
                "FLOAT8" => SqlValue::Real(row.try_get(i).map_err(decode)?),
                "FLOAT4" => SqlValue::Real(row.try_get::<f32, _>(i).map_err(decode)?.into()),
                "NUMERIC" => numeric(row.try_get(i).map_err(decode)?),
                "BYTEA" => SqlValue::Blob(row.try_get(i).map_err(decode)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" | "CHAR" => {
                    SqlValue::Text(row.try_get_unchecked(i).map_err(decode)?)
                }
                other => {
                    let column = row.columns()[i].name();
                    return Err(SqlError::Statement(format!(
                        "column {column} is of type {other}, which the SQL interface cannot carry: cast it to TEXT, BIGINT or DOUBLE PRECISION"
                    )));
                }
            };
            Ok(value)
        })
        .collect()
}

/// A `NUMERIC` (from `SUM`, `AVG`, …): an integer when it is whole and fits, else a real.
fn numeric(value: rust_decimal::Decimal) -> SqlValue {
    use rust_decimal::prelude::ToPrimitive;
    match value.fract().is_zero().then(|| value.to_i64()).flatten() {
        Some(whole) => SqlValue::Integer(whole),
        None => SqlValue::Real(value.to_f64().unwrap_or(f64::NAN)),
    }
}

#[async_trait]
impl SqlBackend for PostgresDatabase {
    async fn execute(&self, statement: &str, params: Vec<SqlValue>) -> Result<SqlOutcome, SqlError> {
        if self.shared.translate(statement)?.is_ddl {
            let mut tx = self.shared.begin_locked().await.map_err(error)?;
            let outcome = self.shared.run(&mut tx, statement, params).await?;
            tx.commit().await.map_err(error)?;
            return Ok(outcome);
        }
        let mut conn = self.shared.pool.acquire().await.map_err(error)?;
        self.shared.run(&mut conn, statement, params).await
    }

    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, SqlError> {
        let tx = self.shared.begin_locked().await.map_err(error)?;
        Ok(Box::new(PostgresTransaction { tx, shared: self.shared.clone() }))
    }
}

/// An open transaction holding its label's lock; sqlx rolls it back when dropped uncommitted.
pub struct PostgresTransaction {
    tx: sqlx::Transaction<'static, Postgres>,
    shared: Arc<Shared>,
}

#[async_trait]
impl SqlTransaction for PostgresTransaction {
    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<SqlOutcome, SqlError> {
        self.shared.run(&mut self.tx, statement, params).await
    }

    async fn commit(self: Box<Self>) -> Result<(), SqlError> {
        self.tx.commit().await.map_err(error)
    }

    async fn rollback(self: Box<Self>) -> Result<(), SqlError> {
        self.tx.rollback().await.map_err(error)
    }
}

/// `type = "postgres"`: `url` (`postgres://user:password@host:port/database`), optional
/// `schema` (default: the label) and `pool_size` (connections per label and replica, default 4).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresDatabaseConfig {
    pub url: String,
    pub schema: Option<String>,
    pub pool_size: Option<u32>,
}

/// Makes [`PostgresDatabase`]s.
pub struct MakePostgresDatabase;

#[async_trait]
impl MakeSqlDatabase for MakePostgresDatabase {
    const TYPES: &'static [&'static str] = &["postgres"];
    type Config = PostgresDatabaseConfig;

    async fn make_database(
        &self,
        config: PostgresDatabaseConfig,
        context: &DatabaseContext,
    ) -> anyhow::Result<Arc<dyn SqlBackend>> {
        let schema = config.schema.unwrap_or_else(|| context.label.clone());
        anyhow::ensure!(
            !schema.is_empty() && schema.len() <= 63,
            "[sqlite_database.{}]: schema {schema:?} must be 1 to 63 characters",
            context.label
        );
        let pool_size = config.pool_size.unwrap_or(4);
        anyhow::ensure!(pool_size > 0, "[sqlite_database.{}]: pool_size must be at least 1", context.label);
        Ok(Arc::new(PostgresDatabase::connect(&config.url, &schema, pool_size).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riff_core::servers;

    /// A fresh database on the test server, dropped by [`Scratch::drop_database`].
    struct Scratch {
        admin: String,
        name: String,
        url: String,
    }

    impl Scratch {
        async fn new(test: &str) -> Option<Self> {
            let Some(admin) = servers::server_url(servers::POSTGRES) else {
                servers::skip(test, "no PostgreSQL server on 127.0.0.1:5432 (set RIFF_TEST_POSTGRES_URL)");
                return None;
            };
            let name = servers::unique_name("riff_sql");
            let mut conn = PgConnection::connect(&admin).await.expect("connecting to the test server");
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("creating a database");
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            Some(Self { admin, name, url: url.to_string() })
        }

        async fn drop_database(self) {
            let mut conn = PgConnection::connect(&self.admin).await.unwrap();
            conn.execute(format!("DROP DATABASE {} WITH (FORCE)", self.name).as_str()).await.unwrap();
        }
    }

    use sqlx::Connection;

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let Some(scratch) = Scratch::new("riff-sql postgres conformance").await else { return };
        let db = PostgresDatabase::connect(&scratch.url, "conformance", 4).await.unwrap();
        crate::conformance::check(Arc::new(db)).await;
        scratch.drop_database().await;
    }

    #[tokio::test]
    async fn labels_are_schemas_and_replicas_share_them() {
        let Some(scratch) = Scratch::new("riff-sql postgres schemas").await else { return };
        let profile = PostgresDatabase::connect(&scratch.url, "profile", 2).await.unwrap();
        let search = PostgresDatabase::connect(&scratch.url, "search", 2).await.unwrap();
        let profile_again = PostgresDatabase::connect(&scratch.url, "profile", 2).await.unwrap();
        let create =
            "CREATE TABLE IF NOT EXISTS plays (id INTEGER PRIMARY KEY AUTOINCREMENT, track_id TEXT NOT NULL)";
        for db in [&profile, &search, &profile_again] {
            db.execute(create, vec![]).await.unwrap();
        }
        let first = profile
            .execute("INSERT INTO plays (track_id) VALUES (?)", vec![SqlValue::Text("a".into())])
            .await
            .unwrap();
        let second = profile_again
            .execute("INSERT INTO plays (track_id) VALUES (?)", vec![SqlValue::Text("b".into())])
            .await
            .unwrap();
        assert_eq!((first.last_insert_rowid, second.last_insert_rowid), (1, 2), "ids count across replicas");
        async fn count(db: &PostgresDatabase) -> SqlValue {
            db.execute("SELECT COUNT(*) FROM plays", vec![]).await.unwrap().rows[0][0].clone()
        }
        assert_eq!(count(&profile_again).await, SqlValue::Integer(2), "a replica sees the other's writes");
        assert_eq!(count(&search).await, SqlValue::Integer(0), "labels do not share tables");
        drop((profile, search, profile_again));
        scratch.drop_database().await;
    }

    #[tokio::test]
    async fn the_music_services_statements_run() {
        let Some(scratch) = Scratch::new("riff-sql postgres dialect").await else { return };
        let db = PostgresDatabase::connect(&scratch.url, "music", 4).await.unwrap();
        let text = |s: &str| SqlValue::Text(s.into());
        for ddl in [
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS snapshot (k INTEGER PRIMARY KEY CHECK (k = 1), seq INTEGER NOT NULL, blob BLOB NOT NULL)",
            "CREATE TABLE IF NOT EXISTS saved (user_id TEXT NOT NULL, track_id TEXT NOT NULL, added_at INTEGER NOT NULL, PRIMARY KEY (user_id, track_id))",
            "CREATE TABLE IF NOT EXISTS plays (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, played_at INTEGER NOT NULL)",
        ] {
            db.execute(ddl, vec![]).await.unwrap();
        }
        // INSERT OR REPLACE on the primary key; MAX(a, b) as GREATEST.
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
            vec![SqlValue::Integer(1)],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
            vec![SqlValue::Integer(2)],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)",
            vec![SqlValue::Integer(1)],
        )
        .await
        .unwrap();
        let value = db.execute("SELECT value FROM meta WHERE key = 'schema'", vec![]).await.unwrap();
        assert_eq!(value.rows, vec![vec![SqlValue::Integer(2)]]);
        // INSERT OR IGNORE, multi-row, counts only what it wrote.
        let rows =
            vec![text("u"), text("t1"), SqlValue::Integer(1), text("u"), text("t2"), SqlValue::Integer(2)];
        let sql = "INSERT OR IGNORE INTO saved (user_id, track_id, added_at) VALUES (?, ?, ?), (?, ?, ?)";
        assert_eq!(db.execute(sql, rows.clone()).await.unwrap().rows_affected, 2);
        assert_eq!(db.execute(sql, rows).await.unwrap().rows_affected, 0, "duplicates are ignored");
        // Blobs, a fixed id in an identity column, upsert.
        let upsert = "INSERT INTO snapshot (k, seq, blob) VALUES (1, ?, ?) ON CONFLICT (k) DO UPDATE SET seq = excluded.seq, blob = excluded.blob";
        db.execute(upsert, vec![SqlValue::Integer(5), SqlValue::Blob(vec![1, 2])]).await.unwrap();
        db.execute(upsert, vec![SqlValue::Integer(6), SqlValue::Blob(vec![3])]).await.unwrap();
        let snap = db.execute("SELECT seq, blob FROM snapshot WHERE k = 1", vec![]).await.unwrap();
        assert_eq!(snap.rows, vec![vec![SqlValue::Integer(6), SqlValue::Blob(vec![3])]]);
        // A subquery without an alias; booleans and sums as integers; NULL parameters.
        for at in [10, 20, 30] {
            db.execute(
                "INSERT INTO plays (user_id, played_at) VALUES (?, ?)",
                vec![text("u"), SqlValue::Integer(at)],
            )
            .await
            .unwrap();
        }
        let recent = db
            .execute(
                "SELECT played_at FROM (SELECT played_at, id FROM plays WHERE user_id = ? ORDER BY played_at ASC, id ASC LIMIT ?) ORDER BY played_at DESC",
                vec![text("u"), SqlValue::Integer(2)],
            )
            .await
            .unwrap();
        assert_eq!(recent.rows, vec![vec![SqlValue::Integer(20)], vec![SqlValue::Integer(10)]]);
        let misc = db
            .execute(
                "SELECT NOT EXISTS (SELECT 1 FROM plays), SUM(played_at), CAST(? AS TEXT) IS NULL FROM plays",
                vec![SqlValue::Null],
            )
            .await
            .unwrap();
        let untyped = db.execute("SELECT ? IS NULL", vec![SqlValue::Null]).await.unwrap_err();
        assert!(untyped.to_string().contains("CAST(? AS TEXT)"), "says what to write: {untyped}");
        assert_eq!(misc.rows, vec![vec![SqlValue::Integer(0), SqlValue::Integer(60), SqlValue::Integer(1)]]);
        db.execute("INSERT INTO plays (user_id, played_at) VALUES (?, ?)", vec![text("v"), SqlValue::Null])
            .await
            .expect_err("NOT NULL holds for an untyped NULL");
        let mixed = "SELECT COUNT(*) FROM plays WHERE played_at = ? OR user_id = ?";
        db.execute(mixed, vec![SqlValue::Integer(10), SqlValue::Null]).await.unwrap();
        db.execute(mixed, vec![SqlValue::Null, SqlValue::Null]).await.unwrap();
        db.execute(mixed, vec![SqlValue::Integer(10), SqlValue::Text("u".into())]).await.unwrap();
        // What cannot map is refused, clearly.
        let refused = db.execute("PRAGMA journal_mode", vec![]).await.unwrap_err();
        assert!(refused.to_string().contains("not supported on PostgreSQL"), "{refused}");
        let wrong = db.execute("SELECT ?", vec![]).await.unwrap_err();
        assert!(wrong.to_string().contains("takes 1 parameters, 0 were given"), "{wrong}");
        drop(db);
        scratch.drop_database().await;
    }

    #[tokio::test]
    async fn transactions_are_serialised_across_replicas() {
        let Some(scratch) = Scratch::new("riff-sql postgres transactions").await else { return };
        let one = Arc::new(PostgresDatabase::connect(&scratch.url, "ledger", 4).await.unwrap());
        let two = Arc::new(PostgresDatabase::connect(&scratch.url, "ledger", 4).await.unwrap());
        one.execute("CREATE TABLE balance (account TEXT PRIMARY KEY, amount INTEGER NOT NULL)", vec![])
            .await
            .unwrap();
        one.execute("INSERT INTO balance VALUES ('a', 0)", vec![]).await.unwrap();
        // 20 read-then-write increments split over two replicas: none is lost.
        let mut tasks = Vec::new();
        for n in 0..20 {
            let db = if n % 2 == 0 { one.clone() } else { two.clone() };
            tasks.push(tokio::spawn(async move {
                let mut tx = db.begin().await.unwrap();
                let out = tx.execute("SELECT amount FROM balance WHERE account = 'a'", vec![]).await.unwrap();
                let SqlValue::Integer(amount) = out.rows[0][0] else { panic!("an integer") };
                tx.execute(
                    "UPDATE balance SET amount = ? WHERE account = 'a'",
                    vec![SqlValue::Integer(amount + 1)],
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let out = two.execute("SELECT amount FROM balance", vec![]).await.unwrap();
        assert_eq!(out.rows[0][0], SqlValue::Integer(20));
        drop((one, two));
        scratch.drop_database().await;
    }

    #[tokio::test]
    async fn a_wrong_url_is_a_clear_error_without_the_password() {
        let err =
            PostgresDatabase::connect("postgres://riff:hunter2@127.0.0.1:1/db", "x", 1).await.err().unwrap();
        let message = format!("{err:#}");
        assert!(message.contains("connecting to PostgreSQL at") && !message.contains("hunter2"), "{message}");
    }

    #[test]
    fn errors_read_as_sqlite_says_them() {
        assert_eq!(
            sqlite_wording("relation \"nope\" does not exist", "relation", "no such table"),
            "no such table: nope (relation \"nope\" does not exist)"
        );
        assert_eq!(sqlite_wording("something else", "relation", "no such table"), "something else");
    }

    #[test]
    fn lock_keys_differ_per_schema() {
        assert_ne!(lock_key("profile"), lock_key("search"));
        assert_eq!(lock_key("profile"), lock_key("profile"));
    }
}
