//! Hot-swap test component, version one: answers "swap-v1".
mod answer;

#[spin_sdk::http_component]
fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    answer::answer(env!("CARGO_PKG_NAME"), req)
}
