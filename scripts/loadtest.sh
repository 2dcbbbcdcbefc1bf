#!/usr/bin/env bash
# Load test over 127.0.0.1: our echo_server (async, and --blocking) beside echo servers built on
# fastwebsockets, tokio-websockets, tokio-tungstenite and tungstenite (loadtest/), driven by one
# raw-TCP load generator (loadtest/src/bin/loadgen.rs), the same scenarios against each in one
# run, interleaved over several rounds; prints a markdown table with the ratio of ours to the
# best peer. See BENCHMARKS.md.
#
#   bash scripts/loadtest.sh                 # 3 rounds x 5 s per scenario per server (~25 min)
#   SMOKE=1 bash scripts/loadtest.sh         # 1 round x 0.5 s (CI smoke: about a minute)
#
# Environment (all optional):
#   ROUNDS        rounds (default 3; 1 with SMOKE=1)
#   DURATION      seconds measured per scenario and server (default 5; 0.5 with SMOKE=1)
#   SMOKE         1: the short defaults above
#   SCENARIOS     comma-separated subset of: small-binary,small-text,small-frag64,64KiB,1MiB,
#                 latency,handshake,idle
#   SERVERS       comma-separated subset of: rfc6455,rfc6455-blocking,tokio-tungstenite,
#                 tungstenite,fastwebsockets,tokio-websockets
#   IDLE_CONNS    idle connections for the memory scenario (default 1000)
#   GEN_THREADS   load generator threads (default 1)
#   LOADTEST_OUT  where to write the table (default target/loadtest/table.md)
#   SKIP_BUILD    1: do not run cargo build
#   BASELINE      a git revision: also run our echo_server as built at that revision, as server
#                 "rfc6455@REV" (never counted as a peer), for a before/after in the same run
# Logs: target/loadtest/servers.log (the servers' stderr), target/loadtest/runs.csv (every run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="$ROOT/target"
OUT="${LOADTEST_OUT:-$TARGET/loadtest/table.md}"
mkdir -p "$TARGET/loadtest"

BASELINE_BIN=""
if [ -n "${BASELINE:-}" ]; then
    # Built in a target directory of its own. In the shared one the baseline's example and ours
    # are the same cargo unit (same package name, version and features), so each build took the
    # other's fingerprint: whichever binary was built first was then "fresh" for the second, and
    # both columns could run the same code.
    SRC="$TARGET/loadtest/baseline-src"
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git archive "$BASELINE" | tar -x -C "$SRC"
    # Under target/, the checkout sits inside this repository's workspace: give a revision from
    # before the workspace (or any revision) a workspace of its own, so cargo builds it alone.
    grep -q '^\[workspace\]' "$SRC/Cargo.toml" || printf '\n[workspace]\n' >> "$SRC/Cargo.toml"
    BASELINE_TARGET="$TARGET/loadtest/baseline-target"
    cargo build --release --example echo_server --manifest-path "$SRC/Cargo.toml" --target-dir "$BASELINE_TARGET"
    BASELINE_BIN="$TARGET/loadtest/echo_server-baseline"
    cp "$BASELINE_TARGET/release/examples/echo_server" "$BASELINE_BIN"
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --example echo_server
    cargo build --release --manifest-path loadtest/Cargo.toml --target-dir "$TARGET"
fi

# 1000 idle connections need more descriptors than the usual soft limit of 1024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Run private copies: the target directory is shared, and a build by someone else during the run
# must not swap a server binary between rounds.
BIN="$TARGET/loadtest/bin"
rm -rf "$BIN"
mkdir -p "$BIN/examples"
cp "$TARGET/release/examples/echo_server" "$BIN/examples/"
for b in runner loadgen echo-tokio-tungstenite echo-tungstenite echo-fastwebsockets echo-tokio-websockets; do
    cp "$TARGET/release/$b" "$BIN/"
done
EXTRA=()
if [ -n "$BASELINE_BIN" ]; then
    if cmp -s "$BASELINE_BIN" "$BIN/examples/echo_server"; then
        echo "loadtest.sh: note: the baseline's echo_server is byte for byte the current one" >&2
    fi
    cp "$BASELINE_BIN" "$BIN/examples/echo_server-baseline"
    EXTRA+=(--server "rfc6455@$(git rev-parse --short "$BASELINE")=$BIN/examples/echo_server-baseline")
fi

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- src examples Cargo.toml 2>/dev/null)" ]; then COMMIT="$COMMIT+dirty"; fi
MACHINE="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
export LOADTEST_LABEL="${LOADTEST_LABEL:-$(date -u '+%Y-%m-%d %H:%M UTC'), rfc6455 at $COMMIT, $MACHINE, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)}"
echo "loadtest.sh: $LOADTEST_LABEL" >&2

exec "$BIN/runner" \
    --loadgen "$BIN/loadgen" \
    --log-dir "$TARGET/loadtest" \
    --out "$OUT" \
    --ours rfc6455 \
    --server "rfc6455=$BIN/examples/echo_server" \
    --server "rfc6455-blocking=$BIN/examples/echo_server --blocking" \
    --server "tokio-tungstenite=$BIN/echo-tokio-tungstenite" \
    --server "tungstenite=$BIN/echo-tungstenite" \
    --server "fastwebsockets=$BIN/echo-fastwebsockets" \
    --server "tokio-websockets=$BIN/echo-tokio-websockets" \
    ${EXTRA[@]+"${EXTRA[@]}"}
