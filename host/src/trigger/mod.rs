//! Triggers: what makes components run — HTTP requests and queue messages.

pub mod body;
pub mod client_addr;
pub mod http;
pub mod limits;
pub mod queue;
pub mod request_id;
pub mod responses;
