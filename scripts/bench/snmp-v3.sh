#!/usr/bin/env bash
#! SNMPv3 cost (issue 9, target 9): the same simulated fleet polled over v3 authPriv with
#! SHA-256 and AES-128, then over v2c; poller CPU per varbind of each, their ratio, and SNMPv3
#! engine discoveries per target (`ispmonitor_snmp_engine_discoveries_total`, when this build
#! exports it). Writes section `snmp-v3` of docs/benchmarks.md.
#!
#!   bash scripts/bench/snmp-v3.sh                 # 1,000 devices at 30 s: ~4 min
#!   BENCH_QUICK=1 bash scripts/bench/snmp-v3.sh   # 500 devices at 10 s
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
source scripts/bench/lib-snmp.sh
bench_init

if [ "$BENCH_QUICK" = 1 ]; then
  DEVICES="${V3_DEVICES:-500}"
  INTERVAL="${V3_INTERVAL:-10}"
  WINDOWS="${V3_WINDOWS:-1}"
else
  DEVICES="${V3_DEVICES:-1000}"
  INTERVAL="${V3_INTERVAL:-30}"
  WINDOWS="${V3_WINDOWS:-2}"
fi
TARGET_RATIO=2

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"

declare -A V3 V2
fleet_run "v3" "$DEVICES" "$INTERVAL" "$WINDOWS" 3 --v3.auth-protocol sha256 --v3.priv-protocol aes
for key in "${!FIG[@]}"; do V3[$key]="${FIG[$key]}"; done
COMMANDS="$FLEET_SIM_COMMAND"$'\n'"$FLEET_POLLER_COMMAND"$'\n'
fleet_run "v2c" "$DEVICES" "$INTERVAL" "$WINDOWS" 2c
for key in "${!FIG[@]}"; do V2[$key]="${FIG[$key]}"; done
COMMANDS+="$FLEET_SIM_COMMAND"$'\n'"$FLEET_POLLER_COMMAND"$'\n'
RATIO="$(awk -v a="${V3[ns_per_varbind]}" -v b="${V2[ns_per_varbind]}" 'BEGIN { if (b > 0 && a != "nan") printf "%.2f", a / b; else print "nan" }')"

# Engine discoveries: one per target for the process's lifetime is the target.
if [ "${V3[engine_discoveries]}" = nan ]; then
  DISCOVERY_ROW="| engine discovery once per target per process lifetime | skipped: this build does not export ispmonitor_snmp_engine_discoveries_total | n/a |"
else
  per_target="$(calc '%.2f' "${V3[engine_discoveries]} / $DEVICES")"
  DISCOVERY_ROW="| engine discovery once per target per process lifetime | ${V3[engine_discoveries]} discoveries for $DEVICES targets ($per_target per target) after $((WINDOWS + 1)) intervals | $(verdict "$per_target <= 1") |"
fi

row() {
  local label="$1"
  local -n fig="$2"
  echo "| $label | ${fig[ns_per_varbind]} | ${fig[cores]} | ${fig[hwm_mib]} | $(ms "${fig[duration_p50]}") / $(ms "${fig[duration_p99]}") | ${fig[requests_per_poll]} | ${fig[success_ratio]} |"
}

{
  cat <<EOF
## SNMPv3 authPriv against v2c

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine); revision $(bench_revision)
- Command: \`bash scripts/bench/snmp-v3.sh\` ($DEVICES simulated routers, \`[system, if_mib]\`, every ${INTERVAL} s,
  $WINDOWS measured interval(s) after a warm-up interval that includes every engine discovery)
- v3: authPriv, SHA-256 authentication, AES-128 privacy (\`--v3.auth-protocol sha256 --v3.priv-protocol aes\`,
  \`--write-config.snmp-version 3\`); each device has its own engine ID

| SNMP | poller ns per varbind | poller cores | peak RSS MiB | poll duration p50 / p99 ms | requests per poll | success ratio |
|---|---:|---:|---:|---:|---:|---:|
$(row "v3 authPriv SHA-256/AES" V3)
$(row "v2c" V2)

| target (issue 9) | measured | result |
|---|---|---|
| v3 authPriv costs at most $TARGET_RATIO x the CPU of v2c per varbind | $RATIO x | $(verdict "$RATIO <= $TARGET_RATIO") |
$DISCOVERY_ROW

\`\`\`sh
${COMMANDS}\`\`\`
EOF
} >"$BENCH_WORK/section.md"

cat "$BENCH_WORK/section.md"
write_section snmp-v3 "$BENCH_WORK/section.md"
