//! The capabilities wired together: each is a crate of its own (`riff-key-value`, `riff-sql`,
//! `riff-messaging`, `riff-variables`, `riff-outbound-http`, `riff-outbound-redis`,
//! `riff-outbound-mqtt`) that implements its WIT imports and
//! owns its backends; [`add_to_linker`] is the one place they are added to the linker. Typed calls
//! between components ([`services`]) link against this crate's store type, so they live here.
//!
//! Nothing is granted by default: each capability checks the calling component's grants (from
//! `spin.toml`) on every open or request.

pub mod services;
pub mod sockets;

use wasmtime::component::Linker;

use crate::state::RequestState;

/// Add WASI 0.2, wasi:http and every riff capability to a linker.
pub fn add_to_linker(linker: &mut Linker<RequestState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    riff_key_value::host::add_to_linker(linker)?;
    riff_sql::host::add_to_linker(linker)?;
    riff_messaging::host::add_to_linker(linker)?;
    riff_variables::add_to_linker(linker)?;
    riff_outbound_rdbms::add_to_linker(linker)?;
    riff_outbound_redis::add_to_linker(linker)?;
    riff_outbound_mqtt::add_to_linker(linker)?;
    riff_trigger_redis::add_to_linker(linker)?;
    Ok(())
}

/// Everything [`add_to_linker`] adds, plus WASI 0.3 and `wasi:http@0.3`: the linker of the
/// concurrent engine, which runs WASIp3 components (and the WASIp2 imports they still use).
pub fn add_to_concurrent_linker(linker: &mut Linker<RequestState>) -> anyhow::Result<()> {
    add_to_linker(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)?;
    riff_variables::add_to_concurrent_linker(linker)?;
    riff_key_value::spin_v3::add_to_concurrent_linker(linker)?;
    Ok(())
}
