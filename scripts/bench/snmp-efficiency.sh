#!/usr/bin/env bash
#! Efficiency against snmp_exporter (issue 9, target 2): in the same run, two simulated fleets
#! with the same seed (so the same devices and data), one polled by ispmonitor, the other
#! scraped by Debian's prometheus-snmp-exporter with an equivalent module
#! (bench/snmp_exporter.yml), both every INTERVAL. CPU per varbind of each (its CPU seconds from
#! /proc over the simulator's varbinds counter of its own fleet), requests per device poll, and
#! poll latency. The scrape driver (curl + xargs) is a separate process whose CPU is not counted.
#! Writes section `snmp-efficiency` of docs/benchmarks.md and the chart's data rows.
#!
#!   bash scripts/bench/snmp-efficiency.sh                 # 1k and 2k devices at 60 s: ~7 min
#!   BENCH_QUICK=1 bash scripts/bench/snmp-efficiency.sh   # 500 devices at 15 s, one interval
#!   EFFICIENCY_SIZES=1000 bash scripts/bench/snmp-efficiency.sh
#!
#! Needs target/release/ispmonitor and prometheus-snmp-exporter (scripts/install-peers.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
source scripts/bench/lib-snmp.sh
bench_init

if [ "$BENCH_QUICK" = 1 ]; then
  SIZES="${EFFICIENCY_SIZES:-500}"
  INTERVAL="${EFFICIENCY_INTERVAL:-15}"
  WINDOWS="${EFFICIENCY_WINDOWS:-1}"
else
  SIZES="${EFFICIENCY_SIZES:-1000 2000}"
  INTERVAL="${EFFICIENCY_INTERVAL:-60}"
  WINDOWS="${EFFICIENCY_WINDOWS:-2}"
fi
# Concurrent scrapes of snmp_exporter: Prometheus scrapes every target on its own, spread over
# the interval; 32 at a time keeps a round well inside the interval without flooding 2 cores.
PARALLEL="${EFFICIENCY_PARALLEL:-32}"
TARGET_RATIO=10

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"

# Recorded with every snapshot: snmp_exporter's CPU and memory, its fleet's counters, and how
# many of its scrapes have finished.
snapshot_extra() {
  echo "se_cpu $(cpu_seconds "$SE_PID")"
  echo "se_hwm_kib $(status_kib "$SE_PID" VmHWM)"
  echo "seb_varbinds $(sim_counter "$SEB_CONTROL" ispmonitor_simulator_varbinds_total)"
  echo "seb_requests $(sim_counter "$SEB_CONTROL" ispmonitor_simulator_requests_total)"
  echo "se_scrapes $(cat "$RUN_DIR"/se-round.* 2>/dev/null | wc -l)"
}

# Scrapes snmp_exporter's fleet once per interval until RUN_DIR/stop exists.
scrape_driver() {
  local round=1 next
  next="$(date +%s.%N)"
  while [ ! -e "$RUN_DIR/stop" ]; do
    se_scrape_round "$SEB_FIRST" "$SEB_PORT" "$1" "$PARALLEL" "$RUN_DIR/se-round.$round"
    round=$((round + 1))
    next="$(calc '%.3f' "$next + $INTERVAL")"
    while [ ! -e "$RUN_DIR/stop" ] && awk "BEGIN { exit !($next > $(date +%s.%N)) }"; do sleep 0.5; done
  done
}

declare -A ROWS RATIO
COMMANDS=''
for n in $SIZES; do
  RUN_DIR="$BENCH_WORK/efficiency-$n"
  mkdir -p "$RUN_DIR"
  bench_log "efficiency-$n: snmp_exporter's fleet"
  sim_start "se-$n" "$n" "${INTERVAL}s" 5s 2c
  SEB_PID="$SIM_PID" SEB_CONTROL="$SIM_CONTROL" SEB_FIRST="$SIM_FIRST" SEB_PORT="$SIM_PORT"
  COMMANDS+="$SIM_COMMAND"$'\n'
  se_start
  COMMANDS+="$SNMP_EXPORTER --config.file=$SNMP_EXPORTER_CONFIG --web.listen-address=$SE_WEB --log.level=error"$'\n'
  bench_log "efficiency-$n: ispmonitor's fleet"
  sim_start "ours-$n" "$n" "${INTERVAL}s" 5s 2c
  COMMANDS+="$SIM_COMMAND"$'\n'
  : >"$RUN_DIR/excluded"
  poller_config "$SIM_CONFIG" "[system, if_mib]"
  poller_start "$SIM_CONFIG"
  COMMANDS+="$POLLER_COMMAND"$'\n'
  COMMANDS+="# once per interval, $PARALLEL at a time, one per device: curl --compressed -H 'Accept: <Prometheus>' 'http://SE/snmp?target=ADDRESS:PORT&module=$SNMP_EXPORTER_MODULE'"$'\n'
  scrape_driver "$n" &
  DRIVER_PID=$!
  bench_track "$DRIVER_PID"
  fleet_window "$RUN_DIR" "$INTERVAL" "$WINDOWS" "$SIM_CONTROL"
  touch "$RUN_DIR/stop"
  wait "$DRIVER_PID" 2>/dev/null || true
  bench_stop "$DRIVER_PID"
  last=$((WINDOWS + 1))
  fleet_figures "$RUN_DIR" 1 "$last" "$n"
  wall="${FIG[wall_s]}"
  se_cpu="$(calc '%.2f' "$(meta "$RUN_DIR" "$last" se_cpu) - $(meta "$RUN_DIR" 1 se_cpu)")"
  se_varbinds="$(calc '%.0f' "$(meta "$RUN_DIR" "$last" seb_varbinds) - $(meta "$RUN_DIR" 1 seb_varbinds)")"
  se_requests="$(calc '%.0f' "$(meta "$RUN_DIR" "$last" seb_requests) - $(meta "$RUN_DIR" 1 seb_requests)")"
  se_scrapes="$(calc '%.0f' "$(meta "$RUN_DIR" "$last" se_scrapes) - $(meta "$RUN_DIR" 1 se_scrapes)")"
  se_ns="$(awk -v c="$se_cpu" -v v="$se_varbinds" 'BEGIN { if (v > 0) printf "%.0f", c * 1e9 / v; else print "nan" }')"
  se_rpp="$(awk -v r="$se_requests" -v s="$se_scrapes" 'BEGIN { if (s > 0) printf "%.1f", r / s; else print "nan" }')"
  # Scrape latency of the rounds after the first (every snmp_exporter scrape walks everything).
  se_ok="$(cat "$RUN_DIR"/se-round.* | awk '$1 == 200 { ok++ } END { printf "%.4f", NR ? ok / NR : 0 }')"
  se_p50="$(find "$RUN_DIR" -name 'se-round.*' ! -name se-round.1 -exec cat {} + | awk '$1 == 200 { print $2 }' | sample_quantile 0.5)"
  se_p99="$(find "$RUN_DIR" -name 'se-round.*' ! -name se-round.1 -exec cat {} + | awk '$1 == 200 { print $2 }' | sample_quantile 0.99)"
  ratio="$(awk -v a="$se_ns" -v b="${FIG[ns_per_varbind]}" 'BEGIN { if (b > 0 && a != "nan") printf "%.1f", a / b; else print "nan" }')"
  ROWS[$n]="| $n | ${FIG[ns_per_varbind]} | $se_ns | **$ratio** | ${FIG[cores]} | $(calc '%.3f' "$se_cpu / $wall") | ${FIG[hwm_mib]} | $(calc '%.0f' "$(meta "$RUN_DIR" "$last" se_hwm_kib) / 1024") | ${FIG[requests_per_poll]} | $se_rpp | $(ms "${FIG[duration_p50]}") / $(ms "${FIG[duration_p99]}") | $(ms "$se_p50") / $(ms "$se_p99") | ${FIG[success_ratio]} | $se_ok |"
  RATIO[$n]="$ratio"
  bench_log "efficiency-$n: ${ROWS[$n]}"
  echo -e "efficiency\tispmonitor\t$n\t${FIG[ns_per_varbind]}\t$(ms "${FIG[duration_p50]}")\t$(ms "${FIG[duration_p99]}")" >>"$BENCH_WORK/data.tsv"
  echo -e "efficiency\tsnmp_exporter\t$n\t$se_ns\t$(ms "$se_p50")\t$(ms "$se_p99")" >>"$BENCH_WORK/data.tsv"
  bench_stop "$POLLER_PID"
  bench_stop "$SIM_PID"
  bench_stop "$SE_PID"
  bench_stop "$SEB_PID"
done

{
  cat <<EOF
## SNMP efficiency: ispmonitor against snmp_exporter, same devices, same run

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine); revision $(bench_revision); peer: prometheus-snmp-exporter $(se_version)
- Command: \`bash scripts/bench/snmp-efficiency.sh\` (sizes: $SIZES; interval ${INTERVAL} s; $WINDOWS measured interval(s) after one warm-up interval)
- Two simulated fleets of the same size and seed (identical devices and values) run at once:
  ispmonitor polls one (\`[system, if_mib]\`, v2c), snmp_exporter is scraped for the other with
  [bench/snmp_exporter.yml](../bench/snmp_exporter.yml) (the same 26 columns, 4 system objects
  and ifName/ifDescr/ifAlias lookups, max_repetitions 25, v2c) by a curl driver, $PARALLEL
  scrapes at a time, one round per interval. Each fleet's simulator counts what its client asked.

| devices | ispmonitor ns per varbind | snmp_exporter ns per varbind | ratio | ispmonitor cores | snmp_exporter cores | ispmonitor peak RSS MiB | snmp_exporter peak RSS MiB | ispmonitor requests per poll | snmp_exporter requests per scrape | ispmonitor poll p50 / p99 ms | snmp_exporter scrape p50 / p99 ms | ispmonitor success | snmp_exporter success |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
  for n in $SIZES; do echo "${ROWS[$n]}"; done
  cat <<EOF

CPU per varbind: the process's CPU seconds over the measured intervals (from /proc/PID/stat)
divided by the varbinds its own simulated fleet served in the same time. ispmonitor's CPU
includes one Prometheus-like scrape of its /metrics per interval; snmp_exporter's includes
serving its scrapes, which is how it works. snmp_exporter's latency is the wall time of a scrape
(curl's time_total), ispmonitor's the poll duration it reports per target.

| target (issue 9) | measured | result |
|---|---|---|
EOF
  for n in $SIZES; do
    echo "| CPU per varbind at least $TARGET_RATIO x lower than snmp_exporter ($n devices) | ${RATIO[$n]} x | $(verdict "${RATIO[$n]} >= $TARGET_RATIO") |"
  done
  cat <<EOF

Commands (WORK is the run's temp dir; ports and addresses are picked free at each run):

\`\`\`sh
${COMMANDS}\`\`\`
EOF
} >"$BENCH_WORK/section.md"

cat "$BENCH_WORK/section.md"
write_section snmp-efficiency "$BENCH_WORK/section.md"
update_chart_data efficiency "$BENCH_WORK/data.tsv"
