//! Host capabilities, one module each. Every module is the single place that implements its WIT
//! imports and owns its backends; [`add_to_linker`] is the one place they are wired in.
//!
//! Nothing is granted by default: each capability checks the calling component's grants (from
//! `spin.toml`) on every open or request.

pub mod key_value;
pub mod messaging;
pub mod outbound_http;
pub mod services;
pub mod sql;
pub mod stdio;
pub mod transactions;
pub mod variables;

use wasmtime::component::{HasSelf, Linker};

use crate::state::RequestState;

/// Host bindings for the Spin and draft-WASI interfaces riff implements (WIT vendored in
/// `wit/deps`) and riff's own `riff:platform` (in `wit/platform`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: [
            "../wit/deps/spin@2.0.0",
            "../wit/deps/spin-sqlite@3.0.0",
            "../wit/deps/keyvalue-2024-10-17",
            "../wit/deps/wasi-runtime-config-2024-09-27",
            "../wit/platform",
        ],
        inline: "
            package riff:host;
            world capabilities {
                import fermyon:spin/key-value@2.0.0;
                import fermyon:spin/sqlite@2.0.0;
                import fermyon:spin/variables@2.0.0;
                import spin:sqlite/sqlite@3.0.0;
                import wasi:keyvalue/store@0.2.0-draft2;
                import wasi:keyvalue/atomics@0.2.0-draft2;
                import wasi:keyvalue/batch@0.2.0-draft2;
                import wasi:config/store@0.2.0-draft-2024-09-27;
                import riff:platform/messaging@0.1.0;
                import riff:platform/sql@0.1.0;
            }
        ",
        world: "riff:host/capabilities",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": super::key_value::KvHandle,
            "fermyon:spin/sqlite.connection": super::sql::SqlConnection,
            "spin:sqlite/sqlite.connection": super::sql::SqlConnection,
            "wasi:keyvalue/store.bucket": super::key_value::KvHandle,
            "wasi:keyvalue/atomics.cas": super::key_value::CasHandle,
            "riff:platform/sql.transaction": super::transactions::Transaction,
        },
    });
}

/// Add WASI 0.2, wasi:http and every riff capability to a linker.
pub fn add_to_linker(linker: &mut Linker<RequestState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    bindings::Capabilities::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |s| s)?;
    Ok(())
}
