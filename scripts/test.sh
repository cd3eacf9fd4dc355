#!/usr/bin/env bash
#! The one command that runs every check: installs the peers the tests talk to, then
#! formatting, clippy (warnings are errors), unit and integration tests against real snmpd,
#! promtool, cargo-deny's supply-chain policy, and check-config on every example.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-peers.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

echo "== supply chain (cargo deny)"
bash scripts/deny.sh

echo "== cargo build"
cargo build --quiet --bins

echo "== check-config on every example"
for f in examples/*.yaml; do
  ./target/debug/ispmonitor check-config --config "$f"
done

echo "== cargo test"
# CI=true makes a missing peer a failure inside the tests as well.
cargo test --all-targets 2>&1 | tee target/test-output.log

# A short run of every cargo-fuzz target (docs/fuzzing.md); fails on any crash.
bash scripts/fuzz.sh
