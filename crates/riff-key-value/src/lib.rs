//! # riff-key-value
//!
//! The key-value capability: what a component may open (its grants), the host side of
//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch), and
//! the one trait every backend implements, [`KeyValueBackend`].
//!
//! * [`host`]: grants, the per-store view, [`host::add_to_linker`]. The WASI interface is the
//!   newest, so the operations are written once against it and Spin's older interface delegates.
//! * [`sqlite`]: the embedded backend (a SQLite file plus an in-memory mirror).
//! * [`redis`]: the shared backend (a Redis server), for replicas that share state.
//! * [`conformance`]: the suite every backend must pass; a new backend is accepted when it does.
//!
//! A backend is picked per store label by the runtime config's `type` (see `riff-runtime-config`):
//! adding one is a file implementing [`KeyValueBackend`] and [`MakeKeyValueStore`], plus one
//! registration line there.

pub mod conformance;
pub mod host;
pub mod redis;
pub mod spin_v3;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

/// A key-value operation that failed, in terms the guest can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `increment` on a value that is not a decimal integer.
    #[error("value at {0:?} is not an integer")]
    NotAnInteger(String),
    /// `increment` would leave the range of a 64-bit integer.
    #[error("integer overflow")]
    Overflow,
    /// The backend could not do it (I/O, connection, ...); the message says why.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

impl Error {
    /// An I/O failure of a backend.
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        Error::Unavailable(e.to_string())
    }
}

/// What `compare_and_swap` compares against: the value seen, and a backend's own version of it
/// (the embedded backend counts writes; a server backend may compare values instead).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CasSnapshot {
    pub current: Option<Vec<u8>>,
    pub version: Option<u64>,
}

/// One labelled key-value store, as a backend provides it. Implementations are shared by all
/// requests of all components granted the label, so every method takes `&self`, and
/// `increment` and `compare_and_swap` must be atomic with respect to every other write —
/// across processes, for backends that replicas share.
#[async_trait]
pub trait KeyValueBackend: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    /// Deleting an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<(), Error>;
    async fn exists(&self, key: &str) -> Result<bool, Error>;
    /// Every key, in ascending byte order.
    async fn keys(&self) -> Result<Vec<String>, Error>;
    /// Add `delta` to the decimal integer at `key` (absent counts as 0) and return the result.
    async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error>;
    /// The value at `key` now, to swap against later.
    async fn snapshot(&self, key: &str) -> Result<CasSnapshot, Error>;
    /// Write `value` only if `key` is unchanged since `seen` was taken; `false` if it changed.
    async fn compare_and_swap(&self, key: &str, seen: &CasSnapshot, value: &[u8]) -> Result<bool, Error>;
}

/// Where a backend may keep files, and the label it serves (for error messages).
#[derive(Debug, Clone)]
pub struct StoreContext {
    pub label: String,
    /// The default file for an embedded store of this label, under the state directory.
    pub default_path: PathBuf,
    /// Relative paths in the runtime config are relative to this directory.
    pub config_dir: PathBuf,
}

/// Makes stores of one backend type from its runtime-config section, as Spin's
/// `MakeKeyValueStore`. `Config` is the section without `type`; unknown keys are refused.
#[async_trait]
pub trait MakeKeyValueStore: Send + Sync + 'static {
    /// The runtime config's `type` values that select this backend.
    const TYPES: &'static [&'static str];
    type Config: serde::de::DeserializeOwned + Send;
    async fn make_store(
        &self,
        config: Self::Config,
        context: &StoreContext,
    ) -> anyhow::Result<Arc<dyn KeyValueBackend>>;
}
