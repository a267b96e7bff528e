//! MySQL and MariaDB through sqlx, in the types of `fermyon:spin/rdbms-types@2.0.0`.
//!
//! | WIT | MySQL |
//! | --- | --- |
//! | `boolean` (parameter) | `TINYINT` 1 / 0 (MySQL's `BOOL`; read back as `int8`, as in Spin) |
//! | `int8` … `int64`, `uint8` … `uint64` | `TINYINT` … `BIGINT`, signed or `UNSIGNED` (`MEDIUMINT` reads as 32-bit) |
//! | `floating32`, `floating64` | `FLOAT`, `DOUBLE` |
//! | `str` | `CHAR`, `VARCHAR`, `TEXT` (all sizes), `ENUM` |
//! | `binary` | `BINARY`, `VARBINARY`, `BLOB` (all sizes) |
//! | `db-null` | `NULL` |
//!
//! Columns of the types the WIT has no case for (`DECIMAL`, `DATE`, `TIME`, `DATETIME`,
//! `TIMESTAMP`, `YEAR`, `JSON`, `SET`) have the column type `other` and their values come as
//! `str` in MySQL's own text form (`12.50`, `2024-02-29`, `2024-02-29 13:14:15`); Spin refuses
//! such a value with `value-conversion-failed`. Anything else (`BIT`, `GEOMETRY`) is
//! `unsupported`.

use chrono::{NaiveDate, NaiveDateTime};
use futures::TryStreamExt;
use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlRow, MySqlTypeInfo};
use sqlx::query::Query;
use sqlx::{Column, Executor, MySql, Row, Type, TypeInfo, ValueRef};

use crate::bindings::fermyon::spin::rdbms_types as v2;
use crate::MAX_RESULT_BYTES;

use v2::{DbDataType, DbValue, ParameterValue};

/// Run a statement that returns rows.
pub async fn query(
    conn: &mut MySqlConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<v2::RowSet, v2::Error> {
    let q = bind_all(statement, params);
    let mut stream = q.fetch(&mut *conn);
    let mut rows = Vec::new();
    let mut columns: Option<Vec<v2::Column>> = None;
    let mut bytes = 0usize;
    while let Some(row) = stream.try_next().await.map_err(query_failed)? {
        let cols = columns.get_or_insert_with(|| row_columns(&row));
        let values = convert_row(&row, cols)?;
        bytes += values.iter().map(value_size).sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(v2::Error::Other(format!("query result exceeds limit of {MAX_RESULT_BYTES} bytes")));
        }
        rows.push(values);
    }
    drop(stream);
    let columns = match columns {
        Some(columns) => columns,
        // No rows: the statement's columns, as the server describes them.
        None => match conn.describe(statement).await {
            Ok(described) => described
                .columns()
                .iter()
                .map(|c| v2::Column { name: c.name().to_string(), data_type: data_type(c.type_info()) })
                .collect(),
            Err(_) => Vec::new(),
        },
    };
    Ok(v2::RowSet { columns, rows })
}

/// Run a statement for its effect.
pub async fn execute(
    conn: &mut MySqlConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<(), v2::Error> {
    bind_all(statement, params).execute(conn).await.map(|_| ()).map_err(query_failed)
}

/// Roll back whatever transaction a guest left open. `false` when the connection is no longer
/// usable.
pub async fn reset(conn: &mut MySqlConnection) -> bool {
    conn.execute("ROLLBACK").await.is_ok()
}

fn bind_all(statement: &str, params: Vec<ParameterValue>) -> Query<'_, MySql, MySqlArguments> {
    use ParameterValue as P;
    let mut q = sqlx::query(statement);
    for param in params {
        q = match param {
            P::Boolean(v) => q.bind(v),
            P::Int8(v) => q.bind(v),
            P::Int16(v) => q.bind(v),
            P::Int32(v) => q.bind(v),
            P::Int64(v) => q.bind(v),
            P::Uint8(v) => q.bind(v),
            P::Uint16(v) => q.bind(v),
            P::Uint32(v) => q.bind(v),
            P::Uint64(v) => q.bind(v),
            P::Floating32(v) => q.bind(v),
            P::Floating64(v) => q.bind(v),
            P::Str(v) => q.bind(v),
            P::Binary(v) => q.bind(v),
            P::DbNull => q.bind(Option::<String>::None),
        };
    }
    q
}

fn data_type(ty: &MySqlTypeInfo) -> DbDataType {
    let unsigned = <u64 as Type<MySql>>::compatible(ty);
    match (ty.name(), unsigned) {
        ("BOOLEAN" | "TINYINT" | "TINYINT UNSIGNED", false) => DbDataType::Int8,
        ("BOOLEAN" | "TINYINT" | "TINYINT UNSIGNED", true) => DbDataType::Uint8,
        ("SMALLINT", _) => DbDataType::Int16,
        ("SMALLINT UNSIGNED", _) => DbDataType::Uint16,
        ("MEDIUMINT" | "INT", _) => DbDataType::Int32,
        ("MEDIUMINT UNSIGNED" | "INT UNSIGNED", _) => DbDataType::Uint32,
        ("BIGINT", _) => DbDataType::Int64,
        ("BIGINT UNSIGNED", _) => DbDataType::Uint64,
        ("FLOAT", _) => DbDataType::Floating32,
        ("DOUBLE", _) => DbDataType::Floating64,
        ("CHAR" | "VARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM", _) => DbDataType::Str,
        ("BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB", _) => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn row_columns(row: &MySqlRow) -> Vec<v2::Column> {
    row.columns()
        .iter()
        .map(|c| v2::Column { name: c.name().to_string(), data_type: data_type(c.type_info()) })
        .collect()
}

fn convert_row(row: &MySqlRow, columns: &[v2::Column]) -> Result<Vec<DbValue>, v2::Error> {
    columns.iter().enumerate().map(|(i, c)| convert_value(row, i, c.data_type)).collect()
}

fn convert_value(row: &MySqlRow, i: usize, ty: DbDataType) -> Result<DbValue, v2::Error> {
    let raw = row.try_get_raw(i).map_err(conversion)?;
    if raw.is_null() {
        return Ok(DbValue::DbNull);
    }
    let name = raw.type_info().name().to_string();
    Ok(match ty {
        DbDataType::Boolean => DbValue::Boolean(row.try_get(i).map_err(conversion)?),
        DbDataType::Int8 => DbValue::Int8(row.try_get(i).map_err(conversion)?),
        DbDataType::Int16 => DbValue::Int16(row.try_get(i).map_err(conversion)?),
        DbDataType::Int32 => DbValue::Int32(row.try_get(i).map_err(conversion)?),
        DbDataType::Int64 => DbValue::Int64(row.try_get(i).map_err(conversion)?),
        DbDataType::Uint8 => DbValue::Uint8(row.try_get(i).map_err(conversion)?),
        DbDataType::Uint16 => DbValue::Uint16(row.try_get(i).map_err(conversion)?),
        DbDataType::Uint32 => DbValue::Uint32(row.try_get(i).map_err(conversion)?),
        DbDataType::Uint64 => DbValue::Uint64(row.try_get(i).map_err(conversion)?),
        DbDataType::Floating32 => DbValue::Floating32(row.try_get(i).map_err(conversion)?),
        DbDataType::Floating64 => DbValue::Floating64(row.try_get(i).map_err(conversion)?),
        DbDataType::Str => DbValue::Str(row.try_get(i).map_err(conversion)?),
        DbDataType::Binary => DbValue::Binary(row.try_get(i).map_err(conversion)?),
        DbDataType::Other => match name.as_str() {
            "DECIMAL" | "JSON" | "SET" | "ENUM" => {
                DbValue::Str(row.try_get_unchecked::<String, _>(i).map_err(conversion)?)
            }
            "DATE" => DbValue::Str(row.try_get::<NaiveDate, _>(i).map_err(conversion)?.to_string()),
            "DATETIME" | "TIMESTAMP" => DbValue::Str(
                row.try_get::<NaiveDateTime, _>(i)
                    .map_err(conversion)?
                    .format("%Y-%m-%d %H:%M:%S%.f")
                    .to_string(),
            ),
            "TIME" => DbValue::Str(
                row.try_get::<sqlx::mysql::types::MySqlTime, _>(i).map_err(conversion)?.to_string(),
            ),
            "YEAR" => DbValue::Str(row.try_get_unchecked::<u16, _>(i).map_err(conversion)?.to_string()),
            _ => DbValue::Unsupported,
        },
    })
}

fn value_size(v: &DbValue) -> usize {
    match v {
        DbValue::Str(s) => s.len(),
        DbValue::Binary(b) => b.len(),
        _ => 8,
    }
}

fn conversion(e: sqlx::Error) -> v2::Error {
    v2::Error::ValueConversionFailed(e.to_string())
}

/// A failed statement, with the server's message.
pub fn query_failed(e: sqlx::Error) -> v2::Error {
    v2::Error::QueryFailed(e.to_string())
}
