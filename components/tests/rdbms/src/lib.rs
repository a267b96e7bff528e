//! Test component built with spin-sdk 5.2 for Spin's outbound relational database interfaces,
//! so the integration tests can drive the host's PostgreSQL and MySQL support from the outside.
//!
//! | path | does |
//! | --- | --- |
//! | `POST /pg2`, `/pg3`, `/pg4`, `/mysql` | opens `address` with `spin_sdk::pg` / `pg3` / `pg4` / `mysql`, runs `steps` on that one connection, answers every outcome as JSON |
//! | `GET /pg4/docs?address=`, `/mysql/docs?address=` | the round trip Spin's documentation shows: create, insert with `.into()` parameters, read back with `Decode` |
//!
//! The step body is `{"address": "...", "steps": [{"sql": "...", "params": [...], "query": bool}]}`.
//! Values (parameters in, row values out) are one-key objects named after the WIT case:
//! `{"int32": 5}`, `{"str": "x"}`, `{"binary": [1, 2]}`, `{"date": [2024, 2, 29]}`,
//! `{"range-int32": [[1, "inclusive"], null]}`, `{"jsonb": {...}}`, `{"interval": [micros, days, months]}`,
//! and the bare strings `"db-null"` and `"unsupported"`. An error is
//! `{"error": {"kind": "query-failed", "message": "..."}}` (v4 adds PostgreSQL's `code`).
//! The component always answers 200 with what happened: a failed open or statement is data.

use anyhow::{anyhow, Result};
use serde_json::{json, Value as Json};
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Result<impl IntoResponse> {
    let path = req
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| req.path().to_string());
    let query = req.query().to_string();
    let address =
        query.split('&').find_map(|kv| kv.strip_prefix("address=")).map(decode_component).unwrap_or_default();
    let outcome = match path.as_str() {
        "/pg2" => body(&req).and_then(|b| v2::run_pg(&b)),
        "/pg3" => body(&req).and_then(|b| v3::run(&b)),
        "/pg4" => body(&req).and_then(|b| v4::run(&b)),
        "/mysql" => body(&req).and_then(|b| v2::run_mysql(&b)),
        "/pg4/docs" => v4::docs(&address),
        "/mysql/docs" => v2::mysql_docs(&address),
        _ => return Ok(Response::builder().status(404).body(format!("nothing at {path}")).build()),
    };
    let (status, json) = match outcome {
        Ok(json) => (200, json),
        Err(e) => (400, json!({ "bad_request": e.to_string() })),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(json.to_string())
        .build())
}

fn body(req: &Request) -> Result<Json> {
    serde_json::from_slice(req.body()).map_err(|e| anyhow!("body is not JSON: {e}"))
}

/// `%xx` escapes in a query-string value.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One step of a request body.
struct Step {
    sql: String,
    params: Vec<Json>,
    query: bool,
}

fn steps(body: &Json) -> Result<(String, Vec<Step>)> {
    let address = body["address"].as_str().ok_or_else(|| anyhow!("no address"))?.to_string();
    let steps = body["steps"]
        .as_array()
        .ok_or_else(|| anyhow!("no steps"))?
        .iter()
        .map(|s| {
            Ok(Step {
                sql: s["sql"].as_str().ok_or_else(|| anyhow!("a step without sql"))?.to_string(),
                params: s["params"].as_array().cloned().unwrap_or_default(),
                query: s["query"].as_bool().unwrap_or(false),
            })
        })
        .collect::<Result<_>>()?;
    Ok((address, steps))
}

/// A parameter's tag and payload: `{"int32": 5}` or `"db-null"`.
fn tagged(v: &Json) -> Result<(&str, &Json)> {
    match v {
        Json::String(s) => Ok((s.as_str(), &Json::Null)),
        Json::Object(o) if o.len() == 1 => {
            let (k, v) = o.iter().next().expect("one entry");
            Ok((k.as_str(), v))
        }
        other => Err(anyhow!("a parameter is {{\"case\": value}}, not {other}")),
    }
}

fn int<T: TryFrom<i64>>(v: &Json) -> Result<T> {
    v.as_i64().and_then(|n| T::try_from(n).ok()).ok_or_else(|| anyhow!("{v} is not in range"))
}

fn uint<T: TryFrom<u64>>(v: &Json) -> Result<T> {
    v.as_u64().and_then(|n| T::try_from(n).ok()).ok_or_else(|| anyhow!("{v} is not in range"))
}

fn float(v: &Json) -> Result<f64> {
    v.as_f64().ok_or_else(|| anyhow!("{v} is not a number"))
}

fn string(v: &Json) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| anyhow!("{v} is not a string"))
}

fn bytes(v: &Json) -> Result<Vec<u8>> {
    v.as_array().ok_or_else(|| anyhow!("{v} is not a byte list"))?.iter().map(uint).collect()
}

fn tuple<const N: usize>(v: &Json) -> Result<[i64; N]> {
    let items = v.as_array().filter(|a| a.len() == N).ok_or_else(|| anyhow!("{v} is not {N} numbers"))?;
    let mut out = [0; N];
    for (o, i) in out.iter_mut().zip(items) {
        *o = i.as_i64().ok_or_else(|| anyhow!("{i} is not an integer"))?;
    }
    Ok(out)
}

fn narrow<T: TryFrom<i64>>(n: i64) -> Result<T> {
    T::try_from(n).map_err(|_| anyhow!("{n} is out of range"))
}

fn date(v: &Json) -> Result<(i32, u8, u8)> {
    let [y, m, d] = tuple::<3>(v)?;
    Ok((narrow(y)?, narrow(m)?, narrow(d)?))
}

fn time(v: &Json) -> Result<(u8, u8, u8, u32)> {
    let [h, m, s, ns] = tuple::<4>(v)?;
    Ok((narrow(h)?, narrow(m)?, narrow(s)?, narrow(ns)?))
}

fn datetime(v: &Json) -> Result<(i32, u8, u8, u8, u8, u8, u32)> {
    let [y, mo, d, h, mi, s, ns] = tuple::<7>(v)?;
    Ok((narrow(y)?, narrow(mo)?, narrow(d)?, narrow(h)?, narrow(mi)?, narrow(s)?, narrow(ns)?))
}

/// The cases every interface shares, as a parameter of `$P`.
macro_rules! common_param {
    ($P:ident, $tag:expr, $v:expr) => {
        match $tag {
            "boolean" => Some($P::Boolean($v.as_bool().ok_or_else(|| anyhow!("{} is not a bool", $v))?)),
            "int8" => Some($P::Int8(int($v)?)),
            "int16" => Some($P::Int16(int($v)?)),
            "int32" => Some($P::Int32(int($v)?)),
            "int64" => Some($P::Int64(int($v)?)),
            "floating32" => Some($P::Floating32(float($v)? as f32)),
            "floating64" => Some($P::Floating64(float($v)?)),
            "str" => Some($P::Str(string($v)?)),
            "binary" => Some($P::Binary(bytes($v)?)),
            "db-null" => Some($P::DbNull),
            _ => None,
        }
    };
}

/// The cases every interface shares, as JSON, from a value of `$V`.
macro_rules! common_value {
    ($V:ident, $value:expr) => {
        match $value {
            $V::Boolean(v) => Some(json!({ "boolean": v })),
            $V::Int8(v) => Some(json!({ "int8": v })),
            $V::Int16(v) => Some(json!({ "int16": v })),
            $V::Int32(v) => Some(json!({ "int32": v })),
            $V::Int64(v) => Some(json!({ "int64": v })),
            $V::Floating32(v) => Some(json!({ "floating32": v })),
            $V::Floating64(v) => Some(json!({ "floating64": v })),
            $V::Str(v) => Some(json!({ "str": v })),
            $V::Binary(v) => Some(json!({ "binary": v })),
            $V::DbNull => Some(json!("db-null")),
            _ => None,
        }
    };
}

/// The column types every interface shares, by their WIT names.
macro_rules! common_type {
    ($T:ident, $t:expr) => {
        match $t {
            $T::Boolean => Some("boolean"),
            $T::Int8 => Some("int8"),
            $T::Int16 => Some("int16"),
            $T::Int32 => Some("int32"),
            $T::Int64 => Some("int64"),
            $T::Floating32 => Some("floating32"),
            $T::Floating64 => Some("floating64"),
            $T::Str => Some("str"),
            $T::Binary => Some("binary"),
            _ => None,
        }
    };
}

/// Run the steps on one connection of one interface; `$open` opens, `$param` and `$row_set`
/// and `$error` convert.
macro_rules! run_steps {
    ($Connection:ty, $body:expr, $param:expr, $row_set:expr, $error:expr, $affected:expr) => {{
        let (address, steps) = steps($body)?;
        let conn = match <$Connection>::open(&address) {
            Ok(conn) => conn,
            Err(e) => return Ok(json!({ "open_error": $error(e) })),
        };
        let mut results = Vec::new();
        for step in steps {
            let params = step.params.iter().map($param).collect::<Result<Vec<_>>>()?;
            let outcome = if step.query {
                conn.query(&step.sql, &params).map($row_set)
            } else {
                conn.execute(&step.sql, &params).map($affected)
            };
            results.push(match outcome {
                Ok(json) => json,
                Err(e) => json!({ "error": $error(e) }),
            });
        }
        Ok(json!({ "results": results }))
    }};
}

/// `fermyon:spin/postgres@2.0.0` and `fermyon:spin/mysql@2.0.0`: both speak `rdbms-types`.
mod v2 {
    use super::*;
    use spin_sdk::mysql::{self, Decode as _};
    use spin_sdk::pg::{self, DbDataType, DbValue, ParameterValue as P, PgError as Error, RowSet};

    fn param(v: &Json) -> Result<P> {
        let (tag, v) = tagged(v)?;
        if let Some(p) = common_param!(P, tag, v) {
            return Ok(p);
        }
        Ok(match tag {
            "uint8" => P::Uint8(uint(v)?),
            "uint16" => P::Uint16(uint(v)?),
            "uint32" => P::Uint32(uint(v)?),
            "uint64" => P::Uint64(uint(v)?),
            other => return Err(anyhow!("rdbms-types has no parameter case {other:?}")),
        })
    }

    fn value(v: &DbValue) -> Json {
        if let Some(json) = common_value!(DbValue, v) {
            return json;
        }
        match v {
            DbValue::Uint8(v) => json!({ "uint8": v }),
            DbValue::Uint16(v) => json!({ "uint16": v }),
            DbValue::Uint32(v) => json!({ "uint32": v }),
            DbValue::Uint64(v) => json!({ "uint64": v }),
            _ => json!("unsupported"),
        }
    }

    fn data_type(t: &DbDataType) -> String {
        let name = common_type!(DbDataType, t).unwrap_or(match t {
            DbDataType::Uint8 => "uint8",
            DbDataType::Uint16 => "uint16",
            DbDataType::Uint32 => "uint32",
            DbDataType::Uint64 => "uint64",
            _ => "other",
        });
        name.to_string()
    }

    fn row_set(set: RowSet) -> Json {
        json!({
            "columns": set.columns.iter().map(|c| json!({ "name": c.name, "type": data_type(&c.data_type) })).collect::<Vec<_>>(),
            "rows": set.rows.iter().map(|r| r.iter().map(value).collect::<Vec<_>>()).collect::<Vec<_>>(),
        })
    }

    fn error(e: Error) -> Json {
        let (kind, message) = match e {
            Error::ConnectionFailed(m) => ("connection-failed", m),
            Error::BadParameter(m) => ("bad-parameter", m),
            Error::QueryFailed(m) => ("query-failed", m),
            Error::ValueConversionFailed(m) => ("value-conversion-failed", m),
            Error::Other(m) => ("other", m),
        };
        json!({ "kind": kind, "message": message })
    }

    pub fn run_pg(body: &Json) -> Result<Json> {
        run_steps!(pg::Connection, body, param, row_set, error, |n: u64| json!({ "affected": n }))
    }

    pub fn run_mysql(body: &Json) -> Result<Json> {
        run_steps!(mysql::Connection, body, param, row_set, error, |()| json!({ "executed": true }))
    }

    /// As Spin's MySQL documentation writes it.
    pub fn mysql_docs(address: &str) -> Result<Json> {
        let conn = mysql::Connection::open(address)?;
        conn.execute("CREATE TABLE pets (id INT NOT NULL, name VARCHAR(64) NOT NULL, prey VARCHAR(64), is_finicky BOOL NOT NULL)", &[])?;
        conn.execute(
            "INSERT INTO pets VALUES (?, ?, ?, ?)",
            &[
                mysql::ParameterValue::Int32(1),
                mysql::ParameterValue::Str("Rover".to_owned()),
                mysql::ParameterValue::DbNull,
                mysql::ParameterValue::Boolean(false),
            ],
        )?;
        let rowset = conn.query(
            "SELECT id, name, prey, is_finicky FROM pets WHERE id = ?",
            &[mysql::ParameterValue::Int32(1)],
        )?;
        let pets = rowset
            .rows
            .iter()
            .map(|row| {
                Ok(json!({
                    "id": i32::decode(&row[0])?,
                    "name": String::decode(&row[1])?,
                    "prey": Option::<String>::decode(&row[2])?,
                    "is_finicky": bool::decode(&row[3])?,
                }))
            })
            .collect::<Result<Vec<_>, mysql::Error>>()?;
        Ok(json!({ "pets": pets }))
    }
}

/// `spin:postgres/postgres@3.0.0`.
mod v3 {
    use super::*;
    use spin_sdk::pg3::{Connection, DbDataType, DbValue, ParameterValue as P, PgError as Error, RowSet};

    fn param(v: &Json) -> Result<P> {
        let (tag, v) = tagged(v)?;
        if let Some(p) = common_param!(P, tag, v) {
            return Ok(p);
        }
        Ok(match tag {
            "date" => P::Date(date(v)?),
            "time" => P::Time(time(v)?),
            "datetime" => P::Datetime(datetime(v)?),
            "timestamp" => P::Timestamp(int(v)?),
            other => return Err(anyhow!("pg3 has no parameter case {other:?}")),
        })
    }

    fn value(v: &DbValue) -> Json {
        if let Some(json) = common_value!(DbValue, v) {
            return json;
        }
        match v {
            DbValue::Date((y, m, d)) => json!({ "date": [y, m, d] }),
            DbValue::Time((h, m, s, ns)) => json!({ "time": [h, m, s, ns] }),
            DbValue::Datetime((y, mo, d, h, mi, s, ns)) => json!({ "datetime": [y, mo, d, h, mi, s, ns] }),
            DbValue::Timestamp(t) => json!({ "timestamp": t }),
            _ => json!("unsupported"),
        }
    }

    fn row_set(set: RowSet) -> Json {
        let data_type = |t: &DbDataType| {
            common_type!(DbDataType, t).unwrap_or(match t {
                DbDataType::Date => "date",
                DbDataType::Time => "time",
                DbDataType::Datetime => "datetime",
                DbDataType::Timestamp => "timestamp",
                _ => "other",
            })
        };
        json!({
            "columns": set.columns.iter().map(|c| json!({ "name": c.name, "type": data_type(&c.data_type) })).collect::<Vec<_>>(),
            "rows": set.rows.iter().map(|r| r.iter().map(value).collect::<Vec<_>>()).collect::<Vec<_>>(),
        })
    }

    fn error(e: Error) -> Json {
        let (kind, message) = match e {
            Error::ConnectionFailed(m) => ("connection-failed", m),
            Error::BadParameter(m) => ("bad-parameter", m),
            Error::QueryFailed(m) => ("query-failed", m),
            Error::ValueConversionFailed(m) => ("value-conversion-failed", m),
            Error::Other(m) => ("other", m),
        };
        json!({ "kind": kind, "message": message })
    }

    pub fn run(body: &Json) -> Result<Json> {
        run_steps!(Connection, body, param, row_set, error, |n: u64| json!({ "affected": n }))
    }
}

/// `spin:postgres/postgres@4.0.0`.
mod v4 {
    use super::*;
    use spin_sdk::pg4::{
        Connection, DbDataType, DbValue, Decode as _, Interval, ParameterValue as P, PgError as Error,
        QueryError, RangeBoundKind, RowSet,
    };

    fn kind(v: &Json) -> Result<RangeBoundKind> {
        match v.as_str() {
            Some("inclusive") => Ok(RangeBoundKind::Inclusive),
            Some("exclusive") => Ok(RangeBoundKind::Exclusive),
            _ => Err(anyhow!("{v} is not inclusive or exclusive")),
        }
    }

    fn kind_name(k: &RangeBoundKind) -> &'static str {
        match k {
            RangeBoundKind::Inclusive => "inclusive",
            RangeBoundKind::Exclusive => "exclusive",
        }
    }

    type Bound<T> = Option<(T, RangeBoundKind)>;

    fn range<T>(v: &Json, each: impl Fn(&Json) -> Result<T>) -> Result<(Bound<T>, Bound<T>)> {
        let ends =
            v.as_array().filter(|a| a.len() == 2).ok_or_else(|| anyhow!("{v} is not [lower, upper]"))?;
        let end = |e: &Json| -> Result<Bound<T>> {
            match e {
                Json::Null => Ok(None),
                Json::Array(a) if a.len() == 2 => Ok(Some((each(&a[0])?, kind(&a[1])?))),
                other => Err(anyhow!("{other} is not null or [value, kind]")),
            }
        };
        Ok((end(&ends[0])?, end(&ends[1])?))
    }

    fn range_json<T: Clone + Into<Json>>((lo, hi): &(Bound<T>, Bound<T>)) -> Json {
        let end = |b: &Bound<T>| match b {
            None => Json::Null,
            Some((v, k)) => json!([v.clone().into(), kind_name(k)]),
        };
        json!([end(lo), end(hi)])
    }

    fn list<T>(v: &Json, each: impl Fn(&Json) -> Result<T>) -> Result<Vec<Option<T>>> {
        v.as_array()
            .ok_or_else(|| anyhow!("{v} is not a list"))?
            .iter()
            .map(|e| if e.is_null() { Ok(None) } else { each(e).map(Some) })
            .collect()
    }

    fn param(v: &Json) -> Result<P> {
        let (tag, v) = tagged(v)?;
        if let Some(p) = common_param!(P, tag, v) {
            return Ok(p);
        }
        Ok(match tag {
            "date" => P::Date(date(v)?),
            "time" => P::Time(time(v)?),
            "datetime" => P::Datetime(datetime(v)?),
            "timestamp" => P::Timestamp(int(v)?),
            "uuid" => P::Uuid(string(v)?),
            "jsonb" => P::Jsonb(serde_json::to_vec(v)?),
            "jsonb-text" => P::Jsonb(string(v)?.into_bytes()),
            "decimal" => P::Decimal(string(v)?),
            "range-int32" => P::RangeInt32(range(v, int)?),
            "range-int64" => P::RangeInt64(range(v, int)?),
            "range-decimal" => P::RangeDecimal(range(v, string)?),
            "array-int32" => P::ArrayInt32(list(v, int)?),
            "array-int64" => P::ArrayInt64(list(v, int)?),
            "array-decimal" => P::ArrayDecimal(list(v, string)?),
            "array-str" => P::ArrayStr(list(v, string)?),
            "interval" => {
                let [micros, days, months] = tuple::<3>(v)?;
                P::Interval(Interval { micros, days: narrow(days)?, months: narrow(months)? })
            }
            other => return Err(anyhow!("pg4 has no parameter case {other:?}")),
        })
    }

    fn value(v: &DbValue) -> Json {
        if let Some(json) = common_value!(DbValue, v) {
            return json;
        }
        match v {
            DbValue::Date((y, m, d)) => json!({ "date": [y, m, d] }),
            DbValue::Time((h, m, s, ns)) => json!({ "time": [h, m, s, ns] }),
            DbValue::Datetime((y, mo, d, h, mi, s, ns)) => json!({ "datetime": [y, mo, d, h, mi, s, ns] }),
            DbValue::Timestamp(t) => json!({ "timestamp": t }),
            DbValue::Uuid(u) => json!({ "uuid": u }),
            DbValue::Jsonb(b) => match serde_json::from_slice::<Json>(b) {
                Ok(j) => json!({ "jsonb": j }),
                Err(_) => json!({ "jsonb-bytes": b }),
            },
            DbValue::Decimal(d) => json!({ "decimal": d }),
            DbValue::RangeInt32(r) => json!({ "range-int32": range_json(r) }),
            DbValue::RangeInt64(r) => json!({ "range-int64": range_json(r) }),
            DbValue::RangeDecimal(r) => json!({ "range-decimal": range_json(r) }),
            DbValue::ArrayInt32(a) => json!({ "array-int32": a }),
            DbValue::ArrayInt64(a) => json!({ "array-int64": a }),
            DbValue::ArrayDecimal(a) => json!({ "array-decimal": a }),
            DbValue::ArrayStr(a) => json!({ "array-str": a }),
            DbValue::Interval(i) => json!({ "interval": [i.micros, i.days, i.months] }),
            DbValue::Unsupported(b) => json!({ "unsupported": b }),
            _ => json!("unexpected"),
        }
    }

    fn data_type(t: &DbDataType) -> String {
        if let Some(name) = common_type!(DbDataType, t) {
            return name.to_string();
        }
        let name = match t {
            DbDataType::Date => "date",
            DbDataType::Time => "time",
            DbDataType::Datetime => "datetime",
            DbDataType::Timestamp => "timestamp",
            DbDataType::Uuid => "uuid",
            DbDataType::Jsonb => "jsonb",
            DbDataType::Decimal => "decimal",
            DbDataType::RangeInt32 => "range-int32",
            DbDataType::RangeInt64 => "range-int64",
            DbDataType::RangeDecimal => "range-decimal",
            DbDataType::ArrayInt32 => "array-int32",
            DbDataType::ArrayInt64 => "array-int64",
            DbDataType::ArrayDecimal => "array-decimal",
            DbDataType::ArrayStr => "array-str",
            DbDataType::Interval => "interval",
            DbDataType::Other(name) => return format!("other:{name}"),
            _ => "unexpected",
        };
        name.to_string()
    }

    fn row_set(set: RowSet) -> Json {
        json!({
            "columns": set.columns.iter().map(|c| json!({ "name": c.name, "type": data_type(&c.data_type) })).collect::<Vec<_>>(),
            "rows": set.rows.iter().map(|r| r.iter().map(value).collect::<Vec<_>>()).collect::<Vec<_>>(),
        })
    }

    fn error(e: Error) -> Json {
        match e {
            Error::ConnectionFailed(m) => json!({ "kind": "connection-failed", "message": m }),
            Error::BadParameter(m) => json!({ "kind": "bad-parameter", "message": m }),
            Error::QueryFailed(QueryError::Text(m)) => json!({ "kind": "query-failed", "message": m }),
            Error::QueryFailed(QueryError::DbError(db)) => json!({
                "kind": "query-failed",
                "message": db.as_text,
                "code": db.code,
                "severity": db.severity,
                "db_message": db.message,
            }),
            Error::ValueConversionFailed(m) => json!({ "kind": "value-conversion-failed", "message": m }),
            Error::Other(m) => json!({ "kind": "other", "message": m }),
        }
    }

    pub fn run(body: &Json) -> Result<Json> {
        run_steps!(Connection, body, param, row_set, error, |n: u64| json!({ "affected": n }))
    }

    /// As Spin's PostgreSQL documentation writes it.
    pub fn docs(address: &str) -> Result<Json> {
        let db = Connection::open(address)?;
        db.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL, age SMALLINT)", &[])?;
        db.execute(
            "INSERT INTO users (name, age) VALUES ($1, $2)",
            &["Baldrick".to_owned().into(), 32i16.into()],
        )?;
        db.execute(
            "INSERT INTO users (name, age) VALUES ($1, $2)",
            &["Blackadder".to_owned().into(), 35i16.into()],
        )?;
        let min_age: i16 = 33;
        let query_result = db.query("SELECT * FROM users WHERE age >= $1", &[min_age.into()])?;
        let name_index =
            query_result.columns.iter().position(|c| c.name == "name").ok_or_else(|| anyhow!("no name"))?;
        let mut names = Vec::new();
        for row in &query_result.rows {
            names.push(String::decode(&row[name_index])?);
        }
        let count = db.query("SELECT COUNT(*) FROM users", &[])?;
        let count = i64::decode(&count.rows[0][0])?;
        let ages: Vec<Option<i16>> =
            db.query("SELECT age FROM users ORDER BY id", &[])?.rows().map(|r| r.get::<i16>("age")).collect();
        let deleted = db.execute("DELETE FROM users WHERE name = $1", &["Baldrick".to_owned().into()])?;
        Ok(json!({ "names": names, "count": count, "ages": ages, "deleted": deleted }))
    }
}
