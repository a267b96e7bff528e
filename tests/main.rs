//! Riff's integration tests, one binary: each module starts real `riff up` processes on free
//! ports (their own state directories) and drives them over HTTP. Shared helpers — the harness,
//! a listener's session, waiting on conditions, requests released at once — live in [`common`].
//!
//! Run one area with a filter: `cargo test --test integration auth::`.

mod common;

mod auth;
mod capabilities;
mod catalog;
mod chinook;
mod cluster;
mod cluster_outages;
mod cron;
mod faults;
mod front_door;
mod hot_reload;
mod http_trigger;
mod journey;
mod manifest_errors;
mod new_project;
mod payment;
mod payment_stripe;
mod queue;
mod rdbms;
mod recommend;
mod redis_mqtt;
mod registry;
mod search;
mod services;
mod transactions;
mod wasip3;
mod watch;
