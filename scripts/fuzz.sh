#!/usr/bin/env bash
#! A short fuzz run of every cargo-fuzz target (fuzz/): builds them with nightly and ASan,
#! runs each for FUZZ_SECONDS from its committed seeds, prints the inputs tried and crashes
#! found per target, and fails on any crash, naming the input and how to reproduce it.
#!
#! FUZZ_SECONDS   seconds per target (default 20)
#! FUZZ_TARGETS   space-separated subset of targets (default: all)
#! FUZZ_TARGET_DIR  cargo-fuzz build dir (default fuzz/target)
#! CI=true        a missing nightly toolchain is a failure, not a skip
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
targets="${FUZZ_TARGETS:-snmp_response snmp_walk ssh_output icmp_reply agent_request routeros_reply}"
target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"
# cargo fuzz would otherwise build into the stable build's target dir.
unset CARGO_TARGET_DIR

if ! cargo +nightly --version >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
  fi
  echo "fuzz: SKIPPED, no nightly toolchain (rustup toolchain install nightly); CI=true fails here"
  exit 0
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz@0.13.2
fi

# The longest input libFuzzer may try: a UDP datagram for the SNMP targets, a few KB of
# command output for SSH, an IP packet for ICMP; for RouterOS a 64 KiB read, enough for a
# sentence past its 4096-word limit.
max_len() {
  case "$1" in
    snmp_response | agent_request | routeros_reply) echo 65536 ;;
    ssh_output) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

echo "== cargo fuzz build (nightly, ASan; every target)"
cargo +nightly fuzz build --target-dir "$target_dir"
# The binaries are run directly: `cargo fuzz run` would check (and here and there rebuild) the
# crate once per target.
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$host/release"

logs="$target_dir/fuzz-logs"
mkdir -p "$logs"
failed=0
summary=()
for target in $targets; do
  corpus="fuzz/corpus/$target"
  artifacts="fuzz/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  before=$(find "$artifacts" -type f | sort)
  echo "== fuzz $target for ${seconds}s"
  status=0
  # The grown corpus comes first (libFuzzer adds new inputs there); the seeds are only read.
  "$bin_dir/$target" \
    -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "fuzz/seeds/$target" >"$logs/$target.log" 2>&1 || status=$?
  # libFuzzer's final stats (also printed after a crash); the last progress line otherwise.
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logs/$target.log" |
    grep -oE '[0-9]+$' | tail -1 || true)
  if [ -z "$runs" ]; then
    runs=$(grep -oE '^#[0-9]+' "$logs/$target.log" | tr -d '#' | tail -1 || true)
  fi
  new=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')
  crashes=$(echo -n "$new" | grep -c . || true)
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1
  fi
  summary+=("$(printf '%-14s inputs tried: %10s  crashes: %s' "$target" "${runs:-?}" "$crashes")")
  if [ "$status" -ne 0 ]; then
    failed=1
    echo "fuzz: $target FAILED (exit $status); log: $logs/$target.log" >&2
    grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY)' "$logs/$target.log" | head -5 >&2 || true
    for input in $new; do
      echo "  crashing input: $input" >&2
      echo "  reproduce:      cargo +nightly fuzz run $target $input" >&2
      echo "  then fix it and: cp $input fuzz/regressions/$target/refused-<what-it-is> (replayed by tests/fuzz_regressions.rs)" >&2
    done
  fi
done

echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
