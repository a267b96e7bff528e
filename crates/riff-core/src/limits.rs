//! The store's resource limits, one [`GuestLimits`] per store: a component's `memory_limit`
//! enforced per linear memory, with an error that says which limit was hit.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

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
