#!/bin/sh
# Run the whole test suite: formatting, lints, unit and integration tests.
# The integration tests build the components (wasm32-wasip2) and start real `riff up` processes.
set -eu
cd "$(dirname "$0")/.."
# wasm32-wasip1 builds the core-module test (Spin's templates still target it).
for target in wasm32-wasip2 wasm32-wasip1; do
    if ! rustup target list --installed | grep -qx "$target"; then
        rustup target add "$target"
    fi
done
# The payment tests run against localstripe, a fake Stripe the tests start on loopback.
if ! python3 -c "import localstripe" 2>/dev/null; then
    python3 -m pip install --quiet localstripe ||
        echo "warning: could not install localstripe: its tests skip (and fail under CI=true)" >&2
fi
# PostgreSQL, Redis and NATS for the shared-backend tests, haproxy for the cluster tests: started
# (installed) here when missing; tests needing one skip without it, and fail under CI=true.
scripts/services.sh
cargo fmt --all --check
# No import cycle between the modules of any host crate (issue 12's layering); the check first
# proves it can fail.
python3 scripts/module-cycles.py --self-test
python3 scripts/module-cycles.py
(cd components && cargo fmt --all --check)
cargo build --release --target wasm32-wasip2 --manifest-path components/Cargo.toml
cargo clippy --workspace --all-targets -- -D warnings
(cd components && cargo clippy --release -- -D warnings)
# Tests that skip (a data set or tool is missing; never under CI=true) list themselves here.
RIFF_SKIP_LOG="$PWD/target/test-skips.log"
export RIFF_SKIP_LOG
mkdir -p target && : >"$RIFF_SKIP_LOG"
# The Kubernetes manifests against the current schemas, spin.toml and the host; the Dockerfile's
# shape (the image itself is built only where a Docker daemon runs).
scripts/validate-kubernetes.sh --self-test
scripts/validate-kubernetes.sh
cargo test --workspace
# The whole integration suite once more with every label on PostgreSQL + Redis and the queue on
# NATS JetStream (same build, same assertions; see tests/common/backends.rs). The cluster tests
# always run on those backends, so they run once, above.
RIFF_TEST_BACKENDS=shared cargo test --test integration -- --skip cluster
# Service logic is plain Rust: test it natively too. The search index's quality test reads
# ../shared/data/chinook; the recommendation model's offline evaluation reads
# ../shared/data/hetrec-lastfm-2k (release build: it trains on the whole data set).
HOST_TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
(cd components && cargo test -p riff-guest -p auth -p catalog -p profile -p search -p recommend -p payment \
    -p riff-search --target "$HOST_TRIPLE")
(cd components && cargo test --release -p riff-recommend --target "$HOST_TRIPLE" -- --nocapture)
if [ -s "$RIFF_SKIP_LOG" ]; then
    echo "SKIPPED (these tests did not run; under CI=true they fail instead):"
    sed 's/^/  /' "$RIFF_SKIP_LOG"
else
    echo "No test skipped."
fi
