//! The behaviour both swap test versions share; each crate answers with its own name.
//!
//! | Path            | Answer                                              |
//! |-----------------|-----------------------------------------------------|
//! | `/swap/slow`    | its version, after sleeping `?ms=` (2000 default)   |
//! | anything else   | its version                                         |

use spin_sdk::http::{Request, Response};

pub fn answer(version: &str, req: Request) -> Response {
    if req.path() == "/swap/slow" {
        let ms = req
            .query()
            .split('&')
            .find_map(|pair| pair.strip_prefix("ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("x-version", version)
        .body(version)
        .build()
}
