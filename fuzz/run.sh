#!/usr/bin/env bash
# Runs every cargo-fuzz target (rumor-wire decoders, rumor-serf query handling, the snapshot
# parser snapshot_line, the agent's cross-datacenter request dc_request) for a bounded time.
#
#   fuzz/run.sh [SECONDS]     # default 20 seconds per target
#
# Needs cargo-fuzz (installed if missing) and a nightly compiler, or a stable one with
# RUSTC_BOOTSTRAP=1 (set here). Exits non-zero as soon as a target finds a crash; the input is
# left in fuzz/artifacts/<target>/.
set -euo pipefail

secs="${1:-20}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo fuzz build
for target in $(cargo fuzz list); do
    echo "== fuzz $target for ${secs}s"
    mkdir -p "corpus/$target"
    cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$secs" -dict=memberlist.dict -max_len=4096 -rss_limit_mb=1024
done
echo "== all fuzz targets ran ${secs}s without a crash"
