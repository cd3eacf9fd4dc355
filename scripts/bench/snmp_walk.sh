#!/usr/bin/env bash
# SNMP walk efficiency: request packets per device poll and poller CPU per varbind, for
# ispmonitor (lookup cache on, and lookup_refresh 0s) and Debian's prometheus-snmp-exporter
# polling the same simulated fleet (if_mib + system) in the same run, one after the other.
#
#   cargo build --release --bin ispmonitor     # what this script runs (it builds nothing)
#   bash scripts/bench/snmp_walk.sh            # 1,000 devices, 45 s measured per row
#   BENCH_QUICK=1 bash scripts/bench/snmp_walk.sh   # 100 devices, 15 s per row; docs untouched
#   BENCH_SNMP_WALK_BASELINE=/path/to/older/ispmonitor bash scripts/bench/snmp_walk.sh
#                                              # adds a row for another build (before/after)
#
# Requests and varbinds are counted by the simulator (ispmonitor_simulator_requests_total and
# _varbinds_total), so both pollers are measured the same way; CPU comes from /proc.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
bench_init

if [ "$BENCH_QUICK" = 1 ]; then DEVICES=100; WARMUP=8; WINDOW=15; else DEVICES=1000; WARMUP=20; WINDOW=45; fi
DEVICES="${BENCH_SNMP_WALK_DEVICES:-$DEVICES}"
INTERVAL=15
EXPORTER_MODULE=scripts/bench/snmp_walk_exporter.yml
[ -x "$BIN" ] || bench_die "$BIN is missing: cargo build --release --bin ispmonitor"
command -v prometheus-snmp-exporter >/dev/null || bench_die "prometheus-snmp-exporter is missing (scripts/install-peers.sh)"

block="$(free_loopback_block)"
port="$(free_udp_port)"
control="127.0.0.1:$(free_tcp_port)"
"$BIN" simulate --devices "$DEVICES" --listen "127.$block.0.1" --port "$port" \
  --control.listen-address "$control" --write-config "$BENCH_WORK/fleet.yaml" \
  --write-config.interval "${INTERVAL}s" --write-config.timeout 5s >"$BENCH_WORK/simulate.log" 2>&1 &
SIM=$!
bench_track "$SIM"
for _ in $(seq 1 300); do
  [ -s "$BENCH_WORK/fleet.yaml" ] && curl -sf "$control/metrics" >/dev/null && break
  sleep 0.2
done
curl -sf "$control/metrics" >/dev/null || bench_die "the simulator did not start: $(cat "$BENCH_WORK/simulate.log")"
sed -i 's/modules: \[system, if_mib, host_resources, bgp4\]/modules: [system, if_mib]/' "$BENCH_WORK/fleet.yaml"

sim_counter() { curl -s "$control/metrics" | metric_value "ispmonitor_simulator_$1_total"; }

# One measured window: CPU of PID, requests and varbinds served, and polls done (POLLS_CMD
# prints a running total). Sets CPU, REQUESTS, VARBINDS, POLLS.
measure_window() {
  local pid="$1" polls_cmd="$2" c0 r0 v0 p0
  c0="$(cpu_seconds "$pid")"; r0="$(sim_counter requests)"; v0="$(sim_counter varbinds)"; p0="$($polls_cmd)"
  sleep "$WINDOW"
  CPU="$(calc %.2f "$(cpu_seconds "$pid") - $c0")"
  REQUESTS="$(calc %.0f "$(sim_counter requests) - $r0")"
  VARBINDS="$(calc %.0f "$(sim_counter varbinds) - $v0")"
  POLLS="$(calc %.0f "$($polls_cmd) - $p0")"
}

ROWS=()
add_row() { # name
  ROWS+=("| $1 | $POLLS | $(calc %.1f "$REQUESTS / $POLLS") | $(calc %.0f "$VARBINDS / $POLLS") | $(calc %.1f "$VARBINDS / $REQUESTS") | $CPU | $(calc %.0f "$CPU * 1e9 / $VARBINDS") | ${EXTRA:-} |")
}

# ispmonitor serve with the fleet config plus a global.snmp section (empty: none).
run_ispmonitor() { # name binary snmp-section
  local name="$1" binary="$2" section="$3" web config pid
  web="127.0.0.1:$(free_tcp_port)"
  config="$BENCH_WORK/poller-$RANDOM.yaml"
  if [ -n "$section" ]; then
    sed "s/^global:\$/global:\n  snmp: $section/" "$BENCH_WORK/fleet.yaml" >"$config"
  else
    cp "$BENCH_WORK/fleet.yaml" "$config"
  fi
  "$binary" serve --config "$config" --web.listen-address "$web" --api.listen-address none \
    >"$BENCH_WORK/serve.log" 2>&1 &
  pid=$!
  bench_track "$pid"
  polls() { curl -s "http://$1/metrics" | metric_value ispmonitor_polls_total 'protocol="snmp",result="success"'; }
  sleep "$WARMUP"
  # shellcheck disable=SC2329
  poller_polls() { polls "$web"; }
  measure_window "$pid" poller_polls
  local exposition hits misses
  exposition="$(curl -s "http://$web/metrics")"
  hits="$(metric_value ispmonitor_snmp_lookup_cache_hits_total <<<"$exposition")"
  misses="$(metric_value ispmonitor_snmp_lookup_cache_misses_total <<<"$exposition")"
  EXTRA="lookup cache hits $(calc %.0f "$hits"), misses $(calc %.0f "$misses") (since start); RSS $(status_kib "$pid" VmRSS) KiB"
  [ "$hits" = nan ] && EXTRA="RSS $(status_kib "$pid" VmRSS) KiB"
  add_row "$name"
  bench_stop "$pid"
}

run_exporter() {
  local web targets loop
  web="127.0.0.1:$(free_tcp_port)"
  prometheus-snmp-exporter --config.file="$EXPORTER_MODULE" --web.listen-address="$web" \
    --log.level=warn >"$BENCH_WORK/exporter.log" 2>&1 &
  EXPORTER=$!
  bench_track "$EXPORTER"
  targets="$BENCH_WORK/targets"
  awk -F'"' '/address:/ { for (i = 1; i <= NF; i++) if ($i ~ /address: $/) print $(i + 1) }' \
    "$BENCH_WORK/fleet.yaml" >"$targets"
  [ -s "$targets" ] || bench_die "no targets in the fleet config"
  : >"$BENCH_WORK/scrapes"
  # Prometheus' part: every target scraped once per interval, 16 at a time.
  (
    while true; do
      start="$(date +%s)"
      xargs -P 16 -I{} curl -s -o /dev/null -w '1\n' \
        "http://$web/snmp?target={}&module=bench_if_mib" <"$targets" >>"$BENCH_WORK/scrapes"
      rest=$((INTERVAL - ($(date +%s) - start)))
      [ "$rest" -le 0 ] || sleep "$rest"
    done
  ) &
  loop=$!
  bench_track "$loop"
  sleep "$WARMUP"
  # shellcheck disable=SC2329
  exporter_polls() { wc -l <"$BENCH_WORK/scrapes"; }
  measure_window "$EXPORTER" exporter_polls
  EXTRA="RSS $(status_kib "$EXPORTER" VmRSS) KiB"
  add_row "snmp_exporter $(prometheus-snmp-exporter --version 2>&1 | awk 'NR == 1 { print $3 }')"
  bench_stop "$loop"
  bench_stop "$EXPORTER"
}

run_ispmonitor "ispmonitor (lookup cache, default)" "$BIN" ""
OURS_REQUESTS="$(calc %.3f "$REQUESTS / $POLLS")"; OURS_NS="$(calc %.3f "$CPU * 1e9 / $VARBINDS")"
run_ispmonitor "ispmonitor, lookup_refresh 0s (no cache)" "$BIN" "{lookup_refresh: 0s}"
if [ -n "${BENCH_SNMP_WALK_BASELINE:-}" ]; then
  run_ispmonitor "ispmonitor baseline build (\`BENCH_SNMP_WALK_BASELINE\`)" "$BENCH_SNMP_WALK_BASELINE" ""
fi
run_exporter
PEER_REQUESTS="$(calc %.3f "$REQUESTS / $POLLS")"; PEER_NS="$(calc %.3f "$CPU * 1e9 / $VARBINDS")"

packet_ratio="$(calc %.2f "$PEER_REQUESTS / $OURS_REQUESTS")"
cpu_ratio="$(calc %.1f "$PEER_NS / $OURS_NS")"
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? "PASS" : "FAIL" }'; }

out="$BENCH_WORK/section.md"
{
  echo "## SNMP walks: packets and CPU per varbind against snmp_exporter"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo quick || echo full)"
  echo "- Machine: $(bench_machine)"
  echo "- Revision: $(bench_revision)"
  echo "- Command: \`${BENCH_SNMP_WALK_BASELINE:+BENCH_SNMP_WALK_BASELINE=$BENCH_SNMP_WALK_BASELINE }bash scripts/bench/snmp_walk.sh\` (after \`cargo build --release --bin ispmonitor\`)"
  echo "- Fleet: \`ispmonitor simulate --devices $DEVICES\` (48 interfaces each, v2c/v3 as written by"
  echo "  \`--write-config\`, agents answer at most 1472-byte messages), modules \`[system, if_mib]\`,"
  echo "  every device polled every ${INTERVAL}s; snmp_exporter scraped at the same rate (16 in"
  echo "  parallel) with \`scripts/bench/snmp_walk_exporter.yml\`: the same 26 columns and 4 scalars,"
  echo "  max_repetitions 25, v2c. Each row: ${WARMUP}s warm-up, then ${WINDOW}s measured."
  echo "- Requests and varbinds are counted by the simulator; CPU is the poller's own (/proc)."
  echo
  echo "| poller | polls | requests per poll | varbinds per poll | varbinds per request | poller CPU s | ns CPU per varbind | notes |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "- Request packets: snmp_exporter sends $packet_ratio times as many per device poll as ispmonitor (with its lookup cache)."
  echo "- CPU per varbind: snmp_exporter uses $cpu_ratio times as much as ispmonitor."
  echo "- $(verdict "$packet_ratio" 1.5) issue 9 target 3 (packets): at least 1.5 times fewer request packets than snmp_exporter; measured $packet_ratio."
  echo "- $(verdict "$cpu_ratio" 10) issue 9 target 2 (efficiency): CPU per varbind at least 10 times lower than snmp_exporter; measured $cpu_ratio."
  [ "$BENCH_QUICK" = 1 ] && echo "- Quick run: small fleet and short windows, figures are rough."
} >"$out"
cat "$out"
write_section snmp_walk "$out"
