//! `riff:platform/sql` transactions through a real component: committed transfers are whole,
//! a trap half-way or a transaction left open leaves nothing, concurrent transfers all land,
//! and a warm instance does not carry an open transaction into its next request.

use crate::common::*;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "ledger"
[[trigger.http]]
route = "/ledger/..."
component = "ledger"
[component.ledger]
source = "{wasm}/ledger.wasm"
sqlite_databases = ["ledger"]
"#;

fn post(riff: &Riff, path: &str) -> u16 {
    client().post(riff.url(path)).send().unwrap_or_else(|e| panic!("POST {path}: {e}")).status().as_u16()
}

fn rows(riff: &Riff) -> u64 {
    let (status, body) = get(&riff.url("/ledger/rows"));
    assert_eq!(status, 200, "{body}");
    body.parse().unwrap()
}

fn check(riff: &Riff) {
    assert_eq!(post(riff, "/ledger/transfer?amount=5"), 200);
    assert_eq!(rows(riff), 2, "a committed transfer writes both rows");
    assert_eq!(post(riff, "/ledger/transfer?amount=5&fail=trap"), 500);
    assert_eq!(rows(riff), 2, "a trap between the writes leaves nothing");
    assert_eq!(post(riff, "/ledger/transfer?amount=5&fail=rollback"), 200);
    assert_eq!(rows(riff), 2, "rolled back");
    assert_eq!(post(riff, "/ledger/transfer?amount=5&fail=leave"), 200);
    assert_eq!(rows(riff), 2, "a transaction left open ends with its request, rolled back");
    assert!(!riff.log().contains("database is locked"), "{}", riff.log());

    // Ten transfers at once: each waits its turn for the write lock; all land.
    let statuses = all_at_once(10, |_| post(riff, "/ledger/transfer?amount=1"));
    assert_eq!(count(&statuses, 200), 10, "{statuses:?}");
    assert_eq!(rows(riff), 22);
}

#[test]
fn transactions_are_all_or_nothing() {
    check(&Riff::start(APP));
}

#[test]
fn a_warm_instance_does_not_keep_a_transaction_open() {
    let app = format!("{APP}[component.ledger.tool.riff]\ninstance_reuse = {{ max_requests = 100 }}\n");
    let riff = Riff::start(&app);
    check(&riff);
    assert!(riff.wait_for_log("a transaction left open was rolled back"), "{}", riff.log());
}

#[test]
fn transactions_need_the_grant() {
    let ungranted = APP.replace("sqlite_databases = [\"ledger\"]", "sqlite_databases = []");
    let riff = Riff::start(&ungranted);
    let (status, body) = get(&riff.url("/ledger/rows"));
    assert_eq!(status, 500);
    assert!(body.contains("AccessDenied"), "{body}");
    drop(riff);
    // The label exists (another component has it) but is not granted to this one.
    let riff = Riff::start(&format!(
        "{ungranted}[component.other]\nsource = \"{{wasm}}/hello.wasm\"\nsqlite_databases = [\"ledger\"]\n"
    ));
    let (status, body) = get(&riff.url("/ledger/rows"));
    assert_eq!(status, 500);
    assert!(body.contains("AccessDenied"), "{body}");
}
