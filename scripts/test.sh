#!/usr/bin/env bash
# THE test command: installs what the tests need (when missing), then runs every test.
# Usage: scripts/test.sh            (from anywhere in the checkout)
# Environment: FUZZ_SECONDS (default 15) bounds each fuzz target's run; FUZZ_SECONDS=0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

need_pkgs=()
command -v serf >/dev/null 2>&1 || need_pkgs+=(serf)
command -v nft >/dev/null 2>&1 || need_pkgs+=(nftables)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" || log "warning: could not install ${need_pkgs[*]}"
  else
    log "warning: not root, cannot install ${need_pkgs[*]}"
  fi
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test"
mkdir -p target
# pipefail makes a failing cargo test fail this script. The fault tests on network namespaces
# (crates/agent/tests/faults, every test named netns_*) mostly wait: they run next, all at once.
status=0
cargo test --workspace --no-fail-fast -- --skip netns_ 2>&1 | tee target/test-output.txt || status=1

log "fault tests on network namespaces (all at once)"
cargo test -p rumor --test faults --no-fail-fast -- --test-threads 16 2>&1 | tee -a target/test-output.txt || status=1
[ "$status" = 0 ] || { log "tests failed"; exit 1; }

FUZZ_SECONDS=${FUZZ_SECONDS:-15}
if [ "$FUZZ_SECONDS" != 0 ] && [ -x fuzz/run.sh ]; then
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install --locked cargo-fuzz || log "warning: cargo-fuzz could not be installed; fuzzing skipped"
  fi
  if command -v cargo-fuzz >/dev/null 2>&1; then
    log "fuzzing every decoder for ${FUZZ_SECONDS}s each"
    fuzz/run.sh "$FUZZ_SECONDS"
  fi
fi

log "all tests passed"
# One closing line for whoever reads the end of the log.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.txt
