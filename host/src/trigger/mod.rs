//! Triggers: what makes components run. HTTP for now.

pub mod http;
pub mod router;
