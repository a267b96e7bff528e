//! SQL helpers the services share: opening a database whose tables are created once per
//! instance, single-value queries, and deduplicating at-least-once message deliveries.

use std::sync::atomic::{AtomicBool, Ordering};

use spin_sdk::sqlite3::{Connection, Value};

use crate::{ApiError, ApiResult};

/// The table [`first_delivery`] needs; put it in the schema of a service that handles messages.
pub const SEEN_TABLE: &str = "CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY)";

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

/// The first column of the first row as an integer (0 when there is none).
pub fn scalar(db: &Connection, sql: &str, params: &[Value]) -> ApiResult<i64> {
    let result = db.execute(sql, params).map_err(sql_error)?;
    Ok(result.rows.first().and_then(|row| row.get::<i64>(0)).unwrap_or(0))
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
