#!/usr/bin/env bash
# End-to-end test of examples/push_server.rs, like a user would run it: `bash scripts/push-e2e.sh`.
#
# 1. Builds the release example, starts it on a free 127.0.0.1 port, and drives it from headless
#    Chromium (scripts/push-e2e/browser.js with playwright-core): pages for alice and bob reach
#    "open" with permessage-deflate negotiated (Chromium's handshake headers, "compressed": 2 in
#    /stats), a broadcast push reaches both, a push to alice only alice, chat shows on both pages,
#    the screenshot goes to docs/push_server.png (set SCREENSHOT=... to write it elsewhere), a
#    2 KiB push (sent compressed) shows intact on both pages; then SIGINT: both pages get Close
#    1001 and show "closed", and the server exits with status 0.
# 2. Runs the #[ignore]d tests of tests/push_server.rs against the same release binary: routes,
#    Origin check (403), targeted pushes, chat, permessage-deflate and its /stats count, slow
#    client closed with 1008, Ctrl-C -> 1001, and the 1,000-client fan-out, which prints the time
#    from POST to last delivery and the server's memory per connection.
#
# Installs what it needs: Debian's chromium (apt-get) if $CHROMIUM (default /usr/bin/chromium) is
# missing, and playwright-core (npm, no browser download) into target/push-e2e. Every wait is
# bounded; only the PIDs started here are stopped. Exits non-zero on any failed assertion.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/push-e2e"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
SCREENSHOT="${SCREENSHOT:-$ROOT/docs/push_server.png}"
BIN="$ROOT/target/release/examples/push_server"
mkdir -p "$OUT" "$(dirname "$SCREENSHOT")"

say() { echo "--- push-e2e: $*"; }

SERVER_PID=""
USER_DATA_DIR=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$USER_DATA_DIR" ]; then
        rm -rf "$USER_DATA_DIR"
    fi
}
trap cleanup EXIT

if [ ! -x "$CHROMIUM" ]; then
    say "installing chromium (apt-get)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi
"$CHROMIUM" --version 2>/dev/null | grep -v 'unexpected operator' || true

if [ ! -f "$OUT/node_modules/playwright-core/package.json" ] \
    || ! cmp -s scripts/push-e2e/package.json "$OUT/package.json"; then
    say "installing playwright-core into $OUT (npm; no browser download)"
    cp scripts/push-e2e/package.json "$OUT/package.json"
    (cd "$OUT" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm install --no-audit --no-fund --loglevel=error)
fi

say "cargo build --release --example push_server"
cargo build --release --example push_server

# Port 8080 (the default, so the screenshot shows the URL a newcomer sees) if it is free, else any.
start_server() {
    "$BIN" --addr "$1" >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    URL=""
    for _ in $(seq 100); do
        URL="$(sed -n 's|^push_server: listening on \(http://[0-9.:]*\)/$|\1|p' "$OUT/server.log" | head -n 1)"
        [ -n "$URL" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$OUT/server.log"
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    return 1
}
say "starting the server"
if ! start_server 127.0.0.1:8080 && ! start_server 127.0.0.1:0; then
    say "FAILED: the server printed no URL within 10 s"
    exit 1
fi
say "server $SERVER_PID at $URL"

say "browser test (headless Chromium)"
USER_DATA_DIR="$(mktemp -d "$OUT/chromium-profile.XXXXXX")"
PUSH_URL="$URL" PUSH_SERVER_PID="$SERVER_PID" CHROMIUM="$CHROMIUM" USER_DATA_DIR="$USER_DATA_DIR" \
    SCREENSHOT="$SCREENSHOT" NODE_PATH="$OUT/node_modules" \
    timeout 180 node scripts/push-e2e/browser.js

# browser.js sent SIGINT: the server must exit by itself, with status 0.
for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$SERVER_PID" 2>/dev/null; then
    say "FAILED: the server did not exit within 10 s of SIGINT"
    exit 1
fi
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
cat "$OUT/server.log"
if [ "$status" != 0 ]; then
    say "FAILED: the server exited with status $status after SIGINT"
    exit 1
fi
grep -q 'closing 2 WebSocket connections with 1001' "$OUT/server.log" || {
    say "FAILED: the server did not report closing the 2 pages with 1001"
    exit 1
}
say "ok: SIGINT closed both pages with 1001 and the server exited with status 0"

# 1,000 client sockets here plus 1,000 in the server.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -n 4096
fi
say "cargo test --release --test push_server -- --ignored --nocapture --test-threads=1"
PUSH_SERVER_BIN="$BIN" cargo test --release --test push_server -- --ignored --nocapture --test-threads=1 \
    2>&1 | tee "$OUT/tests.log"
grep '^fan-out:' "$OUT/tests.log"
say "all passed; screenshot: ${SCREENSHOT#"$ROOT"/}"
