//! Test component for the cron trigger, written as for Spin's cron plugin: it exports
//! `fermyon:spin-cron@2.0.0`'s `handle-cron-event`. Each run counts itself in the `default`
//! key-value store under `tick:<timestamp>`, so a tick run twice shows as `2`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/deps/spin-cron@2.0.0",
        world: "fermyon:spin-cron/spin-cron",
        generate_all,
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error, Metadata};
use spin_sdk::key_value::Store;

struct Ticker;

impl bindings::Guest for Ticker {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let fail = |e: spin_sdk::key_value::Error| Error::Other(format!("key-value: {e}"));
        let store = Store::open_default().map_err(fail)?;
        let key = format!("tick:{}", metadata.timestamp);
        let runs = store
            .get(&key)
            .map_err(fail)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        store.set(&key, runs.to_string().as_bytes()).map_err(fail)?;
        println!("tick {} (run {runs})", metadata.timestamp);
        Ok(())
    }
}

bindings::export!(Ticker with_types_in bindings);
