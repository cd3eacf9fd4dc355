#!/usr/bin/env bash
#! Fleet benchmark (issue 9, target 1): N simulated routers (48 interfaces, modules system +
#! if_mib, SNMP v2c) polled every 60 s by one poller on this machine, simulator included, with
#! /metrics scraped once per interval as Prometheus would (OpenMetrics, gzip). Per N: the
#! poller's CPU cores, peak RSS, schedule lag, poll durations, varbinds/s, CPU per varbind and
#! success ratio. Writes section `snmp-fleet` of docs/benchmarks.md and the chart's data rows.
#!
#!   bash scripts/bench/snmp-fleet.sh                  # 1k, 2k, 5k, 10k devices at 60 s: ~14 min
#!   BENCH_QUICK=1 bash scripts/bench/snmp-fleet.sh    # 1k and 2k at 15 s, one interval each
#!   FLEET_SIZES="1000 2000" FLEET_INTERVAL=60 bash scripts/bench/snmp-fleet.sh
#!
#! Needs target/release/ispmonitor (`cargo build --release --bin ispmonitor`; BENCH_BIN to use
#! another path). Everything runs on free loopback addresses and ports, stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
source scripts/bench/lib-snmp.sh
bench_init

if [ "$BENCH_QUICK" = 1 ]; then
  SIZES="${FLEET_SIZES:-1000 2000}"
  INTERVAL="${FLEET_INTERVAL:-15}"
  WINDOWS="${FLEET_WINDOWS:-1}"
else
  SIZES="${FLEET_SIZES:-1000 2000 5000 10000}"
  INTERVAL="${FLEET_INTERVAL:-60}"
  WINDOWS="${FLEET_WINDOWS:-2}"
fi
TARGET_DEVICES=10000
TARGET_CORES=1
TARGET_MIB=2048
TARGET_LAG_S=1

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"

declare -A ROWS AT_LARGEST
LARGEST=0
COMMANDS=''
for n in $SIZES; do
  fleet_run "fleet-$n" "$n" "$INTERVAL" "$WINDOWS" 2c
  ROWS[$n]="| $n | ${FIG[cores]} | ${FIG[sim_cores]} | ${FIG[hwm_mib]} | $(ms "${FIG[lag_p50]}") / $(ms "${FIG[lag_p99]}") | $(ms "${FIG[duration_p50]}") / $(ms "${FIG[duration_p99]}") | ${FIG[varbinds_per_s]} | ${FIG[ns_per_varbind]} | ${FIG[requests_per_poll]} | ${FIG[success_ratio]} | ${FIG[skipped]} | ${FIG[scrape_mib]} MiB in ${FIG[scrape_s]} s |"
  bench_log "fleet-$n: ${ROWS[$n]}"
  echo -e "fleet\tispmonitor\t$n\t${FIG[ns_per_varbind]}\t$(ms "${FIG[duration_p50]}")\t$(ms "${FIG[duration_p99]}")" >>"$BENCH_WORK/data.tsv"
  LARGEST=$n
  AT_LARGEST=()
  for key in "${!FIG[@]}"; do AT_LARGEST[$key]="${FIG[$key]}"; done
  COMMANDS+="$FLEET_SIM_COMMAND"$'\n'"$FLEET_POLLER_COMMAND"$'\n'
done

# A target holds at 10,000 devices; a smaller largest run gives the figure, not the verdict.
target_row() {
  local what="$1" measured="$2" condition="$3"
  if [ "$LARGEST" = "$TARGET_DEVICES" ]; then
    echo "| $what | $measured | $(verdict "$condition") |"
  else
    echo "| $what | $measured at $LARGEST devices | n/a ($TARGET_DEVICES not run) |"
  fi
}

{
  cat <<EOF
## SNMP fleet: one poller, N simulated routers

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine); revision $(bench_revision)
- Command: \`bash scripts/bench/snmp-fleet.sh\` (sizes: $SIZES; interval ${INTERVAL} s; $WINDOWS measured interval(s) after one warm-up interval)
- Devices: \`ispmonitor simulate\` (48 interfaces each) on the same 2 cores; modules \`[system, if_mib]\`, SNMP v2c, timeout 5 s
- /metrics scraped once per interval with Prometheus' Accept header and gzip; that CPU is counted

| devices | poller cores | simulator cores | peak RSS MiB | schedule lag p50 / p99 ms | poll duration p50 / p99 ms | varbinds/s | poller ns per varbind | requests per poll | success ratio | polls skipped | scrape (uncompressed, wall) |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
  for n in $SIZES; do echo "${ROWS[$n]}"; done
  cat <<EOF

Poller cores: CPU seconds (utime + stime from /proc/PID/stat) over the measured intervals divided
by their wall time. Peak RSS: VmHWM. Schedule lag: from the increase of
\`ispmonitor_poll_schedule_lag_seconds\` over the window, given as the upper bound of the bucket the
quantile falls in (buckets 1, 5, 10, 50, 100, 250, 500 ms, 1 s, ...). Poll duration: every target's
\`ispmonitor_target_poll_duration_seconds\` sampled at each interval's scrape (exact values, one per
target and interval). Varbinds and requests: the simulator's own counters. Success ratio:
successful polls / polls (\`ispmonitor_polls_total\`).

| target (issue 9, at $TARGET_DEVICES devices every 60 s) | measured | result |
|---|---|---|
$(target_row "poller CPU <= $TARGET_CORES core on average" "${AT_LARGEST[cores]} cores" "${AT_LARGEST[cores]} <= $TARGET_CORES")
$(target_row "peak RSS <= 2 GiB" "${AT_LARGEST[hwm_mib]} MiB" "${AT_LARGEST[hwm_mib]} <= $TARGET_MIB")
$(target_row "schedule lag p99 < 1 s" "p99 bucket <= $(ms "${AT_LARGEST[lag_p99]}") ms" "${AT_LARGEST[lag_p99]} <= $TARGET_LAG_S")

Commands (WORK is the run's temp dir; ports and addresses are picked free at each run):

\`\`\`sh
${COMMANDS}\`\`\`
EOF
} >"$BENCH_WORK/section.md"

cat "$BENCH_WORK/section.md"
write_section snmp-fleet "$BENCH_WORK/section.md"
update_chart_data fleet "$BENCH_WORK/data.tsv"
