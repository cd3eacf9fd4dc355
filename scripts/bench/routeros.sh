#!/usr/bin/env bash
#! RouterOS API: ispmonitor's `routeros` poller against mktxp (PyPI, on the routeros_api
#! library), the exporter ISPs run today for MikroTik + Prometheus, on the same simulated
#! MikroTik fleets (`ispmonitor simulate --mikrotik-devices ...`), one tool at a time. Measures
#! each tool's CPU (utime + stime from /proc over wall time) and peak RSS, its /metrics scrape
#! duration, and per router poll what the routers saw: API commands, reply sentences and bytes,
#! new TCP connections and logins (the simulator's ispmonitor_simulator_routeros_* counters).
#!
#!   bash scripts/bench/routeros.sh                  # 10, 50, 200 routers every 15 s, ~15 minutes
#!   BENCH_QUICK=1 bash scripts/bench/routeros.sh    # 5 routers every 10 s; docs left alone
#!   BENCH_ROUTEROS_SIZES="20 100" BENCH_ROUTEROS_INTERVAL=30 bash scripts/bench/routeros.sh
#!
#! Prometheus' model for both: a scrape every interval. ispmonitor polls each router on its own
#! schedule over a kept, logged-in connection and serves the last results; mktxp pulls from every
#! router during the scrape (its defaults: one router after the other, connections kept in its
#! pool). mktxp is installed from PyPI into a venv under the target dir (BENCH_MKTXP_VENV);
#! BENCH_MKTXP=0 skips it (ispmonitor figures only). Everything listens on a free 127.X.0.0/16
#! block and free ports; what the script starts it stops by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh

# --- settings ---------------------------------------------------------------------------------
if [ "$BENCH_QUICK" = 1 ]; then
  DEFAULT_SIZES="5"
  DEFAULT_INTERVAL=10
  DEFAULT_MEASURED=2
else
  DEFAULT_SIZES="10 50 200"
  DEFAULT_INTERVAL=15
  DEFAULT_MEASURED=4
fi
read -r -a SIZES <<<"${BENCH_ROUTEROS_SIZES:-$DEFAULT_SIZES}"
INTERVAL="${BENCH_ROUTEROS_INTERVAL:-$DEFAULT_INTERVAL}"
MEASURED_INTERVALS="${BENCH_ROUTEROS_INTERVALS:-$DEFAULT_MEASURED}"
INTERFACES="${BENCH_ROUTEROS_INTERFACES:-48}"
WITH_MKTXP="${BENCH_MKTXP:-1}"
MKTXP_VERSION="${BENCH_MKTXP_VERSION:-2.1.0}"
MKTXP_VENV="${BENCH_MKTXP_VENV:-${CARGO_TARGET_DIR:-target}/bench-mktxp-venv}"
# mktxp's own default; BENCH_MKTXP_PARALLEL=1 turns on its thread pool (max_worker_threads 5).
MKTXP_PARALLEL="${BENCH_MKTXP_PARALLEL:-0}"
API_USER=benchuser
# A fixed value for a private simulator on loopback; it never leaves the temp dir.
API_PASSWORD=bench-Api-pw-5521
# Prometheus' default scrape_timeout: a longer scrape is a failed one there.
PROMETHEUS_SCRAPE_TIMEOUT=10

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"
bench_init
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
RESULTS="$BENCH_WORK/results.tsv"
: >"$RESULTS"

# --- helpers ----------------------------------------------------------------------------------

# A 127.X.0.0/16 block with no TCP or UDP socket bound in it: every simulated router listens for
# the API on port 8728 of its own address.
free_api_block() {
  local block
  for _ in $(seq 1 100); do
    block=$((20 + RANDOM % 200))
    { ss -Hlun; ss -Hltn; } 2>/dev/null | awk '{ print $4 }' | grep -q "^127\\.$block\\." || { echo "$block"; return; }
  done
  bench_die "no free 127.X.0.0/16 block found"
}

# Makes the mktxp venv once (Debian's python3); returns non-zero when it cannot.
install_mktxp() {
  [ -x "$MKTXP_VENV/bin/mktxp" ] && return 0
  bench_log "installing mktxp $MKTXP_VERSION into $MKTXP_VENV (PyPI)"
  /usr/bin/python3 -m venv "$MKTXP_VENV" >&2 &&
    "$MKTXP_VENV/bin/pip" install -q "mktxp==$MKTXP_VERSION" >&2
}

# "connections logins commands traps sentences bytes_sent bytes_received" of the simulator.
sim_counters() {
  curl -sf "$CONTROL_URL/metrics" | awk '
    { sub(/^ispmonitor_simulator_routeros_/, "", $1); v[$1] = $NF }
    END { printf "%d %d %d %d %d %d %d\n", v["connections_total"], v["logins_total"],
      v["commands_total"], v["traps_total"], v["sent_sentences_total"], v["sent_bytes_total"],
      v["received_bytes_total"] }'
}

# Starts the simulator with every device a MikroTik (more flags after the count); sets SIM_PID,
# CONTROL_URL, ADDRESSES and SIM_COMMAND.
start_simulator() {
  local routers="$1" block control_port
  shift
  block="$(free_api_block)"
  control_port="$(free_tcp_port)"
  CONTROL_URL="http://127.0.0.1:$control_port"
  SIM_COMMAND=("$BIN" simulate --devices "$routers" --listen "127.$block.0.1" --port "$(free_udp_port)"
    --interfaces "$INTERFACES" --mikrotik-devices "$(seq -s, 0 $((routers - 1)))"
    --v3.username "$API_USER" --routeros-password "$API_PASSWORD"
    --control.listen-address "127.0.0.1:$control_port" "$@")
  "${SIM_COMMAND[@]}" >"$BENCH_WORK/simulate-$routers.log" 2>&1 &
  SIM_PID=$!
  bench_track "$SIM_PID"
  for _ in $(seq 1 300); do
    kill -0 "$SIM_PID" 2>/dev/null || { tail -20 "$BENCH_WORK/simulate-$routers.log" >&2; bench_die "the simulator exited"; }
    if curl -sf "$CONTROL_URL/routeros" -o "$BENCH_WORK/endpoints.json"; then
      mapfile -t ADDRESSES < <(python3 -c 'import json, sys
for e in json.load(open(sys.argv[1])): print(e["address"])' "$BENCH_WORK/endpoints.json")
      [ "${#ADDRESSES[@]}" -eq "$routers" ] && return
    fi
    sleep 0.1
  done
  bench_die "the simulator did not list $routers RouterOS endpoints"
}

# Waits for the HTTP endpoint URL of process PID; LOG is shown if it dies.
wait_http() {
  local pid="$1" url="$2" log="$3"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; bench_die "process $pid exited"; }
    curl -sf --max-time 2 "$url" -o /dev/null && return
    sleep 0.1
  done
  bench_die "$url did not answer"
}

# One scrape like Prometheus': the body to FILE, the wall time in seconds on stdout.
scrape() {
  curl -s --max-time 600 -o "$2" -w '%{time_total}' "$1"
}

# Scrapes URL once per interval for MEASURED_INTERVALS intervals, bracketed by PID's CPU time
# and the simulator's counters. Sets WINDOW_* and the scrape durations (s) in SCRAPE_TIMES.
measure_window() {
  local pid="$1" url="$2" label="$3" i next sim0 sim1 cpu0 cpu1 t0 t1 sim_cpu0 sim_cpu1
  local before after left
  SCRAPE_TIMES=()
  SCRAPE_FILE="$BENCH_WORK/$label-scrape.txt"
  sim0="$(sim_counters)"
  sim_cpu0="$(cpu_seconds "$SIM_PID")"
  cpu0="$(cpu_seconds "$pid")"
  t0="$(date +%s.%N)"
  for i in $(seq 1 "$MEASURED_INTERVALS"); do
    next="$(calc '%.3f' "$t0 + $i * $INTERVAL")"
    SCRAPE_TIMES+=("$(scrape "$url" "$SCRAPE_FILE")")
    left="$(calc '%.3f' "$next - $(date +%s.%N)")"
    # Parenthesised: a bare > in awk's printf is a redirection.
    sleep "$(calc '%.3f' "($left > 0 ? $left : 0)")"
  done
  cpu1="$(cpu_seconds "$pid")"
  t1="$(date +%s.%N)"
  sim_cpu1="$(cpu_seconds "$SIM_PID")"
  sim1="$(sim_counters)"
  WINDOW_SECONDS="$(calc '%.1f' "$t1 - $t0")"
  WINDOW_CPU="$(calc '%.2f' "$cpu1 - $cpu0")"
  WINDOW_SIM_CPU="$(calc '%.2f' "$sim_cpu1 - $sim_cpu0")"
  read -r -a before <<<"$sim0"
  read -r -a after <<<"$sim1"
  WINDOW_DELTAS=()
  for i in 0 1 2 3 4 5 6; do WINDOW_DELTAS+=($((after[i] - before[i]))); done
  WINDOW_HWM_MIB="$(calc '%.1f' "$(status_kib "$pid" VmHWM) / 1024")"
}

# "median max over" of the scrape durations in SCRAPE_TIMES (over: how many exceed Prometheus'
# default scrape_timeout).
scrape_summary() {
  printf '%s\n' "${SCRAPE_TIMES[@]}" | sort -g | awk -v limit="$PROMETHEUS_SCRAPE_TIMEOUT" '
    { t[NR] = $1; if ($1 > limit) over++ }
    END { printf "%.3f %.3f %d\n", (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2), t[NR], over }'
}

# Appends one result row: tool routers polls seconds cpu sim_cpu hwm median max over
# "deltas..." series (samples in the last scrape, SCRAPE_FILE).
record() {
  local tool="$1" routers="$2" polls="$3" median max over series
  read -r median max over < <(scrape_summary)
  series="$(grep -cv '^#' "$SCRAPE_FILE" || true)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$routers" "$polls" \
    "$WINDOW_SECONDS" "$WINDOW_CPU" "$WINDOW_SIM_CPU" "$WINDOW_HWM_MIB" "$median" "$max" "$over" \
    "${WINDOW_DELTAS[*]}" "$series" >>"$RESULTS"
}

# --- ispmonitor -------------------------------------------------------------------------------

write_ours_config() {
  local web_port="$1" address n=0
  {
    echo "global: {interval: ${INTERVAL}s, timeout: $((INTERVAL < 20 ? INTERVAL / 2 : 10))s}"
    echo "web: {listen_address: \"127.0.0.1:$web_port\"}"
    echo "credentials:"
    echo "  mikrotik: {type: routeros, username: $API_USER, password: \"$API_PASSWORD\"}"
    echo "targets:"
    for address in "${ADDRESSES[@]}"; do
      echo "  - {name: r$n, address: \"$address\", kind: router, modules: [routeros], credential: mikrotik}"
      n=$((n + 1))
    done
  } >"$BENCH_WORK/ispmonitor.yaml"
  chmod 600 "$BENCH_WORK/ispmonitor.yaml"
}

# "up successes" of the routeros targets, from one scrape.
ours_totals() {
  curl -sf "$OURS_URL/metrics" | awk '
    /^ispmonitor_target_up\{/ && /protocol="routeros"/ { up += $NF }
    /^ispmonitor_polls_total\{protocol="routeros",result="success"\}/ { ok += $NF }
    END { printf "%d %d\n", up, ok }'
}

# Starts ispmonitor on the fleet in ADDRESSES and waits until every router is up; sets OURS_PID.
start_ours() {
  local routers="$1" port deadline
  port="$(free_tcp_port)"
  write_ours_config "$port"
  OURS_URL="http://127.0.0.1:$port"
  OURS_COMMAND=("$BIN" serve --config "$BENCH_WORK/ispmonitor.yaml" --api.listen-address none --log.level warn)
  "${OURS_COMMAND[@]}" >"$BENCH_WORK/ours-$routers.log" 2>&1 &
  OURS_PID=$!
  bench_track "$OURS_PID"
  wait_http "$OURS_PID" "$OURS_URL/metrics" "$BENCH_WORK/ours-$routers.log"
  # Every router's first poll lands somewhere in the first interval (random offset).
  deadline=$((SECONDS + INTERVAL * 3))
  until [ "$(ours_totals | cut -d' ' -f1)" -ge "$routers" ]; do
    [ "$SECONDS" -lt "$deadline" ] || bench_die "ispmonitor: only $(ours_totals | cut -d' ' -f1) of $routers routers up after $((INTERVAL * 3)) s"
    sleep 1
  done
}

measure_ours() {
  local routers="$1" ok0 ok1
  start_ours "$routers"
  # A full interval more, so every router's schedule is in its steady state.
  sleep "$INTERVAL"
  ok0="$(ours_totals | cut -d' ' -f2)"
  measure_window "$OURS_PID" "$OURS_URL/metrics" ours
  ok1="$(ours_totals | cut -d' ' -f2)"
  record ispmonitor "$routers" $((ok1 - ok0))
  bench_stop "$OURS_PID"
}

# --- mktxp ------------------------------------------------------------------------------------

# mktxp.conf from the package's own template: the [default] collectors set to read what
# ispmonitor's routeros module reads (where mktxp has a collector), one section per router.
# _mktxp.conf: its listen address, and persistent_dhcp_cache off: with it on (the default) the
# lease table is printed once and the DHCP count never refreshed afterwards.
write_mktxp_config() {
  local dir="$1" web_port="$2" package n=0 address key
  package="$(ls -d "$MKTXP_VENV"/lib/python3*/site-packages/mktxp)"
  mkdir -p "$dir"
  local -A defaults=(
    [username]="$API_USER" [password]="$API_PASSWORD" [port]=8728
    [health]=True [dhcp]=True [dhcp_lease]=False [connections]=True [connection_stats]=False
    [interface]=True [installed_packages]=False [routerboard]=False [wireguard_peers]=False
    [bridge_vlan]=False [route]=False [pool]=False [firewall]=False [neighbor]=False [dns]=False
    [poe]=False [monitor]=False [netwatch]=False [public_ip]=False [wireless]=False
    [wireless_clients]=False [capsman]=False [capsman_clients]=False [user]=False [queue]=False
    [check_for_updates]=False
  )
  local edits=()
  for key in "${!defaults[@]}"; do
    edits+=(-e "s|^\\([[:space:]]*$key[[:space:]]*=[[:space:]]*\\)[^[:space:]#]*|\\1${defaults[$key]}|")
  done
  {
    # Everything from [default] on (the template's sample router is left out).
    sed -n '/^\[default\]/,$p' "$package/cli/config/mktxp.conf" | sed "${edits[@]}"
    for address in "${ADDRESSES[@]}"; do
      printf '\n[r%d]\n    hostname = %s\n' "$n" "${address%:*}"
      n=$((n + 1))
    done
  } >"$dir/mktxp.conf"
  local parallel=False
  [ "$MKTXP_PARALLEL" = 1 ] && parallel=True
  sed -e "s|^\\([[:space:]]*listen[[:space:]]*=[[:space:]]*\\)[^#]*#|\\1'127.0.0.1:$web_port'  #|" \
    -e "s|^\\([[:space:]]*fetch_routers_in_parallel[[:space:]]*=[[:space:]]*\\)[^[:space:]#]*|\\1$parallel|" \
    -e "s|^\\([[:space:]]*persistent_dhcp_cache[[:space:]]*=[[:space:]]*\\)[^[:space:]#]*|\\1False|" \
    "$package/cli/config/_mktxp.conf" >"$dir/_mktxp.conf"
  chmod 600 "$dir/mktxp.conf"
}

# The routers present in one mktxp scrape (each has its identity series).
mktxp_routers_in() {
  grep -c '^mktxp_system_identity_info{' "$1" || true
}

# Starts mktxp on the fleet in ADDRESSES; sets MKTXP_PID. It collects once before its HTTP
# server listens, so a listening port means the first collection is done.
start_mktxp() {
  local routers="$1" port dir="$BENCH_WORK/mktxp-$1"
  port="$(free_tcp_port)"
  write_mktxp_config "$dir" "$port"
  MKTXP_URL="http://127.0.0.1:$port"
  MKTXP_COMMAND=("$MKTXP_VENV/bin/mktxp" --cfg-dir "$dir" export)
  "${MKTXP_COMMAND[@]}" >"$BENCH_WORK/mktxp-$routers.log" 2>&1 &
  MKTXP_PID=$!
  bench_track "$MKTXP_PID"
  for _ in $(seq 1 $((INTERVAL * 100 + 600))); do
    kill -0 "$MKTXP_PID" 2>/dev/null || { tail -20 "$BENCH_WORK/mktxp-$routers.log" >&2; bench_die "mktxp exited"; }
    [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] || return 0
    sleep 0.1
  done
  bench_die "mktxp did not listen on port $port"
}

measure_mktxp() {
  local routers="$1" polls seen
  start_mktxp "$routers"
  # A scrape that does not count, then one interval of warm-up like a Prometheus that has been
  # running.
  scrape "$MKTXP_URL/metrics" "$BENCH_WORK/mktxp-warmup.txt" >/dev/null
  seen="$(mktxp_routers_in "$BENCH_WORK/mktxp-warmup.txt")"
  [ "$seen" -eq "$routers" ] || bench_log "mktxp: only $seen of $routers routers in the first scrape"
  sleep "$INTERVAL"
  measure_window "$MKTXP_PID" "$MKTXP_URL/metrics" mktxp
  # Each scrape polled every router it could reach: count them in the last scrape.
  seen="$(mktxp_routers_in "$BENCH_WORK/mktxp-scrape.txt")"
  polls=$((seen * MEASURED_INTERVALS))
  record mktxp "$routers" "$polls"
  bench_stop "$MKTXP_PID"
}

# --- sanity: the same numbers from both, for one router ----------------------------------------

# One router on a stopped simulated clock (every value fixed), read by each tool in turn: both
# must report the same numbers. Leaves ours-sample.txt and mktxp-sample.txt.
sanity_scrapes() {
  start_simulator 1 --freeze-time 3600s
  start_ours 1
  scrape "$OURS_URL/metrics" "$BENCH_WORK/ours-sample.txt" >/dev/null
  bench_stop "$OURS_PID"
  if [ "$WITH_MKTXP" = 1 ]; then
    start_mktxp 1
    scrape "$MKTXP_URL/metrics" "$BENCH_WORK/mktxp-sample.txt" >/dev/null
    bench_stop "$MKTXP_PID"
  fi
  bench_stop "$SIM_PID"
}

# "name ispmonitor mktxp" rows: one router's values as each tool reports them.
sanity_rows() {
  local ours="$BENCH_WORK/ours-sample.txt" theirs="$BENCH_WORK/mktxp-sample.txt" row
  local rows=(
    "pppoe_sessions ispmonitor_routeros_pppoe_sessions -"
    "dhcp_leases(all_statuses) ispmonitor_routeros_dhcp_leases mktxp_dhcp_lease_active_count"
    "firewall_connections ispmonitor_routeros_firewall_connections mktxp_ip_connections_total"
    "uptime_seconds ispmonitor_routeros_uptime_seconds mktxp_system_uptime"
    "memory_total_bytes ispmonitor_routeros_memory_total_bytes mktxp_system_total_memory"
    "interfaces_running(sum) ispmonitor_routeros_interface_running mktxp_interface_running"
    "receive_bytes(sum) ispmonitor_routeros_interface_receive_bytes_total mktxp_interface_rx_byte_total"
    "transmit_packets(sum) ispmonitor_routeros_interface_transmit_packets_total mktxp_interface_tx_packet_total"
  )
  local name ours_metric their_metric a b
  for row in "${rows[@]}"; do
    read -r name ours_metric their_metric <<<"$row"
    a="$(metric_value "$ours_metric" <"$ours")"
    if [ "$their_metric" = - ]; then
      b="no collector"
    elif [ -f "$theirs" ]; then
      b="$(metric_value "$their_metric" <"$theirs")"
    else
      b="not run"
    fi
    # %.0f: every value here is a whole number.
    [ "$a" = nan ] || a="$(calc '%.0f' "$a")"
    [[ "$b" =~ ^[0-9.]+$ ]] && b="$(calc '%.0f' "$b")"
    if [[ "$b" =~ ^[0-9]+$ ]]; then
      echo "$name|$a|$b|$([ "$a" = "$b" ] && echo yes || echo no)"
    else
      echo "$name|$a|$b|n/a"
    fi
  done
}

# --- report -----------------------------------------------------------------------------------

# Per-router-poll figure: value / polls, one decimal.
per_poll() { calc '%.1f' "$1 / ($2 > 0 ? $2 : 1)"; }

report() {
  local tool routers polls seconds cpu sim_cpu hwm median max over deltas
  local mode
  mode="$([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)"
  cat <<EOF
## RouterOS API: ispmonitor and mktxp on the same simulated MikroTik fleets

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $mode
- Machine: $(bench_machine)
- Revision: $(bench_revision); peer: $([ "$WITH_MKTXP" = 1 ] && echo "mktxp $("$MKTXP_VENV/bin/pip" show mktxp 2>/dev/null | awk '/^Version/ { print $2 }') (routeros_api $("$MKTXP_VENV/bin/pip" show RouterOS-api 2>/dev/null | awk '/^Version/ { print $2 }'))" || echo "none (BENCH_MKTXP=0)")
- Command: \`bash scripts/bench/routeros.sh\`$([ -n "${BENCH_ROUTEROS_SIZES:-}" ] && echo " (BENCH_ROUTEROS_SIZES=\"${BENCH_ROUTEROS_SIZES}\")")
- Load: ${SIZES[*]} simulated MikroTik routers ($INTERFACES interfaces each), one address each on
  127.X.0.0/16, API on port 8728; a scrape of each tool's /metrics every ${INTERVAL} s for
  $MEASURED_INTERVALS intervals after one interval of warm-up, one tool at a time (the other one stopped).
  ispmonitor polls every router every ${INTERVAL} s on its own schedule; mktxp polls every router
  during each scrape (its defaults: routers one after the other$([ "$MKTXP_PARALLEL" = 1 ] && echo ", here with fetch_routers_in_parallel"), connections kept in its pool;
  a scrape that takes longer than the interval is followed by the next one at once).
- What each reads: ispmonitor its \`routeros\` module (PPPoE count, DHCP counts by status,
  connection count and tracking max, resource, health, interfaces with a proplist); mktxp the
  collectors \`health\`, \`dhcp\` (it prints every lease and counts them per server; the per-lease
  \`dhcp_lease\` series off; \`persistent_dhcp_cache = False\`, without which mktxp prints the
  lease table only once and never refreshes the count), \`connections\` (count-only, IPv4 and IPv6), \`interface\` (every
  property of every interface), identity and resource (always on); every other collector off.
  mktxp has no PPPoE (/ppp/active) collector and no connection-tracking max.
- CPU is utime + stime from /proc/PID/stat over the window; RSS is VmHWM (peak) at its end. The
  router side's figures are the simulator's counters over the same window; "simulator CPU" is
  the work the polls caused on the (simulated) routers.

| tool | routers | window | router polls | CPU s | cores | CPU ms per router poll | peak RSS | scrape median | scrape max | scrapes > ${PROMETHEUS_SCRAPE_TIMEOUT} s | samples per scrape | simulator CPU s |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
  while IFS=$'\t' read -r tool routers polls seconds cpu sim_cpu hwm median max over deltas series; do
    echo "| $tool | $routers | $seconds s | $polls | $cpu | $(calc '%.4f' "$cpu / $seconds") | $(calc '%.2f' "1000 * $cpu / ($polls > 0 ? $polls : 1)") | $hwm MiB | $median s | $max s | $over | $series | $sim_cpu |"
  done <"$RESULTS"
  cat <<EOF

A window is $MEASURED_INTERVALS intervals unless a tool's scrapes take longer than the interval (then
they run back to back and the window stretches): compare CPU per router poll, not cores.

Per router poll, as the routers saw it (window totals divided by router polls):

| tool | routers | API commands | reply sentences | bytes to the poller | bytes from the poller | new TCP connections (window) | logins (window) |
|---|---:|---:|---:|---:|---:|---:|---:|
EOF
  local c l cmd sent bytes_out bytes_in
  while IFS=$'\t' read -r tool routers polls seconds cpu sim_cpu hwm median max over deltas series; do
    read -r c l cmd _ sent bytes_out bytes_in <<<"$deltas"
    echo "| $tool | $routers | $(per_poll "$cmd" "$polls") | $(per_poll "$sent" "$polls") | $(per_poll "$bytes_out" "$polls") | $(per_poll "$bytes_in" "$polls") | $c | $l |"
  done <"$RESULTS"
  if [ "$WITH_MKTXP" = 1 ]; then
    cat <<EOF

Ratios ispmonitor / mktxp (below 1: ispmonitor uses less):

| routers | CPU per router poll | peak RSS | bytes to the poller per poll | API commands per poll | simulator CPU per router poll | scrape median |
|---|---:|---:|---:|---:|---:|---:|
EOF
    awk -F'\t' '
      { split($11, d, " "); key = $2
        polls = ($3 > 0 ? $3 : 1); cpu[$1, key] = $5 / polls; hwm[$1, key] = $7
        bytes[$1, key] = d[6] / polls; cmds[$1, key] = d[3] / polls; sim[$1, key] = $6 / polls; med[$1, key] = $8
        if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
      function r(a, b) { return b > 0 ? sprintf("%.3g", a / b) : "n/a" }
      END { for (i = 1; i <= n; i++) { k = order[i]
        if (!(("mktxp", k) in cpu)) continue
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", k, r(cpu["ispmonitor", k], cpu["mktxp", k]),
          r(hwm["ispmonitor", k], hwm["mktxp", k]), r(bytes["ispmonitor", k], bytes["mktxp", k]),
          r(cmds["ispmonitor", k], cmds["mktxp", k]), r(sim["ispmonitor", k], sim["mktxp", k]),
          r(med["ispmonitor", k], med["mktxp", k]) } }' "$RESULTS"
  fi
  cat <<EOF

Sanity: one router on a stopped simulated clock (\`--freeze-time 3600s\`: every value fixed),
read by each tool in turn; the same numbers from both:

| value | ispmonitor | mktxp | same |
|---|---:|---:|---|
EOF
  local name ours theirs same
  while IFS='|' read -r name ours theirs same; do
    echo "| $name | $ours | $theirs | $same |"
  done < <(sanity_rows)
  cat <<EOF

\`\`\`sh
$(printf '%q ' "${SIM_COMMAND[@]}" | sed -e "s#$BENCH_WORK#DIR#g" -e "s#$API_PASSWORD#PASSWORD#g" \
  -e "s#--mikrotik-devices [0-9\\,]*#--mikrotik-devices \"\$(seq -s, 0 $((${SIZES[-1]} - 1)))\"#")
$(printf '%q ' "${OURS_COMMAND[@]}" | sed "s#$BENCH_WORK#DIR#g")  # DIR/ispmonitor.yaml: see write_ours_config
$([ "$WITH_MKTXP" = 1 ] && echo "$(printf '%q ' "${MKTXP_COMMAND[@]}" | sed -e "s#$BENCH_WORK#DIR#g" -e "s#$MKTXP_VENV#VENV#g")  # DIR/mktxp.conf, DIR/_mktxp.conf: see write_mktxp_config")
\`\`\`
EOF
}

# --- main -------------------------------------------------------------------------------------

if [ "$WITH_MKTXP" = 1 ] && ! install_mktxp; then
  bench_log "mktxp could not be installed from PyPI: ispmonitor figures only"
  WITH_MKTXP=0
fi
bench_log "sanity: one router on a stopped clock, read by each tool"
sanity_scrapes
for routers in "${SIZES[@]}"; do
  bench_log "simulator: $routers MikroTik routers"
  start_simulator "$routers"
  bench_log "ispmonitor: $routers routers every ${INTERVAL} s"
  measure_ours "$routers"
  if [ "$WITH_MKTXP" = 1 ]; then
    bench_log "mktxp: $routers routers, a scrape every ${INTERVAL} s"
    measure_mktxp "$routers"
  fi
  bench_stop "$SIM_PID"
done
report >"$BENCH_WORK/section.md"
cat "$BENCH_WORK/section.md"
write_section routeros "$BENCH_WORK/section.md"
