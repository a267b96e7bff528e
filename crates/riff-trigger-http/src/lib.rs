//! # riff-trigger-http
//!
//! The HTTP trigger: what stands between clients and the app. [`server`] accepts connections and
//! enforces the front door's limits (connections, head and body timeouts, CORS, graceful
//! shutdown); [`limits`] and [`body`] check request heads and bodies; [`request_id`] and
//! [`client_addr`] name each request and its client; [`responses`] are the host's own answers.
//!
//! The app sits above this crate: the server hands every request to an [`HttpHandler`], a trait
//! defined here and implemented by the app, so the trigger never names it.

pub mod body;
pub mod client_addr;
pub mod limits;
pub mod request_id;
pub mod responses;
pub mod server;

pub use server::{bind, serve, HttpHandler, ServerOptions, REQUEST_ID};
