//! The host side of `riff:platform/messaging`: a component publishes only to the topics its
//! manifest entry grants (`tool.riff.publish_topics`), into the app's queue.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::{QueueBackend, MAX_PAYLOAD};

/// Host bindings for `riff:platform/messaging` (WIT in `wit/platform`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/platform",
        inline: "
            package riff:messaging-host;
            world messaging {
                import riff:platform/messaging@0.1.0;
            }
        ",
        world: "riff:messaging-host/messaging",
        imports: { default: async | trappable },
    });
}

use bindings::riff::platform::messaging as wit;

/// What one component may publish, and where to.
#[derive(Clone, Default)]
pub struct MessagingGrants {
    /// The component, for error messages.
    pub component: Arc<str>,
    pub topics: Vec<String>,
    pub queue: Option<Arc<dyn QueueBackend>>,
}

/// What a store's data lends this capability for one call.
pub struct MessagingCtxView<'a> {
    pub grants: &'a MessagingGrants,
}

/// Implemented by a store's data type to give the messaging host its view.
pub trait MessagingView: Send {
    fn messaging(&mut self) -> MessagingCtxView<'_>;
}

struct HasMessaging;

impl HasData for HasMessaging {
    type Data<'a> = MessagingCtxView<'a>;
}

/// Add `riff:platform/messaging` to `linker`.
pub fn add_to_linker<T: MessagingView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wit::add_to_linker::<T, HasMessaging>(linker, T::messaging)?;
    Ok(())
}

impl wit::Host for MessagingCtxView<'_> {
    async fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<String, wit::Error>> {
        let grants = self.grants;
        if riff_manifest::check_topic(&topic).is_err() {
            return Ok(Err(wit::Error::Invalid(format!("{topic:?} is not a topic name"))));
        }
        if !grants.topics.contains(&topic) {
            return Ok(Err(wit::Error::AccessDenied(format!(
                "component {:?} may not publish to {topic:?} (grant it with tool.riff.publish_topics)",
                grants.component
            ))));
        }
        if payload.len() > MAX_PAYLOAD {
            return Ok(Err(wit::Error::Invalid(format!(
                "payload of {} bytes is over the {MAX_PAYLOAD}-byte limit",
                payload.len()
            ))));
        }
        let Some(queue) = grants.queue.clone() else {
            return Ok(Err(wit::Error::Unavailable("no queue is configured".into())));
        };
        Ok(match queue.publish(&topic, &payload).await {
            Ok(id) => Ok(id),
            Err(e) => {
                tracing::warn!(component = %grants.component, "publishing to {topic}: {e:#}");
                Err(wit::Error::Unavailable(format!("the message was not stored: {e}")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    //! In-process capability tests: grants as the loader builds them, the host side called directly.
    use super::*;
    use crate::sqlite::SqliteQueue;
    use crate::Subscription;
    use std::time::Duration;
    use wit::Host as _;

    #[tokio::test]
    async fn publishes_only_granted_topics_within_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Arc::new(SqliteQueue::open(&dir.path().join("q.db")).await.unwrap());
        let sub = Subscription { topic: "plays".into(), component: "search".into(), max_attempts: 3 };
        queue.subscribe(std::slice::from_ref(&sub)).await.unwrap();
        let grants = MessagingGrants {
            component: "profile".into(),
            topics: vec!["plays".into()],
            queue: Some(queue.clone()),
        };
        let mut view = MessagingCtxView { grants: &grants };
        let id = view.publish("plays".into(), b"{}".to_vec()).await.unwrap().unwrap();
        let leased = queue.lease(&sub, 10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(leased.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
        let denied = view.publish("payments".into(), b"{}".to_vec()).await.unwrap();
        assert!(matches!(denied, Err(wit::Error::AccessDenied(m)) if m.contains("publish_topics")));
        let invalid = view.publish("no spaces".into(), b"{}".to_vec()).await.unwrap();
        assert!(matches!(invalid, Err(wit::Error::Invalid(_))));
        let huge = view.publish("plays".into(), vec![b'x'; MAX_PAYLOAD + 1]).await.unwrap();
        assert!(matches!(huge, Err(wit::Error::Invalid(m)) if m.contains("limit")));
        let none = MessagingGrants { component: "x".into(), topics: vec!["plays".into()], queue: None };
        let unavailable = MessagingCtxView { grants: &none }.publish("plays".into(), vec![]).await.unwrap();
        assert!(matches!(unavailable, Err(wit::Error::Unavailable(_))));
    }
}
