#!/usr/bin/env bash
# Scale-out benchmarks (issue 13): the music app on embedded SQLite against the shared backends
# (PostgreSQL + Redis + NATS JetStream) with 1 and 3 replicas, and a write route shaped like
# Spin's published PostgreSQL figure (INSERT + SELECT + DELETE per request).
#
# Every configuration is started fresh — its own state directory, PostgreSQL database, Redis
# key prefix and JetStream stream — measured, stopped and dropped, one after another; the order
# alternates between rounds (A B C D, then D C B A, ...) so machine noise lands on all alike.
# First every configuration's throughput (riff-load offering 1,000,000 requests/s: what completes
# in the window), then every configuration's latency at one fixed offered rate (default: half the
# slowest configuration's median throughput), so the percentiles compare like with like.
#
# Configurations of the music mix (browse an artist and an album, search, a byte range of a track,
# record a play, create a playlist; one listener's token, requests round-robin through the mix):
#   sqlite       one riff, embedded SQLite/key-value/queue (no runtime config)
#   pg-1         one riff on PostgreSQL + Redis + NATS, loaded directly
#   pg-1-haproxy the same behind haproxy (so haproxy's own cost is visible)
#   pg-3-haproxy three riffs on PostgreSQL + Redis + NATS behind haproxy (round robin)
# and of the write route (probe component, /probe/bench/sql-write):
#   write-pg     one riff, the `default` SQL label on PostgreSQL (pool_size 4, the default)
#   write-pg16   the same with pool_size 16
#   write-sqlite one riff on embedded SQLite (reference)
# Around every run the script reads the CPU time (user + system, /proc) of each party over the
# measured window and prints it per completed request (cpu_<party>_us): the riff replicas,
# haproxy, the PostgreSQL backends serving the run's database, redis-server and nats-server (the
# last two shared with anything else using them meanwhile).
#
# Usage: benches/scale.sh [rounds, default 2]
# Environment: DURATION (s per run, 10), WARMUP (s before each, 2), CONNECTIONS (64),
# MIX_RATE / WRITE_RATE (fixed offered rates; default half the slowest median throughput),
# ONLY=mix|write, PG_URL (postgres://postgres@127.0.0.1:5432), REDIS_URL, NATS_URL,
# COMPONENTS_TARGET (where the components are built; default target/scale-components).
# Needs PostgreSQL (a role that may CREATE DATABASE), Redis, NATS with JetStream, haproxy, curl,
# jq and psql. Cleans up on exit: processes, databases, keys, streams.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
ONLY=${ONLY:-}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
TARGET=${CARGO_TARGET_DIR:-target}
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac

# Building riff alone would unify features differently from the tests' build and rebuild wasmtime.
nice cargo build --release -q -p riff -p riff-bench
# The components get a target directory of their own: a `.wasm` has no hash in its name, so a
# build of another checkout into the shared target directory would replace them.
COMPONENTS_TARGET=${COMPONENTS_TARGET:-$TARGET/scale-components}
nice cargo build --release -q --target wasm32-wasip2 --manifest-path components/Cargo.toml \
    --target-dir "$COMPONENTS_TARGET"
RUN="riff_scale_$$"
WORK=$(mktemp -d)
# Run copies, so a build in the shared target directory during the run changes nothing here.
mkdir -p "$WORK/bin" "$WORK/wasm"
cp "$TARGET/release/riff" "$TARGET/release/riff-load" "$WORK/bin/"
cp "$COMPONENTS_TARGET/wasm32-wasip2/release/"*.wasm "$WORK/wasm/"
RIFF="$WORK/bin/riff"
LOAD="$WORK/bin/riff-load"
WASM="$WORK/wasm"
PIDS=()      # every process started and not yet stopped
DATABASES=() # every database created
PREFIXES=()  # Redis key prefixes used
STREAMS=()   # JetStream streams used
PORT=3400

psql_admin() { psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qAtc "$1"; }
redis_cli() { redis-cli -u "$REDIS_URL" "$@"; }
nats_hostport() { local h=${NATS_URL#nats://}; echo "${h%%/*}"; }
# Delete a JetStream stream and its dead letters' (`<stream>_DEAD`) through the JetStream API.
delete_stream() {
    local hp host port
    hp=$(nats_hostport)
    host=${hp%:*}
    port=${hp##*:}
    exec 3<>"/dev/tcp/$host/$port" || return 0
    printf 'CONNECT {"verbose":false}\r\nPUB $JS.API.STREAM.DELETE.%s 0\r\n\r\n' "$1" >&3
    printf 'PUB $JS.API.STREAM.DELETE.%s_DEAD 0\r\n\r\nPING\r\n' "$1" >&3
    timeout 2 grep -q -m1 PONG <&3 || true
    exec 3<&-
}
drop_backends() { # NAME
    psql_admin "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true
    redis_cli --scan --pattern "$1:*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null || true
    delete_stream "${1^^}"
}
stop_pids() { # PID...
    local p q keep
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
    keep=()
    for q in "${PIDS[@]}"; do [[ " $* " == *" $q "* ]] || keep+=("$q"); done
    PIDS=("${keep[@]}")
}
cleanup() {
    [ ${#PIDS[@]} -gt 0 ] && stop_pids "${PIDS[@]}"
    for name in "${DATABASES[@]}"; do drop_backends "$name"; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# The music app: the repository's spin.toml with its sources made absolute.
sed -e "s#\"target/wasm32-wasip2/release/#\"$WASM/#" \
    -e "s#source = \"components/#source = \"$PWD/components/#" spin.toml >"$WORK/music.toml"
# The write route: the probe component and one SQL label.
cat >"$WORK/write.toml" <<EOF
spin_manifest_version = 2
[application]
name = "scale-write"
[[trigger.http]]
route = "/probe/..."
component = "probe"
[component.probe]
source = "$WASM/probe.wasm"
sqlite_databases = ["default"]
EOF
cat >"$WORK/music.mix" <<'EOF'
GET /v1/artists/ar02
GET /v1/albums/al03/tracks
GET /v1/search?q=quartet&type=artist,track
GET /v1/tracks/tr06/stream | Range: bytes=0-16383
POST /v1/me/player/played {"track_id":"tr07"}
POST /v1/me/playlists {"name":"Scale mix","public":false}
EOF
SIGNING_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
PASSWORD="a long password"

# Labels a manifest grants: `labels sqlite_databases FILE`.
labels() { sed -n "s/^$1 = \[\(.*\)\]/\1/p" "$2" | tr -d '" ' | tr ',' '\n' | sort -u; }

# A fresh database, key prefix and stream (all named BACKENDS, which this sets); writes the
# runtime config for MANIFEST to FILE. `fresh_backends MANIFEST FILE [POOL_SIZE]`
SEQ=0
fresh_backends() {
    SEQ=$((SEQ + 1))
    BACKENDS="${RUN}_$SEQ"
    local label
    psql_admin "CREATE DATABASE $BACKENDS"
    DATABASES+=("$BACKENDS")
    {
        for label in $(labels sqlite_databases "$1"); do
            printf '[sqlite_database.%s]\ntype = "postgres"\nurl = "%s/%s"\n' "$label" "$PG_URL" "$BACKENDS"
            [ -n "${3:-}" ] && printf 'pool_size = %s\n' "$3"
            echo
        done
        for label in $(labels key_value_stores "$1"); do
            printf '[key_value_store.%s]\ntype = "redis"\nurl = "%s"\nprefix = "%s:%s:"\n\n' \
                "$label" "$REDIS_URL" "$BACKENDS" "$label"
        done
        printf '[queue]\ntype = "nats"\nurl = "%s"\nstream = "%s"\n\n' "$NATS_URL" "${BACKENDS^^}"
        printf '[deployments]\ntype = "redis"\nurl = "%s"\nprefix = "%s:deployments:"\n' \
            "$REDIS_URL" "$BACKENDS"
    } >"$2"
}

wait_up() { # URL LOG
    for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "nothing answered at $1; log:" >&2
    cat "$2" >&2
    exit 1
}

# start_riff MANIFEST [RUNTIME_CONFIG] -> starts one replica; sets STARTED_PORT, STARTED_PID.
start_riff() {
    PORT=$((PORT + 1))
    local dir="$WORK/r$PORT" config=()
    mkdir -p "$dir"
    [ -n "${2:-}" ] && config=(--runtime-config-file "$2")
    RIFF_LOG=warn RIFF_VARIABLE_AUTH_SIGNING_KEY="$SIGNING_KEY" \
        "$RIFF" up -f "$1" --listen "127.0.0.1:$PORT" --no-admin --state-dir "$dir" \
        --cache-dir "$TARGET/riff-scale-cache" "${config[@]}" >"$dir.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    STARTED_PORT=$PORT
    wait_up "http://127.0.0.1:$PORT/.well-known/spin/health" "$dir.log"
}

# start_haproxy PORT... -> round robin over the replicas; sets STARTED_PORT, STARTED_PID.
start_haproxy() {
    PORT=$((PORT + 1))
    local cfg="$WORK/haproxy$PORT.cfg" n=0 p
    {
        printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  option http-keep-alive\n'
        printf '  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
        printf 'frontend front\n  bind 127.0.0.1:%s\n  default_backend riff\n' "$PORT"
        printf 'backend riff\n  balance roundrobin\n'
        for p in "$@"; do n=$((n + 1)); printf '  server r%s 127.0.0.1:%s\n' "$n" "$p"; done
    } >"$cfg"
    haproxy -f "$cfg" -db >"$WORK/haproxy$PORT.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    STARTED_PORT=$PORT
    wait_up "http://127.0.0.1:$PORT/.well-known/spin/health" "$WORK/haproxy$PORT.log"
}

# up CONFIG -> starts it; sets FRONT (base URL), UP_PIDS (all), UP_RIFF (the replicas), UP_PROXY
# (haproxy or empty), UP_DB (database or empty), TOKEN.
up() {
    local config="" replicas=1 proxy=0 pool="" manifest="$WORK/music.toml" ports=() i
    UP_PIDS=()
    UP_RIFF=()
    UP_PROXY=""
    UP_DB=""
    case "$1" in
        sqlite) ;;
        pg-1) config=pg ;;
        pg-1-haproxy) config=pg; proxy=1 ;;
        pg-3-haproxy) config=pg; proxy=1; replicas=3 ;;
        write-sqlite) manifest="$WORK/write.toml" ;;
        write-pg) manifest="$WORK/write.toml"; config=pg ;;
        write-pg16) manifest="$WORK/write.toml"; config=pg; pool=16 ;;
        *) echo "unknown configuration $1" >&2; exit 2 ;;
    esac
    local file=""
    if [ "$config" = pg ]; then
        file="$WORK/$1.$SEQ.toml"
        fresh_backends "$manifest" "$file" "$pool"
        UP_DB=$BACKENDS
    fi
    for i in $(seq "$replicas"); do
        start_riff "$manifest" "$file"
        UP_PIDS+=("$STARTED_PID")
        UP_RIFF+=("$STARTED_PID")
        ports+=("$STARTED_PORT")
    done
    FRONT="http://127.0.0.1:${ports[0]}"
    if [ "$proxy" = 1 ]; then
        start_haproxy "${ports[@]}"
        UP_PIDS+=("$STARTED_PID")
        UP_PROXY=$STARTED_PID
        FRONT="http://127.0.0.1:$STARTED_PORT"
    fi
    if [ "$manifest" = "$WORK/write.toml" ]; then
        curl -sf -o /dev/null "$FRONT/probe/bench/sql-setup"
        [ "$(curl -sf "$FRONT/probe/bench/sql-write")" = 1 ] || { echo "sql-write did not answer 1" >&2; exit 1; }
        return
    fi
    # A listener, and every replica ready: the catalog loaded and search finding it.
    local creds="{\"username\":\"scale\",\"password\":\"$PASSWORD\"}"
    curl -sf -o /dev/null -H 'content-type: application/json' -d "$creds" "$FRONT/v1/auth/register"
    TOKEN=$(curl -sf -H 'content-type: application/json' -d "$creds" "$FRONT/v1/auth/login" | jq -r .access_token)
    local found=0
    for _ in $(seq 600); do
        if curl -sf "$FRONT/v1/search?q=quartet&type=artist" | jq -e '.artists.items[0].id == "ar02"' >/dev/null; then
            found=$((found + 1))
            [ "$found" -ge $((replicas * 2)) ] && break
        else
            found=0
            sleep 0.1
        fi
    done
    [ "$found" -ge $((replicas * 2)) ] || { echo "$1: search never found the demo catalog" >&2; exit 1; }
    # Every line of the mix answers 2xx before it is measured.
    local method path body rest
    while IFS= read -r line; do
        rest=${line%% | *}
        method=${rest%% *}
        rest=${rest#* }
        path=${rest%% *}
        body=""
        [ "$path" != "$rest" ] && body=${rest#* }
        local args=(-sf -o /dev/null -X "$method" -H "Authorization: Bearer $TOKEN")
        [ -n "$body" ] && args+=(-H 'content-type: application/json' -d "$body")
        [[ "$line" == *" | "* ]] && args+=(-H "${line#* | }")
        curl "${args[@]}" "$FRONT$path" || { echo "$1: $line failed" >&2; exit 1; }
    done <"$WORK/music.mix"
}

down() {
    stop_pids "${UP_PIDS[@]}"
    if [ -n "$UP_DB" ]; then
        drop_backends "$UP_DB"
    fi
}

# CPU clock ticks (user + system) of the given processes so far (0 for one that has gone).
ticks() {
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
pg_backends() { psql_admin "SELECT pid FROM pg_stat_activity WHERE datname = '$1'" | tr '\n' ' '; }
REDIS_PID=$(pidof redis-server | cut -d' ' -f1 || true)
NATS_PID=$(pidof nats-server | cut -d' ' -f1 || true)

# measure CONFIG RATE -> starts CONFIG, loads it at RATE, stops it. Sets LINE to the client's
# line plus each party's CPU µs per completed request; PER_LINE to the per-line figures of a mix.
measure() {
    local config=$1 rate=$2 out pg=() load
    up "$config"
    load=(--url "$FRONT" --rate "$rate" --connections "$CONNECTIONS")
    if [[ "$config" == write-* ]]; then
        load[1]="$FRONT/probe/bench/sql-write"
    else
        load+=(--mix "$WORK/music.mix" --header "Authorization: Bearer $TOKEN")
    fi
    # A second's load first, so the pools' connections (whose backends are counted) are open.
    "$LOAD" "${load[@]}" --duration 1 --warmup 0 >/dev/null 2>&1
    [ -n "$UP_DB" ] && read -ra pg <<<"$(pg_backends "$UP_DB")"
    local groups=("${UP_RIFF[*]}" "$UP_PROXY" "${pg[*]}" "$REDIS_PID" "$NATS_PID") before=() g lp
    # The CPU is read over the measured window only: riff-load starts its schedule 0.2 s after
    # it starts, then warms up for WARMUP s, then measures for DURATION s.
    "$LOAD" "${load[@]}" --warmup "$WARMUP" --duration "$DURATION" >"$WORK/load.out" 2>"$WORK/mix.err" &
    lp=$!
    sleep "$(awk -v w="$WARMUP" 'BEGIN{print w + 0.2}')"
    for g in "${groups[@]}"; do before+=("$(ticks $g)"); done
    sleep "$DURATION"
    local n i names=(riff haproxy pg redis nats) cpu="" after=()
    for g in "${groups[@]}"; do after+=("$(ticks $g)"); done
    wait "$lp"
    out=$(cat "$WORK/load.out")
    n=$(sed -n 's/.* completed=\([0-9]*\).*/\1/p' <<<"$out")
    for i in "${!groups[@]}"; do
        [ -z "${groups[$i]}" ] && continue
        cpu+=$(awk -v t=$((after[i] - before[i])) -v us="$TICK_US" -v n="$n" -v k="${names[$i]}" \
            'BEGIN{printf " cpu_%s_us=%.0f", k, (n > 0) ? t * us / n : 0}')
    done
    down
    LINE="$out$cpu pg_backends=${#pg[@]}"
    PER_LINE=$(sed 's/^/    /' "$WORK/mix.err")
    : >"$WORK/mix.err"
}

field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<" $1"; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }

# suite NAME FIXED_RATE_OR_EMPTY CONFIG...: throughput rounds, then latency rounds, then medians.
suite() {
    local name=$1 fixed=$2 c r m order
    shift 2
    local configs=("$@")
    declare -A rps lat
    echo "## $name: throughput (offered 1,000,000/s, $CONNECTIONS connections, ${DURATION}s), $ROUNDS rounds"
    for r in $(seq "$ROUNDS"); do
        order=("${configs[@]}")
        [ $((r % 2)) = 0 ] && order=($(printf '%s\n' "${configs[@]}" | tac))
        for c in "${order[@]}"; do
            measure "$c" 1000000
            echo "round $r $c $LINE"
            [ -n "$PER_LINE" ] && echo "$PER_LINE"
            rps[$c]="${rps[$c]:-} $(field "$LINE" rps)"
        done
    done
    local slowest=""
    for c in "${configs[@]}"; do
        m=$(median ${rps[$c]})
        echo "median $c rps=$m (runs:${rps[$c]})"
        if [ -z "$slowest" ] || awk -v a="$m" -v b="$slowest" 'BEGIN{exit !(a<b)}'; then slowest=$m; fi
    done
    [ -z "$fixed" ] && fixed=$(awk -v s="$slowest" 'BEGIN{printf "%d", s/2}')
    echo "## $name: latency at a fixed ${fixed}/s, $ROUNDS rounds"
    for r in $(seq "$ROUNDS"); do
        order=("${configs[@]}")
        [ $((r % 2)) = 1 ] && order=($(printf '%s\n' "${configs[@]}" | tac))
        for c in "${order[@]}"; do
            measure "$c" "$fixed"
            echo "round $r $c $LINE"
            [ -n "$PER_LINE" ] && echo "$PER_LINE"
            lat[$c]="${lat[$c]:-} $(field "$LINE" p50_us)/$(field "$LINE" p99_us)"
        done
    done
    for c in "${configs[@]}"; do echo "latency $c p50/p99 us:${lat[$c]}"; done
}

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# riff $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host crates components || echo '+changes') (binary sha256 $(sha256sum "$RIFF" | cut -c1-12)); PostgreSQL $(psql_admin 'SHOW server_version'); Redis $(redis_cli INFO server | sed -n 's/^redis_version:\(.*\)\r/\1/p'); $(haproxy -v | head -1 | cut -d' ' -f1-3)"
if [ "$ONLY" != write ]; then
    suite "music mix" "${MIX_RATE:-}" sqlite pg-1 pg-1-haproxy pg-3-haproxy
fi
if [ "$ONLY" != mix ]; then
    suite "write route (INSERT + SELECT + DELETE)" "${WRITE_RATE:-}" write-pg write-pg16 write-sqlite
fi
