//! Redis messages: the Redis trigger hands each message to the subscribed component's current
//! version, which handles it through the instance lifecycle.

use futures::future::BoxFuture;
use riff_trigger_redis::{HandlerError, MessageHandler};

use super::App;

impl MessageHandler for App {
    fn handle<'a>(&'a self, component: &'a str, payload: &'a [u8]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let loaded = self.running(component)?;
            let indices = loaded
                .redis
                .clone()
                .ok_or_else(|| format!("{component:?} does not export fermyon:spin/inbound-redis"))?;
            let payload = payload.to_vec();
            let fresh = || self.new_store(&loaded, 0);
            let handled = loaded
                .instances
                .invoke(0, fresh, |mut store, instance| {
                    Box::pin(async move {
                        let result = async {
                            let guest = indices.load(&mut store, &instance)?;
                            let outcome = guest
                                .fermyon_spin_inbound_redis()
                                .call_handle_message(&mut store, &payload)
                                .await?;
                            Ok(outcome.map_err(|e| match e {
                                HandlerError::Success => "the handler returned error::success".to_string(),
                                HandlerError::Error => "the handler returned an error".to_string(),
                            }))
                        }
                        .await;
                        (store, result)
                    })
                })
                .await;
            super::settled(&loaded, handled)
        })
    }
}
