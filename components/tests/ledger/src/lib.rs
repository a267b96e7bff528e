//! Test component for `riff:platform/sql` transactions, on the database labelled `ledger`.
//!
//! | route | does |
//! | --- | --- |
//! | `POST /ledger/transfer?amount=N` | debit and credit rows in one transaction, committed |
//! | `POST /ledger/transfer?amount=N&fail=trap` | the debit, then a trap before the credit |
//! | `POST /ledger/transfer?amount=N&fail=leave` | both rows, never committed nor rolled back |
//! | `POST /ledger/transfer?amount=N&fail=rollback` | both rows, then an explicit rollback |
//! | `GET /ledger/rows` | how many rows the ledger holds |

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/platform",
        inline: "
            package riff:test-ledger;
            world ledger { import riff:platform/sql@0.1.0; }
        ",
        world: "riff:test-ledger/ledger",
        generate_all,
    });
}

use bindings::riff::platform::sql::{Transaction, Value};
use spin_sdk::http::{IntoResponse, Request, Response};

fn param<'a>(req: &'a Request, key: &str) -> Option<&'a str> {
    req.query().split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

#[spin_sdk::http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let tx = Transaction::begin("ledger").map_err(|e| anyhow::anyhow!("begin: {e:?}"))?;
    tx.execute("CREATE TABLE IF NOT EXISTS entries (account TEXT NOT NULL, amount INTEGER NOT NULL)", &[])
        .map_err(|e| anyhow::anyhow!("schema: {e:?}"))?;
    let body = match req.path() {
        "/ledger/rows" => {
            let rows =
                tx.execute("SELECT COUNT(*) FROM entries", &[]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            tx.commit().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            match rows.rows.first().and_then(|r| r.first()) {
                Some(Value::Integer(n)) => n.to_string(),
                other => format!("{other:?}"),
            }
        }
        "/ledger/transfer" => {
            let amount: i64 = param(&req, "amount").and_then(|a| a.parse().ok()).unwrap_or(1);
            let insert = "INSERT INTO entries (account, amount) VALUES (?, ?)";
            tx.execute(insert, &[Value::Text("alice".into()), Value::Integer(-amount)])
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if param(&req, "fail") == Some("trap") {
                panic!("trap between the two writes");
            }
            tx.execute(insert, &[Value::Text("bob".into()), Value::Integer(amount)])
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            match param(&req, "fail") {
                Some("leave") => std::mem::forget(tx),
                Some("rollback") => tx.rollback().map_err(|e| anyhow::anyhow!("{e:?}"))?,
                _ => tx.commit().map_err(|e| anyhow::anyhow!("{e:?}"))?,
            }
            "done".to_string()
        }
        _ => return Ok(Response::builder().status(404).body("no such route").build()),
    };
    Ok(Response::builder().status(200).header("content-type", "text/plain").body(body).build())
}
