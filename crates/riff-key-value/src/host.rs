//! The host side of the key-value interfaces: a component's grants, the view a store's data
//! lends this capability, and the wiring into a linker — wasmtime's context/view/`add_to_linker`
//! shape, so this crate never names the host's store type.
//!
//! A component opens only the labels in its `key_value_stores`; any other label gives
//! `access-denied`, whether or not another component has it (as in Spin: whether a store exists
//! elsewhere is not the component's business).
//!
//! `wasi:keyvalue` is implemented here once; Spin's `key-value@2.0.0` delegates to it and only
//! maps the error type.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::{CasSnapshot, KeyValueBackend};

/// Host bindings for the key-value interfaces (WIT vendored in `wit/deps`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../wit/deps/spin@2.0.0", "../../wit/deps/keyvalue-2024-10-17"],
        inline: "
            package riff:key-value-host;
            world key-value {
                import fermyon:spin/key-value@2.0.0;
                import wasi:keyvalue/store@0.2.0-draft2;
                import wasi:keyvalue/atomics@0.2.0-draft2;
                import wasi:keyvalue/batch@0.2.0-draft2;
            }
        ",
        world: "riff:key-value-host/key-value",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": super::OpenStore,
            "wasi:keyvalue/store.bucket": super::OpenStore,
            "wasi:keyvalue/atomics.cas": super::Cas,
        },
    });
}

use bindings::fermyon::spin::key_value as spin_kv;
use bindings::wasi::keyvalue::{atomics, batch, store};

/// The stores one component may open, by label: what its manifest entry grants, each opened
/// with the backend its runtime config names.
#[derive(Clone, Default)]
pub struct KeyValueGrants {
    stores: HashMap<String, Arc<dyn KeyValueBackend>>,
}

impl KeyValueGrants {
    pub fn new(stores: HashMap<String, Arc<dyn KeyValueBackend>>) -> Self {
        Self { stores }
    }

    /// The backend behind `label`, if granted.
    pub fn get(&self, label: &str) -> Option<&Arc<dyn KeyValueBackend>> {
        self.stores.get(label)
    }
}

/// A store a guest has opened: the resource behind Spin's `store` and WASI's `bucket`.
pub struct OpenStore {
    pub(crate) backend: Arc<dyn KeyValueBackend>,
}

/// The resource behind `wasi:keyvalue/atomics.cas`: a key and the value it had when taken.
pub struct Cas {
    backend: Arc<dyn KeyValueBackend>,
    key: String,
    seen: CasSnapshot,
}

/// What a store's data lends this capability for one call.
pub struct KeyValueCtxView<'a> {
    pub grants: &'a KeyValueGrants,
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data type to give the key-value host its view.
pub trait KeyValueView: Send {
    fn key_value(&mut self) -> KeyValueCtxView<'_>;
}

pub(crate) struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueCtxView<'a>;
}

/// Add Spin key-value 2.0 and wasi:keyvalue (store, atomics, batch) to `linker`.
pub fn add_to_linker<T: KeyValueView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    spin_kv::add_to_linker::<T, HasKeyValue>(linker, T::key_value)?;
    store::add_to_linker::<T, HasKeyValue>(linker, T::key_value)?;
    atomics::add_to_linker::<T, HasKeyValue>(linker, T::key_value)?;
    batch::add_to_linker::<T, HasKeyValue>(linker, T::key_value)?;
    Ok(())
}

impl KeyValueCtxView<'_> {
    fn backend(&self, handle: &Resource<OpenStore>) -> wasmtime::Result<Arc<dyn KeyValueBackend>> {
        Ok(self.table.get(handle)?.backend.clone())
    }
}

fn other(e: crate::Error) -> store::Error {
    store::Error::Other(e.to_string())
}

impl store::Host for KeyValueCtxView<'_> {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<OpenStore>, store::Error>> {
        Ok(match self.grants.get(&label) {
            Some(backend) => Ok(self.table.push(OpenStore { backend: backend.clone() })?),
            None => Err(store::Error::AccessDenied),
        })
    }
}

impl store::HostBucket for KeyValueCtxView<'_> {
    async fn get(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(self.backend(&h)?.get(&key).await.map_err(other))
    }

    async fn set(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.backend(&h)?.set(&key, &value).await.map_err(other))
    }

    async fn delete(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.backend(&h)?.delete(&key).await.map_err(other))
    }

    async fn exists(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, store::Error>> {
        Ok(self.backend(&h)?.exists(&key).await.map_err(other))
    }

    async fn list_keys(
        &mut self,
        h: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
        // One page holds everything; the cursor, if any, is the last key already seen.
        let keys = match self.backend(&h)?.keys().await {
            Ok(keys) => keys,
            Err(e) => return Ok(Err(other(e))),
        };
        let keys = match cursor {
            Some(after) => keys.into_iter().filter(|k| *k > after).collect(),
            None => keys,
        };
        Ok(Ok(store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, h: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueCtxView<'_> {
    async fn increment(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        Ok(self.backend(&h)?.increment(&key, delta).await.map_err(other))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let cas = self.table.delete(cas)?;
        match cas.backend.compare_and_swap(&cas.key, &cas.seen, &value).await {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Hand the guest a fresh CAS on the current value so it can retry.
                let seen = match cas.backend.snapshot(&cas.key).await {
                    Ok(seen) => seen,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(other(e)))),
                };
                let retry = self.table.push(Cas { seen, ..cas })?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(other(e)))),
        }
    }
}

impl atomics::HostCas for KeyValueCtxView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, store::Error>> {
        let backend = self.backend(&bucket)?;
        Ok(match backend.snapshot(&key).await {
            Ok(seen) => Ok(self.table.push(Cas { backend, key, seen })?),
            Err(e) => Err(other(e)),
        })
    }

    /// The value as of when the CAS was taken: the one a swap compares against.
    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.table.get(&cas)?.seen.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KeyValueCtxView<'_> {
    async fn get_many(
        &mut self,
        h: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, store::Error>> {
        let backend = self.backend(&h)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match backend.get(&key).await {
                Ok(value) => out.push((key, value)),
                Err(e) => return Ok(Err(other(e))),
            }
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        h: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let backend = self.backend(&h)?;
        for (key, value) in key_values {
            if let Err(e) = backend.set(&key, &value).await {
                return Ok(Err(other(e)));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &mut self,
        h: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let backend = self.backend(&h)?;
        for key in keys {
            if let Err(e) = backend.delete(&key).await {
                return Ok(Err(other(e)));
            }
        }
        Ok(Ok(()))
    }
}

/// Spin's interface: the WASI implementation above, with Spin's error type.
fn spin_error(e: store::Error) -> spin_kv::Error {
    match e {
        store::Error::NoSuchStore => spin_kv::Error::NoSuchStore,
        store::Error::AccessDenied => spin_kv::Error::AccessDenied,
        store::Error::Other(message) => spin_kv::Error::Other(message),
    }
}

impl spin_kv::Host for KeyValueCtxView<'_> {}

impl spin_kv::HostStore for KeyValueCtxView<'_> {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<OpenStore>, spin_kv::Error>> {
        Ok(store::Host::open(self, label).await?.map_err(spin_error))
    }

    async fn get(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        Ok(store::HostBucket::get(self, h, key).await?.map_err(spin_error))
    }

    async fn set(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(store::HostBucket::set(self, h, key, value).await?.map_err(spin_error))
    }

    async fn delete(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(store::HostBucket::delete(self, h, key).await?.map_err(spin_error))
    }

    async fn exists(
        &mut self,
        h: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        Ok(store::HostBucket::exists(self, h, key).await?.map_err(spin_error))
    }

    async fn get_keys(
        &mut self,
        h: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        Ok(store::HostBucket::list_keys(self, h, None).await?.map(|page| page.keys).map_err(spin_error))
    }

    async fn drop(&mut self, h: Resource<OpenStore>) -> wasmtime::Result<()> {
        store::HostBucket::drop(self, h).await
    }
}

#[cfg(test)]
mod tests {
    //! In-process capability tests: grants built as the loader builds them, the host side
    //! called directly — no wasm, no process.
    use super::*;
    use crate::sqlite::SqliteKeyValue;

    struct Data {
        grants: KeyValueGrants,
        table: ResourceTable,
    }

    impl KeyValueView for Data {
        fn key_value(&mut self) -> KeyValueCtxView<'_> {
            KeyValueCtxView { grants: &self.grants, table: &mut self.table }
        }
    }

    async fn granted(labels: &[&str], dir: &std::path::Path) -> Data {
        let mut stores: HashMap<String, Arc<dyn KeyValueBackend>> = HashMap::new();
        for label in labels {
            let backend = SqliteKeyValue::open(&dir.join(format!("{label}.db"))).await.unwrap();
            stores.insert(label.to_string(), Arc::new(backend));
        }
        Data { grants: KeyValueGrants::new(stores), table: ResourceTable::new() }
    }

    #[tokio::test]
    async fn only_granted_labels_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = granted(&["default"], dir.path()).await;
        let mut view = data.key_value();
        assert!(store::Host::open(&mut view, "default".into()).await.unwrap().is_ok());
        let denied = store::Host::open(&mut view, "other".into()).await.unwrap();
        assert!(matches!(denied, Err(store::Error::AccessDenied)));
        let denied = spin_kv::HostStore::open(&mut view, "other".into()).await.unwrap();
        assert!(matches!(denied, Err(spin_kv::Error::AccessDenied)));
    }

    #[tokio::test]
    async fn spin_and_wasi_see_the_same_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = granted(&["default"], dir.path()).await;
        let mut view = data.key_value();
        let spin = spin_kv::HostStore::open(&mut view, "default".into()).await.unwrap().unwrap();
        spin_kv::HostStore::set(&mut view, Resource::new_borrow(spin.rep()), "k".into(), b"v".to_vec())
            .await
            .unwrap()
            .unwrap();
        let wasi = store::Host::open(&mut view, "default".into()).await.unwrap().unwrap();
        let got =
            store::HostBucket::get(&mut view, Resource::new_borrow(wasi.rep()), "k".into()).await.unwrap();
        assert_eq!(got.unwrap().as_deref(), Some(&b"v"[..]));
        let n = atomics::Host::increment(&mut view, Resource::new_borrow(wasi.rep()), "n".into(), 3)
            .await
            .unwrap();
        assert_eq!(n.unwrap(), 3);
        let bad = atomics::Host::increment(&mut view, Resource::new_borrow(wasi.rep()), "k".into(), 1)
            .await
            .unwrap();
        assert!(matches!(bad, Err(store::Error::Other(m)) if m.contains("not an integer")));
    }

    #[tokio::test]
    async fn a_failed_swap_hands_back_a_fresh_cas() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = granted(&["default"], dir.path()).await;
        let mut view = data.key_value();
        let bucket = store::Host::open(&mut view, "default".into()).await.unwrap().unwrap();
        let borrow = || Resource::<OpenStore>::new_borrow(bucket.rep());
        let cas = atomics::HostCas::new(&mut view, borrow(), "k".into()).await.unwrap().unwrap();
        store::HostBucket::set(&mut view, borrow(), "k".into(), b"interleaved".to_vec())
            .await
            .unwrap()
            .unwrap();
        let retry = match atomics::Host::swap(&mut view, cas, b"mine".to_vec()).await.unwrap() {
            Err(atomics::CasError::CasFailed(retry)) => retry,
            other => panic!("expected a failed swap, got {:?}", other.is_ok()),
        };
        let current = atomics::HostCas::current(&mut view, Resource::new_borrow(retry.rep())).await.unwrap();
        assert_eq!(current.unwrap().as_deref(), Some(&b"interleaved"[..]));
        atomics::Host::swap(&mut view, retry, b"mine".to_vec()).await.unwrap().unwrap();
        let got = store::HostBucket::get(&mut view, borrow(), "k".into()).await.unwrap().unwrap();
        assert_eq!(got.as_deref(), Some(&b"mine"[..]));
    }
}
