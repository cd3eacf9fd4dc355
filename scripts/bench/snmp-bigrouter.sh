#!/usr/bin/env bash
#! Big router (issue 9, target 4): one simulated device with 20,000 interfaces answering every
#! request 20 ms late (slow-agent scenario), fully polled (system + if_mib, v2c, cold: a /probe
#! builds a fresh poller) with one request in flight, then with several in flight when the
#! config key for it exists. Poll time as the poller reports it, and the requests the simulator
#! served. Writes section `snmp-bigrouter` of docs/benchmarks.md.
#!
#!   bash scripts/bench/snmp-bigrouter.sh                 # 20,000 interfaces: up to ~6 min
#!   BENCH_QUICK=1 bash scripts/bench/snmp-bigrouter.sh   # 2,000 interfaces
#!   BIGROUTER_INFLIGHT_KEY=max_requests_in_flight BIGROUTER_INFLIGHT=16 bash scripts/bench/snmp-bigrouter.sh
#!
#! The in-flight key (under global.snmp) is a variable because it is being added; while
#! `check-config` refuses it, that row is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
source scripts/bench/lib-snmp.sh
bench_init

if [ "$BENCH_QUICK" = 1 ]; then
  INTERFACES="${BIGROUTER_INTERFACES:-2000}"
  TIMEOUT_S="${BIGROUTER_TIMEOUT:-60}"
else
  INTERFACES="${BIGROUTER_INTERFACES:-20000}"
  TIMEOUT_S="${BIGROUTER_TIMEOUT:-300}"
fi
DELAY=20ms
INFLIGHT_KEY="${BIGROUTER_INFLIGHT_KEY:-max_requests_in_flight}"
INFLIGHT="${BIGROUTER_INFLIGHT:-16}"
TARGET_S=30
TARGET_INTERFACES=20000

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"

# The simulator refuses more interfaces than its cap; then the largest it takes is measured.
start_big_router() {
  local interfaces="$1"
  sim_start "bigrouter-$interfaces" 1 "$((TIMEOUT_S * 2))s" "${TIMEOUT_S}s" 2c --interfaces "$interfaces" \
    --scenario slow-agent --scenario.delay "$DELAY" --scenario.fraction 1
}
MEASURED_INTERFACES="$INTERFACES"
CAP_NOTE=""
# A refused count fails at once; an accepted one is still serving when `timeout` stops it.
status=0
timeout 3 "$BIN" simulate --devices 1 --interfaces "$INTERFACES" --listen 127.0.0.1 --port 0 \
  --control.listen-address none >"$BENCH_WORK/cap.log" 2>&1 || status=$?
if [ "$status" != 124 ]; then
  cap="$(grep -o 'in 1\.\.=[0-9]*' "$BENCH_WORK/cap.log" | head -1 | cut -d= -f2 || true)"
  MEASURED_INTERFACES="${cap:-4096}"
  CAP_NOTE="The simulator refused $INTERFACES interfaces (\"$(grep -m1 -i 'interfaces' "$BENCH_WORK/cap.log" | sed 's/^error: //I' | cut -c1-160 || true)\"); measured with $MEASURED_INTERFACES."
  bench_log "$CAP_NOTE"
fi
start_big_router "$MEASURED_INTERFACES"
SIM_CMD="$SIM_COMMAND"
TARGET_NAME="$(awk -F'"' '/^  - \{name: / { print $2; exit }' "$SIM_CONFIG")"
poller_config "$SIM_CONFIG" "[system, if_mib]"

# One /probe of the router through a poller started on CONFIG with --no-poll. Sets P_DURATION,
# P_UP, P_REQUESTS, P_VARBINDS, P_COMMAND.
probe_once() {
  local config="$1" r0 v0 body="$BENCH_WORK/probe.out"
  poller_start "$config" --no-poll
  P_COMMAND="$POLLER_COMMAND"$'\n'"curl 'http://$POLLER_WEB/probe?target=$TARGET_NAME'"
  r0="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_requests_total)"
  v0="$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_varbinds_total)"
  curl -s --max-time $((TIMEOUT_S + 60)) "http://$POLLER_WEB/probe?target=$TARGET_NAME" |
    LC_ALL=C grep -E '^ispmonitor_target_(up|poll_duration_seconds)\{' >"$body" || true
  P_REQUESTS="$(calc '%.0f' "$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_requests_total) - $r0")"
  P_VARBINDS="$(calc '%.0f' "$(sim_counter "$SIM_CONTROL" ispmonitor_simulator_varbinds_total) - $v0")"
  P_DURATION="$(metric_value ispmonitor_target_poll_duration_seconds <"$body")"
  P_UP="$(metric_value ispmonitor_target_up <"$body")"
  bench_stop "$POLLER_PID"
  bench_log "probe: up $P_UP, $P_DURATION s, $P_REQUESTS requests, $P_VARBINDS varbinds"
}

# A table row for one probe.
row() {
  local label="$1" seconds result
  seconds="$(calc '%.1f' "$P_DURATION")"
  if awk "BEGIN { exit !($P_UP == 1) }"; then
    result="complete in $seconds s"
  else
    # 26 columns per interface: the share served tells how long the whole walk would take.
    result="**incomplete**: the ${TIMEOUT_S} s deadline ended it (about $(calc '%.0f' "$P_DURATION * $MEASURED_INTERFACES * 26 / ($P_VARBINDS > 0 ? $P_VARBINDS : 1)") s needed at this rate)"
  fi
  echo "| $label | $result | $P_REQUESTS | $P_VARBINDS | $(calc '%.1f' "$P_REQUESTS * 0.020") s |"
}

bench_log "bigrouter: $MEASURED_INTERFACES interfaces, $DELAY per answer, 1 request in flight"
probe_once "$SIM_CONFIG"
ROW_ONE="$(row "1 request in flight (default)")"
COMMANDS="$P_COMMAND"
ONE_UP="$P_UP" ONE_S="$P_DURATION"

MANY_CONFIG="$BENCH_WORK/bigrouter-inflight.yml"
cp "$SIM_CONFIG" "$MANY_CONFIG"
poller_config "$MANY_CONFIG" "[system, if_mib]" "  snmp:" "    $INFLIGHT_KEY: $INFLIGHT"
if "$BIN" check-config --config "$MANY_CONFIG" >"$BENCH_WORK/check.log" 2>&1; then
  bench_log "bigrouter: $INFLIGHT requests in flight (global.snmp.$INFLIGHT_KEY)"
  probe_once "$MANY_CONFIG"
  ROW_MANY="$(row "$INFLIGHT requests in flight (global.snmp.$INFLIGHT_KEY: $INFLIGHT)")"
  COMMANDS+=$'\n'"$P_COMMAND   # WORK/bigrouter-inflight.yml: the same plus global.snmp.$INFLIGHT_KEY: $INFLIGHT"
  MANY_UP="$P_UP" MANY_S="$P_DURATION"
else
  SKIP="skipped: this build has no global.snmp.$INFLIGHT_KEY ($(grep -m1 -o "unknown field[^,]*" "$BENCH_WORK/check.log" || head -c 120 "$BENCH_WORK/check.log"))"
  bench_log "bigrouter: $SKIP"
  ROW_MANY="| $INFLIGHT requests in flight | $SKIP | | | |"
  MANY_UP=nan MANY_S=nan
fi

best_verdict() {
  [ "$MEASURED_INTERFACES" -ge "$TARGET_INTERFACES" ] || { echo "n/a (measured with $MEASURED_INTERFACES interfaces)"; return; }
  local s="nan"
  [ "$MANY_UP" = nan ] || { awk "BEGIN { exit !($MANY_UP == 1) }" && s="$MANY_S"; }
  [ "$s" != nan ] || { awk "BEGIN { exit !($ONE_UP == 1) }" && s="$ONE_S"; } || true
  [ "$s" != nan ] || { echo FAIL; return; }
  verdict "$s < $TARGET_S"
}
BEST_S="$( [ "$MANY_UP" != nan ] && echo "$MANY_S" || echo "$ONE_S")"

{
  cat <<EOF
## SNMP big router: $MEASURED_INTERFACES interfaces behind $DELAY

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine); revision $(bench_revision)
- Command: \`bash scripts/bench/snmp-bigrouter.sh\`
- One simulated router, every answer delayed $DELAY (\`--scenario slow-agent\`), polled once through
  \`/probe\` (a fresh poller: cold lookup cache) with modules \`[system, if_mib]\`, v2c, a ${TIMEOUT_S} s
  poll deadline. Duration: the poller's own \`ispmonitor_target_poll_duration_seconds\`.
${CAP_NOTE:+- $CAP_NOTE}

| requests in flight | full poll | requests served | varbinds served | requests x 20 ms |
|---|---|---:|---:|---:|
$ROW_ONE
$ROW_MANY

| target (issue 9) | measured | result |
|---|---|---|
| $TARGET_INTERFACES interfaces behind 20 ms fully polled in under $TARGET_S s | $(calc '%.1f' "$BEST_S") s | $(best_verdict) |

\`\`\`sh
$SIM_CMD
$COMMANDS
\`\`\`
EOF
} >"$BENCH_WORK/section.md"

cat "$BENCH_WORK/section.md"
write_section snmp-bigrouter "$BENCH_WORK/section.md"
