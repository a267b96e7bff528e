//! riff's outbound relational databases: Spin's PostgreSQL interfaces
//! (`fermyon:spin/postgres@2.0.0`, `spin:postgres/postgres@3.0.0` and `@4.0.0`) and its MySQL
//! interface (`fermyon:spin/mysql@2.0.0`, with `fermyon:spin/rdbms-types@2.0.0`), over sqlx.
//!
//! **One crate for both databases**, because they share everything but the wire: the
//! `connection` resource (`open(address)`, `query`, `execute`), the grant (an address in
//! `allowed_outbound_hosts`), the per-component pools ([`pool`]) and, for v2, the very same
//! `rdbms-types`. What differs — value conversion and error detail — is one module each
//! ([`postgres`], [`mysql`]). Unlike `riff-sql`, where the component names a label and the
//! operator picks the database, here the guest names the server itself, so there is no backend
//! trait: sqlx's PostgreSQL and MySQL drivers are the backends.
//!
//! **Grants**: nothing by default. `open(address)` first checks the address against the
//! component's `allowed_outbound_hosts` ([`address`]), as Spin does — `postgres://host:port` /
//! `mysql://host:port`, a missing port meaning 5432 / 3306, wildcards, ranges and `*://` as
//! everywhere else — and a denied address is the interface's `connection-failed` error, never a
//! trap. A bad address, refused connection, wrong password or missing database is
//! `connection-failed` with the server's (or driver's) message; a bad statement is
//! `query-failed` with the database's message (v4: PostgreSQL's fields too: severity, code,
//! detail, hint, ...).
//!
//! **Limits**: a query's result is held in host memory before it is handed to the guest, so it
//! is capped at [`MAX_RESULT_BYTES`]; connections per component and address are capped by the
//! pool ([`pool::MAX_CONNECTIONS`]).

// `spin:postgres@4.0.0`'s error carries PostgreSQL's error fields, as the WIT defines it; it is
// handed straight to the guest, not propagated through layers.
#![allow(clippy::result_large_err)]

pub mod address;
pub mod bindings;
pub mod host;
pub mod mysql;
pub mod pool;
pub mod postgres;

pub use host::{add_to_linker, RdbmsCtxView, RdbmsGrants, RdbmsView};

/// The largest query result (roughly, in value bytes) handed to a guest.
pub const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;
