//! Uses `fermyon:spin/llm`, which riff does not implement: loading it must fail with an error
//! that names the missing import.
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::{http_component, llm};

#[http_component]
fn handle(_req: Request) -> anyhow::Result<impl IntoResponse> {
    let answer = llm::infer(llm::InferencingModel::Llama2Chat, "hello")?;
    Ok(Response::new(200, answer.text))
}
