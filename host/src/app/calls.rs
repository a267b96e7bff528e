//! Typed calls: a caller's linked import ([`crate::capabilities::services`]) reaches the callee's
//! current version here, and runs through the instance lifecycle in the callee's own store.

use futures::future::BoxFuture;
use wasmtime::component::Val;

use super::App;
use crate::capabilities::services::{call_export, Callees};

impl Callees for App {
    fn call<'a>(
        &'a self,
        callee: &'a str,
        interface: &'a str,
        function: &'a str,
        depth: u32,
        params: &'a [Val],
        results: &'a mut [Val],
    ) -> BoxFuture<'a, wasmtime::Result<()>> {
        Box::pin(async move {
            let component = self
                .snapshot()
                .components
                .get(callee)
                .cloned()
                .ok_or_else(|| wasmtime::Error::msg(format!("component {callee:?} is not running")))?;
            let fresh = || self.new_store(&component, depth);
            component
                .instances
                .invoke(depth, fresh, |mut store, instance| {
                    Box::pin(async move {
                        let target = (callee, interface, function);
                        let result = call_export(&mut store, instance, target, params, results).await;
                        (store, result)
                    })
                })
                .await
                .map_err(|failure| wasmtime::Error::msg(failure.to_string()))
        })
    }
}
