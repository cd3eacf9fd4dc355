#!/usr/bin/env bash
#! SNMP fleet machinery shared by the snmp-* sections (sourced after lib.sh, never run): a
#! simulated fleet with its control endpoint, the poller polling it, snmp_exporter beside it,
#! snapshots once per interval (CPU, memory, the simulator's counters, a Prometheus-like scrape
#! of /metrics) and the figures computed from two snapshots.
#!
#! Other sections may use: sim_start, sim_counter, poller_start, snapshot, fleet_window,
#! hist_quantile, sample_quantile, se_start. Each sets or prints what its comment says.

SNMP_EXPORTER="${BENCH_SNMP_EXPORTER:-prometheus-snmp-exporter}"
SNMP_EXPORTER_CONFIG=bench/snmp_exporter.yml
SNMP_EXPORTER_MODULE=bench_if_mib
# What Prometheus 2.x sends when it scrapes: OpenMetrics first, and gzip.
PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
# The poller series a snapshot keeps (the rest of the exposition is read and dropped).
SNAPSHOT_SERIES='^ispmonitor_(polls_total|poll_duration_seconds_bucket|poll_schedule_lag_seconds_bucket|polls_skipped_total|target_up|target_poll_duration_seconds|snmp_[a-z_]+_total)[{ ]'

# Thousands of devices need thousands of sockets, in the simulator and in the poller.
raise_open_files() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# COUNT endpoints ADDRESS:PORT from FIRST (a dotted quad) up, counting across octets, one per
# line (the simulator's layout).
fleet_endpoints() {
  awk -F. -v port="$2" -v count="$3" '{
      base = (($1 * 256 + $2) * 256 + $3) * 256 + $4
      for (n = 0; n < count; n++) { x = base + n
        printf "%d.%d.%d.%d:%d\n", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256, port }
    }' <<<"$1"
}

# Starts `ispmonitor simulate` with a control endpoint and a poller config for the fleet.
# Arguments: NAME DEVICES INTERVAL TIMEOUT VERSION [more simulate flags...].
# Sets SIM_PID, SIM_FIRST, SIM_PORT, SIM_CONTROL (host:port), SIM_CONFIG, SIM_COMMAND (quoted).
sim_start() {
  local name="$1" devices="$2" interval="$3" timeout="$4" version="$5"
  shift 5
  local block logfile="$BENCH_WORK/sim-$name.log"
  block="$(free_loopback_block)"
  SIM_FIRST="127.$block.0.1"
  SIM_PORT="$(free_udp_port)"
  SIM_CONTROL="127.0.0.1:$(free_tcp_port)"
  SIM_CONFIG="$BENCH_WORK/fleet-$name.yml"
  local command=("$BIN" simulate --devices "$devices" --listen "$SIM_FIRST" --port "$SIM_PORT"
    --control.listen-address "$SIM_CONTROL" --write-config "$SIM_CONFIG"
    --write-config.interval "$interval" --write-config.timeout "$timeout"
    --write-config.snmp-version "$version" "$@")
  SIM_COMMAND="$(printf '%q ' "${command[@]}" | sed "s#$BENCH_WORK/#WORK/#g")"
  raise_open_files
  "${command[@]}" >"$logfile" 2>&1 &
  SIM_PID=$!
  bench_track "$SIM_PID"
  # The control endpoint starts after every socket is bound and the config is written.
  local _
  for _ in $(seq 1 1200); do
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$logfile" >&2; bench_die "simulator ($name) exited"; }
    curl -sf "http://$SIM_CONTROL/metrics" >/dev/null 2>&1 && [ -s "$SIM_CONFIG" ] && return 0
    sleep 0.1
  done
  bench_die "simulator ($name) not ready within 2 minutes"
}

# A counter of the simulator's own /metrics, summed over its labels: sim_counter CONTROL NAME.
sim_counter() {
  curl -sf "http://$1/metrics" | metric_value "$2"
}

# The 0-based device numbers a scenario affects, one per line: sim_affected CONTROL.
sim_affected() {
  curl -sf "http://$1/scenario" | python3 -c '
import json, sys
for device in json.load(sys.stdin).get("affected_devices", []):
    print(device)'
}

# Target names (in config order, which is device order) of the given device numbers (stdin).
target_names_of() {
  local config="$1"
  awk 'NR == FNR { want[$1] = 1; next }
    /^  - \{name: / { if (want[n]) { split($0, parts, "\""); print parts[2] } n++ }' - "$config"
}

# Rewrites a simulator-written config for a benchmark: MODULES (a YAML flow list) for every
# target, and extra lines (further arguments, indented as they must be) added under `global:`.
poller_config() {
  local config="$1" modules="$2"
  shift 2
  sed -i "s/modules: \[system, if_mib, host_resources, bgp4\]/modules: $modules/" "$config"
  [ $# -gt 0 ] || return 0
  printf '%s\n' "$@" >"$config.add"
  awk -v add="$config.add" '{ print }
    /^  timeout: / && !done { while ((getline line < add) > 0) print line; done = 1 }' "$config" >"$config.new"
  mv "$config.new" "$config"
  rm -f "$config.add"
}

# Starts `ispmonitor serve` on CONFIG with /metrics on a free loopback port and no API (further
# arguments are passed on, e.g. --no-poll).
# Sets POLLER_PID, POLLER_WEB (host:port), POLLER_COMMAND (quoted), POLLER_START (epoch s).
poller_start() {
  local config="$1" logfile="$BENCH_WORK/serve-$(basename "$1" .yml).log"
  POLLER_WEB="127.0.0.1:$(free_tcp_port)"
  shift
  local command=("$BIN" serve --config "$config" --web.listen-address "$POLLER_WEB"
    --api.listen-address none --log.level warn "$@")
  POLLER_COMMAND="$(printf '%q ' "${command[@]}" | sed "s#$BENCH_WORK/#WORK/#g")"
  raise_open_files
  "${command[@]}" >"$logfile" 2>&1 &
  POLLER_PID=$!
  POLLER_START="$(date +%s.%N)"
  bench_track "$POLLER_PID"
  local _
  for _ in $(seq 1 600); do
    kill -0 "$POLLER_PID" 2>/dev/null || { cat "$logfile" >&2; bench_die "poller exited"; }
    curl -sf "http://$POLLER_WEB/-/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  bench_die "poller not ready within a minute"
}

# Scrapes the poller's /metrics as Prometheus does (OpenMetrics, gzip) into FILE, keeping only
# SNAPSHOT_SERIES; prints "BYTES SECONDS" (uncompressed size, wall time of the scrape).
scrape_poller() {
  local file="$1" start end bytes
  start="$(date +%s.%N)"
  curl -sf --compressed -H "Accept: $PROM_ACCEPT" "http://$POLLER_WEB/metrics" |
    tee >(wc -c >"$file.bytes") | LC_ALL=C grep -E "$SNAPSHOT_SERIES" >"$file" || true
  end="$(date +%s.%N)"
  # tee's process substitution may finish a moment after the pipeline.
  local _
  for _ in $(seq 1 50); do [ -s "$file.bytes" ] && break; sleep 0.1; done
  bytes="$(cat "$file.bytes" 2>/dev/null || echo 0)"
  echo "$bytes $(calc '%.3f' "$end - $start")"
}

# One snapshot DIR/snap.K: the time, the poller's CPU seconds and memory, the simulator's
# counters (read first, so the scrape that follows falls inside the next window), then a scrape.
# Arguments: DIR K SIM_CONTROL.
snapshot() {
  local dir="$1" k="$2" control="$3" file="$1/snap.$2" scrape
  {
    echo "time $(date +%s.%N)"
    echo "cpu $(cpu_seconds "$POLLER_PID")"
    echo "hwm_kib $(status_kib "$POLLER_PID" VmHWM)"
    echo "rss_kib $(status_kib "$POLLER_PID" VmRSS)"
    echo "sim_cpu $(cpu_seconds "$SIM_PID")"
    echo "sim_varbinds $(sim_counter "$control" ispmonitor_simulator_varbinds_total)"
    echo "sim_requests $(sim_counter "$control" ispmonitor_simulator_requests_total)"
    # A section may record more at the same moment (a peer's CPU, a second simulator).
    if declare -F snapshot_extra >/dev/null; then snapshot_extra; fi
  } >"$file.meta"
  scrape="$(scrape_poller "$file")"
  echo "scrape_bytes ${scrape% *}" >>"$file.meta"
  echo "scrape_seconds ${scrape#* }" >>"$file.meta"
}

# A field of a snapshot's meta file: meta DIR K FIELD.
meta() { awk -v key="$3" '$1 == key { print $2 }' "$1/snap.$2.meta"; }

# Sleeps until EPOCH (seconds, fractional).
sleep_until() {
  local left
  left="$(calc '%.3f' "$1 - $(date +%s.%N)")"
  awk "BEGIN { exit !($left > 0) }" && sleep "$left"
  return 0
}

# Snapshots at the poller's start + k x INTERVAL + MARGIN for k = 1 .. 1 + WINDOWS: the first
# interval is the warm-up (every target's first poll, cold caches), the next WINDOWS intervals
# are measured, with one scrape per interval. Arguments: DIR INTERVAL_S WINDOWS SIM_CONTROL.
fleet_window() {
  local dir="$1" interval="$2" windows="$3" control="$4" k
  mkdir -p "$dir"
  for k in $(seq 1 $((windows + 1))); do
    sleep_until "$(calc '%.3f' "$POLLER_START + $k * $interval + 2")"
    kill -0 "$POLLER_PID" 2>/dev/null || bench_die "poller died during the run"
    snapshot "$dir" "$k" "$control"
    bench_log "  snapshot $k/$((windows + 1)): cpu $(meta "$dir" "$k" cpu) s, scrape $(meta "$dir" "$k" scrape_bytes) bytes in $(meta "$dir" "$k" scrape_seconds) s"
  done
}

# The Q-quantile of a histogram's increase between two scrapes, as the upper bound of the bucket
# it falls in: hist_quantile Q BEFORE AFTER NAME LABEL_MATCH. Prints "nan" without observations.
hist_quantile() {
  awk -v q="$1" -v name="$4_bucket" -v match_="$5" '
    function le_of(s,   m) { match(s, /le="[^"]*"/); m = substr(s, RSTART + 4, RLENGTH - 5)
      return (m == "+Inf") ? 1e300 : m + 0 }
    { split($1, parts, "{"); if (parts[1] != name || index($1, match_) == 0) next
      le = le_of($1); if (FILENAME == ARGV[1]) before[le] += $2; else after[le] += $2 }
    END { n = 0; for (le in after) bounds[++n] = le + 0
      # insertion sort: a few buckets
      for (i = 2; i <= n; i++) { v = bounds[i]; j = i - 1
        while (j > 0 && bounds[j] > v) { bounds[j + 1] = bounds[j]; j-- } bounds[j + 1] = v }
      total = after[1e300] - before[1e300]
      if (total <= 0) { print "nan"; exit }
      for (i = 1; i <= n; i++) { le = bounds[i]
        if (after[le] - before[le] >= q * total) { print (le >= 1e300 ? "+Inf" : le); exit } } }
  ' "$2" "$3"
}

# The increase of a counter (summed over series matching LABEL_MATCH) between two scrapes.
counter_increase() {
  local before after
  before="$(metric_value "$3" "${4:-}" <"$1")"
  after="$(metric_value "$3" "${4:-}" <"$2")"
  awk -v a="$after" -v b="$before" 'BEGIN { if (a == "nan") print "nan"; else printf "%.0f\n", a - (b == "nan" ? 0 : b) }'
}

# Values of a per-target gauge (series matching LABEL_MATCH) in the given scrapes, one per line,
# leaving out targets listed in EXCLUDE (a file of names, may be empty).
# Arguments: NAME LABEL_MATCH EXCLUDE FILE...
gauge_samples() {
  local name="$1" match_="$2" exclude="$3"
  shift 3
  awk -v name="$name" -v match_="$match_" '
    FILENAME == ARGV[1] { skip["target=\"" $0 "\""] = 1; next }
    { split($1, parts, "{"); if (parts[1] != name || index($1, match_) == 0) next
      if (match($1, /target="[^"]*"/) && (substr($1, RSTART, RLENGTH) in skip)) next
      print $2 }' "$exclude" "$@"
}

# The Q-quantile of numbers on stdin (nearest rank); "nan" when there are none.
sample_quantile() {
  sort -g | awk -v q="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
    r = int(q * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }'
}

# The mean of numbers on stdin; "nan" when there are none.
sample_mean() {
  awk '{ s += $1 } END { if (NR == 0) print "nan"; else printf "%.4f\n", s / NR }'
}

# Seconds (fractional) in ms, for tables.
ms() { awk -v s="$1" 'BEGIN { if (s == "nan" || s == "") print "n/a"; else if (s == "+Inf") print "inf"; else printf "%.0f", s * 1000 }'; }

# PASS when the awk condition holds, FAIL otherwise, n/a when it mentions nan.
verdict() {
  case "$1" in *nan* | *n/a* | *inf*) echo "n/a"; return ;; esac
  if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi
}

# Starts Debian's snmp_exporter with bench/snmp_exporter.yml on a free port; sets SE_PID, SE_WEB.
se_start() {
  command -v "$SNMP_EXPORTER" >/dev/null || bench_die "$SNMP_EXPORTER missing: bash scripts/install-peers.sh"
  SE_WEB="127.0.0.1:$(free_tcp_port)"
  "$SNMP_EXPORTER" --config.file="$SNMP_EXPORTER_CONFIG" --web.listen-address="$SE_WEB" \
    --log.level=error >"$BENCH_WORK/snmp_exporter.log" 2>&1 &
  SE_PID=$!
  bench_track "$SE_PID"
  local _
  for _ in $(seq 1 300); do
    kill -0 "$SE_PID" 2>/dev/null || { cat "$BENCH_WORK/snmp_exporter.log" >&2; bench_die "snmp_exporter exited"; }
    curl -sf "http://$SE_WEB/metrics" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  bench_die "snmp_exporter not ready"
}

# The version line of the snmp_exporter in use.
se_version() { "$SNMP_EXPORTER" --version 2>&1 | awk 'NR == 1 { print $3 }'; }

# Scrapes snmp_exporter once for each of DEVICES devices starting at FIRST:PORT, PARALLEL at a
# time, as Prometheus would (the driver is curl and xargs; its CPU is not counted). Appends
# "HTTP_CODE SECONDS" per scrape to OUT. Arguments: FIRST PORT DEVICES PARALLEL OUT.
se_scrape_round() {
  fleet_endpoints "$1" "$2" "$3" |
    xargs -P "$4" -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --compressed \
      -H "Accept: $PROM_ACCEPT" "http://$SE_WEB/snmp?target={}&module=$SNMP_EXPORTER_MODULE" >>"$5"
}

# One fleet run: DEVICES simulated routers (48 interfaces), the poller on [system, if_mib] every
# INTERVAL_S seconds, a warm-up interval, then WINDOWS measured intervals; fills FIG (see
# fleet_figures) and stops what it started. Arguments: NAME DEVICES INTERVAL_S WINDOWS VERSION
# [more simulate flags...]. FLEET_EXCLUDE_DEVICES (0-based device numbers, comma-separated)
# leaves those targets out of the per-target figures; by default the scenario's affected devices.
fleet_run() {
  local name="$1" devices="$2" interval="$3" windows="$4" version="$5"
  shift 5
  bench_log "$name: $devices devices, SNMP $version, every ${interval}s, $windows measured interval(s)"
  sim_start "$name" "$devices" "${interval}s" 5s "$version" "$@"
  FLEET_SIM_COMMAND="$SIM_COMMAND"
  FLEET_DIR="$BENCH_WORK/run-$name"
  mkdir -p "$FLEET_DIR"
  if [ -n "${FLEET_EXCLUDE_DEVICES:-}" ]; then
    tr ',' '\n' <<<"$FLEET_EXCLUDE_DEVICES"
  else
    sim_affected "$SIM_CONTROL"
  fi | target_names_of "$SIM_CONFIG" >"$FLEET_DIR/excluded"
  FLEET_AFFECTED_DEVICES="$(sim_affected "$SIM_CONTROL" | paste -sd, -)"
  poller_config "$SIM_CONFIG" "[system, if_mib]"
  poller_start "$SIM_CONFIG"
  FLEET_POLLER_COMMAND="$POLLER_COMMAND"
  fleet_window "$FLEET_DIR" "$interval" "$windows" "$SIM_CONTROL"
  fleet_figures "$FLEET_DIR" 1 $((windows + 1)) "$devices"
  bench_stop "$POLLER_PID"
  bench_stop "$SIM_PID"
}

# Figures between snapshots A and B of DIR into the global array FIG: wall_s, cpu_s, cores,
# hwm_mib, varbinds, varbinds_per_s, ns_per_varbind, requests, polls, requests_per_poll,
# success_ratio, skipped, lag_p50/lag_p99 (bucket upper bounds), duration_p50/p99 and
# up_ratio (per-target samples, excluded targets left out), scrape_s and scrape_mib (mean),
# sim_cores. Arguments: DIR A B DEVICES.
declare -A FIG
fleet_figures() {
  local dir="$1" a="$2" b="$3" devices="$4" later=() k
  FIG=()
  for k in $(seq $((a + 1)) "$b"); do later+=("$dir/snap.$k"); done
  local first="$dir/snap.$a" last="$dir/snap.$b"
  FIG[devices]="$devices"
  FIG[wall_s]="$(calc '%.1f' "$(meta "$dir" "$b" time) - $(meta "$dir" "$a" time)")"
  FIG[cpu_s]="$(calc '%.2f' "$(meta "$dir" "$b" cpu) - $(meta "$dir" "$a" cpu)")"
  FIG[cores]="$(calc '%.3f' "${FIG[cpu_s]} / ${FIG[wall_s]}")"
  FIG[sim_cores]="$(calc '%.2f' "($(meta "$dir" "$b" sim_cpu) - $(meta "$dir" "$a" sim_cpu)) / ${FIG[wall_s]}")"
  FIG[hwm_mib]="$(calc '%.0f' "$(meta "$dir" "$b" hwm_kib) / 1024")"
  FIG[varbinds]="$(calc '%.0f' "$(meta "$dir" "$b" sim_varbinds) - $(meta "$dir" "$a" sim_varbinds)")"
  FIG[requests]="$(calc '%.0f' "$(meta "$dir" "$b" sim_requests) - $(meta "$dir" "$a" sim_requests)")"
  FIG[varbinds_per_s]="$(calc '%.0f' "${FIG[varbinds]} / ${FIG[wall_s]}")"
  FIG[ns_per_varbind]="$(awk -v c="${FIG[cpu_s]}" -v v="${FIG[varbinds]}" 'BEGIN { if (v > 0) printf "%.0f", c * 1e9 / v; else print "nan" }')"
  FIG[polls]="$(counter_increase "$first" "$last" ispmonitor_polls_total 'protocol="snmp"')"
  local success
  success="$(counter_increase "$first" "$last" ispmonitor_polls_total 'result="success"')"
  FIG[success_ratio]="$(awk -v s="$success" -v p="${FIG[polls]}" 'BEGIN { if (p > 0) printf "%.4f", s / p; else print "nan" }')"
  FIG[requests_per_poll]="$(awk -v r="${FIG[requests]}" -v p="${FIG[polls]}" 'BEGIN { if (p > 0) printf "%.1f", r / p; else print "nan" }')"
  FIG[skipped]="$(counter_increase "$first" "$last" ispmonitor_polls_skipped_total 'protocol="snmp"')"
  FIG[lag_p50]="$(hist_quantile 0.5 "$first" "$last" ispmonitor_poll_schedule_lag_seconds 'protocol="snmp"')"
  FIG[lag_p99]="$(hist_quantile 0.99 "$first" "$last" ispmonitor_poll_schedule_lag_seconds 'protocol="snmp"')"
  FIG[duration_p50]="$(gauge_samples ispmonitor_target_poll_duration_seconds 'protocol="snmp"' "$dir/excluded" "${later[@]}" | sample_quantile 0.5)"
  FIG[duration_p99]="$(gauge_samples ispmonitor_target_poll_duration_seconds 'protocol="snmp"' "$dir/excluded" "${later[@]}" | sample_quantile 0.99)"
  FIG[up_ratio]="$(gauge_samples ispmonitor_target_up 'protocol="snmp"' "$dir/excluded" "${later[@]}" | sample_mean)"
  FIG[samples]="$(gauge_samples ispmonitor_target_up 'protocol="snmp"' "$dir/excluded" "${later[@]}" | wc -l)"
  FIG[scrape_s]="$(for k in $(seq "$a" $((b - 1))); do meta "$dir" "$k" scrape_seconds; done | sample_mean)"
  FIG[scrape_mib]="$(for k in $(seq "$a" $((b - 1))); do meta "$dir" "$k" scrape_bytes; done | awk '{ s += $1 } END { printf "%.1f", s / NR / 1048576 }')"
  FIG[engine_discoveries]="$(metric_value ispmonitor_snmp_engine_discoveries_total <"$last")"
}

# Replaces the chart-data rows of one KIND (first column) in docs/benchmarks/fleet.tsv with the
# rows in FILE. Quick runs leave the data alone, like the docs.
update_chart_data() {
  local kind="$1" rows="$2" data=docs/benchmarks/fleet.tsv
  [ "$BENCH_QUICK" != 1 ] || return 0
  mkdir -p "$(dirname "$data")"
  { [ -f "$data" ] && grep -v "^$kind	" "$data" || true; cat "$rows"; } >"$data.new"
  mv "$data.new" "$data"
}
