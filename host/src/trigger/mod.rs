//! Triggers: what makes components run. HTTP for now.

pub mod body;
pub mod http;
pub mod router;
