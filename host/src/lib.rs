//! # riff
//!
//! A wasmtime host that runs Spin-compatible WASI components described by a `spin.toml`, and
//! gives each one only the capabilities the manifest grants it: HTTP (in and out), key-value,
//! SQL and variables.
//!
//! The pieces, one idea per module:
//!
//! * [`manifest`] reads and validates `spin.toml`;
//! * [`runtime_config`] picks a backend per store and database label;
//! * [`engine`] owns the wasmtime `Engine` (pooling, epochs, compile cache);
//! * [`loader`] turns a manifest entry and its code into a component ready to serve;
//! * [`app`] holds the loaded components and runs a request in a fresh store;
//! * [`reload`] swaps one component, rolls it back or applies a changed manifest while serving,
//!   through the admin API or a file watcher;
//! * [`trigger`] is the HTTP server and router;
//! * [`capabilities`] implements every host interface, one module per capability;
//! * [`builder`] runs components' build commands.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use riff::{app::{App, AppOptions}, manifest, trigger};
//!
//! let manifest = manifest::load("spin.toml".as_ref())?;
//! let options = AppOptions { state_dir: ".riff".into(), runtime_config: None, cache_dir: None };
//! let app = App::load(&manifest, &options).await?;
//! let listener = trigger::http::bind("127.0.0.1:3000".parse()?, "--listen").await?;
//! let options = trigger::http::ServerOptions::default();
//! trigger::http::serve(app, listener, options, std::future::pending()).await
//! # }
//! ```

pub mod app;
pub mod builder;
pub mod capabilities;
pub mod engine;
pub mod instances;
pub mod loader;
pub mod manifest;
pub mod reload;
pub mod runtime_config;
pub mod sqlite;
pub mod state;
pub mod trigger;
