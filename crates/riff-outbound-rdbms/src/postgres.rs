//! PostgreSQL through sqlx: parameters in, rows out, in the types of `spin:postgres@4.0.0` —
//! the richest of the three interfaces. `spin:postgres@3.0.0` and `fermyon:spin/postgres@2.0.0`
//! are served by converting to and from these ([`crate::host`]), as Spin does.
//!
//! | WIT | PostgreSQL |
//! | --- | --- |
//! | `boolean` | `BOOL` |
//! | `int8` (parameter only) | sent as `INT2` (PostgreSQL has no 1-byte integer) |
//! | `int16`, `int32`, `int64` | `INT2`, `INT4`, `INT8` |
//! | `floating32`, `floating64` | `FLOAT4`, `FLOAT8` |
//! | `str` | `TEXT` (read: `TEXT`, `VARCHAR`, `CHAR(n)`) |
//! | `binary` | `BYTEA` |
//! | `date`, `time`, `datetime` | `DATE`, `TIME`, `TIMESTAMP` (read: `TIMESTAMPTZ` too, in UTC) |
//! | `timestamp` (seconds since the epoch; parameter) | `TIMESTAMPTZ` |
//! | `uuid` | `UUID` |
//! | `jsonb` | `JSONB` |
//! | `decimal` | `NUMERIC` (within `rust_decimal`'s 28 digits) |
//! | `range-int32`, `range-int64`, `range-decimal` | `INT4RANGE`, `INT8RANGE`, `NUMRANGE` |
//! | `array-int32`, `array-int64`, `array-decimal`, `array-str` | `INT4[]`, `INT8[]`, `NUMERIC[]`, `TEXT[]` (read: `VARCHAR[]`, `CHAR(n)[]` too) |
//! | `interval` | `INTERVAL` |
//! | `db-null` | `NULL` (its type left to the server to infer) |
//! | `unsupported(bytes)` | any other column type: the value's binary wire form; its column type is `other(name)` |
//!
//! Parameters are sent typed, so PostgreSQL casts where it may (an `int32` into a `BIGINT`
//! column) and refuses where it may not (a `str` into a `UUID` column without `$1::uuid`).
//! Statements are prepared unnamed each time (nothing cached per connection), so one statement
//! may be run with parameters of different types.

use std::ops::Bound;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::{Oid, PgInterval, PgRange};
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgConnection, PgDatabaseError, PgRow, PgTypeInfo};
use sqlx::query::Query;
use sqlx::{Column, Executor, Postgres, Row, TypeInfo, ValueRef};

use crate::bindings::spin::postgres4_0_0::postgres as v4;
use crate::MAX_RESULT_BYTES;

use v4::{DbDataType, DbValue, ParameterValue, RangeBoundKind};

/// Run a statement that returns rows.
pub async fn query(
    conn: &mut PgConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<v4::RowSet, v4::Error> {
    let q = bind_all(statement, params)?;
    let mut stream = q.fetch(&mut *conn);
    let mut rows = Vec::new();
    let mut columns = None;
    let mut bytes = 0usize;
    while let Some(row) = stream.try_next().await.map_err(query_failed)? {
        if columns.is_none() {
            columns = Some(row_columns(&row));
        }
        let values = convert_row(&row)?;
        bytes += values.iter().map(value_size).sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(v4::Error::QueryFailed(v4::QueryError::Text(format!(
                "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
            ))));
        }
        rows.push(values);
    }
    drop(stream);
    let columns = match columns {
        Some(columns) => columns,
        // No rows: ask the server what the columns would have been.
        None => match conn.describe(statement).await {
            Ok(described) => described
                .columns()
                .iter()
                .map(|c| v4::Column { name: c.name().to_string(), data_type: data_type(c.type_info()) })
                .collect(),
            Err(_) => Vec::new(),
        },
    };
    Ok(v4::RowSet { columns, rows })
}

/// Run a statement; the number of rows it touched.
pub async fn execute(
    conn: &mut PgConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, v4::Error> {
    let q = bind_all(statement, params)?;
    q.execute(conn).await.map(|done| done.rows_affected()).map_err(query_failed)
}

/// Undo what a guest may have left on a connection: an open (or failed) transaction, `SET`s.
/// `false` when the connection is no longer usable.
pub async fn reset(conn: &mut PgConnection) -> bool {
    conn.execute("ROLLBACK; RESET ALL").await.is_ok()
}

fn bind_all(
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<Query<'_, Postgres, PgArguments>, v4::Error> {
    let mut q = sqlx::query(statement).persistent(false);
    for (i, param) in params.into_iter().enumerate() {
        q = bind(q, param).map_err(|e| v4::Error::BadParameter(format!("parameter ${}: {e}", i + 1)))?;
    }
    Ok(q)
}

fn bind<'q>(
    q: Query<'q, Postgres, PgArguments>,
    param: ParameterValue,
) -> Result<Query<'q, Postgres, PgArguments>, String> {
    use ParameterValue as P;
    Ok(match param {
        P::Boolean(v) => q.bind(v),
        P::Int8(v) => q.bind(i16::from(v)),
        P::Int16(v) => q.bind(v),
        P::Int32(v) => q.bind(v),
        P::Int64(v) => q.bind(v),
        P::Floating32(v) => q.bind(v),
        P::Floating64(v) => q.bind(v),
        P::Str(v) => q.bind(v),
        P::Binary(v) => q.bind(v),
        P::Date(v) => q.bind(date(v)?),
        P::Time(v) => q.bind(time(v)?),
        P::Datetime((y, mo, d, h, mi, s, ns)) => {
            q.bind(NaiveDateTime::new(date((y, mo, d))?, time((h, mi, s, ns))?))
        }
        P::Timestamp(secs) => q.bind(
            DateTime::<Utc>::from_timestamp(secs, 0)
                .ok_or_else(|| format!("invalid epoch timestamp {secs}"))?,
        ),
        P::Uuid(v) => q.bind(uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid UUID {v:?}: {e}"))?),
        P::Jsonb(v) => q.bind(
            serde_json::from_slice::<serde_json::Value>(&v)
                .map_err(|e| format!("invalid JSON {:?}: {e}", String::from_utf8_lossy(&v)))?,
        ),
        P::Decimal(v) => q.bind(decimal(&v)?),
        P::RangeInt32((lo, hi)) => q.bind(PgRange { start: bound(lo, Ok)?, end: bound(hi, Ok)? }),
        P::RangeInt64((lo, hi)) => q.bind(PgRange { start: bound(lo, Ok)?, end: bound(hi, Ok)? }),
        P::RangeDecimal((lo, hi)) => {
            q.bind(PgRange { start: bound(lo, |s| decimal(&s))?, end: bound(hi, |s| decimal(&s))? })
        }
        P::ArrayInt32(v) => q.bind(v),
        P::ArrayInt64(v) => q.bind(v),
        P::ArrayDecimal(v) => {
            q.bind(v.iter().map(|d| d.as_deref().map(decimal).transpose()).collect::<Result<Vec<_>, _>>()?)
        }
        P::ArrayStr(v) => q.bind(v),
        P::Interval(v) => q.bind(PgInterval { months: v.months, days: v.days, microseconds: v.micros }),
        P::DbNull => q.bind(Null),
    })
}

/// A `NULL` parameter whose type the server infers from where it is used.
struct Null;

impl sqlx::Type<Postgres> for Null {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0)) // "unspecified"
    }
}

impl sqlx::Encode<'_, Postgres> for Null {
    fn encode_by_ref(&self, _: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| format!("invalid date {y}-{m}-{d}"))
}

fn time((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{m}:{s}.{ns:09}"))
}

fn decimal(s: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(s).map_err(|e| format!("invalid decimal {s:?}: {e}"))
}

fn bound<W, T>(
    b: Option<(W, RangeBoundKind)>,
    convert: impl Fn(W) -> Result<T, String>,
) -> Result<Bound<T>, String> {
    Ok(match b {
        None => Bound::Unbounded,
        Some((v, RangeBoundKind::Inclusive)) => Bound::Included(convert(v)?),
        Some((v, RangeBoundKind::Exclusive)) => Bound::Excluded(convert(v)?),
    })
}

fn unbound<T, W>(b: Bound<T>, convert: impl Fn(T) -> W) -> Option<(W, RangeBoundKind)> {
    match b {
        Bound::Unbounded => None,
        Bound::Included(v) => Some((convert(v), RangeBoundKind::Inclusive)),
        Bound::Excluded(v) => Some((convert(v), RangeBoundKind::Exclusive)),
    }
}

// PostgreSQL's type OIDs (pg_type.dat): stable across releases.
mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const INT4_ARRAY: u32 = 1007;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const BPCHAR_ARRAY: u32 = 1014;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const INT8_ARRAY: u32 = 1016;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC_ARRAY: u32 = 1231;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    pub const INT4RANGE: u32 = 3904;
    pub const NUMRANGE: u32 = 3906;
    pub const INT8RANGE: u32 = 3926;
}

fn data_type(ty: &PgTypeInfo) -> DbDataType {
    match ty.oid().map(|o| o.0) {
        Some(oid::BOOL) => DbDataType::Boolean,
        Some(oid::BYTEA) => DbDataType::Binary,
        Some(oid::FLOAT4) => DbDataType::Floating32,
        Some(oid::FLOAT8) => DbDataType::Floating64,
        Some(oid::INT2) => DbDataType::Int16,
        Some(oid::INT4) => DbDataType::Int32,
        Some(oid::INT8) => DbDataType::Int64,
        Some(oid::TEXT | oid::VARCHAR | oid::BPCHAR) => DbDataType::Str,
        Some(oid::TIMESTAMP | oid::TIMESTAMPTZ) => DbDataType::Datetime,
        Some(oid::DATE) => DbDataType::Date,
        Some(oid::TIME) => DbDataType::Time,
        Some(oid::UUID) => DbDataType::Uuid,
        Some(oid::JSONB) => DbDataType::Jsonb,
        Some(oid::NUMERIC) => DbDataType::Decimal,
        Some(oid::INT4RANGE) => DbDataType::RangeInt32,
        Some(oid::INT8RANGE) => DbDataType::RangeInt64,
        Some(oid::NUMRANGE) => DbDataType::RangeDecimal,
        Some(oid::INT4_ARRAY) => DbDataType::ArrayInt32,
        Some(oid::INT8_ARRAY) => DbDataType::ArrayInt64,
        Some(oid::NUMERIC_ARRAY) => DbDataType::ArrayDecimal,
        Some(oid::TEXT_ARRAY | oid::VARCHAR_ARRAY | oid::BPCHAR_ARRAY) => DbDataType::ArrayStr,
        Some(oid::INTERVAL) => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_lowercase()),
    }
}

fn row_columns(row: &PgRow) -> Vec<v4::Column> {
    row.columns()
        .iter()
        .map(|c| v4::Column { name: c.name().to_string(), data_type: data_type(c.type_info()) })
        .collect()
}

fn convert_row(row: &PgRow) -> Result<Vec<DbValue>, v4::Error> {
    (0..row.len()).map(|i| convert_value(row, i)).collect()
}

fn convert_value(row: &PgRow, i: usize) -> Result<DbValue, v4::Error> {
    let raw = row.try_get_raw(i).map_err(conversion)?;
    if raw.is_null() {
        return Ok(DbValue::DbNull);
    }
    let oid = raw.type_info().oid().map(|o| o.0);
    Ok(match oid {
        Some(oid::BOOL) => DbValue::Boolean(row.try_get(i).map_err(conversion)?),
        Some(oid::BYTEA) => DbValue::Binary(row.try_get(i).map_err(conversion)?),
        Some(oid::FLOAT4) => DbValue::Floating32(row.try_get(i).map_err(conversion)?),
        Some(oid::FLOAT8) => DbValue::Floating64(row.try_get(i).map_err(conversion)?),
        Some(oid::INT2) => DbValue::Int16(row.try_get(i).map_err(conversion)?),
        Some(oid::INT4) => DbValue::Int32(row.try_get(i).map_err(conversion)?),
        Some(oid::INT8) => DbValue::Int64(row.try_get(i).map_err(conversion)?),
        Some(oid::TEXT | oid::VARCHAR | oid::BPCHAR) => DbValue::Str(row.try_get(i).map_err(conversion)?),
        Some(oid::TIMESTAMP) => DbValue::Datetime(datetime_tuple(row.try_get(i).map_err(conversion)?)),
        Some(oid::TIMESTAMPTZ) => DbValue::Datetime(datetime_tuple(
            row.try_get::<DateTime<Utc>, _>(i).map_err(conversion)?.naive_utc(),
        )),
        Some(oid::DATE) => DbValue::Date(date_tuple(row.try_get(i).map_err(conversion)?)),
        Some(oid::TIME) => DbValue::Time(time_tuple(row.try_get(i).map_err(conversion)?)),
        Some(oid::UUID) => DbValue::Uuid(row.try_get::<uuid::Uuid, _>(i).map_err(conversion)?.to_string()),
        Some(oid::JSONB) => {
            let json: serde_json::Value = row.try_get(i).map_err(conversion)?;
            DbValue::Jsonb(
                serde_json::to_vec(&json).map_err(|e| v4::Error::ValueConversionFailed(e.to_string()))?,
            )
        }
        Some(oid::NUMERIC) => DbValue::Decimal(row.try_get::<Decimal, _>(i).map_err(conversion)?.to_string()),
        Some(oid::INT4RANGE) => {
            let r: PgRange<i32> = row.try_get(i).map_err(conversion)?;
            DbValue::RangeInt32((unbound(r.start, |v| v), unbound(r.end, |v| v)))
        }
        Some(oid::INT8RANGE) => {
            let r: PgRange<i64> = row.try_get(i).map_err(conversion)?;
            DbValue::RangeInt64((unbound(r.start, |v| v), unbound(r.end, |v| v)))
        }
        Some(oid::NUMRANGE) => {
            let r: PgRange<Decimal> = row.try_get(i).map_err(conversion)?;
            DbValue::RangeDecimal((unbound(r.start, |v| v.to_string()), unbound(r.end, |v| v.to_string())))
        }
        Some(oid::INT4_ARRAY) => DbValue::ArrayInt32(row.try_get(i).map_err(conversion)?),
        Some(oid::INT8_ARRAY) => DbValue::ArrayInt64(row.try_get(i).map_err(conversion)?),
        Some(oid::NUMERIC_ARRAY) => {
            let v: Vec<Option<Decimal>> = row.try_get(i).map_err(conversion)?;
            DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }
        Some(oid::TEXT_ARRAY | oid::VARCHAR_ARRAY | oid::BPCHAR_ARRAY) => {
            DbValue::ArrayStr(row.try_get(i).map_err(conversion)?)
        }
        Some(oid::INTERVAL) => {
            let v: PgInterval = row.try_get(i).map_err(conversion)?;
            DbValue::Interval(v4::Interval { micros: v.microseconds, days: v.days, months: v.months })
        }
        _ => DbValue::Unsupported(
            raw.as_bytes().map_err(|e| v4::Error::ValueConversionFailed(e.to_string()))?.to_vec(),
        ),
    })
}

fn date_tuple(d: NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time_tuple(t: NaiveTime) -> (u8, u8, u8, u32) {
    (t.hour() as u8, t.minute() as u8, t.second() as u8, t.nanosecond())
}

fn datetime_tuple(dt: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let ((y, mo, d), (h, mi, s, ns)) = (date_tuple(dt.date()), time_tuple(dt.time()));
    (y, mo, d, h, mi, s, ns)
}

/// Roughly how many bytes a value holds (for the result-size limit).
fn value_size(v: &DbValue) -> usize {
    match v {
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
        DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
        DbValue::ArrayStr(v) | DbValue::ArrayDecimal(v) => {
            v.iter().map(|s| s.as_ref().map_or(1, String::len)).sum()
        }
        DbValue::ArrayInt32(v) => v.len() * 4,
        DbValue::ArrayInt64(v) => v.len() * 8,
        _ => 16,
    }
}

fn conversion(e: sqlx::Error) -> v4::Error {
    v4::Error::ValueConversionFailed(e.to_string())
}

/// A failed statement: PostgreSQL's own error, fields and all, where the server sent one.
pub fn query_failed(e: sqlx::Error) -> v4::Error {
    let as_text = e.to_string();
    let db = match &e {
        sqlx::Error::Database(db) => db.try_downcast_ref::<PgDatabaseError>(),
        _ => None,
    };
    let Some(db) = db else {
        return v4::Error::QueryFailed(v4::QueryError::Text(as_text));
    };
    let mut extras = Vec::new();
    let mut extra = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            extras.push((name.to_string(), value.to_string()));
        }
    };
    extra("column", db.column());
    extra("constraint", db.constraint());
    extra("routine", db.routine());
    extra("hint", db.hint());
    extra("table", db.table());
    extra("datatype", db.data_type());
    extra("schema", db.schema());
    extra("file", db.file());
    extra("line", db.line().map(|l| l.to_string()).as_deref());
    extra("where_", db.r#where());
    v4::Error::QueryFailed(v4::QueryError::DbError(v4::DbError {
        as_text,
        severity: format!("{:?}", db.severity()).to_uppercase(),
        code: db.code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        extras,
    }))
}
