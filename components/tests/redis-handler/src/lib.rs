//! Test component for the Redis trigger, written as Spin's Redis template is: a
//! `#[redis_component]` function called with each message's payload.
//!
//! A message `"<key> <value>"` sets Redis key `<key>:<tag>` to `<value>` at the address in
//! variable `redis_address` (through the outbound Redis interface, so the component needs that
//! address in `allowed_outbound_hosts`), `<tag>` being variable `tag` — what a test changes to
//! see which version (or which replica) handled a message. The value `fail` makes the handler
//! return an error.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use spin_sdk::{redis, redis_component, variables};

#[redis_component]
fn on_message(message: Bytes) -> Result<()> {
    let text = std::str::from_utf8(&message).context("the message is not UTF-8")?;
    let (key, value) = text.split_once(' ').context("expected \"<key> <value>\"")?;
    if value == "fail" {
        bail!("asked to fail on {key}");
    }
    let tag = variables::get("tag")?;
    let conn = redis::Connection::open(&variables::get("redis_address")?)
        .map_err(|e| anyhow::anyhow!("opening Redis: {e:?}"))?;
    let key = format!("{key}:{tag}");
    conn.set(&key, value.as_bytes()).map_err(|e| anyhow::anyhow!("SET {key}: {e:?}"))?;
    println!("handled {key}");
    Ok(())
}
