//! The per-request store data: everything one guest instance can reach.
//!
//! A fresh [`RequestState`] (and so a fresh `Store`) is made for every request: no state leaks
//! between requests or between components, and a trap poisons nothing but its own store.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::ComponentRuntime;
use crate::capabilities::outbound_http::OutboundHooks;

pub struct RequestState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub hooks: OutboundHooks,
    /// The component's grants and resolved configuration.
    pub component: Arc<ComponentRuntime>,
    /// When the current request must have finished (reset for each request a warm instance serves).
    pub deadline: Instant,
    /// SQL transactions the guest opened (`riff:platform/sql`), ended with the request.
    pub transactions: crate::capabilities::transactions::OpenTransactions,
}

impl RequestState {
    pub fn new(component: Arc<ComponentRuntime>, wasi: WasiCtx, hooks: OutboundHooks) -> Self {
        let limits = StoreLimitsBuilder::new()
            .memory_size(component.memory_limit as usize)
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        let deadline = Instant::now() + component.timeout;
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits,
            hooks,
            component,
            deadline,
            transactions: Default::default(),
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}
