#!/usr/bin/env bash
# Compare two riff binaries on the hello component in the same run: both serve at once, and the
# same open-loop client (riff-load) loads them in turn, A B A B ..., so machine noise lands on
# both alike. Prints each run, the median requests/s ratio B/A, and the median CPU time the riff
# process spent per request (user + system, from /proc) — the cost itself, which a busy machine
# disturbs less than throughput.
#
# Usage: benches/ab.sh RIFF_A RIFF_B [seconds per run, default 10] [rounds, default 3]
#   e.g. build the previous commit's riff into /tmp/riff-before and compare it with this one:
#   benches/ab.sh /tmp/riff-before target/release/riff
# Extra environment for one side: A_ENV / B_ENV (e.g. B_ENV="RIFF_LOG=warn").
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1
B=$2
DURATION=${3:-10}
ROUNDS=${4:-3}
CONNECTIONS=${CONNECTIONS:-64}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release -q -p riff-bench
cargo build --release -q --target wasm32-wasip2 --manifest-path components/Cargo.toml -p hello
WASM="$PWD/$TARGET/wasm32-wasip2/release"
LOAD="$TARGET/release/riff-load"

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

cat > "$WORK/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "ab"
[[trigger.http]]
route = "/hello"
component = "hello"
[component.hello]
source = "$WASM/hello.wasm"
EOF

start() { # NAME BIN PORT ENV
    mkdir -p "$WORK/$1"
    env ${4:-} RIFF_LOG=warn "$2" up -f "$WORK/spin.toml" --listen "127.0.0.1:$3" --no-admin \
        --state-dir "$WORK/$1" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$3/hello" && return; sleep 0.1; done
    echo "$1 did not start:" >&2; cat "$WORK/$1.log" >&2; exit 1
}
start a "$A" 3201 "${A_ENV:-}"
start b "$B" 3202 "${B_ENV:-}"

run() { "$LOAD" --url "$1" --rate 1000000 --duration "$DURATION" --connections "$CONNECTIONS"; }
rps() { sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$1"; }
completed() { sed -n 's/.* completed=\([0-9]*\).*/\1/p' <<<"$1"; }
# CPU clock ticks (user + system) the process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# CPU µs per request of process $1 over one run against $2; prints "RESULT|cpu_us".
measured() {
    local before after out
    before=$(ticks "$1")
    out=$(run "$2")
    after=$(ticks "$1")
    echo "$out|$(awk -v t=$((after - before)) -v us="$TICK_US" -v n="$(completed "$out")" 'BEGIN{printf "%.1f", t * us / n}')"
}

echo "# $(date -u +%Y-%m-%d) $(nproc) cores; A=$A ${A_ENV:-}; B=$B ${B_ENV:-}"
AS=()
BS=()
ACPU=()
BCPU=()
for round in $(seq "$ROUNDS"); do
    M=$(measured "${PIDS[0]}" http://127.0.0.1:3201/hello); RA=${M%|*}; ACPU+=("${M##*|}")
    echo "round $round A $RA cpu_us_per_request=${M##*|}"; AS+=("$(rps "$RA")")
    M=$(measured "${PIDS[1]}" http://127.0.0.1:3202/hello); RB=${M%|*}; BCPU+=("${M##*|}")
    echo "round $round B $RB cpu_us_per_request=${M##*|}"; BS+=("$(rps "$RB")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
MA=$(median "${AS[@]}")
MB=$(median "${BS[@]}")
awk -v a="$MA" -v b="$MB" 'BEGIN{printf "median requests/s: A %.0f, B %.0f, B/A %.3f\n", a, b, b/a}'
CA=$(median "${ACPU[@]}")
CB=$(median "${BCPU[@]}")
awk -v a="$CA" -v b="$CB" 'BEGIN{printf "median riff CPU per request: A %.1f us, B %.1f us, B/A %.3f\n", a, b, b/a}'
