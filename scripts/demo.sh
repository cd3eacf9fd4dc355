#!/usr/bin/env bash
#! The main job on an embedded default: builds ispmonitor and runs `ispmonitor demo`, a fleet
#! of simulated routers on loopback (some down, flapping or saturated) polled by the poller,
#! with /metrics on 127.0.0.1:9090. No external gear, no database. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN="${ISPMONITOR_WEB_LISTEN_ADDRESS:-127.0.0.1:9090}"

command -v cargo >/dev/null || { echo "demo: cargo not found; install Rust from rustup.rs first" >&2; exit 1; }
cargo build --release --quiet --bins

echo "demo: ispmonitor serves http://$LISTEN/metrics; simulated routers answer on 127.1.0.1-127.1.0.12 UDP 1161"
echo "demo: try  curl -s http://$LISTEN/metrics | grep -E 'ispmonitor_target_up|ispmonitor_interface_up\\{'"
exec ./target/release/ispmonitor demo --web.listen-address "$LISTEN" "$@"
