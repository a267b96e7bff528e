#!/usr/bin/env bash
# Serve the same hello component through `riff up` and `wasmtime serve`, plus a native hyper
# hello, and load each with the same open-loop client (riff-load) over loopback. Then load riff's
# capability routes (key-value read, SQLite insert + indexed select, in-process chained call).
#
# Two passes per server:
#   throughput: offer far more than any server can take; completed requests/s is its capacity;
#   latency:    offer the same fixed rate to every server (half the slowest one's capacity) and
#               compare p50/p99 there, so queueing at saturation does not drown the comparison.
#
# Needs: wasmtime-cli 48.0.x on PATH for the wasmtime column
#   (cargo install wasmtime-cli --version 48.0.8 --locked); without it that column is skipped.
# Usage: benches/compare.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${CONNECTIONS:-64}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release -q -p riff -p riff-bench
cargo build --release -q --target wasm32-wasip2 --manifest-path components/Cargo.toml
WASM="$PWD/$TARGET/wasm32-wasip2/release"
RIFF="$TARGET/release/riff"
LOAD="$TARGET/release/riff-load"
NATIVE="$TARGET/release/native-hello"

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

cat > "$WORK/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "bench"
[[trigger.http]]
route = "/hello"
component = "hello"
[[trigger.http]]
route = "/probe/..."
component = "probe"
[[trigger.http]]
route = { private = true }
component = "back"
[component.hello]
source = "$WASM/hello.wasm"
[component.probe]
source = "$WASM/probe.wasm"
key_value_stores = ["default"]
sqlite_databases = ["default"]
allowed_outbound_hosts = ["http://back.spin.internal"]
[component.back]
source = "$WASM/hello.wasm"
EOF

wait_up() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

"$RIFF" up -f "$WORK/spin.toml" --listen 127.0.0.1:3101 --state-dir "$WORK/.riff" >"$WORK/riff.log" 2>&1 &
PIDS+=($!)
"$NATIVE" 127.0.0.1:3103 >/dev/null 2>&1 &
PIDS+=($!)
HAVE_WASMTIME=0
if command -v wasmtime >/dev/null && wasmtime --version | grep -q '^wasmtime 48\.'; then
    wasmtime serve -Scli --addr 127.0.0.1:3102 "$WASM/hello.wasm" >"$WORK/wasmtime.log" 2>&1 &
    PIDS+=($!)
    HAVE_WASMTIME=1
else
    echo "wasmtime 48.x not on PATH: skipping the wasmtime serve column" >&2
fi
wait_up http://127.0.0.1:3101/hello
curl -sf -o /dev/null http://127.0.0.1:3101/probe/bench/sql-setup
wait_up http://127.0.0.1:3103/
[ "$HAVE_WASMTIME" = 1 ] && wait_up http://127.0.0.1:3102/

# run NAME URL RATE -> prints the client's line prefixed by NAME
run() { echo "$1 $("$LOAD" --url "$2" --rate "$3" --duration "$DURATION" --connections "$CONNECTIONS")"; }
field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"; }

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "## throughput (offered 1,000,000/s, ${CONNECTIONS} connections, ${DURATION}s)"
R=$(run riff http://127.0.0.1:3101/hello 1000000); echo "$R"
N=$(run native http://127.0.0.1:3103/ 1000000); echo "$N"
if [ "$HAVE_WASMTIME" = 1 ]; then W=$(run wasmtime http://127.0.0.1:3102/ 1000000); echo "$W"; fi
R_RPS=$(field "$R" rps); N_RPS=$(field "$N" rps)
SLOWEST=$R_RPS
if [ "$HAVE_WASMTIME" = 1 ]; then
    W_RPS=$(field "$W" rps)
    SLOWEST=$(awk -v a="$R_RPS" -v b="$W_RPS" 'BEGIN{print (a<b)?a:b}')
fi
FIXED=$(awk -v s="$SLOWEST" 'BEGIN{printf "%d", s/2}')

echo "## latency at a fixed ${FIXED}/s (half the slowest Wasm host's throughput)"
RL=$(run riff http://127.0.0.1:3101/hello "$FIXED"); echo "$RL"
NL=$(run native http://127.0.0.1:3103/ "$FIXED"); echo "$NL"
if [ "$HAVE_WASMTIME" = 1 ]; then WL=$(run wasmtime http://127.0.0.1:3102/ "$FIXED"); echo "$WL"; fi

echo "## ratios"
awk -v r="$R_RPS" -v n="$N_RPS" 'BEGIN{printf "riff/native requests/s: %.3f\n", r/n}'
if [ "$HAVE_WASMTIME" = 1 ]; then
    awk -v r="$R_RPS" -v w="$W_RPS" 'BEGIN{printf "riff/wasmtime requests/s: %.2f\n", r/w}'
    awk -v r="$(field "$RL" p99_us)" -v w="$(field "$WL" p99_us)" 'BEGIN{printf "riff/wasmtime p99 at fixed rate: %.2f\n", r/w}'
fi

echo "## riff capability routes (throughput, then p99 at a fixed rate)"
H=$R_RPS
for route in kv sql chain; do
    C=$(run "$route" "http://127.0.0.1:3101/probe/bench/$route" 1000000); echo "$C"
    awk -v c="$(field "$C" rps)" -v h="$H" -v n="$route" 'BEGIN{printf "%s/hello requests/s: %.2f\n", n, c/h}'
done
SQL_FIXED=$(awk -v s="$R_RPS" 'BEGIN{printf "%d", s/10}')
echo "$(run sql-fixed http://127.0.0.1:3101/probe/bench/sql "$SQL_FIXED")"
