//! Exports an interface *named* `riff:music/auth@0.1.0` whose `verify-token` returns a string
//! instead of claims: linking a caller of the real interface to it must be refused at load.

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package riff:music@0.1.0;
            interface types {
                variant error { not-found(string), invalid(string), unauthorized(string), forbidden(string), conflict(string), internal(string) }
            }
            interface auth {
                use types.{error};
                verify-token: func(token: string) -> result<string, error>;
            }
            world mismatch { export auth; }
        ",
        world: "riff:music/mismatch@0.1.0",
        generate_all,
    });
}

use bindings::exports::riff::music::auth::Guest;
use bindings::riff::music::types::Error;

struct Mismatch;

impl Guest for Mismatch {
    fn verify_token(token: String) -> Result<String, Error> {
        Ok(token)
    }
}

bindings::export!(Mismatch with_types_in bindings);
