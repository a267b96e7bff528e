//! Hot-swap test component, version two: the same code as version one, answering "swap-v2".
#[path = "../../swap-v1/src/answer.rs"]
mod answer;

#[spin_sdk::http_component]
fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    answer::answer(env!("CARGO_PKG_NAME"), req)
}
