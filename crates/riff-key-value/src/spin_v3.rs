//! spin-sdk 6's `spin:key-value/key-value@3.0.0`: Spin's key-value 2.0 as `async func`s, with
//! the keys listed through a `stream<string>`. Only the concurrent (WASIp3) engine links it.
//!
//! It shares everything with the 2.0 interface in [`crate::host`]: the grants (a label not in
//! `key_value_stores` is `access-denied`), the [`OpenStore`] resource and the backends.

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use crate::host::{HasKeyValue, KeyValueCtxView, KeyValueView, OpenStore};
use crate::KeyValueBackend;

/// Host bindings (WIT vendored in `wit/deps/spin-key-value@3.0.0`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../wit/deps/spin-key-value@3.0.0"],
        inline: "
            package riff:key-value-concurrent-host;
            world key-value {
                import spin:key-value/key-value@3.0.0;
            }
        ",
        world: "riff:key-value-concurrent-host/key-value",
        imports: { default: trappable },
        with: {
            "spin:key-value/key-value.store": crate::host::OpenStore,
        },
    });
}

use bindings::spin::key_value::key_value::{self as kv, Error};

/// Add `spin:key-value/key-value@3.0.0` to the concurrent engine's `linker`.
pub fn add_to_concurrent_linker<T: KeyValueView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    kv::add_to_linker::<T, HasKeyValue>(linker, T::key_value)?;
    Ok(())
}

fn other(e: crate::Error) -> Error {
    Error::Other(e.to_string())
}

/// The backend behind an open store handle.
fn backend<U>(
    store: &Accessor<U, HasKeyValue>,
    handle: &Resource<OpenStore>,
) -> wasmtime::Result<Arc<dyn KeyValueBackend>> {
    store.with(|mut view| Ok(view.get().table.get(handle)?.backend.clone()))
}

impl kv::Host for KeyValueCtxView<'_> {}

impl kv::HostStore for KeyValueCtxView<'_> {
    fn drop(&mut self, handle: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl<U> kv::HostStoreWithStore<U> for HasKeyValue {
    async fn open(
        store: &Accessor<U, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        store.with(|mut view| {
            let view = view.get();
            Ok(match view.grants.get(&label) {
                Some(backend) => Ok(view.table.push(OpenStore { backend: backend.clone() })?),
                None => Err(Error::AccessDenied),
            })
        })
    }

    async fn get(
        store: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(backend(store, &handle)?.get(&key).await.map_err(other))
    }

    async fn set(
        store: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(backend(store, &handle)?.set(&key, &value).await.map_err(other))
    }

    async fn delete(
        store: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(backend(store, &handle)?.delete(&key).await.map_err(other))
    }

    async fn exists(
        store: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(backend(store, &handle)?.exists(&key).await.map_err(other))
    }

    /// The keys are read from the backend first, then streamed; a backend error ends the
    /// stream empty and resolves the future to that error.
    async fn get_keys(
        store: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        let listed = backend(store, &handle)?.keys().await;
        let (keys, outcome) = match listed {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(other(e))),
        };
        store.with(|mut access| {
            let keys = StreamReader::new(&mut access, keys)?;
            let outcome = FutureReader::new(&mut access, async move { Ok::<_, wasmtime::Error>(outcome) })?;
            Ok((keys, outcome))
        })
    }
}
