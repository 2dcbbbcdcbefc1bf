#!/usr/bin/env bash
# Install the outside WebSocket implementations that the interop tests
# (`cargo test --all-features -- --ignored`) talk to:
#
#   * Python `websockets` (PyPI), in a venv:  $PEERS_DIR/venv
#   * Node `ws` (npm):                        $PEERS_DIR/node_modules/ws
#
# Idempotent: a peer already installed at the pinned version is left alone,
# so a second run takes well under a second. Everything goes under
# target/peers (gitignored; `cargo clean` removes it, the next run puts it back).
#
# It also writes $PEERS_DIR/env.sh, to be sourced before the interop tests:
#   RFC6455_PEER_PYTHON   the venv's python (has `websockets`)
#   RFC6455_PEER_NODE     the node binary
#   NODE_PATH             $PEERS_DIR/node_modules (so `require('ws')` works)
#   PATH                  the venv's bin first (so plain `python3` has `websockets`)
#
# Environment:
#   PEERS_DIR                 install folder (default <repo>/target/peers)
#   PEERS_PYTHON3             Python 3 used to create the venv (default python3; needs >= 3.9)
#   PEERS_WEBSOCKETS_VERSION  Python websockets version (default 15.0.1)
#   PEERS_WS_VERSION          Node ws version (default 8.18.3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$ROOT/target/peers}"
PY3="${PEERS_PYTHON3:-python3}"
WEBSOCKETS_VERSION="${PEERS_WEBSOCKETS_VERSION:-15.0.1}"
WS_VERSION="${PEERS_WS_VERSION:-8.18.3}"

log() { printf 'install-peers: %s\n' "$*" >&2; }
die() { printf 'install-peers: ERROR: %s\n' "$*" >&2; exit 1; }

command -v "$PY3" >/dev/null || die "no $PY3 found (set PEERS_PYTHON3)"
command -v node >/dev/null || die "node not found"
command -v npm >/dev/null || die "npm not found"
mkdir -p "$PEERS_DIR"
PEERS_DIR="$(cd "$PEERS_DIR" && pwd)"
start=$SECONDS

# ---------------------------------------------------------------- Python websockets
VENV="$PEERS_DIR/venv"
VPY="$VENV/bin/python"
have_py() {
    "$VPY" -c 'import sys, websockets; sys.exit(websockets.__version__ != sys.argv[1])' \
        "$WEBSOCKETS_VERSION" 2>/dev/null
}
if have_py; then
    log "python websockets $WEBSOCKETS_VERSION already in $VENV"
else
    if ! "$VPY" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null; then
        log "creating venv $VENV ($("$PY3" --version 2>&1))"
        rm -rf "$VENV"
        timeout 300 "$PY3" -m venv "$VENV" || die "$PY3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    log "installing python websockets==$WEBSOCKETS_VERSION"
    timeout 600 "$VPY" -m pip install -q --disable-pip-version-check --timeout 60 --retries 5 \
        "websockets==$WEBSOCKETS_VERSION" || die "pip install websockets==$WEBSOCKETS_VERSION failed"
    have_py || die "websockets $WEBSOCKETS_VERSION does not import from $VPY"
fi

# ---------------------------------------------------------------- Node ws
NODE_MODULES="$PEERS_DIR/node_modules"
have_ws() {
    [ "$(NODE_PATH="$NODE_MODULES" node -p 'require("ws/package.json").version' 2>/dev/null)" = "$WS_VERSION" ] \
        && NODE_PATH="$NODE_MODULES" node -e 'require("ws").WebSocketServer || process.exit(1)' 2>/dev/null
}
if have_ws; then
    log "node ws $WS_VERSION already in $NODE_MODULES"
else
    log "installing node ws@$WS_VERSION"
    # a package.json of our own, so npm installs here and not in a parent folder's project
    [ -f "$PEERS_DIR/package.json" ] \
        || printf '{ "name": "rfc6455-peers", "private": true }\n' > "$PEERS_DIR/package.json"
    (cd "$PEERS_DIR" && timeout 600 npm install --no-audit --no-fund --no-update-notifier \
        --save-exact --loglevel=error "ws@$WS_VERSION" >&2) || die "npm install ws@$WS_VERSION failed"
    have_ws || die "ws $WS_VERSION does not load from $NODE_MODULES"
fi

# ---------------------------------------------------------------- env file
cat > "$PEERS_DIR/env.sh" <<EOF
# written by scripts/install-peers.sh; source it before the interop tests
export RFC6455_PEER_PYTHON='$VPY'
export RFC6455_PEER_NODE='$(command -v node)'
export NODE_PATH='$NODE_MODULES'\${NODE_PATH:+:\$NODE_PATH}
export PATH='$VENV/bin':\$PATH
EOF

log "done in $((SECONDS - start)) s"
printf 'python websockets %s: %s\n' "$WEBSOCKETS_VERSION" "$VPY"
printf 'node ws %s: %s\n' "$WS_VERSION" "$NODE_MODULES/ws"
printf 'env: source %s\n' "$PEERS_DIR/env.sh"
