//! The per-request store data: everything one guest instance can reach.
//!
//! A fresh [`RequestState`] (and so a fresh `Store`) is made for every request: no state leaks
//! between requests or between components, and a trap poisons nothing but its own store.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::ComponentRuntime;
use crate::capabilities::outbound_http::OutboundHooks;

pub struct RequestState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limits: GuestLimits,
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
        let limits = GuestLimits::new(component.memory_limit);
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

/// The store's resource limits: the component's `memory_limit` per linear memory, and fixed
/// caps on instances, tables and memories. Growing past a limit traps, and the trap names the
/// limit (the host log shows it under the request's id).
pub struct GuestLimits {
    memory_limit: u64,
    inner: StoreLimits,
}

impl GuestLimits {
    pub fn new(memory_limit: u64) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(memory_limit as usize)
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        Self { memory_limit, inner }
    }
}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_limit {
            wasmtime::bail!(
                "memory_limit reached: the component's memory_limit is {} bytes ({} MiB) and it tried to grow a \
                 memory to {desired} bytes",
                self.memory_limit,
                self.memory_limit as f64 / (1024.0 * 1024.0)
            );
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
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
