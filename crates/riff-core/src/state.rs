//! What the instance lifecycle needs from a store's data, whatever capabilities it holds.

use std::time::Instant;

use crate::limits::GuestLimits;

/// What the lifecycle needs from a store's data, whatever capabilities it holds.
pub trait InstanceState: Send + 'static {
    /// The store's resource limiter.
    fn limits(&mut self) -> &mut GuestLimits;
    /// When the current call must have finished.
    fn deadline(&self) -> Instant;
    /// Ready a warm instance's state for another call: a new deadline, the caller's chain depth.
    fn begin_call(&mut self, depth: u32);
    /// The call is over: release what it held (open transactions, say) before the instance idles.
    fn end_call(&mut self);
}
