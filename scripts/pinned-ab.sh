#!/usr/bin/env bash
# A/B of echo servers with the server pinned to CPU 0 and the load generator to CPU 1, runs
# interleaved: less scheduler noise than scripts/loadtest.sh, for comparing two builds of ours
# (BENCHMARKS.md, "Before and after"). One line per run: msgs/s, latency, CPU per message.
#
#   bash scripts/pinned-ab.sh                                   # 64 KiB scenario, default servers
#   bash scripts/pinned-ab.sh --conns 4 --depth 1 --size 1048576
#   bash scripts/pinned-ab.sh --mode handshake --conns 32
#   SERVERS="/tmp/echo_server-old target/release/examples/echo_server" bash scripts/pinned-ab.sh
#
# Arguments: loadgen's (default: --conns 10 --depth 4 --size 65536).
# Environment (all optional):
#   SERVERS      echo server binaries, each taking the listen address as its only argument
#                (default: our echo_server, then fastwebsockets' and tokio-websockets' from loadtest/)
#   RUNS         rounds (default 4); DURATION seconds per run (default 2)
#   PAGE_FAULTS  1: also count the server's page faults per run (`perf stat`)
#   EVENTS       perf events, comma-separated, counted in the server (s:) and in the load generator
#                (g:) over the measured window and printed per message (or handshake), e.g.
#                EVENTS=context-switches,sched:sched_waking,syscalls:sys_enter_recvfrom
#   SKIP_BUILD   1: do not run cargo build
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "$(nproc)" -lt 2 ]; then
    echo "pinned-ab.sh: needs 2 CPUs" >&2
    exit 2
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --example echo_server
    cargo build --release --manifest-path loadtest/Cargo.toml --target-dir target
fi
SERVERS="${SERVERS:-target/release/examples/echo_server target/release/echo-fastwebsockets target/release/echo-tokio-websockets}"
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--conns 10 --depth 4 --size 65536)
PORT=9390
status=0

for round in $(seq "${RUNS:-4}"); do
    for bin in $SERVERS; do
        PORT=$((PORT + 1))
        taskset -c 0 "$bin" "127.0.0.1:$PORT" >/dev/null 2>&1 &
        pid=$!
        sleep 0.5
        faults=""
        if [ "${PAGE_FAULTS:-0}" = 1 ]; then
            faults_file="$(mktemp)"
            perf stat -x, -e page-faults -p "$pid" -o "$faults_file" -- sleep "${DURATION:-2}" &
            perf_pid=$!
        fi
        result_file="$(mktemp)"
        taskset -c 1 target/release/loadgen "127.0.0.1:$PORT" "${ARGS[@]}" \
            --duration "${DURATION:-2}" --server-pid "$pid" >"$result_file" &
        gen_pid=$!
        if [ -n "${EVENTS:-}" ]; then
            # After loadgen's warm-up (a fifth of the duration, at most 1 s), for the duration.
            sleep "$(awk -v d="${DURATION:-2}" 'BEGIN { w = d / 5; print (w < 1 ? w : 1) }')"
            server_events="$(mktemp)"
            gen_events="$(mktemp)"
            perf stat -x, -e "$EVENTS" -p "$pid" -o "$server_events" -- sleep "${DURATION:-2}" &
            server_perf=$!
            perf stat -x, -e "$EVENTS" -p "$gen_pid" -o "$gen_events" -- sleep "${DURATION:-2}" &
            gen_perf=$!
            wait "$server_perf" "$gen_perf" || true
        fi
        wait "$gen_pid" || true
        result="$(grep '^RESULT' "$result_file" || true)"
        rm -f "$result_file"
        events=""
        if [ -n "${EVENTS:-}" ]; then
            ops="$(echo "$result" | grep -oE '(msgs|handshakes)_per_s=[0-9.]+' | cut -d= -f2)"
            for side in s g; do
                file="$server_events"
                [ "$side" = g ] && file="$gen_events"
                events+="$(awk -F, -v ops="${ops:-0}" -v d="${DURATION:-2}" -v side="$side" \
                    '/^[0-9]/ && ops > 0 { printf " %s:%s=%.2f", side, $3, $1 / (ops * d) }' "$file")"
            done
            rm -f "$server_events" "$gen_events"
        fi
        if [ "${PAGE_FAULTS:-0}" = 1 ]; then
            wait "$perf_pid" || true
            faults=" page_faults=$(grep page-faults "$faults_file" | cut -d, -f1)"
            rm -f "$faults_file"
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        if [ -z "$result" ]; then
            echo "pinned-ab.sh: no result from $bin" >&2
            status=1
        fi
        echo "round $round $(basename "$bin"): $(echo "$result" | grep -oE '(msgs_per_s|handshakes_per_s|p50_us|p99_us|gen_cpu|server_cpu_us_per_op)=[0-9.]+' | tr '\n' ' ')$faults$events"
    done
done
exit $status
