#!/usr/bin/env bash
#! The main job on an embedded default: starts a local SNMP agent (net-snmp snmpd on
#! 127.0.0.1:11161 and [::1]:11161, v2c and v3 users, nothing outside loopback), builds
#! ispmonitor and runs `ispmonitor serve --config examples/demo.yaml`. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=11161
LISTEN="${ISPMONITOR_WEB_LISTEN_ADDRESS:-127.0.0.1:9090}"

bash scripts/install-peers.sh
command -v cargo >/dev/null || { echo "demo: cargo not found; install Rust from rustup.rs first" >&2; exit 1; }
cargo build --release --quiet --bins

dir=$(mktemp -d -t ispmonitor-demo.XXXXXX)
cleanup() {
  if [ -f "$dir/snmpd.pid" ]; then kill "$(cat "$dir/snmpd.pid")" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir -p "$dir/persist"
cat > "$dir/snmpd.conf" <<CONF
agentAddress udp:127.0.0.1:$PORT,udp6:[::1]:$PORT
rocommunity public 127.0.0.1
rocommunity6 public ::1
createUser demo SHA "demo-auth-pass" AES "demo-priv-pass"
rouser demo priv
view all included .1
sysName demo-router
sysLocation ispmonitor demo
CONF
MIBS= SNMP_PERSISTENT_DIR="$dir/persist" /usr/sbin/snmpd -C -c "$dir/snmpd.conf" \
  -Lf "$dir/snmpd.log" -p "$dir/snmpd.pid" -I -smux
for _ in $(seq 50); do
  snmpget -m '' -v2c -c public -t 0.2 -r 0 127.0.0.1:$PORT 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && break
  sleep 0.1
done

echo "demo: snmpd answers on 127.0.0.1:$PORT; ispmonitor serves http://$LISTEN/metrics"
echo "demo: try  curl -s http://$LISTEN/metrics | grep ispmonitor_interface_receive_bytes_total"
./target/release/ispmonitor serve --config examples/demo.yaml --web.listen-address "$LISTEN"
