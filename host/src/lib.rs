//! # riff
//!
//! A wasmtime host that runs Spin-compatible WASI components described by a `spin.toml`, and
//! gives each one only the capabilities the manifest grants it: HTTP (in and out), key-value,
//! SQL, messaging and variables.
//!
//! This crate is the top of the host: the composition root. What it builds on are crates of
//! their own (see README's Layout): `riff-manifest` (the spin.toml model), `riff-core` (engine,
//! instance lifecycle), one crate per capability (`riff-key-value`, `riff-sql`,
//! `riff-messaging`, `riff-variables`, `riff-outbound-http`) and `riff-runtime-config` (which
//! backend serves each store), and the triggers `riff-trigger-http` (the server, calling the app
//! through `HttpHandler`), `riff-trigger-queue` (the dispatcher, through `Subscriber`),
//! `riff-trigger-cron` (through `CronRunner`) and `riff-trigger-redis` (through `MessageHandler`). Here, one idea per module, lower ones first:
//!
//! * [`runtime`]: a component's grants and limits, one field per capability;
//! * [`state`]: the store data of one instance, lending each capability its view;
//! * [`capabilities`]: the one place the capabilities are added to the linker, and typed calls;
//! * [`component`]: a loaded, pre-instantiated component version; [`loader`] makes them;
//! * [`app`]: the live set, implementing the triggers' traits through one instance lifecycle;
//! * [`reload`]: swap, roll back, apply a changed manifest (admin API, file watcher);
//! * [`builder`]: runs components' build commands.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use riff::{app::{App, AppOptions}, manifest};
//!
//! let manifest = manifest::load("spin.toml".as_ref())?;
//! let options = AppOptions { state_dir: ".riff".into(), runtime_config: None, cache_dir: None };
//! let app = App::load(&manifest, &options).await?;
//! let listener = riff_trigger_http::bind("127.0.0.1:3000".parse()?, "--listen").await?;
//! let options = riff_trigger_http::ServerOptions::default();
//! riff_trigger_http::serve(app, listener, options, std::future::pending()).await
//! # }
//! ```

pub mod app;
pub mod builder;
pub mod capabilities;
pub mod component;
pub mod deployments;
pub mod loader;
pub mod reload;
pub mod runtime;
pub mod state;

/// The manifest model (the `riff-manifest` crate), re-exported for the binary and benchmarks.
pub use riff_manifest as manifest;
