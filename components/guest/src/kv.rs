//! Key-value with atomic operations, over `wasi:keyvalue` (store + atomics) from riff's vendored
//! WIT. The host runs `increment` and compare-and-swap under one write lock per store, and a
//! swap fails when the key was written since its [`Cas`](atomics::Cas) was taken; on that
//! ground this module builds what services need to stay correct under concurrent requests:
//!
//! - [`Bucket::increment`]: a counter (reserve before you act: the returned count is yours),
//! - [`Bucket::insert_if_absent`]: exactly one of N concurrent inserts of a key wins,
//! - [`Bucket::take_once`]: exactly one of N concurrent takers gets the value (consume-once),
//! - [`Bucket::update`]: a read-modify-write retried until it applies to the current value.
//!
//! Values written with `update` keep their key: the host numbers a key's versions from scratch
//! after a delete, so a key that is deleted and written again is a poor target for CAS.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{ApiError, ApiResult};

mod wasi_kv {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-2024-10-17",
        inline: "
            package riff:guest-kv;
            world kv {
                import wasi:keyvalue/store@0.2.0-draft2;
                import wasi:keyvalue/atomics@0.2.0-draft2;
            }
        ",
        world: "riff:guest-kv/kv",
        generate_all,
    });
}

use wasi_kv::wasi::keyvalue::{atomics, store};

/// How often [`Bucket::update`] re-reads and retries before giving up (503): each failed swap
/// means another writer got through, so this bounds the wait under N concurrent writers.
const MAX_SWAPS: usize = 64;

/// What an [`Bucket::update`] step decided about the current value.
pub enum Change<R> {
    /// Leave the value as it is and answer `R`.
    Keep(R),
    /// Write these bytes (if the value is still the one seen) and answer `R`.
    Write(Vec<u8>, R),
}

/// An open key-value store (a label the component was granted in `key_value_stores`).
pub struct Bucket {
    inner: store::Bucket,
    label: String,
}

/// Open store `label`.
pub fn open(label: &str) -> ApiResult<Bucket> {
    Bucket::open(label)
}

/// Atomically add `delta` to the integer at `key` of store `label` (absent counts as 0) and
/// return the new value.
pub fn increment(label: &str, key: &str, delta: i64) -> ApiResult<i64> {
    Bucket::open(label)?.increment(key, delta)
}

impl Bucket {
    pub fn open(label: &str) -> ApiResult<Bucket> {
        let inner = store::open(label).map_err(|e| store_error(label, e))?;
        Ok(Bucket { inner, label: label.to_string() })
    }

    fn error(&self, e: store::Error) -> ApiError {
        store_error(&self.label, e)
    }

    pub fn get(&self, key: &str) -> ApiResult<Option<Vec<u8>>> {
        self.inner.get(key).map_err(|e| self.error(e))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> ApiResult<()> {
        self.inner.set(key, value).map_err(|e| self.error(e))
    }

    pub fn delete(&self, key: &str) -> ApiResult<()> {
        self.inner.delete(key).map_err(|e| self.error(e))
    }

    pub fn exists(&self, key: &str) -> ApiResult<bool> {
        self.inner.exists(key).map_err(|e| self.error(e))
    }

    /// The JSON value at `key`.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> ApiResult<Option<T>> {
        self.get(key)?.map(|bytes| decode(&self.label, key, &bytes)).transpose()
    }

    pub fn set_json<T: Serialize>(&self, key: &str, value: &T) -> ApiResult<()> {
        self.set(key, &encode(value)?)
    }

    /// Atomically add `delta` to the integer at `key` (absent counts as 0); the new value.
    pub fn increment(&self, key: &str, delta: i64) -> ApiResult<i64> {
        atomics::increment(&self.inner, key, delta).map_err(|e| self.error(e))
    }

    /// Write `value` at `key` unless the key exists: true when this call wrote it. Of any
    /// number of concurrent calls for one absent key, exactly one gets true.
    pub fn insert_if_absent(&self, key: &str, value: &[u8]) -> ApiResult<bool> {
        self.update(key, |current| {
            Ok(match current {
                Some(_) => Change::Keep(false),
                None => Change::Write(value.to_vec(), true),
            })
        })
    }

    /// Take the value at `key` away: of any number of concurrent calls, exactly one gets it
    /// and the others get `None`, as they do once it is gone. (The value is first swapped for
    /// an empty tombstone, then deleted; an empty value therefore counts as absent.)
    pub fn take_once(&self, key: &str) -> ApiResult<Option<Vec<u8>>> {
        let taken = self.update(key, |current| {
            Ok(match current {
                None | Some([]) => Change::Keep(None),
                Some(value) => Change::Write(Vec::new(), Some(value.to_vec())),
            })
        })?;
        if taken.is_some() {
            // Taken already; a tombstone left behind by a failed delete still reads as absent.
            let _ = self.delete(key);
        }
        Ok(taken)
    }

    /// Read-modify-write: `step` sees the current value (or `None`) and decides; a write
    /// applies only if nobody wrote the key in between, else `step` runs again on the newer
    /// value. 503 when other writers keep winning.
    pub fn update<R>(
        &self,
        key: &str,
        mut step: impl FnMut(Option<&[u8]>) -> ApiResult<Change<R>>,
    ) -> ApiResult<R> {
        let mut cas = atomics::Cas::new(&self.inner, key).map_err(|e| self.error(e))?;
        for _ in 0..MAX_SWAPS {
            let current = cas.current().map_err(|e| self.error(e))?;
            match step(current.as_deref())? {
                Change::Keep(answer) => return Ok(answer),
                Change::Write(value, answer) => match atomics::swap(cas, &value) {
                    Ok(()) => return Ok(answer),
                    Err(atomics::CasError::CasFailed(fresh)) => cas = fresh,
                    Err(atomics::CasError::StoreError(e)) => return Err(self.error(e)),
                },
            }
        }
        Err(ApiError::new(503, "too many concurrent updates; try again").with_header("retry-after", "1"))
    }

    /// [`update`](Self::update) of a JSON value (`None` when absent).
    pub fn update_json<T: Serialize + DeserializeOwned, R>(
        &self,
        key: &str,
        mut step: impl FnMut(Option<T>) -> ApiResult<Change<R>>,
    ) -> ApiResult<R> {
        self.update(key, |current| step(current.map(|bytes| decode(&self.label, key, bytes)).transpose()?))
    }
}

/// The bytes of a JSON value, for [`Change::Write`].
pub fn encode<T: Serialize>(value: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| ApiError::internal(format!("encoding a stored value: {e}")))
}

fn decode<T: DeserializeOwned>(label: &str, key: &str, bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(format!("key-value store {label}: unreadable value at {key:?}: {e}")))
}

fn store_error(label: &str, e: store::Error) -> ApiError {
    ApiError::internal(match e {
        store::Error::NoSuchStore => format!("key-value store {label}: no such store"),
        store::Error::AccessDenied => format!("key-value store {label}: access denied"),
        store::Error::Other(m) => format!("key-value store {label}: {m}"),
    })
}
