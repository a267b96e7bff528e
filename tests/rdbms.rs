//! Spin's outbound PostgreSQL (`fermyon:spin/postgres@2.0.0`, `spin:postgres@3.0.0`, `@4.0.0`)
//! and MySQL (`fermyon:spin/mysql@2.0.0`) interfaces through a real `riff up`, against the real
//! PostgreSQL and MariaDB on loopback: the `rdbms` test component (spin-sdk 5.2) opens, creates,
//! inserts with parameters of every type, reads them back; bad SQL, bad parameters, a missing
//! database and an address outside `allowed_outbound_hosts` come back as the interface's errors
//! while the component keeps answering. Each test makes its own database and drops it after.

use crate::common::*;
use riff_core::servers;
use serde_json::{json, Value};

const MYSQL: (&str, &str) = ("RIFF_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");

/// The app: the component may reach the PostgreSQL and MySQL servers' host and port, nothing else.
fn app(pg_host_port: &str, mysql_host_port: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "rdbms"

[[trigger.http]]
route = "/..."
component = "rdbms"

[component.rdbms]
source = "{{wasm}}/rdbms.wasm"
allowed_outbound_hosts = ["postgres://{pg_host_port}", "mysql://{mysql_host_port}"]
"#
    )
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// `host:port` of a server URL.
fn host_port(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port_or_known_default().unwrap_or(0))
}

/// A database of its own on the PostgreSQL server, dropped when the test ends.
struct PgDb {
    admin: String,
    name: String,
}

impl PgDb {
    fn create(test: &str) -> Option<PgDb> {
        let Some(admin) = servers::server_url(servers::POSTGRES) else {
            skip(test, "PostgreSQL must run on loopback (127.0.0.1:5432 or RIFF_TEST_POSTGRES_URL)");
            return None;
        };
        let name = servers::unique_name("riff_it");
        block_on(async {
            use sqlx::{Connection, Executor};
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connecting to PostgreSQL");
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("creating a database");
        });
        Some(PgDb { admin, name })
    }

    /// The database's URL, as the guest opens it.
    fn address(&self) -> String {
        let mut url = url::Url::parse(&self.admin).unwrap();
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        block_on(async move {
            use sqlx::{Connection, Executor};
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
            }
        });
    }
}

/// A database of its own on the MySQL / MariaDB server, dropped when the test ends.
struct MyDb {
    admin: String,
    name: String,
}

impl MyDb {
    fn create(test: &str) -> Option<MyDb> {
        let Some(admin) = servers::server_url(MYSQL) else {
            skip(test, "MariaDB / MySQL must run on loopback (127.0.0.1:3306 or RIFF_TEST_MYSQL_URL)");
            return None;
        };
        let name = servers::unique_name("riff_it");
        block_on(async {
            use sqlx::{Connection, Executor};
            let mut conn = sqlx::MySqlConnection::connect(&admin).await.expect("connecting to MySQL");
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("creating a database");
        });
        Some(MyDb { admin, name })
    }

    fn address(&self) -> String {
        let mut url = url::Url::parse(&self.admin).unwrap();
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        block_on(async move {
            use sqlx::{Connection, Executor};
            if let Ok(mut conn) = sqlx::MySqlConnection::connect(&admin).await {
                let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str()).await;
            }
        });
    }
}

/// Start the app for these servers (the other one's address need not be reachable).
fn start(pg: Option<&PgDb>, my: Option<&MyDb>) -> Riff {
    let pg = pg.map(|d| host_port(&d.admin)).unwrap_or_else(|| "127.0.0.1:5432".into());
    let my = my.map(|d| host_port(&d.admin)).unwrap_or_else(|| "127.0.0.1:3306".into());
    Riff::start(&app(&pg, &my))
}

/// Run `steps` through `/route` on one connection to `address`: the component's JSON answer.
fn run(riff: &Riff, route: &str, address: &str, steps: Value) -> Value {
    let (status, body) = post_json(&riff.url(route), &json!({ "address": address, "steps": steps }));
    assert_eq!(status, 200, "{route}: {body}");
    body
}

fn exec(sql: &str, params: Value) -> Value {
    json!({ "sql": sql, "params": params })
}

fn query(sql: &str, params: Value) -> Value {
    json!({ "sql": sql, "params": params, "query": true })
}

/// The results, each of which must not be an error.
fn results_ok(body: &Value) -> &Vec<Value> {
    let results = body["results"].as_array().unwrap_or_else(|| panic!("no results: {body}"));
    for r in results {
        assert!(r.get("error").is_none(), "a step failed: {r} (all: {body})");
    }
    results
}

fn column_types(set: &Value) -> Vec<(String, String)> {
    set["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["type"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn postgres_v4_round_trips_every_type_and_reports_errors() {
    let Some(db) = PgDb::create("rdbms::postgres_v4") else { return };
    let riff = start(Some(&db), None);
    let address = db.address();

    let create = "CREATE TABLE everything (id INT4 PRIMARY KEY, b BOOL, tiny INT2, i2 INT2, i4 INT4, i8 INT8, \
                  f4 FLOAT4, f8 FLOAT8, s TEXT, v VARCHAR(20), bin BYTEA, d DATE, tm TIME, ts TIMESTAMP, \
                  tstz TIMESTAMPTZ, u UUID, j JSONB, n NUMERIC(10,3), r4 INT4RANGE, r8 INT8RANGE, rn NUMRANGE, \
                  a4 INT4[], a8 INT8[], an NUMERIC[], astr TEXT[], iv INTERVAL, nul INT4, addr INET)";
    let values = json!([
        {"int32": 1},
        {"boolean": true},
        {"int8": -7},
        {"int16": -32768},
        {"int32": 2147483647},
        {"int64": 9223372036854775807i64},
        {"floating32": 1.5},
        {"floating64": -2.25},
        {"str": "héllo ✓"},
        {"str": "varchar"},
        {"binary": [0, 1, 255]},
        {"date": [2024, 2, 29]},
        {"time": [13, 14, 15, 123456000]},
        {"datetime": [1999, 12, 31, 23, 59, 59, 999999000]},
        {"timestamp": 1700000000},
        {"uuid": "67e55044-10b1-426f-9247-bb680e5fe0c8"},
        {"jsonb": {"a": 1, "b": [true, null]}},
        {"decimal": "12345.678"},
        {"range-int32": [[1, "inclusive"], [10, "exclusive"]]},
        {"range-int64": [[-5, "inclusive"], null]},
        {"range-decimal": [["1.5", "inclusive"], ["2.5", "exclusive"]]},
        {"array-int32": [1, null, 3]},
        {"array-int64": [9223372036854775807i64]},
        {"array-decimal": ["1.10", null]},
        {"array-str": ["a", null, "c"]},
        {"interval": [3723000004i64, 5, 14]},
        "db-null",
        {"str": "192.168.0.1"}
    ]);
    let placeholders: Vec<String> =
        (1..=28).map(|i| if i == 28 { "$28::inet".into() } else { format!("${i}") }).collect();
    let insert = format!("INSERT INTO everything VALUES ({})", placeholders.join(", "));
    let body = run(
        &riff,
        "/pg4",
        &address,
        json!([
            exec(create, json!([])),
            exec(&insert, values),
            query("SELECT * FROM everything", json!([])),
            exec("UPDATE everything SET s = $1 WHERE id = $2", json!([{"str": "changed"}, {"int64": 1}])),
            query("SELECT s FROM everything WHERE id = $1", json!([{"int32": 1}])),
            query("SELECT id, s FROM everything WHERE id = $1", json!([{"int32": 99}])),
        ]),
    );
    let results = results_ok(&body);
    assert_eq!(results[1], json!({"affected": 1}));
    let set = &results[2];
    assert_eq!(
        set["rows"][0],
        json!([
            {"int32": 1},
            {"boolean": true},
            {"int16": -7},
            {"int16": -32768},
            {"int32": 2147483647},
            {"int64": 9223372036854775807i64},
            {"floating32": 1.5},
            {"floating64": -2.25},
            {"str": "héllo ✓"},
            {"str": "varchar"},
            {"binary": [0, 1, 255]},
            {"date": [2024, 2, 29]},
            {"time": [13, 14, 15, 123456000]},
            {"datetime": [1999, 12, 31, 23, 59, 59, 999999000]},
            {"datetime": [2023, 11, 14, 22, 13, 20, 0]},
            {"uuid": "67e55044-10b1-426f-9247-bb680e5fe0c8"},
            {"jsonb": {"a": 1, "b": [true, null]}},
            {"decimal": "12345.678"},
            {"range-int32": [[1, "inclusive"], [10, "exclusive"]]},
            {"range-int64": [[-5, "inclusive"], null]},
            {"range-decimal": [["1.5", "inclusive"], ["2.5", "exclusive"]]},
            {"array-int32": [1, null, 3]},
            {"array-int64": [9223372036854775807i64]},
            {"array-decimal": ["1.10", null]},
            {"array-str": ["a", null, "c"]},
            {"interval": [3723000004i64, 5, 14]},
            "db-null",
            {"unsupported": [2, 32, 0, 4, 192, 168, 0, 1]}
        ]),
        "{set}"
    );
    let types: Vec<String> = column_types(set).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        types,
        [
            "int32",
            "boolean",
            "int16",
            "int16",
            "int32",
            "int64",
            "floating32",
            "floating64",
            "str",
            "str",
            "binary",
            "date",
            "time",
            "datetime",
            "datetime",
            "uuid",
            "jsonb",
            "decimal",
            "range-int32",
            "range-int64",
            "range-decimal",
            "array-int32",
            "array-int64",
            "array-decimal",
            "array-str",
            "interval",
            "int32",
            "other:inet"
        ]
    );
    assert_eq!(results[3], json!({"affected": 1}), "an int64 parameter against an INT4 column");
    assert_eq!(results[4]["rows"], json!([[{"str": "changed"}]]));
    assert_eq!(results[5]["rows"], json!([]));
    assert_eq!(column_types(&results[5]), [("id".into(), "int32".into()), ("s".into(), "str".into())]);

    // Errors are the interface's, with PostgreSQL's words; the connection stays usable.
    let body = run(
        &riff,
        "/pg4",
        &address,
        json!([
            query("SELECT * FROM no_such_table", json!([])),
            exec("INSERT INTO everything (id) VALUES ($1)", json!([{"int32": 1}])),
            exec(
                "INSERT INTO everything (id, u) VALUES ($1, $2)",
                json!([{"int32": 2}, {"uuid": "not-a-uuid"}])
            ),
            query("SELECT count(*) AS n FROM everything", json!([])),
        ]),
    );
    let results = body["results"].as_array().unwrap();
    let missing = &results[0]["error"];
    assert_eq!(missing["kind"], "query-failed", "{body}");
    assert_eq!(missing["code"], "42P01");
    assert_eq!(missing["severity"], "ERROR");
    assert!(missing["db_message"].as_str().unwrap().contains("no_such_table"), "{missing}");
    assert_eq!(results[1]["error"]["code"], "23505", "a duplicate key: {body}");
    assert_eq!(results[2]["error"]["kind"], "bad-parameter", "{body}");
    assert!(results[2]["error"]["message"].as_str().unwrap().contains("not-a-uuid"));
    assert_eq!(results[3]["rows"], json!([[{"int64": 1}]]));
    assert_eq!(column_types(&results[3]), [("n".into(), "int64".into())]);

    // A database that does not exist: connection-failed with the server's message.
    let mut missing_db = url::Url::parse(&address).unwrap();
    missing_db.set_path(&format!("{}_absent", db.name));
    let body = run(&riff, "/pg4", missing_db.as_str(), json!([]));
    assert_eq!(body["open_error"]["kind"], "connection-failed", "{body}");
    assert!(body["open_error"]["message"].as_str().unwrap().contains("does not exist"), "{body}");
}

#[test]
fn postgres_denies_addresses_outside_allowed_outbound_hosts_and_keeps_answering() {
    let Some(db) = PgDb::create("rdbms::postgres_denied") else { return };
    let riff = start(Some(&db), None);
    let (host, port) = {
        let url = url::Url::parse(&db.admin).unwrap();
        (url.host_str().unwrap().to_string(), url.port().unwrap_or(5432))
    };
    // Another port on the same host, a key=value string to it, a host not listed: each denied
    // before any connection is tried, on every interface version.
    let other_port = format!("postgres://postgres@{host}:{}/{}", port + 1, db.name);
    let key_value = format!("host=db.example.com port={port} user=postgres dbname={}", db.name);
    for route in ["/pg2", "/pg3", "/pg4"] {
        let body = run(&riff, route, &other_port, json!([]));
        assert_eq!(
            body["open_error"],
            json!({"kind": "connection-failed", "message": format!("address postgres://{host}:{} is not permitted", port + 1)}),
            "{route}"
        );
        let body = run(&riff, route, &key_value, json!([]));
        assert_eq!(
            body["open_error"]["message"],
            format!("address postgres://db.example.com:{port} is not permitted"),
            "{route}"
        );
    }
    // The component still answers, and the allowed address (as key=value too) opens.
    let allowed_kv = format!("host={host} port={port} user=postgres dbname={}", db.name);
    let body = run(&riff, "/pg4", &allowed_kv, json!([query("SELECT 40 + 2 AS answer", json!([]))]));
    assert_eq!(results_ok(&body)[0]["rows"], json!([[{"int32": 42}]]));
    // A MySQL address is no PostgreSQL grant.
    let body = run(&riff, "/mysql", &format!("mysql://root@{host}:{port}/x"), json!([]));
    assert_eq!(body["open_error"]["kind"], "connection-failed", "{body}");
    assert!(body["open_error"]["message"].as_str().unwrap().contains("is not permitted"), "{body}");
}

#[test]
fn postgres_v3_and_v2_map_to_their_own_types() {
    let Some(db) = PgDb::create("rdbms::postgres_v3_v2") else { return };
    let riff = start(Some(&db), None);
    let address = db.address();
    let body = run(
        &riff,
        "/pg3",
        &address,
        json!([
            exec("CREATE TABLE t (id INT8, d DATE, tm TIME, ts TIMESTAMP, tstz TIMESTAMPTZ, u UUID, s TEXT, bin BYTEA, f8 FLOAT8)", json!([])),
            exec(
                "INSERT INTO t VALUES ($1, $2, $3, $4, $5, gen_random_uuid(), $6, $7, $8)",
                json!([
                    {"int64": -1},
                    {"date": [1, 1, 1]},
                    {"time": [0, 0, 0, 0]},
                    {"datetime": [2038, 1, 19, 3, 14, 8, 0]},
                    {"timestamp": 0},
                    "db-null",
                    {"binary": []},
                    {"floating64": 0.1}
                ])
            ),
            query("SELECT id, d, tm, ts, tstz, u, s, bin, f8 FROM t", json!([])),
        ]),
    );
    let results = results_ok(&body);
    assert_eq!(results[1], json!({"affected": 1}));
    assert_eq!(
        results[2]["rows"][0],
        json!([
            {"int64": -1},
            {"date": [1, 1, 1]},
            {"time": [0, 0, 0, 0]},
            {"datetime": [2038, 1, 19, 3, 14, 8, 0]},
            {"datetime": [1970, 1, 1, 0, 0, 0, 0]},
            "unsupported",
            "db-null",
            {"binary": []},
            {"floating64": 0.1}
        ])
    );
    let types: Vec<String> = column_types(&results[2]).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        types,
        ["int64", "date", "time", "datetime", "datetime", "other", "str", "binary", "floating64"]
    );

    // v2: the basic types; a date is unsupported there; unsigned parameters are refused.
    let body = run(
        &riff,
        "/pg2",
        &address,
        json!([
            query(
                "SELECT id, d, s, bin, f8, $1::int2 AS small, $2::bool AS yes FROM t",
                json!([{"int16": 7}, {"boolean": false}])
            ),
            exec("UPDATE t SET s = $1", json!([{"str": "v2"}])),
            query("SELECT s FROM t", json!([])),
            exec("UPDATE t SET id = $1", json!([{"uint8": 1}])),
            query("SELEC 1", json!([])),
        ]),
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(
        results[0]["rows"][0],
        json!([{"int64": -1}, "unsupported", "db-null", {"binary": []}, {"floating64": 0.1}, {"int16": 7}, {"boolean": false}]),
        "{body}"
    );
    let types: Vec<String> = column_types(&results[0]).into_iter().map(|(_, t)| t).collect();
    assert_eq!(types, ["int64", "other", "str", "binary", "floating64", "int16", "boolean"]);
    assert_eq!(results[1], json!({"affected": 1}));
    assert_eq!(results[2]["rows"], json!([[{"str": "v2"}]]));
    assert_eq!(
        results[3]["error"],
        json!({"kind": "value-conversion-failed", "message": "Postgres does not support unsigned integers"})
    );
    assert_eq!(results[4]["error"]["kind"], "query-failed", "{body}");
    assert!(results[4]["error"]["message"].as_str().unwrap().contains("syntax error"), "{body}");
}

#[test]
fn postgres_as_spins_documentation_uses_it() {
    let Some(db) = PgDb::create("rdbms::postgres_docs") else { return };
    let riff = start(Some(&db), None);
    let address = db.address();
    let encoded: String = url::form_urlencoded::byte_serialize(address.as_bytes()).collect();
    let body = get_ok(&riff.url(&format!("/pg4/docs?address={encoded}")));
    assert_eq!(body, json!({"names": ["Blackadder"], "count": 2, "ages": [32, 35], "deleted": 1}));
}

#[test]
fn mysql_round_trips_every_type_and_reports_errors() {
    let Some(db) = MyDb::create("rdbms::mysql") else { return };
    let riff = start(None, Some(&db));
    let address = db.address();
    let create = "CREATE TABLE everything (id INT PRIMARY KEY, b BOOL, i1 TINYINT, u1 TINYINT UNSIGNED, \
                  i2 SMALLINT, u2 SMALLINT UNSIGNED, i4 INT, u4 INT UNSIGNED, i8 BIGINT, u8 BIGINT UNSIGNED, \
                  f4 FLOAT, f8 DOUBLE, s VARCHAR(40), t TEXT, bin VARBINARY(8), blb BLOB, dec_ DECIMAL(8,2), \
                  d DATE, dt DATETIME, nul INT)";
    let body = run(
        &riff,
        "/mysql",
        &address,
        json!([
            exec(create, json!([])),
            exec(
                "INSERT INTO everything VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                json!([
                    {"int32": 1},
                    {"boolean": true},
                    {"int8": -128},
                    {"uint8": 255},
                    {"int16": -32768},
                    {"uint16": 65535},
                    {"int32": -2147483648i64},
                    {"uint32": 4294967295u64},
                    {"int64": -9223372036854775808i64},
                    {"uint64": 18446744073709551615u64},
                    {"floating32": 1.5},
                    {"floating64": -2.25},
                    {"str": "héllo ✓"},
                    {"str": "text"},
                    {"binary": [0, 1, 255]},
                    {"binary": [7]},
                    {"str": "12.50"},
                    {"str": "2024-02-29"},
                    {"str": "2024-02-29 13:14:15"},
                    "db-null"
                ])
            ),
            query("SELECT * FROM everything", json!([])),
            query("SELECT id FROM everything WHERE id = ?", json!([{"int32": 99}])),
        ]),
    );
    let results = results_ok(&body);
    assert_eq!(results[1], json!({"executed": true}));
    assert_eq!(
        results[2]["rows"][0],
        json!([
            {"int32": 1},
            {"int8": 1},
            {"int8": -128},
            {"uint8": 255},
            {"int16": -32768},
            {"uint16": 65535},
            {"int32": -2147483648i64},
            {"uint32": 4294967295u64},
            {"int64": -9223372036854775808i64},
            {"uint64": 18446744073709551615u64},
            {"floating32": 1.5},
            {"floating64": -2.25},
            {"str": "héllo ✓"},
            {"str": "text"},
            {"binary": [0, 1, 255]},
            {"binary": [7]},
            {"str": "12.50"},
            {"str": "2024-02-29"},
            {"str": "2024-02-29 13:14:15"},
            "db-null"
        ]),
        "{body}"
    );
    let types: Vec<String> = column_types(&results[2]).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        types,
        [
            "int32",
            "int8",
            "int8",
            "uint8",
            "int16",
            "uint16",
            "int32",
            "uint32",
            "int64",
            "uint64",
            "floating32",
            "floating64",
            "str",
            "str",
            "binary",
            "binary",
            "other",
            "other",
            "other",
            "int32"
        ]
    );
    assert_eq!(results[3]["rows"], json!([]));
    assert_eq!(column_types(&results[3]), [("id".into(), "int32".into())]);

    // Errors with the server's words; the component keeps answering.
    let body = run(
        &riff,
        "/mysql",
        &address,
        json!([
            query("SELECT * FROM no_such_table", json!([])),
            exec("INSERT INTO everything (id) VALUES (?)", json!([{"int32": 1}])),
            query("SELECT COUNT(*) AS n FROM everything", json!([])),
        ]),
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["error"]["kind"], "query-failed", "{body}");
    assert!(results[0]["error"]["message"].as_str().unwrap().contains("no_such_table"), "{body}");
    assert_eq!(results[1]["error"]["kind"], "query-failed", "{body}");
    assert!(results[1]["error"]["message"].as_str().unwrap().contains("Duplicate entry"), "{body}");
    assert_eq!(results[2]["rows"], json!([[{"int64": 1}]]), "{body}");

    // Denied: a port not granted, and a host not granted.
    let (host, port) = {
        let url = url::Url::parse(&db.admin).unwrap();
        (url.host_str().unwrap().to_string(), url.port().unwrap_or(3306))
    };
    let body =
        run(&riff, "/mysql", &format!("mysql://root:secret@{host}:{}/{}", port + 1, db.name), json!([]));
    assert_eq!(
        body["open_error"],
        json!({"kind": "connection-failed", "message": format!("address mysql://{host}:{} is not permitted", port + 1)})
    );
    let body = run(&riff, "/mysql", &format!("mysql://root@db.example.com:{port}/{}", db.name), json!([]));
    assert_eq!(body["open_error"]["kind"], "connection-failed", "{body}");
    // A database that does not exist: the server's message.
    let body = run(&riff, "/mysql", &format!("{address}_absent"), json!([]));
    assert_eq!(body["open_error"]["kind"], "connection-failed", "{body}");
    assert!(body["open_error"]["message"].as_str().unwrap().contains("Unknown database"), "{body}");
    // Spin's documented usage still works after all that.
    let encoded: String = url::form_urlencoded::byte_serialize(address.as_bytes()).collect();
    let body = get_ok(&riff.url(&format!("/mysql/docs?address={encoded}")));
    assert_eq!(body, json!({"pets": [{"id": 1, "name": "Rover", "prey": null, "is_finicky": false}]}));
}

#[test]
fn connections_are_pooled_across_requests_and_come_back_clean() {
    let Some(db) = PgDb::create("rdbms::pooled") else { return };
    let riff = start(Some(&db), None);
    let address = db.address();
    let pid = |body: &Value, step: usize| body["results"][step]["rows"][0][0]["int32"].as_i64().unwrap();
    // A request that changes a setting, opens a transaction and never commits.
    let first = run(
        &riff,
        "/pg4",
        &address,
        json!([
            exec("CREATE TABLE t (n INT4)", json!([])),
            exec("SET application_name = 'left-behind'", json!([])),
            exec("BEGIN", json!([])),
            exec("INSERT INTO t VALUES (1)", json!([])),
            query("SELECT pg_backend_pid()", json!([])),
        ]),
    );
    results_ok(&first);
    // The next request gets the same server session, without the transaction or the setting.
    let second = run(
        &riff,
        "/pg4",
        &address,
        json!([
            query("SELECT count(*)::int4 FROM t", json!([])),
            query("SELECT current_setting('application_name')", json!([])),
            query("SELECT pg_backend_pid()", json!([])),
        ]),
    );
    results_ok(&second);
    assert_eq!(pid(&first, 4), pid(&second, 2), "the connection was not reused: {first} {second}");
    assert_eq!(second["results"][0]["rows"], json!([[{"int32": 0}]]), "the open transaction was rolled back");
    assert_ne!(second["results"][1]["rows"][0][0]["str"], "left-behind", "{second}");
}
