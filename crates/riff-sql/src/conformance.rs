//! The behaviour every [`SqlBackend`] must have, as one async check a backend's tests call on a
//! fresh, empty database. It panics, naming the broken expectation, at the first one that fails.
//!
//! The statements are the portable subset the music services use (`?` placeholders, `INTEGER`,
//! `REAL`, `TEXT`, `BLOB`, `RETURNING`), so a server backend that maps SQLite-flavoured SQL is
//! held to the same results.

use std::sync::Arc;
use std::time::Duration;

use crate::{Constraint, SqlBackend, SqlError, SqlValue};

/// Run every check against `db`, which must start empty.
pub async fn check(db: Arc<dyn SqlBackend>) {
    values_round_trip(&*db).await;
    errors_are_typed(&*db).await;
    transactions(db).await;
}

async fn values_round_trip(db: &dyn SqlBackend) {
    db.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)", vec![]).await.unwrap();
    let values = vec![
        SqlValue::Integer(-7),
        SqlValue::Real(2.5),
        SqlValue::Text("x'); DROP TABLE t; --".into()),
        SqlValue::Blob(vec![0, 255]),
        SqlValue::Null,
    ];
    let out = db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", values.clone()).await.unwrap();
    assert_eq!(out.rows_affected, 1, "an insert affects one row");
    let out = db.execute("SELECT * FROM t", vec![]).await.unwrap();
    assert_eq!(out.columns, vec!["i", "r", "s", "b", "n"], "column names in order");
    assert_eq!(out.rows, vec![values], "every value type round-trips; parameters stay data");
    let empty = db.execute("SELECT i, s FROM t WHERE i = ?", vec![SqlValue::Integer(1)]).await.unwrap();
    assert_eq!(empty.columns, vec!["i", "s"], "an empty result still names its columns");
    assert!(empty.rows.is_empty());
    let insert = db.execute("INSERT INTO t (i) VALUES (1)", vec![]).await.unwrap();
    assert!(insert.columns.is_empty() && insert.rows_affected == 1, "a write returns no columns");
    let returning = db.execute("DELETE FROM t WHERE i = 1 RETURNING i", vec![]).await.unwrap();
    assert_eq!(returning.columns, vec!["i"], "RETURNING names its columns");
    assert_eq!(returning.rows, vec![vec![SqlValue::Integer(1)]]);
    db.execute("DROP TABLE t", vec![]).await.unwrap();
}

async fn errors_are_typed(db: &dyn SqlBackend) {
    let missing = db.execute("SELECT * FROM nope", vec![]).await.unwrap_err();
    assert!(matches!(&missing, SqlError::Statement(m) if m.contains("nope")), "names the table: {missing:?}");
    db.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)", vec![]).await.unwrap();
    let first =
        db.execute("INSERT INTO u (name) VALUES (?)", vec![SqlValue::Text("a".into())]).await.unwrap();
    assert_eq!(first.last_insert_rowid, 1, "an INTEGER PRIMARY KEY numbers rows from 1");
    let second =
        db.execute("INSERT INTO u (name) VALUES (?)", vec![SqlValue::Text("b".into())]).await.unwrap();
    assert_eq!(second.last_insert_rowid, 2, "last_insert_rowid is the new row's key");
    assert!(
        second.columns.is_empty() && second.rows.is_empty(),
        "an INSERT without RETURNING returns no rows"
    );
    let duplicate =
        db.execute("INSERT INTO u (name) VALUES (?)", vec![SqlValue::Text("a".into())]).await.unwrap_err();
    assert!(
        matches!(duplicate, SqlError::Constraint { kind: Constraint::Unique, .. }),
        "a duplicate is a unique-constraint error: {duplicate:?}"
    );
    assert!(duplicate.is_conflict());
    let null = db.execute("INSERT INTO u (name) VALUES (NULL)", vec![]).await.unwrap_err();
    assert!(matches!(null, SqlError::Constraint { kind: Constraint::NotNull, .. }), "{null:?}");
    db.execute("DROP TABLE u", vec![]).await.unwrap();
}

async fn transactions(db: Arc<dyn SqlBackend>) {
    db.execute("CREATE TABLE x (n INTEGER)", vec![]).await.unwrap();
    let count = |n: Option<i64>| {
        let db = db.clone();
        async move {
            let out = match n {
                Some(n) => db.execute("SELECT COUNT(*) FROM x WHERE n = ?", vec![SqlValue::Integer(n)]).await,
                None => db.execute("SELECT COUNT(*) FROM x", vec![]).await,
            };
            match out.unwrap().rows[0][0] {
                SqlValue::Integer(c) => c,
                ref other => panic!("COUNT(*) is an integer, got {other:?}"),
            }
        }
    };

    let mut first = db.begin().await.unwrap();
    first.execute("INSERT INTO x VALUES (1)", vec![]).await.unwrap();
    let inside = first.execute("SELECT COUNT(*) FROM x", vec![]).await.unwrap();
    assert_eq!(inside.rows[0][0], SqlValue::Integer(1), "a transaction sees its own writes");
    assert_eq!(count(None).await, 0, "nothing is visible outside before commit");
    // A second writer waits for the first to finish.
    let db2 = db.clone();
    let second = tokio::spawn(async move {
        let mut tx = db2.begin().await.unwrap();
        tx.execute("INSERT INTO x VALUES (2)", vec![]).await.unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!second.is_finished(), "the second transaction waits for the first");
    first.commit().await.unwrap();
    second.await.unwrap();
    assert_eq!(count(None).await, 2, "both committed");

    let mut rolled_back = db.begin().await.unwrap();
    rolled_back.execute("INSERT INTO x VALUES (3)", vec![]).await.unwrap();
    rolled_back.rollback().await.unwrap();
    assert_eq!(count(Some(3)).await, 0, "rollback undoes");

    {
        let mut dropped = db.begin().await.unwrap();
        dropped.execute("INSERT INTO x VALUES (4)", vec![]).await.unwrap();
    }
    assert_eq!(count(Some(4)).await, 0, "a transaction dropped uncommitted is rolled back");
    db.execute("DROP TABLE x", vec![]).await.unwrap();
}
