//! Triggers: what makes components run — HTTP requests and queue messages.

pub mod body;
pub mod http;
pub mod queue;
pub mod router;
