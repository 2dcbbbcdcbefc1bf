#!/usr/bin/env bash
# Run the Autobahn|Testsuite (RFC 6455 conformance) against our examples,
# using the shared scripts in $SHARED/autobahn (see its README.md):
#
#   server-async     echo_server            127.0.0.1:PORT   (server suite)
#   server-blocking  echo_server --blocking 127.0.0.1:PORT   (server suite)
#   client-async     autobahn_client            ws://...     (client suite)
#   client-blocking  autobahn_client --blocking ws://...     (client suite)
#
# one after the other (never at once: group 9 measures throughput), with
# AUTOBAHN_STRICT=1 AUTOBAHN_STRICT_CLOSE=1 AUTOBAHN_AGENT=rfc6455.
# Reports go to target/autobahn/<suite>/ (index.html, summary.txt, and
# server.log or client.log with our program's output).
# Prints each suite's one-line result, then a total, and exits 1 if any suite
# did not pass (2 on a usage/setup error).
#
# Environment (all optional):
#   SHARED               folder holding autobahn/ (default: <repo>/../shared)
#   AUTOBAHN_CASES       case patterns to run, e.g. '1.*,2.*' (default '*' = all)
#   AUTOBAHN_BLOCKING_CASES  the same for the two --blocking suites (default AUTOBAHN_CASES if set,
#                        else every case but 12.* and 13.*, plus 12.1.*, 13.1.*, 13.7.*)
#   AUTOBAHN_EXCLUDE     case patterns to leave out, e.g. '9.*' (default none)
#   AUTOBAHN_SUITES      which suites, comma/space separated (default: all four above)
#   AUTOBAHN_SKIP_BUILD  1: do not run cargo build (default 0)
#   ECHO_SERVER_CMD      echo server command, word-split (default ./target/release/examples/echo_server)
#   AUTOBAHN_CLIENT_CMD  client command, word-split (default ./target/release/examples/autobahn_client)
#   AUTOBAHN_REPORTS     report root (default target/autobahn)
#   AUTOBAHN_TIMEOUT     seconds one suite may take (default here 1500: the compression groups take 10-13 min)
#   AUTOBAHN_WAIT        seconds to wait for "listening on ADDR" from the server (default 30)
#   AUTOBAHN_STRICT, AUTOBAHN_STRICT_CLOSE (default 1), AUTOBAHN_AGENT (default rfc6455),
#   AUTOBAHN_PREFIX      passed through to the shared scripts
#
# The server is run as  ECHO_SERVER_CMD [--blocking] 127.0.0.1:PORT  and must
# print "listening on ADDR" on stdout when ready; the client is run as
# AUTOBAHN_CLIENT_CMD [--blocking] ws://127.0.0.1:PORT  (URL last).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
SHARED="${SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
AB="$SHARED/autobahn"

export AUTOBAHN_STRICT="${AUTOBAHN_STRICT:-1}"
export AUTOBAHN_STRICT_CLOSE="${AUTOBAHN_STRICT_CLOSE:-1}"
export AUTOBAHN_AGENT="${AUTOBAHN_AGENT:-rfc6455}"
export AUTOBAHN_TIMEOUT="${AUTOBAHN_TIMEOUT:-1500}"
export AUTOBAHN_WAIT="${AUTOBAHN_WAIT:-30}"
CASES="${AUTOBAHN_CASES:-*}"
# The blocking adapter runs every case except the slow compression groups, of which it runs the
# subgroups 12.1.*, 13.1.* and 13.7.* (the async adapter runs all of 12.* and 13.*): the same
# core compresses for both, and the full groups take 10-13 minutes per suite.
BLOCKING_CASES="${AUTOBAHN_BLOCKING_CASES:-${AUTOBAHN_CASES:-1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.1.*,13.1.*,13.7.*}}"
[ -n "${AUTOBAHN_EXCLUDE:-}" ] && export AUTOBAHN_EXCLUDE
REPORTS="${AUTOBAHN_REPORTS:-target/autobahn}"
read -r -a SERVER_CMD <<<"${ECHO_SERVER_CMD:-./target/release/examples/echo_server}"
read -r -a CLIENT_CMD <<<"${AUTOBAHN_CLIENT_CMD:-./target/release/examples/autobahn_client}"
read -r -a SUITES <<<"$(printf '%s' "${AUTOBAHN_SUITES:-server-async server-blocking client-async client-blocking}" | tr ',' ' ')"

log() { printf 'autobahn.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

for s in "${SUITES[@]}"; do
    case "$s" in server-async | server-blocking | client-async | client-blocking) ;;
        *) die "unknown suite '$s' in AUTOBAHN_SUITES" ;;
    esac
done
[ -f "$AB/server-suite.sh" ] && [ -f "$AB/client-suite.sh" ] && [ -f "$AB/install.sh" ] \
    || die "Autobahn scripts not found in $AB (set SHARED)"
[ "${#SERVER_CMD[@]}" -gt 0 ] && [ "${#CLIENT_CMD[@]}" -gt 0 ] || die "empty ECHO_SERVER_CMD or AUTOBAHN_CLIENT_CMD"

# ---------------------------------------------------------------- setup
bash "$AB/install.sh" || die "Autobahn install failed ($AB/install.sh)"
if [ "${AUTOBAHN_SKIP_BUILD:-0}" != 1 ]; then
    echo "==> cargo build --release --examples --features tokio,deflate"
    cargo build --release --examples --features tokio,deflate || die "cargo build failed"
fi
for c in "${SERVER_CMD[0]}" "${CLIENT_CMD[0]}"; do
    command -v "$c" >/dev/null || log "warning: '$c' not found or not executable (is the example missing?)"
done

# ---------------------------------------------------------------- echo server handling
server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
    fi
    wait "$server_pid" 2>/dev/null
    server_pid=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM   # the EXIT trap stops the server

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server LOG [ARGS...]: start "${SERVER_CMD[@]}" ARGS... 127.0.0.1:PORT in the
# background, wait for its "listening on ADDR" line; sets server_pid and server_addr.
start_server() {
    local log="$1" port line deadline
    shift
    for _attempt in 1 2 3; do
        port="$(free_port)" || return 1
        server_addr="127.0.0.1:$port"
        : >"$log"
        "${SERVER_CMD[@]}" "$@" "$server_addr" >"$log" 2>&1 </dev/null &
        server_pid=$!
        deadline=$((SECONDS + AUTOBAHN_WAIT))
        while :; do
            line="$(grep -m1 '^listening on ' "$log" | tr -d '\r')"
            if [ -n "$line" ]; then
                line="${line#listening on }"
                line="${line%% *}"
                [ -n "$line" ] && server_addr="$line"
                return 0
            fi
            if ! kill -0 "$server_pid" 2>/dev/null; then
                wait "$server_pid" 2>/dev/null
                log "server exited with status $? before listening: ${SERVER_CMD[*]} $* $server_addr"
                server_pid=""
                grep -qi 'address already in use\|AddrInUse' "$log" && continue
                tail -n 20 "$log" >&2
                return 1
            fi
            if [ $SECONDS -ge $deadline ]; then
                log "server printed no 'listening on' line in ${AUTOBAHN_WAIT} s (AUTOBAHN_WAIT)"
                tail -n 20 "$log" >&2
                stop_server
                return 1
            fi
            sleep 0.1
        done
    done
    return 1
}

# ---------------------------------------------------------------- suites
declare -A RESULT=() RC=()
run_suite() {
    local suite="$1" dir="$REPORTS/$1" extra=() out rc cases="$CASES"
    [ "${suite#*-}" = blocking ] && { extra=(--blocking); cases="$BLOCKING_CASES"; }
    mkdir -p "$dir"
    case "$suite" in
        server-*)
            echo "==> autobahn $suite: ${SERVER_CMD[*]}${extra[*]:+ ${extra[*]}} 127.0.0.1:PORT (cases: $cases${AUTOBAHN_EXCLUDE:+, excluding $AUTOBAHN_EXCLUDE})"
            if ! start_server "$dir/server.log" "${extra[@]}"; then
                RC[$suite]=3
                RESULT[$suite]="(server did not start; see $dir/server.log)"
                return
            fi
            out="$(bash "$AB/server-suite.sh" "$server_addr" "$cases" "$dir")"
            rc=$?
            if ! kill -0 "$server_pid" 2>/dev/null; then
                log "note: the echo server had exited before the end of $suite; see $dir/server.log"
            fi
            stop_server
            ;;
        client-*)
            echo "==> autobahn $suite: ${CLIENT_CMD[*]}${extra[*]:+ ${extra[*]}} ws://127.0.0.1:PORT (cases: $cases${AUTOBAHN_EXCLUDE:+, excluding $AUTOBAHN_EXCLUDE})"
            out="$(AUTOBAHN_CASES="$cases" AUTOBAHN_REPORT_DIR="$dir" bash "$AB/client-suite.sh" -- "${CLIENT_CMD[@]}" "${extra[@]}")"
            rc=$?
            ;;
    esac
    [ -n "$out" ] && printf '%s\n' "$out"
    RC[$suite]=$rc
    RESULT[$suite]="${out:-(no result, exit status $rc; see $dir)}"
}

for s in "${SUITES[@]}"; do
    run_suite "$s"
done

# ---------------------------------------------------------------- summary
echo "==> autobahn summary (reports in $REPORTS/)"
passed=0 failed=0 skipped=0 bad=0 broken=""
for s in "${SUITES[@]}"; do
    printf '  %-16s %s\n' "$s" "${RESULT[$s]}"
    [ "${RC[$s]}" = 0 ] || bad=$((bad + 1))
    if [[ "${RESULT[$s]}" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
        skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
        # a suite that went wrong (exit 3) with no failed case still counts one failure
        [ "${RC[$s]}" != 0 ] && [ "${BASH_REMATCH[2]}" = 0 ] && { failed=$((failed + 1)); broken=$((broken + 1)); }
    elif [ "${RC[$s]}" != 0 ]; then
        failed=$((failed + 1)); broken=$((broken + 1))
    fi
done
if [ $bad -gt 0 ]; then
    log "$bad of ${#SUITES[@]} suites did not pass${broken:+ ($broken of them went wrong as a whole: each counts as 1 failed below)}"
fi
echo "autobahn: $passed passed, $failed failed, $skipped skipped"
[ $bad -eq 0 ]
