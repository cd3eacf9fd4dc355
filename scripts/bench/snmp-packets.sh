#!/usr/bin/env bash
#! Packets per device poll (issue 9, target 3): SNMP requests ispmonitor sends for one poll of
#! a router (system + if_mib, 48 interfaces, v2c), on the first poll (cold lookup cache) and in
#! steady state, against snmp_exporter scraping the same devices for the same data
#! (bench/snmp_exporter.yml). Counted by the simulator (`ispmonitor_simulator_requests_total`),
#! one client at a time. Writes section `snmp-packets` of docs/benchmarks.md.
#!
#!   bash scripts/bench/snmp-packets.sh                 # 20 devices, 20 s interval: ~2 min
#!   BENCH_QUICK=1 bash scripts/bench/snmp-packets.sh   # 10 devices, 10 s interval
#!
#! Needs target/release/ispmonitor and prometheus-snmp-exporter (scripts/install-peers.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
source scripts/bench/lib-snmp.sh
bench_init

if [ "$BENCH_QUICK" = 1 ]; then
  DEVICES="${PACKETS_DEVICES:-10}"
  INTERVAL="${PACKETS_INTERVAL:-10}"
  ROUNDS="${PACKETS_ROUNDS:-2}"
else
  DEVICES="${PACKETS_DEVICES:-20}"
  INTERVAL="${PACKETS_INTERVAL:-20}"
  ROUNDS="${PACKETS_ROUNDS:-4}"
fi
TARGET_RATIO=1.5

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"

polls_done() {
  curl -sf "http://$POLLER_WEB/metrics" | metric_value ispmonitor_polls_total 'protocol="snmp"' |
    awk '{ printf "%.0f", ($1 == "nan") ? 0 : $1 }'
}

# Waits until at least MIN polls finished, then reads "POLLS REQUESTS VARBINDS" at a moment
# when no poll is running (the simulator's counters unchanged around the poll count).
settled_counts() {
  local min="$1" polls r1 r2 v1 _
  for _ in $(seq 1 $((INTERVAL * 20 * (ROUNDS + 2)))); do
    polls="$(polls_done)"
    if [ "$polls" -ge "$min" ]; then
      r1="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_requests_total)"
      v1="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_varbinds_total)"
      sleep 0.05
      r2="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_requests_total)"
      [ "$r1" = "$r2" ] && [ "$(polls_done)" = "$polls" ] && { echo "$polls $r1 $v1"; return; }
    fi
    sleep 0.1
  done
  bench_die "polls did not reach $min"
}

bench_log "packets: $DEVICES devices, ispmonitor every ${INTERVAL}s"
sim_start packets "$DEVICES" "${INTERVAL}s" 5s 2c
poller_config "$SIM_CONFIG" "[system, if_mib]"
poller_start "$SIM_CONFIG"
read -r cold_polls cold_requests cold_varbinds <<<"$(settled_counts "$DEVICES")"
read -r steady_polls steady_requests steady_varbinds <<<"$(settled_counts $((DEVICES * (ROUNDS + 1))))"
bench_stop "$POLLER_PID"
ours_cold="$(calc '%.1f' "$cold_requests / $cold_polls")"
ours_steady="$(calc '%.1f' "($steady_requests - $cold_requests) / ($steady_polls - $cold_polls)")"
ours_cold_vpr="$(calc '%.1f' "$cold_varbinds / $cold_requests")"
ours_steady_vpr="$(calc '%.1f' "($steady_varbinds - $cold_varbinds) / ($steady_requests - $cold_requests)")"
ours_steady_varbinds="$(calc '%.0f' "($steady_varbinds - $cold_varbinds) / ($steady_polls - $cold_polls)")"

bench_log "packets: snmp_exporter, $ROUNDS rounds of $DEVICES scrapes"
se_start
r0="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_requests_total)"
v0="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_varbinds_total)"
for round in $(seq 1 "$ROUNDS"); do
  se_scrape_round "$SIM_FIRST" "$SIM_PORT" "$DEVICES" 4 "$BENCH_WORK/se-scrapes"
done
r1="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_requests_total)"
v1="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_varbinds_total)"
se_ok="$(grep -c '^200 ' "$BENCH_WORK/se-scrapes" || true)"
[ "$se_ok" -gt 0 ] || bench_die "no snmp_exporter scrape succeeded"
se_per_scrape="$(calc '%.1f' "($r1 - $r0) / $se_ok")"
se_vpr="$(calc '%.1f' "($v1 - $v0) / ($r1 - $r0)")"
se_varbinds="$(calc '%.0f' "($v1 - $v0) / $se_ok")"
ratio_steady="$(calc '%.2f' "$se_per_scrape / $ours_steady")"
ratio_cold="$(calc '%.2f' "$se_per_scrape / $ours_cold")"

{
  cat <<EOF
## SNMP packets per device poll

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine); revision $(bench_revision); peer: prometheus-snmp-exporter $(se_version)
- Command: \`bash scripts/bench/snmp-packets.sh\` ($DEVICES simulated routers with 48 interfaces, v2c)
- ispmonitor polls them every ${INTERVAL} s (\`[system, if_mib]\`); first polls counted once every
  target had one, steady state over the next $ROUNDS rounds. Then snmp_exporter
  ([bench/snmp_exporter.yml](../bench/snmp_exporter.yml)) is scraped $ROUNDS times per device.
  Requests are what the simulator received (\`ispmonitor_simulator_requests_total\`).

| client | requests per device poll | varbinds per request | varbinds per device poll |
|---|---:|---:|---:|
| ispmonitor, first poll (cold lookup cache) | $ours_cold | $ours_cold_vpr | $(calc '%.0f' "$cold_varbinds / $cold_polls") |
| ispmonitor, steady state | $ours_steady | $ours_steady_vpr | $ours_steady_varbinds |
| snmp_exporter $(se_version) | $se_per_scrape | $se_vpr | $se_varbinds |

| target (issue 9) | measured | result |
|---|---|---|
| at least $TARGET_RATIO x fewer request packets than snmp_exporter (steady state) | $ratio_steady x | $(verdict "$ratio_steady >= $TARGET_RATIO") |
| the same on a first poll (cold cache; for information) | $ratio_cold x | $(verdict "$ratio_cold >= $TARGET_RATIO") |

\`\`\`sh
$SIM_COMMAND
$POLLER_COMMAND
$SNMP_EXPORTER --config.file=$SNMP_EXPORTER_CONFIG --web.listen-address=$SE_WEB --log.level=error
curl --compressed 'http://$SE_WEB/snmp?target=ADDRESS:PORT&module=$SNMP_EXPORTER_MODULE'   # $ROUNDS x per device
\`\`\`
EOF
} >"$BENCH_WORK/section.md"

cat "$BENCH_WORK/section.md"
write_section snmp-packets "$BENCH_WORK/section.md"
