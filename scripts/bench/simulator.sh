#!/usr/bin/env bash
#! Benchmarks the device simulator (`ispmonitor simulate`) against net-snmp's snmpd in the same
#! run: varbinds/s and varbinds per CPU-second of the agent process under the same GETBULK load
#! (examples/snmp_load.rs, a separate process), and resident memory of 10,000 simulated devices.
#! Prints a table and rewrites its section (`simulator`) of docs/benchmarks.md.
#!
#!   bash scripts/bench/simulator.sh                 # full run, about 1 minute
#!   BENCH_QUICK=1 bash scripts/bench/simulator.sh   # short runs, 1,000 devices; docs left alone
#!
#! Needs the release binary and the load generator, built by scripts/bench.sh or by hand:
#! `cargo build --release --bin ispmonitor` then `cargo build --release --example snmp_load`
#! (two invocations: the example enables dev-dependency features the measured binary must not get).
#!
#! Everything listens on free loopback addresses and ports; what the script starts it stops by
#! PID on exit. Not part of scripts/test.sh: the machine is shared and noisy, so these are
#! figures to read (with CPU time, which is less noisy than wall time), not pass/fail tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
bench_init

# --- settings ---------------------------------------------------------------------------------
QUICK="${BENCH_QUICK:-0}"
if [ "$QUICK" = 1 ]; then
  RUN_SECONDS=3
  MEMORY_DEVICES=1000
else
  RUN_SECONDS=10
  MEMORY_DEVICES=10000
fi
THROUGHPUT_DEVICES=100
WALKERS=32
REPETITIONS=50
IF_TABLE=1.3.6.1.2.1.2.2
MIB_2=1.3.6.1.2.1
TARGET_VARBINDS_PER_S=200000
TARGET_MEMORY_DEVICES=10000
TARGET_MEMORY_MIB=1024
# snmpsim (PyPI) is a second peer when its venv can be made (needs the package registry);
# BENCH_SNMPSIM=0 skips it. The venv is kept under target/ so later runs reuse it.
WITH_SNMPSIM="${BENCH_SNMPSIM:-1}"
SNMPSIM_VENV="${BENCH_SNMPSIM_VENV:-target/bench-snmpsim-venv}"
SNMPSIM_VERSION=1.2.2
LOAD="${BENCH_LOAD:-$(dirname "$BIN")/examples/snmp_load}"
SNMPD=/usr/sbin/snmpd
WORK="$BENCH_WORK"
log() { bench_log "$@"; }
die() { bench_die "$@"; }
stop() { bench_stop "$@"; }

# --- helpers ----------------------------------------------------------------------------------

# The value of KEY in a key=value line.
field() {
  tr ' ' '\n' <<<"$1" | awk -F= -v key="$2" '$1 == key { print $2 }'
}

# Waits until an agent answers a v2c GET of sysUpTime (or its process died).
wait_ready() {
  local pid="$1" endpoint="$2" logfile="$3"
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2 || true; die "agent $pid exited"; }
    if snmpget -v2c -c public -m '' -t 0.2 -r 0 "$endpoint" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1; then
      return
    fi
    sleep 0.1
  done
  die "agent at $endpoint did not answer within a minute"
}

# Starts `ispmonitor simulate`; sets SIM_PID. Arguments: devices, first address, port.
start_simulator() {
  local devices="$1" first="$2" port="$3" logfile="$WORK/simulate-$1.log"
  SIM_COMMAND=("$BIN" simulate --devices "$devices" --listen "$first" --port "$port"
    --control.listen-address none)
  "${SIM_COMMAND[@]}" >"$logfile" 2>&1 &
  SIM_PID=$!
  bench_track "$SIM_PID"
  # The last device binds last: when it answers, the whole fleet is up.
  local last
  last="$(awk -F. -v n="$((devices - 1))" '{
      x = (($1 * 256 + $2) * 256 + $3) * 256 + $4 + n
      printf "%d.%d.%d.%d", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256
    }' <<<"$first")"
  wait_ready "$SIM_PID" "$last:$port" "$logfile"
}

# Starts net-snmp's snmpd with a private config (only the v2c community); sets SNMPD_PID.
start_snmpd() {
  local port="$1" dir="$WORK/snmpd"
  mkdir -p "$dir/persist"
  cat >"$dir/snmpd.conf" <<EOF
agentAddress udp:127.0.0.1:$port
rocommunity public 127.0.0.1
EOF
  # -f: stay in the foreground so $! is the agent; -C: ignore the system config.
  SNMPD_COMMAND=("$SNMPD" -f -C -c "$dir/snmpd.conf" -Lf "$dir/snmpd.log" -p "$dir/snmpd.pid"
    -I -smux)
  MIBS='' SNMP_PERSISTENT_DIR="$dir/persist" "${SNMPD_COMMAND[@]}" >/dev/null 2>&1 &
  SNMPD_PID=$!
  bench_track "$SNMPD_PID"
  wait_ready "$SNMPD_PID" "127.0.0.1:$port" "$dir/snmpd.log"
}

# Makes the snmpsim venv once (Debian's python3); returns non-zero when it cannot.
install_snmpsim() {
  [ -x "$SNMPSIM_VENV/bin/snmpsim-command-responder" ] && return 0
  log "installing snmpsim $SNMPSIM_VERSION into $SNMPSIM_VENV (PyPI)"
  /usr/bin/python3 -m venv "$SNMPSIM_VENV" >&2 &&
    "$SNMPSIM_VENV/bin/pip" install -q "snmpsim==$SNMPSIM_VERSION" pysmi cryptography >&2
}

# Starts snmpsim serving the Linux walk recorded in its package, as community `public`;
# sets SNMPSIM_PID. Logging off: it otherwise logs every request.
start_snmpsim() {
  local port="$1" dir="$WORK/snmpsim" recording
  recording="$(ls "$SNMPSIM_VENV"/lib/python3*/site-packages/snmpsim/data/recorded/linux-full-walk.snmprec)"
  mkdir -p "$dir/data" "$dir/cache"
  cp "$recording" "$dir/data/public.snmprec"
  chmod -R a+rX "$dir"
  chown nobody:nogroup "$dir/cache"
  SNMPSIM_COMMAND=("$SNMPSIM_VENV/bin/snmpsim-command-responder" --data-dir="$dir/data"
    --cache-dir="$dir/cache" --agent-udpv4-endpoint="127.0.0.1:$port"
    --process-user=nobody --process-group=nogroup --logging-method=null)
  "${SNMPSIM_COMMAND[@]}" >"$dir/out.log" 2>&1 &
  SNMPSIM_PID=$!
  bench_track "$SNMPSIM_PID"
  wait_ready "$SNMPSIM_PID" "127.0.0.1:$port" "$dir/out.log"
}

# One load run against an agent, with the agent's CPU time over the run.
# Arguments: result name, agent PID, then the load generator's arguments.
# Sets RESULT[name.*]: varbinds_per_s, varbinds_per_request, timeouts, agent_cpu_s,
# varbinds_per_cpu_s, agent_cores (CPU seconds / wall seconds), load_cpu_s, command.
declare -A RESULT
measure_load() {
  local name="$1" pid="$2"
  shift 2
  local command=("$LOAD" "$@")
  local cpu_before cpu_after line
  cpu_before="$(cpu_seconds "$pid")"
  line="$("${command[@]}")"
  cpu_after="$(cpu_seconds "$pid")"
  log "$name: $line"
  local varbinds elapsed agent_cpu
  varbinds="$(field "$line" varbinds)"
  elapsed="$(field "$line" elapsed)"
  agent_cpu="$(calc '%.2f' "$cpu_after - $cpu_before")"
  RESULT[$name.varbinds_per_s]="$(field "$line" varbinds_per_s)"
  RESULT[$name.varbinds_per_request]="$(field "$line" varbinds_per_request)"
  RESULT[$name.timeouts]="$(field "$line" timeouts)"
  RESULT[$name.walks]="$(field "$line" walks)"
  RESULT[$name.load_cpu_s]="$(field "$line" load_cpu_s)"
  RESULT[$name.agent_cpu_s]="$agent_cpu"
  RESULT[$name.agent_cores]="$(calc '%.2f' "$agent_cpu / $elapsed")"
  RESULT[$name.varbinds_per_cpu_s]="$(calc '%.0f' "$varbinds / ($agent_cpu > 0 ? $agent_cpu : 0.01)")"
  RESULT[$name.command]="$(printf '%q ' "${command[@]}")"
}

# --- a/b: throughput, ours and snmpd, same load over the same roots -----------------------------
throughput() {
  local block port snmpd_port first
  block="$(free_loopback_block)"
  port="$(free_udp_port)"
  first="127.$block.0.1"
  log "throughput: $THROUGHPUT_DEVICES simulated devices on $first.. port $port"
  start_simulator "$THROUGHPUT_DEVICES" "$first" "$port"
  THROUGHPUT_SIM_COMMAND="$(printf '%q ' "${SIM_COMMAND[@]}")"
  snmpd_port="$(free_udp_port)"
  log "throughput: snmpd on 127.0.0.1:$snmpd_port"
  start_snmpd "$snmpd_port"
  THROUGHPUT_SNMPD_COMMAND="MIBS= SNMP_PERSISTENT_DIR=DIR/persist $(printf '%q ' "${SNMPD_COMMAND[@]}" | sed "s#$WORK/snmpd#DIR#g")"
  PEERS=(snmpd)
  if [ "$WITH_SNMPSIM" = 1 ] && [ "$(id -u)" -eq 0 ] && install_snmpsim; then
    local snmpsim_port
    snmpsim_port="$(free_udp_port)"
    log "throughput: snmpsim on 127.0.0.1:$snmpsim_port"
    start_snmpsim "$snmpsim_port"
    THROUGHPUT_SNMPSIM_COMMAND="$(printf '%q ' "${SNMPSIM_COMMAND[@]}" | sed "s#$WORK/snmpsim#DIR#g")"
    PEERS+=(snmpsim)
  else
    log "throughput: snmpsim skipped (BENCH_SNMPSIM=0, not root, or no PyPI)"
  fi
  local common=(--walkers "$WALKERS" --seconds "$RUN_SECONDS" --max-repetitions "$REPETITIONS")
  # Interleaved (ours, peer, ours, peer) so slow drift of the shared machine hits both alike.
  local root label
  for label in iftable mib2; do
    root="$IF_TABLE"
    [ "$label" = mib2 ] && root="$MIB_2"
    measure_load "ours.$label" "$SIM_PID" --first "$first:$port" --count "$THROUGHPUT_DEVICES" \
      --root "$root" "${common[@]}"
    measure_load "snmpd.$label" "$SNMPD_PID" --targets "127.0.0.1:$snmpd_port" \
      --root "$root" "${common[@]}"
    if [[ " ${PEERS[*]} " == *" snmpsim "* ]]; then
      measure_load "snmpsim.$label" "$SNMPSIM_PID" --targets "127.0.0.1:$snmpsim_port" \
        --root "$root" "${common[@]}"
    fi
  done
  stop "$SIM_PID"
  stop "$SNMPD_PID"
  [ -z "${SNMPSIM_PID:-}" ] || stop "$SNMPSIM_PID"
}

# --- c: memory of a large fleet, before and after every device's ifTable was walked ------------
memory() {
  local block port first
  block="$(free_loopback_block)"
  port="$(free_udp_port)"
  first="127.$block.0.1"
  # One socket per device, and the load generator's own sockets.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  log "memory: $MEMORY_DEVICES simulated devices on $first.. port $port"
  start_simulator "$MEMORY_DEVICES" "$first" "$port"
  MEMORY_SIM_COMMAND="$(printf '%q ' "${SIM_COMMAND[@]}")"
  sleep 1
  MEM_RSS_START_KIB="$(status_kib "$SIM_PID" VmRSS)"
  measure_load "memory" "$SIM_PID" --first "$first:$port" --count "$MEMORY_DEVICES" \
    --root "$IF_TABLE" --walkers 64 --max-repetitions "$REPETITIONS" --timeout-ms 2000 --once
  MEM_HWM_KIB="$(status_kib "$SIM_PID" VmHWM)"
  MEM_RSS_END_KIB="$(status_kib "$SIM_PID" VmRSS)"
  stop "$SIM_PID"
  MEM_HWM_MIB="$(calc '%.1f' "$MEM_HWM_KIB / 1024")"
  MEM_RSS_START_MIB="$(calc '%.1f' "$MEM_RSS_START_KIB / 1024")"
  MEM_RSS_END_MIB="$(calc '%.1f' "$MEM_RSS_END_KIB / 1024")"
  MEM_KIB_PER_DEVICE="$(calc '%.1f' "$MEM_HWM_KIB / $MEMORY_DEVICES")"
  # Per-device cost times the target fleet: the figure to hold against the budget (equal to the
  # measured peak in a full run, an extrapolation in quick mode).
  MEM_AT_TARGET_MIB="$(calc '%.0f' "$MEM_HWM_KIB / $MEMORY_DEVICES * $TARGET_MEMORY_DEVICES / 1024")"
}

# --- report -----------------------------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }

# The snmpsim load commands, when it ran.
snmpsim_commands() {
  [[ " ${PEERS[*]} " == *" snmpsim "* ]] || return 0
  echo "${RESULT[snmpsim.iftable.command]}"
  echo "${RESULT[snmpsim.mib2.command]}"
}

agent_name() {
  case "$1" in
    ours) echo "ispmonitor simulate" ;;
    snmpd) echo "net-snmp snmpd" ;;
    snmpsim) echo "snmpsim $SNMPSIM_VERSION" ;;
  esac
}

# RESULT[a] / RESULT[b], two decimals ("n/a" when b is zero).
ratio() {
  awk -v a="${RESULT[$1]}" -v b="${RESULT[$2]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# The generated Markdown section (also the stdout table, minus the prose).
report_section() {
  local label
  cat <<EOF
## Agent throughput and memory: the simulator against snmpd (and snmpsim)

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine)
- Revision: $(bench_revision); peers: $("$SNMPD" -v 2>/dev/null | awk '/NET-SNMP version/ { print "net-snmp " $3 }')$([[ " ${PEERS[*]} " == *" snmpsim "* ]] && echo ", snmpsim $SNMPSIM_VERSION")
- Command: \`bash scripts/bench/simulator.sh\` (or \`bash scripts/bench.sh\`)
- Load: $WALKERS walkers, GETBULK max-repetitions $REPETITIONS, v2c, ${RUN_SECONDS} s per row;
  ours spread over $THROUGHPUT_DEVICES devices, each peer is one agent

#### Throughput

| agent | subtree | varbinds/s | varbinds/request | agent CPU s | agent cores | varbinds per agent CPU-s | load generator CPU s | timeouts |
|---|---|---:|---:|---:|---:|---:|---:|---:|
EOF
  for label in iftable mib2; do
    local subtree="ifTable ($IF_TABLE)"
    [ "$label" = mib2 ] && subtree="mib-2 ($MIB_2)"
    local who
    for who in ours "${PEERS[@]}"; do
      local key="$who.$label"
      echo "| $(agent_name "$who") | $subtree | ${RESULT[$key.varbinds_per_s]} | ${RESULT[$key.varbinds_per_request]} | ${RESULT[$key.agent_cpu_s]} | ${RESULT[$key.agent_cores]} | ${RESULT[$key.varbinds_per_cpu_s]} | ${RESULT[$key.load_cpu_s]} | ${RESULT[$key.timeouts]} |"
    done
  done
  echo
  echo "| ratio | ifTable | mib-2 |"
  echo "|---|---:|---:|"
  local peer metric
  for peer in "${PEERS[@]}"; do
    for metric in varbinds_per_s varbinds_per_cpu_s; do
      local what="varbinds/s"
      [ "$metric" = varbinds_per_cpu_s ] && what="varbinds per agent CPU-second"
      echo "| $what, ours / $peer | $(ratio "ours.iftable.$metric" "$peer.iftable.$metric") | $(ratio "ours.mib2.$metric" "$peer.mib2.$metric") |"
    done
  done
  cat <<EOF

#### Memory

| devices | VmRSS after start | VmHWM after walking every ifTable | VmRSS after | KiB per device (peak) | walks completed | timeouts |
|---:|---:|---:|---:|---:|---:|---:|
| $MEMORY_DEVICES | $MEM_RSS_START_MIB MiB | $MEM_HWM_MIB MiB | $MEM_RSS_END_MIB MiB | $MEM_KIB_PER_DEVICE | ${RESULT[memory.walks]} | ${RESULT[memory.timeouts]} |

#### Targets

| target | measured | result |
|---|---|---|
| at least $TARGET_VARBINDS_PER_S varbinds/s (ifTable walks) | ${RESULT[ours.iftable.varbinds_per_s]} | $(verdict "${RESULT[ours.iftable.varbinds_per_s]} >= $TARGET_VARBINDS_PER_S") |
| at least $TARGET_VARBINDS_PER_S varbinds/s (whole mib-2 walks) | ${RESULT[ours.mib2.varbinds_per_s]} | $(verdict "${RESULT[ours.mib2.varbinds_per_s]} >= $TARGET_VARBINDS_PER_S") |
| $TARGET_MEMORY_DEVICES devices in under $TARGET_MEMORY_MIB MiB (peak RSS$([ "$MEMORY_DEVICES" != "$TARGET_MEMORY_DEVICES" ] && echo ", extrapolated from $MEMORY_DEVICES devices")) | $MEM_AT_TARGET_MIB MiB | $(verdict "$MEM_AT_TARGET_MIB < $TARGET_MEMORY_MIB") |

#### Exact commands

\`\`\`sh
# throughput: the agents
$THROUGHPUT_SIM_COMMAND
$THROUGHPUT_SNMPD_COMMAND  # DIR/snmpd.conf: agentAddress udp:127.0.0.1:PORT, rocommunity public 127.0.0.1
${THROUGHPUT_SNMPSIM_COMMAND:-# snmpsim: skipped}  # DIR/data/public.snmprec: snmpsim's recorded linux-full-walk
# throughput: the load, one run per row (agent CPU = utime + stime from /proc/PID/stat, before and after)
${RESULT[ours.iftable.command]}
${RESULT[snmpd.iftable.command]}
${RESULT[ours.mib2.command]}
${RESULT[snmpd.mib2.command]}
$(snmpsim_commands)
# memory (VmRSS and VmHWM from /proc/PID/status)
$MEMORY_SIM_COMMAND
${RESULT[memory.command]}
\`\`\`
EOF
}

main() {
  [ -x "$BIN" ] || die "$BIN missing: cargo build --release --bin ispmonitor"
  [ -x "$LOAD" ] || die "$LOAD missing: cargo build --release --example snmp_load"
  throughput
  memory
  report_section | sed 's/[[:space:]]*$//' >"$WORK/section.md"
  # stdout: the tables without the commands block.
  sed -n "/^## /,/^#### Exact commands/p" "$WORK/section.md" | sed '$d'
  write_section simulator "$WORK/section.md"
}

main "$@"
