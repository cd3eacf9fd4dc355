#!/usr/bin/env bash
#! Fault isolation (issue 9, target 5): the same simulated fleet polled twice, once with 10 % of
#! the devices not answering at all (`--scenario router-down --scenario.fraction 0.1`) and once
#! all healthy. The healthy targets' poll durations and success, the schedule lag and the CPU,
#! side by side (the silent devices are left out of the per-target figures of both runs).
#! Writes section `snmp-faults` of docs/benchmarks.md.
#!
#!   bash scripts/bench/snmp-faults.sh                  # 1,000 devices at 30 s: ~4 min
#!   BENCH_QUICK=1 bash scripts/bench/snmp-faults.sh    # 500 devices at 10 s
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
source scripts/bench/lib-snmp.sh
bench_init

if [ "$BENCH_QUICK" = 1 ]; then
  DEVICES="${FAULTS_DEVICES:-500}"
  INTERVAL="${FAULTS_INTERVAL:-10}"
  WINDOWS="${FAULTS_WINDOWS:-1}"
else
  DEVICES="${FAULTS_DEVICES:-1000}"
  INTERVAL="${FAULTS_INTERVAL:-30}"
  WINDOWS="${FAULTS_WINDOWS:-2}"
fi
FRACTION=0.1

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"

declare -A DOWN HEALTHY
fleet_run "faults-down" "$DEVICES" "$INTERVAL" "$WINDOWS" 2c --scenario router-down --scenario.fraction "$FRACTION"
for key in "${!FIG[@]}"; do DOWN[$key]="${FIG[$key]}"; done
AFFECTED="$FLEET_AFFECTED_DEVICES"
COMMANDS="$FLEET_SIM_COMMAND"$'\n'"$FLEET_POLLER_COMMAND"$'\n'
FLEET_EXCLUDE_DEVICES="$AFFECTED" fleet_run "faults-healthy" "$DEVICES" "$INTERVAL" "$WINDOWS" 2c
for key in "${!FIG[@]}"; do HEALTHY[$key]="${FIG[$key]}"; done
COMMANDS+="$FLEET_SIM_COMMAND"$'\n'"$FLEET_POLLER_COMMAND"$'\n'
silent="$(tr ',' '\n' <<<"$AFFECTED" | grep -c . || true)"

line() {
  echo "| $1 | $2 | $3 |"
}

{
  cat <<EOF
## SNMP fault isolation: 10 % of the fleet silent

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine); revision $(bench_revision)
- Command: \`bash scripts/bench/snmp-faults.sh\` ($DEVICES simulated routers, \`[system, if_mib]\`, v2c,
  every ${INTERVAL} s, timeout 5 s, $WINDOWS measured interval(s) after a warm-up interval)
- Run 1: $silent devices never answer (\`--scenario router-down --scenario.fraction $FRACTION\`);
  run 2: the same fleet, all healthy. The per-target figures leave those $silent targets out in both
  runs, so they compare the same $((DEVICES - silent)) healthy targets.

| figure | all healthy | 10 % silent |
|---|---:|---:|
$(line "healthy targets: poll duration p50 ms" "$(ms "${HEALTHY[duration_p50]}")" "$(ms "${DOWN[duration_p50]}")")
$(line "healthy targets: poll duration p99 ms" "$(ms "${HEALTHY[duration_p99]}")" "$(ms "${DOWN[duration_p99]}")")
$(line "healthy targets: success (up at each interval's scrape)" "${HEALTHY[up_ratio]}" "${DOWN[up_ratio]}")
$(line "samples (targets x intervals)" "${HEALTHY[samples]}" "${DOWN[samples]}")
$(line "all polls: success ratio" "${HEALTHY[success_ratio]}" "${DOWN[success_ratio]}")
$(line "schedule lag p50 / p99 ms (bucket bounds)" "$(ms "${HEALTHY[lag_p50]}") / $(ms "${HEALTHY[lag_p99]}")" "$(ms "${DOWN[lag_p50]}") / $(ms "${DOWN[lag_p99]}")")
$(line "polls skipped" "${HEALTHY[skipped]}" "${DOWN[skipped]}")
$(line "poller cores" "${HEALTHY[cores]}" "${DOWN[cores]}")
$(line "poller peak RSS MiB" "${HEALTHY[hwm_mib]}" "${DOWN[hwm_mib]}")

"No measurable change" is read, on this shared and noisy machine, as: the healthy targets'
success no lower (within 0.001), their poll duration p50 and p99 within 1.5 x + 10 ms of the
healthy run, and the schedule lag p99 in the same or the next bucket up.

| target (issue 9) | measured | result |
|---|---|---|
| healthy targets' success unchanged | ${HEALTHY[up_ratio]} -> ${DOWN[up_ratio]} | $(verdict "${DOWN[up_ratio]} >= ${HEALTHY[up_ratio]} - 0.001") |
| healthy targets' poll duration p50 unchanged | $(ms "${HEALTHY[duration_p50]}") -> $(ms "${DOWN[duration_p50]}") ms | $(verdict "${DOWN[duration_p50]} <= 1.5 * ${HEALTHY[duration_p50]} + 0.010") |
| healthy targets' poll duration p99 unchanged | $(ms "${HEALTHY[duration_p99]}") -> $(ms "${DOWN[duration_p99]}") ms | $(verdict "${DOWN[duration_p99]} <= 1.5 * ${HEALTHY[duration_p99]} + 0.010") |
| schedule lag p99 unchanged | $(ms "${HEALTHY[lag_p99]}") -> $(ms "${DOWN[lag_p99]}") ms | $(verdict "${DOWN[lag_p99]} <= (${HEALTHY[lag_p99]} < 0.05 ? 0.05 : 2.5 * ${HEALTHY[lag_p99]})") |

\`\`\`sh
${COMMANDS}\`\`\`
EOF
} >"$BENCH_WORK/section.md"

cat "$BENCH_WORK/section.md"
write_section snmp-faults "$BENCH_WORK/section.md"
