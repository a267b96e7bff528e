#!/bin/sh
# Set up and run riff on a fresh machine: install the wasm32-wasip2 target if missing, build
# the host and every component, and serve the app on http://127.0.0.1:3000.
# Extra arguments go to `riff up` (e.g. --listen 0.0.0.0:8080).
set -eu
cd "$(dirname "$0")/.."
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
exec cargo run --release -p riff -- up --build "$@"
