//! Queue deliveries: the queue trigger hands each delivery to the subscriber's current version,
//! which handles it through the instance lifecycle.

use std::time::Duration;

use futures::future::BoxFuture;
use riff_messaging::{Delivery, Subscription};

use super::App;
use riff_trigger_queue::{Message, Subscriber};

impl Subscriber for App {
    fn deliver<'a>(
        &'a self,
        sub: &'a Subscription,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let component = self.running(&sub.component)?;
            let indices = component
                .subscriber
                .clone()
                .ok_or_else(|| format!("{:?} does not export riff:platform/queue-handler", sub.component))?;
            let message = Message {
                id: delivery.id.clone(),
                topic: delivery.topic.clone(),
                payload: delivery.payload.clone(),
                attempt: delivery.attempt,
            };
            let fresh = || self.new_store(&component, 0);
            let handled = component
                .instances
                .invoke(0, fresh, |mut store, instance| {
                    Box::pin(async move {
                        let result = async {
                            let handler = indices.load(&mut store, &instance)?;
                            handler.riff_platform_queue_handler().call_handle(&mut store, &message).await
                        }
                        .await;
                        (store, result)
                    })
                })
                .await;
            // The handler said no: a failure of the delivery, not of the instance.
            super::settled(&component, handled)
        })
    }

    fn timeout(&self, component: &str) -> Option<Duration> {
        self.snapshot().components.get(component).map(|c| c.runtime.timeout)
    }
}
