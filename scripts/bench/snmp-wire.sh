#!/usr/bin/env bash
#! Benchmark section snmp-wire: the SNMP wire layer of the poller. (1) A big router (20,000
#! interfaces behind 20 ms of simulated latency) fully polled with 1 request in flight and with
#! several (global.snmp.max_requests_in_flight); (2) poller CPU per varbind over SNMPv2c and
#! over SNMPv3 authPriv SHA-256/AES on the same simulated fleet; (3) SNMPv3 engine discoveries.
#!
#! Run from the repository root after `cargo build --release --bin ispmonitor`:
#!   bash scripts/bench/snmp-wire.sh              # full: about 8 minutes
#!   BENCH_QUICK=1 bash scripts/bench/snmp-wire.sh  # 2,000 interfaces, short windows; docs untouched
set -euo pipefail
source scripts/bench/lib.sh
bench_init
[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"

if [ "$BENCH_QUICK" = 1 ]; then
  BIG_INTERFACES=2000; IN_FLIGHT_LIST="1 8"; FLEET=100; WINDOW=20
else
  BIG_INTERFACES=20000; IN_FLIGHT_LIST="1 4 8 16"; FLEET=500; WINDOW=60
fi
DELAY=20ms
FLEET_INTERVAL=15s

# Starts `ispmonitor simulate` with extra flags; sets SIM_PID, SIM_CONTROL, SIM_CONFIG.
start_simulator() {
  local block port control
  block="$(free_loopback_block)"; port="$(free_udp_port)"; control="$(free_tcp_port)"
  SIM_CONFIG="$BENCH_WORK/fleet-$RANDOM.yml"
  SIM_CONTROL="127.0.0.1:$control"
  "$BIN" simulate --listen "127.$block.0.1" --port "$port" --control.listen-address "$SIM_CONTROL" \
    --write-config "$SIM_CONFIG" "$@" >"$BENCH_WORK/simulate.log" 2>&1 &
  SIM_PID=$!; bench_track "$SIM_PID"
  for _ in $(seq 1 600); do
    [ -s "$SIM_CONFIG" ] && curl -sf "http://$SIM_CONTROL/metrics" >/dev/null && return
    sleep 0.2
  done
  bench_die "the simulator did not start: $(tail -5 "$BENCH_WORK/simulate.log")"
}

sim_metric() { curl -s "http://$SIM_CONTROL/metrics" | metric_value "$1"; }

# Rewrites the simulator's config for the poller: if_mib + system only, a listen address of
# our own, and the SNMP settings given as "key: value" lines under global.snmp.
poller_config() {
  local out="$1" web="$2" interval="$3" timeout="$4" snmp_settings="$5"
  sed -e 's/modules: \[[^]]*\]/modules: [system, if_mib]/' \
      -e "s/^  interval: .*/  interval: $interval/" -e "s/^  timeout: .*/  timeout: $timeout/" \
      "$SIM_CONFIG" >"$out.body"
  grep -q '^global:' "$out.body" || bench_die "no global section in the simulator's config"
  awk -v web="$web" -v snmp="$snmp_settings" '
    /^global:/ { print "web:\n  listen_address: \"" web "\""; print; print "  snmp:"; n = split(snmp, lines, ";"); for (i = 1; i <= n; i++) print "    " lines[i]; next }
    { print }' "$out.body" >"$out"
}

poller_metrics() { curl -s "http://$POLLER_WEB/metrics"; }

# ---------------------------------------------------------------------------------------------
# 1. Big router: one device, slow-agent with DELAY per reply, full poll time per in-flight level
# ---------------------------------------------------------------------------------------------
start_simulator --devices 1 --interfaces "$BIG_INTERFACES" --scenario slow-agent \
  --scenario.devices 0 --scenario.delay "$DELAY"
BIG_ROWS=()
BIG_NAME="$(awk -F'name: "' '/^  - \{name:/ { split($2, parts, "\""); print parts[1]; exit }' "$SIM_CONFIG")"
for in_flight in $IN_FLIGHT_LIST; do
  config="$BENCH_WORK/big-$in_flight.yml"
  POLLER_WEB="127.0.0.1:$(free_tcp_port)"
  # A day's interval: the scheduler's own first poll (at a random offset in the interval) stays
  # out of the way of the measured one, which /probe runs during the request.
  poller_config "$config" "$POLLER_WEB" 24h 5m "max_repetitions: 25;max_requests_in_flight: $in_flight"
  "$BIN" serve --config "$config" --api.listen-address "127.0.0.1:$(free_tcp_port)" >"$BENCH_WORK/serve.log" 2>&1 &
  POLLER_PID=$!; bench_track "$POLLER_PID"
  for _ in $(seq 1 300); do curl -sf "http://$POLLER_WEB/ready" >/dev/null && break; sleep 0.2; done
  r0="$(sim_metric ispmonitor_simulator_requests_total)"; v0="$(sim_metric ispmonitor_simulator_varbinds_total)"
  c0="$(cpu_seconds "$POLLER_PID")"
  curl -s -o "$BENCH_WORK/probe.txt" "http://$POLLER_WEB/probe?target=$BIG_NAME&module=system,if_mib"
  c1="$(cpu_seconds "$POLLER_PID")"
  r1="$(sim_metric ispmonitor_simulator_requests_total)"; v1="$(sim_metric ispmonitor_simulator_varbinds_total)"
  duration="$(metric_value ispmonitor_target_poll_duration_seconds <"$BENCH_WORK/probe.txt")"
  up="$(metric_value ispmonitor_target_up <"$BENCH_WORK/probe.txt")"
  interfaces="$(grep -c '^ispmonitor_interface_up{' "$BENCH_WORK/probe.txt" || true)"
  [ "$duration" != nan ] || bench_die "the probe failed: $(head -c 300 "$BENCH_WORK/probe.txt") $(tail -5 "$BENCH_WORK/serve.log")"
  bench_stop "$POLLER_PID"
  BIG_ROWS+=("$in_flight|$(calc %.1f "$duration")|$(calc %.0f "$up")|$interfaces|$(calc %.0f "$r1 - $r0")|$(calc %.0f "$v1 - $v0")|$(calc %.2f "$c1 - $c0")")
  bench_log "big router, $in_flight in flight: ${duration}s, up=$up, $interfaces interfaces"
done
bench_stop "$SIM_PID"

# ---------------------------------------------------------------------------------------------
# 2. CPU per varbind, v2c against v3 authPriv SHA-256/AES, same fleet size and interval
# ---------------------------------------------------------------------------------------------
CPU_ROWS=()
declare -A NS_PER_VARBIND DISCOVERIES REQUESTS_PER_POLL
for version in 2c 3; do
  start_simulator --devices "$FLEET" --write-config.snmp-version "$version" \
    --v3.auth-protocol sha256 --v3.priv-protocol aes \
    --write-config.interval "$FLEET_INTERVAL" --write-config.timeout 5s
  config="$BENCH_WORK/fleet-v$version.yml"
  POLLER_WEB="127.0.0.1:$(free_tcp_port)"
  poller_config "$config" "$POLLER_WEB" "$FLEET_INTERVAL" 5s "max_requests_in_flight: 1"
  "$BIN" serve --config "$config" --api.listen-address "127.0.0.1:$(free_tcp_port)" >"$BENCH_WORK/serve.log" 2>&1 &
  POLLER_PID=$!; bench_track "$POLLER_PID"
  # Warm up: every target polled once (v3 discovery and key localisation happen here).
  sleep 20
  c0="$(cpu_seconds "$POLLER_PID")"; v0="$(sim_metric ispmonitor_simulator_varbinds_total)"
  r0="$(sim_metric ispmonitor_simulator_requests_total)"
  sleep "$WINDOW"
  c1="$(cpu_seconds "$POLLER_PID")"; v1="$(sim_metric ispmonitor_simulator_varbinds_total)"
  r1="$(sim_metric ispmonitor_simulator_requests_total)"
  auth_failures="$(sim_metric ispmonitor_simulator_auth_failures_total)"
  polls_ok="$(poller_metrics | metric_value ispmonitor_polls_total 'result="success"' | sed 's/^nan$/0/')"
  polls_failed="$(poller_metrics | metric_value ispmonitor_polls_total 'result="failure"' | sed 's/^nan$/0/')"
  rss="$(status_kib "$POLLER_PID" VmRSS)"
  bench_stop "$POLLER_PID"; bench_stop "$SIM_PID"
  cpu="$(calc %.2f "$c1 - $c0")"; varbinds="$(calc %.0f "$v1 - $v0")"
  ns="$(calc %.0f "$cpu * 1e9 / $varbinds")"
  NS_PER_VARBIND[$version]="$ns"
  CPU_ROWS+=("v$version|$FLEET|$cpu|$varbinds|$(calc %.0f "$r1 - $r0")|$ns|$(calc %.0f "$polls_ok")|$(calc %.0f "$polls_failed")|$(calc %.0f "$auth_failures")|$(calc %.1f "$rss / 1024")")
  bench_log "v$version: $ns ns/varbind"
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
seq_time="$(echo "${BIG_ROWS[0]}" | cut -d'|' -f2)"
best_time="$(echo "${BIG_ROWS[-1]}" | cut -d'|' -f2)"
best_in_flight="$(echo "${BIG_ROWS[-1]}" | cut -d'|' -f1)"
ratio="$(calc %.2f "${NS_PER_VARBIND[3]} / ${NS_PER_VARBIND[2c]}")"
verdict() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { ok = (op == "<" ? a < b : a <= b); print (ok ? "PASS" : "FAIL") }'; }

REPORT="$BENCH_WORK/report.md"
{
  echo "## SNMP wire: requests in flight, SNMPv3 cost"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo quick || echo full)"
  echo "- Machine: $(bench_machine)"
  echo "- Revision: $(bench_revision)"
  echo "- Command: \`$([ "$BENCH_QUICK" = 1 ] && echo 'BENCH_QUICK=1 ')bash scripts/bench/snmp-wire.sh\`"
  echo "- Big router: \`ispmonitor simulate --devices 1 --interfaces $BIG_INTERFACES --scenario slow-agent --scenario.devices 0 --scenario.delay $DELAY\`,"
  echo "  polled once by \`ispmonitor serve\` (modules system + if_mib, max_repetitions 25, timeout 5m) per"
  echo "  \`global.snmp.max_requests_in_flight\` value; the simulator delays each reply without holding up the others."
  echo "- CPU: \`ispmonitor simulate --devices $FLEET\` (48 interfaces each) polled every $FLEET_INTERVAL (system + if_mib),"
  echo "  poller CPU (utime + stime from /proc) over ${WINDOW} s after a 20 s warm-up, divided by the varbinds the simulator served."
  echo
  echo "### Big router ($BIG_INTERFACES interfaces, $DELAY per reply)"
  echo
  echo "| requests in flight | full poll (s) | target up | interfaces exported | requests | varbinds | poller CPU s |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  for row in "${BIG_ROWS[@]}"; do echo "| ${row//|/ | } |"; done
  echo
  echo "Speed-up with $best_in_flight in flight: $(calc %.1f "$seq_time / $best_time")x."
  echo
  echo "### Poller CPU per varbind, SNMPv2c and SNMPv3 authPriv (SHA-256, AES-128)"
  echo
  echo "| version | devices | poller CPU s | varbinds | requests | ns per varbind | polls ok | polls failed | agent auth failures | poller RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for row in "${CPU_ROWS[@]}"; do echo "| ${row//|/ | } |"; done
  echo
  echo "v3 / v2c CPU per varbind: $ratio."
  echo
  echo "### Targets"
  echo
  echo "| target | measured | result |"
  echo "|---|---|---|"
  if [ "$BENCH_QUICK" = 1 ]; then
    echo "| big router ($BIG_INTERFACES interfaces, quick size) under 30 s | ${best_time} s with $best_in_flight in flight (${seq_time} s with 1) | $(verdict "$best_time" "<" 30) |"
  else
    echo "| 20,000-interface router behind 20 ms fully polled in under 30 s | ${best_time} s with $best_in_flight in flight (${seq_time} s with 1) | $(verdict "$best_time" "<" 30) |"
  fi
  echo "| SNMPv3 authPriv SHA-256/AES at most 2x v2c CPU per varbind | ${ratio}x | $(verdict "$ratio" "<=" 2) |"
} >"$REPORT"
cat "$REPORT"
write_section snmp-wire "$REPORT"
