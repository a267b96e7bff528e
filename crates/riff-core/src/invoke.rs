//! The one instance lifecycle every trigger uses: HTTP requests, typed calls between components
//! and queue deliveries all run through [`Instances::invoke`].
//!
//! A call takes a warm instance when the component keeps them (made ready for this call), or a
//! fresh store and a new instance; runs under the component's timeout, enforced twice — by the
//! epoch deadline inside wasm (a guest that computes traps at the next tick) and by a tokio
//! timeout around the whole call (a guest parked on host I/O is dropped); gives a cleanly
//! finished instance back to the pool; sorts a failure into [`Failure::Timeout`] or
//! [`Failure::Crashed`]; and counts calls and failures per component version. Written once, so
//! the three paths cannot drift apart again.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Engine, Store, UpdateDeadline};

pub use crate::state::InstanceState;
use crate::warm::{Warm, WarmPool};

/// Marker error returned from the epoch callback when a call's deadline has passed.
#[derive(Debug)]
pub struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// Why a call produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The component ran past its timeout.
    Timeout(Duration),
    /// Trap, panic, resource exhaustion, or a broken result. The message is what a caller may
    /// learn: a trap's name, or [`INTERNAL_ERROR`]; the whole error is in the host log.
    Crashed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout(limit) => {
                write!(f, "did not finish within {}", humantime::format_duration(*limit))
            }
            Failure::Crashed(message) => f.write_str(message),
        }
    }
}

/// What a client learns of a failure whose details are for the operator: the host log has them,
/// under the request id the response carries.
pub const INTERNAL_ERROR: &str =
    "internal error (the host log has the details under this request's x-request-id)";

/// Sort a guest failure into timeout or crash, logging the whole error once.
pub fn classify(id: &str, error: wasmtime::Error, timeout: Duration) -> Failure {
    let timed_out = error.downcast_ref::<DeadlineExceeded>().is_some()
        || matches!(error.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt));
    if timed_out {
        return Failure::Timeout(timeout);
    }
    tracing::warn!(component = %id, "call failed: {error:?}");
    // A trap's name is all the caller learns; the error chain and any backtrace stay in the log.
    let message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("wasm trap: {trap}"),
        None => INTERNAL_ERROR.to_string(),
    };
    Failure::Crashed(message)
}

/// A fresh store for one call: the data's limits, and a deadline after which the guest traps.
pub fn new_store<T: InstanceState>(engine: &Engine, data: T) -> Store<T> {
    let mut store = Store::new(engine, data);
    store.limiter(|s| s.limits());
    store.set_epoch_deadline(1);
    // A guest that computes is interrupted every epoch tick (10 ms) and yields. It yields
    // through tokio's `yield_now`, which resumes it only after the worker has polled its
    // sockets: a plain self-wake would run it again at once, and tokio looks at sockets only
    // every 61 task polls, so four looping guests starved every other request (p99 ~600 ms).
    // Polling the sockets after every task instead (`event_interval(1)`) cost ~7% of hello
    // throughput (docs/benchmarks.md).
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline() {
            Err(DeadlineExceeded.into())
        } else {
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
        }
    });
    store
}

/// Calls served by one component version, and how many of them failed.
#[derive(Debug, Default)]
pub struct CallCounters {
    calls: AtomicU64,
    failures: AtomicU64,
}

impl CallCounters {
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A failure [`Instances::invoke`] could not see itself (a trigger gave up on the call).
    pub fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// The body of one call: gets the store (by value, so the future borrows nothing of the caller's
/// stack frame but what it captures) and the instance; hands the store back with the outcome.
pub type CallFuture<'c, T, R> = Pin<Box<dyn Future<Output = (Store<T>, wasmtime::Result<R>)> + Send + 'c>>;

/// One component version's instances: how to make one, the warm ones, its limits and counters.
pub struct Instances<T: 'static> {
    pub id: std::sync::Arc<str>,
    pub pre: InstancePre<T>,
    /// Idle instances kept for reuse (`tool.riff.instance_reuse`), else `None`.
    pub warm: Option<WarmPool<T>>,
    pub timeout: Duration,
    pub counters: CallCounters,
}

impl<T: InstanceState> Instances<T> {
    pub fn new(
        id: std::sync::Arc<str>,
        pre: InstancePre<T>,
        warm: Option<WarmPool<T>>,
        timeout: Duration,
    ) -> Self {
        Self { id, pre, warm, timeout, counters: CallCounters::default() }
    }

    /// A store for one call at chain depth `depth`: a warm instance's, made ready for this call,
    /// with that instance and how many calls it has served; else `fresh()` and no instance yet.
    pub fn store(&self, depth: u32, fresh: impl FnOnce() -> Store<T>) -> (Store<T>, Option<(Instance, u32)>) {
        if let Some(warm) = self.warm.as_ref().and_then(|pool| pool.take()) {
            let Warm { mut store, instance, served, .. } = warm;
            store.data_mut().begin_call(depth);
            store.set_epoch_deadline(1);
            return (store, Some((instance, served)));
        }
        (fresh(), None)
    }

    /// Run `call` on an instance: see the module doc for the lifecycle.
    pub async fn invoke<'c, R: Send + 'c>(
        &'c self,
        depth: u32,
        fresh: impl FnOnce() -> Store<T>,
        call: impl FnOnce(Store<T>, Instance) -> CallFuture<'c, T, R> + Send + 'c,
    ) -> Result<R, Failure> {
        self.counters.record_call();
        let (mut store, warm) = self.store(depth, fresh);
        let run = async move {
            let (instance, served) = match warm {
                Some(warm) => warm,
                None => (self.pre.instantiate_async(&mut store).await?, 0),
            };
            let (store, result) = call(store, instance).await;
            result.map(|value| (value, store, instance, served))
        };
        let outcome = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok((value, store, instance, served))) => {
                if let Some(pool) = &self.warm {
                    pool.give_back(Warm::new(store, instance, served + 1));
                }
                return Ok(value);
            }
            Ok(Err(error)) => classify(&self.id, error, self.timeout),
            Err(_) => Failure::Timeout(self.timeout),
        };
        self.counters.record_failure();
        Err(outcome)
    }
}
