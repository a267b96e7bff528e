//! SQL helpers the services share, so every service opens and reads its database the same way:
//! opening a database whose tables are created once per instance ([`open`]) or whose schema is
//! versioned and filled on first use ([`open_versioned`]), reading rows by column name into the
//! service's structs ([`Row`]: a missing column or a value of the wrong type is an error, never
//! a silent default), single-value queries, and deduplicating at-least-once message deliveries.
//! (Key-value stores are opened through [`crate::kv`].)

use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use spin_sdk::sqlite3::{Connection, QueryResult, Value};

use crate::{ApiError, ApiResult};

/// The table [`first_delivery`] needs; put it in the schema of a service that handles messages.
pub const SEEN_TABLE: &str = "CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY)";

/// A table of named integers (the schema version of [`open_versioned`], among others).
pub const META_TABLE: &str = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)";

pub fn sql_error(e: impl std::fmt::Debug) -> ApiError {
    ApiError::internal(format!("database: {e:?}"))
}

/// Open database `label`, running `schema` the first time this instance opens it (`ready`
/// is the caller's flag): warm instances skip the `CREATE ... IF NOT EXISTS` statements.
pub fn open(label: &str, schema: &[&str], ready: &AtomicBool) -> ApiResult<Connection> {
    let db = Connection::open(label).map_err(sql_error)?;
    if !ready.load(Ordering::Relaxed) {
        for statement in schema {
            db.execute(statement, &[]).map_err(sql_error)?;
        }
        ready.store(true, Ordering::Relaxed);
    }
    Ok(db)
}

/// Open database `label`, whose `meta` table records the version of its schema: unless it is
/// `version`, run `init` (create the tables, load what the database starts with) and record
/// `version`. Every open checks, so a database replaced underneath a warm instance is set up
/// again.
pub fn open_versioned(
    label: &str,
    version: i64,
    init: impl FnOnce(&Connection) -> ApiResult<()>,
) -> ApiResult<Connection> {
    let db = Connection::open(label).map_err(sql_error)?;
    // No meta table yet is a database to set up, like an older version.
    let current = db.execute("SELECT value FROM meta WHERE key = 'schema'", &[]).ok();
    let current = current.as_ref().and_then(|r| rows(r).next()).and_then(|row| row.get::<i64>("value").ok());
    if current != Some(version) {
        db.execute(META_TABLE, &[]).map_err(sql_error)?;
        init(&db)?;
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
            &[Value::Integer(version)],
        )
        .map_err(sql_error)?;
    }
    Ok(db)
}

/// A row of a query's result, read by column name: `row.get::<String>("name")?`.
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

/// The rows of `result`.
pub fn rows(result: &QueryResult) -> impl Iterator<Item = Row<'_>> {
    result.rows.iter().map(|r| Row { columns: &result.columns, values: &r.values })
}

/// Every row of `result` read into a `T`; the first row that does not read is the error.
pub fn decode<T>(result: &QueryResult, read: impl Fn(&Row) -> ApiResult<T>) -> ApiResult<Vec<T>> {
    rows(result).map(|row| read(&row)).collect()
}

impl<'a> Row<'a> {
    /// The value of `column` as a `T`: an internal error when the query has no such column or
    /// its value is not a `T` (a NULL reads only as an `Option`).
    pub fn get<T: Column<'a>>(&self, column: &str) -> ApiResult<T> {
        let i = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| ApiError::internal(format!("database: the query has no column {column:?}")))?;
        let value = &self.values[i];
        T::read(value).ok_or_else(|| {
            ApiError::internal(format!(
                "database: column {column:?} holds {}, not {}",
                value_kind(value),
                std::any::type_name::<T>()
            ))
        })
    }

    /// The JSON text in `column`, parsed into a `T`.
    pub fn json<T: DeserializeOwned>(&self, column: &str) -> ApiResult<T> {
        let text: &str = self.get(column)?;
        serde_json::from_str(text).map_err(|e| {
            ApiError::internal(format!("database: column {column:?} is not the JSON expected: {e}"))
        })
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
        Value::Null => "NULL",
    }
}

/// A Rust type a column's value reads as.
pub trait Column<'a>: Sized {
    fn read(value: &'a Value) -> Option<Self>;
}

impl<'a> Column<'a> for &'a str {
    fn read(value: &'a Value) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl<'a> Column<'a> for String {
    fn read(value: &'a Value) -> Option<Self> {
        <&str>::read(value).map(str::to_string)
    }
}

impl<'a> Column<'a> for &'a [u8] {
    fn read(value: &'a Value) -> Option<Self> {
        match value {
            Value::Blob(b) => Some(b),
            _ => None,
        }
    }
}

impl<'a> Column<'a> for bool {
    fn read(value: &'a Value) -> Option<Self> {
        i64::read(value).map(|n| n != 0)
    }
}

macro_rules! integer_columns {
    ($($t:ty),*) => {$(
        impl<'a> Column<'a> for $t {
            fn read(value: &'a Value) -> Option<Self> {
                match value {
                    Value::Integer(n) => <$t>::try_from(*n).ok(),
                    _ => None,
                }
            }
        }
    )*};
}

integer_columns!(i64, u64, u32);

impl<'a, T: Column<'a>> Column<'a> for Option<T> {
    fn read(value: &'a Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::read(other).map(Some),
        }
    }
}

/// The first column of the first row as an integer (0 when there is none).
pub fn scalar(db: &Connection, sql: &str, params: &[Value]) -> ApiResult<i64> {
    let result = db.execute(sql, params).map_err(sql_error)?;
    Ok(result.rows.first().and_then(|row| row.get::<i64>(0)).unwrap_or(0))
}

/// A `COUNT(*)` query's answer.
pub fn count(db: &Connection, sql: &str, params: &[Value]) -> ApiResult<u64> {
    Ok(scalar(db, sql, params)?.max(0) as u64)
}

/// Record that message `id` was handled; false when it already was (a redelivery).
pub fn first_delivery(db: &Connection, id: &str) -> ApiResult<bool> {
    let fresh = db
        .execute(
            "INSERT INTO seen (message_id) VALUES (?) ON CONFLICT DO NOTHING RETURNING message_id",
            &[Value::Text(id.to_string())],
        )
        .map_err(sql_error)?;
    Ok(!fresh.rows.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::sqlite3::RowResult;

    fn result(columns: &[&str], rows: Vec<Vec<Value>>) -> QueryResult {
        QueryResult {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows.into_iter().map(|values| RowResult { values }).collect(),
        }
    }

    #[test]
    fn rows_read_by_column_name() {
        let r = result(
            &["id", "year", "genres", "public"],
            vec![
                vec![
                    Value::Text("a".into()),
                    Value::Integer(1999),
                    Value::Text("[\"jazz\"]".into()),
                    Value::Integer(1),
                ],
                vec![Value::Text("b".into()), Value::Null, Value::Text("[]".into()), Value::Integer(0)],
            ],
        );
        let read = |row: &Row| -> ApiResult<(String, Option<u32>, Vec<String>, bool)> {
            Ok((row.get("id")?, row.get("year")?, row.json("genres")?, row.get("public")?))
        };
        assert_eq!(
            decode(&r, read).unwrap(),
            [("a".into(), Some(1999), vec!["jazz".into()], true), ("b".into(), None, vec![], false)]
        );
    }

    #[test]
    fn what_does_not_read_is_an_error() {
        let r = result(&["id", "n"], vec![vec![Value::Null, Value::Integer(-1)]]);
        let row = rows(&r).next().unwrap();
        let e = row.get::<String>("id").unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (500, "database: column \"id\" holds NULL, not alloc::string::String")
        );
        assert_eq!(row.get::<Option<String>>("id").unwrap(), None);
        assert!(row.get::<u32>("n").is_err(), "out of range");
        assert_eq!(row.get::<i64>("n").unwrap(), -1);
        assert!(row.get::<i64>("missing").unwrap_err().message.contains("no column \"missing\""));
        assert!(row.json::<Vec<String>>("n").is_err());
    }
}
