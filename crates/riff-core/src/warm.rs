//! Warm instances: with `[component.<id>.tool.riff] instance_reuse`, an instance that finished
//! a request cleanly is kept and serves later requests, one after another, so a component can
//! hold an in-memory index or model instead of rebuilding it per request.
//!
//! The default stays a fresh instance per request — the cheapest isolation there is. Reuse
//! trades some of it away, within limits: an instance serves at most `max_requests` requests,
//! is dropped after `idle_timeout` unused, and one that trapped, timed out or failed is never
//! put back. Each pool belongs to one *version* of a component: when the version is replaced its
//! pool is retired (emptied, and instances still serving are dropped when they finish), so warm
//! instances never outlive a hot swap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use wasmtime::component::Instance;
use wasmtime::Store;

use riff_manifest::InstanceReuse;

use crate::state::InstanceState;

/// Idle instances kept per version at most: each holds a memory slot of the pool allocator.
pub const MAX_IDLE: usize = 32;

/// An instance between requests, with its store.
pub struct Warm<T: 'static> {
    pub store: Store<T>,
    pub instance: Instance,
    /// Requests it has served.
    pub served: u32,
    idle_since: Instant,
}

impl<T> Warm<T> {
    pub fn new(store: Store<T>, instance: Instance, served: u32) -> Self {
        Self { store, instance, served, idle_since: Instant::now() }
    }
}

/// The idle instances of one component version.
pub struct WarmPool<T: 'static> {
    settings: InstanceReuse,
    idle: Mutex<Vec<Warm<T>>>,
    retired: AtomicBool,
}

impl<T: InstanceState> WarmPool<T> {
    pub fn new(settings: InstanceReuse) -> Self {
        Self { settings, idle: Mutex::new(Vec::new()), retired: AtomicBool::new(false) }
    }

    /// The most recently used idle instance that has not expired.
    pub fn take(&self) -> Option<Warm<T>> {
        let mut idle = self.idle.lock().expect("warm pool lock");
        while let Some(warm) = idle.pop() {
            if warm.idle_since.elapsed() < self.settings.idle_timeout {
                return Some(warm);
            }
        }
        None
    }

    /// Keep an instance that finished a request cleanly, unless it has served its share or
    /// this version has been retired.
    pub fn give_back(&self, mut warm: Warm<T>) {
        if self.retired.load(Ordering::Acquire) || warm.served >= self.settings.max_requests {
            return;
        }
        // The request is over: nothing it left open carries into the next one.
        warm.store.data_mut().end_call();
        warm.idle_since = Instant::now();
        let mut idle = self.idle.lock().expect("warm pool lock");
        if idle.len() < MAX_IDLE {
            idle.push(warm);
        }
    }

    /// Drop every idle instance and keep none from now on (the version was replaced).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.idle.lock().expect("warm pool lock").clear();
    }

    /// Serve again (a rollback made this version current).
    pub fn revive(&self) {
        self.retired.store(false, Ordering::Release);
    }

    /// Drop instances idle longer than `idle_timeout`.
    pub fn sweep(&self) {
        let timeout = self.settings.idle_timeout;
        self.idle.lock().expect("warm pool lock").retain(|w| w.idle_since.elapsed() < timeout);
    }
}
