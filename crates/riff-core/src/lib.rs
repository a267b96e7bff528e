//! # riff-core
//!
//! What every capability and trigger of the riff host builds on, and nothing that names one:
//!
//! * [`engine`]: the one wasmtime `Engine` (pooling, epochs, compiled-artifact cache);
//! * [`invoke`]: the one instance lifecycle (store, limits, deadline, timeout, warm reuse,
//!   failure classification, counters) used by HTTP, typed calls and queue deliveries;
//! * [`warm`]: pools of warm instances, per component version;
//! * [`wasip3`]: WASIp3 release-candidate names accepted as the final ones;
//! * [`limits`]: the store's resource limiter;
//! * [`stdio`]: guest stdout/stderr into the host log;
//! * [`sqlite`]: how the embedded SQLite backends open their files;
//! * [`redact`]: backend URLs with their passwords hidden, for messages;
//! * [`servers`]: the loopback servers shared backends' tests run against, and skipping without them.
//!
//! Capabilities sit above this crate (one crate each), the app and its triggers above those.

pub mod engine;
pub mod invoke;
pub mod limits;
pub mod redact;
pub mod servers;
pub mod sqlite;
pub mod state;
pub mod stdio;
pub mod warm;
pub mod wasip3;

pub use invoke::{Failure, Instances};
pub use state::InstanceState;
