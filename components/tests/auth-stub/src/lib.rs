//! Test callee for typed calls: `verify-token("good")` answers claims, `"trap"` traps, `"slow"`
//! spins past its timeout, `"env"` reports a variable only this component is granted, anything
//! else is `unauthorized`.
//!
//! The username it answers for `"good"` sits in the data segment after a marker
//! ([`NAME_MARKER`]): a test makes a second, distinguishable version of this component by
//! patching those bytes in the `.wasm` (`ada` → `bob`), without a second crate.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/music",
        inline: "
            package riff:test-stub;
            world stub { export riff:music/auth@0.1.0; }
        ",
        world: "riff:test-stub/stub",
        generate_all,
    });
}

use bindings::exports::riff::music::auth::{Claims, Guest};
use bindings::riff::music::types::Error;

struct Stub;

/// `riff-stub-name=` followed by the three-letter username, read through an opaque pointer so
/// the bytes stay in the data segment where a test can patch them.
static NAME_MARKER: [u8; 18] = *b"riff-stub-name=ada";

fn username() -> String {
    let marker: &[u8; 18] = std::hint::black_box(&NAME_MARKER);
    String::from_utf8_lossy(&marker[15..]).into_owned()
}

impl Guest for Stub {
    fn verify_token(token: String) -> Result<Claims, Error> {
        match token.as_str() {
            "good" => Ok(Claims {
                user_id: "u1".into(),
                username: username(),
                expires_at: 4_102_444_800,
                scopes: vec!["user".into()],
            }),
            "trap" => core::arch::wasm32::unreachable(),
            "env" => Err(Error::Internal(std::env::var("STUB_ONLY").unwrap_or_else(|_| "unset".into()))),
            other => Err(Error::Unauthorized(format!("unknown token {other:?}"))),
        }
    }
}

bindings::export!(Stub with_types_in bindings);
