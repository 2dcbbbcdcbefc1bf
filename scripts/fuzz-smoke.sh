#!/usr/bin/env bash
# Fuzz smoke test for rfc6455 (see fuzz/README.md): installs cargo-fuzz if missing, builds every
# target in fuzz/ on the stable toolchain, replays fuzz/regressions/<target>/, then runs each target
# for FUZZ_SECONDS with the committed seed corpus. Exits non-zero if any target crashes, panics,
# hangs (-timeout) or runs out of memory (-rss_limit_mb); crashing inputs are left in
# fuzz/artifacts/<target>/.
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 45: 7 targets, about 6 minutes plus the build)
#   FUZZ_TARGETS    space-separated targets (default: all of `cargo fuzz list`)
#   FUZZ_SANITIZER  none (default: 3x the executions; the core is safe Rust) or address
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS="${FUZZ_SECONDS:-45}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}"
# cargo-fuzz passes -Z flags (sanitizer-coverage, -Zsanitizer): RUSTC_BOOTSTRAP lets the stable
# compiler take them. No nightly toolchain is needed.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
cargo fuzz --version
rustc --version

TARGETS="${FUZZ_TARGETS:-$(cargo fuzz list)}"
# Debug assertions and overflow checks are on (cargo fuzz's default), with optimizations.
cargo fuzz build -s "$FUZZ_SANITIZER"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
failed=()
for target in $TARGETS; do
    echo
    echo "--- $target"
    if [ -n "$(find "regressions/$target" -type f 2>/dev/null)" ]; then
        # Each file is run once: a fixed crash must stay fixed.
        if ! cargo fuzz run -s "$FUZZ_SANITIZER" "$target" "regressions/$target"/* \
            >"$WORK/$target.regressions.log" 2>&1; then
            tail -n 40 "$WORK/$target.regressions.log"
            echo "FAILED: $target regression inputs (fuzz/regressions/$target)"
            failed+=("$target(regressions)")
            continue
        fi
        echo "regressions: $(find "regressions/$target" -type f | wc -l) inputs pass"
    fi
    # New inputs go to a scratch corpus; the committed seeds are only read.
    mkdir -p "$WORK/corpus/$target"
    if cargo fuzz run -s "$FUZZ_SANITIZER" "$target" "$WORK/corpus/$target" "corpus/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$WORK/$target.log" 2>&1; then
        # The last status line (runs, cov, exec/s) and the final stats.
        grep -E '^#[0-9]+' "$WORK/$target.log" | tail -n 1
        grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$WORK/$target.log" |
            tr '\n' ' '
        echo
    else
        tail -n 60 "$WORK/$target.log"
        echo "FAILED: $target (crashing input in fuzz/artifacts/$target/; reproduce with"
        echo "  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s $FUZZ_SANITIZER $target artifacts/$target/<file>)"
        failed+=("$target")
    fi
done

echo
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz smoke FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz smoke passed: $(echo "$TARGETS" | wc -w) targets, ${FUZZ_SECONDS}s each"
