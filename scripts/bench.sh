#!/usr/bin/env bash
#! The one benchmark command: installs the peers, builds the release binary once, then runs every
#! benchmark section (scripts/bench/NAME.sh) that exists, in a fixed order, and draws the fleet
#! chart. Each section prints its tables and rewrites its own part of docs/benchmarks.md.
#!
#!   bash scripts/bench.sh                              # everything, about an hour
#!   BENCH_QUICK=1 bash scripts/bench.sh                # small sizes, a few minutes; docs left alone
#!   BENCH_SECTIONS="snmp-fleet snmp-packets" bash scripts/bench.sh   # only these sections
#!
#! Sections run one after another (never two heavy ones at once: the machine has 2 cores).
#! A section that fails is reported and the others still run; the exit status says so.
set -euo pipefail
cd "$(dirname "$0")/.."

# The fixed order: cheap and self-contained first, the long fleet runs after. Sections not in
# this list (a new scripts/bench/NAME.sh) run at the end, alphabetically.
ORDER=(simulator snmp-packets snmp-bigrouter snmp-fleet snmp-efficiency snmp-faults snmp-v3
  exposition icmp ssh routeros)

log() { echo "bench: $*" >&2; }

# Sourced helper files (lib.sh, lib-*.sh) are not sections.
available_sections() {
  local name file
  for name in "${ORDER[@]}"; do
    [ -f "scripts/bench/$name.sh" ] && echo "$name"
  done
  for file in scripts/bench/*.sh; do
    name="$(basename "$file" .sh)"
    case "$name" in lib | lib-*) continue ;; esac
    [[ " ${ORDER[*]} " == *" $name "* ]] || echo "$name"
  done
}

build() {
  command -v cargo >/dev/null || { log "cargo not found; install Rust from rustup.rs"; exit 1; }
  bash scripts/install-peers.sh >&2
  log "building the release binary, the load generator and the exposition bench"
  # Two invocations: building the example enables dev-dependency features (tokio test-util)
  # that the measured binary must not get.
  cargo build --release --quiet --bin ispmonitor
  cargo build --release --quiet --example snmp_load --example exposition_bench
}

main() {
  local target_dir="${CARGO_TARGET_DIR:-target}"
  export BENCH_BIN="${BENCH_BIN:-$target_dir/release/ispmonitor}"
  export BENCH_LOAD="${BENCH_LOAD:-$target_dir/release/examples/snmp_load}"
  local sections=()
  if [ -n "${BENCH_SECTIONS:-}" ]; then
    read -r -a sections <<<"$BENCH_SECTIONS"
  else
    mapfile -t sections < <(available_sections)
  fi
  [ "${BENCH_BUILD:-1}" = 0 ] || build
  local name failed=() started
  for name in "${sections[@]}"; do
    [ -f "scripts/bench/$name.sh" ] || { log "no section $name (scripts/bench/$name.sh)"; failed+=("$name"); continue; }
    log "=== section $name"
    started=$SECONDS
    if bash "scripts/bench/$name.sh"; then
      log "=== section $name done in $((SECONDS - started)) s"
    else
      log "=== section $name FAILED after $((SECONDS - started)) s"
      failed+=("$name")
    fi
  done
  if [ "${BENCH_QUICK:-0}" != 1 ] && [ -f docs/benchmarks/fleet.tsv ]; then
    python3 scripts/bench/chart.py docs/benchmarks/fleet.tsv docs/benchmarks/fleet.svg
    log "drew docs/benchmarks/fleet.svg"
  fi
  if [ ${#failed[@]} -gt 0 ]; then
    log "failed sections: ${failed[*]}"
    exit 1
  fi
}

main "$@"
