#!/bin/sh
# Run the whole test suite: formatting, lints, unit and integration tests.
# The integration tests build the components (wasm32-wasip2) and start real `riff up` processes.
set -eu
cd "$(dirname "$0")/.."
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
cargo fmt --all --check
(cd components && cargo fmt --all --check)
cargo build --release --target wasm32-wasip2 --manifest-path components/Cargo.toml
cargo clippy --workspace --all-targets -- -D warnings
(cd components && cargo clippy --release -- -D warnings)
cargo test --workspace
# Service logic in the shared guest crate is plain Rust: test it natively too.
HOST_TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
(cd components && cargo test -p riff-guest -p auth -p catalog -p profile --target "$HOST_TRIPLE")
