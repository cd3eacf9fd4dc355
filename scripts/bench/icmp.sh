#!/usr/bin/env bash
#! ICMP at scale: ispmonitor pinging 10,000 loopback targets once per second (one echo request
#! per target per 1 s poll), its CPU from /proc, replies and loss; fping pinging the same targets
#! at the same time, to compare RTT distributions; blackbox_exporter's icmp prober driven at the
#! same targets through /probe (curl --parallel, as fast as it serves), for its CPU per probe.
#!
#!   cargo build --release --bin ispmonitor
#!   bash scripts/bench/icmp.sh                 # about 4 minutes
#!   BENCH_QUICK=1 bash scripts/bench/icmp.sh   # 2,000 targets, 10 s phases; docs left alone
#!
#! Needs root (RAW sockets for fping and, unless ping_group_range is open, for ispmonitor).
#! Every program listens on a free port; what the script starts it stops by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh

if [ "$BENCH_QUICK" = 1 ]; then
  TARGETS=2000
  SECONDS_PER_PHASE=10
  BLACKBOX_SECONDS=10
else
  TARGETS=10000
  SECONDS_PER_PHASE=60
  BLACKBOX_SECONDS=30
fi
WARMUP_SECONDS=5
TARGET_CORES=0.2
TARGET_RTT_DIFF_US=50
BLACKBOX=/usr/bin/prometheus-blackbox-exporter
RTT_BOUNDS="0.00005 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01"

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"
command -v fping >/dev/null || bench_die "fping missing: bash scripts/install-peers.sh"
[ -x "$BLACKBOX" ] || bench_die "$BLACKBOX missing: bash scripts/install-peers.sh"
[ "$(id -u)" = 0 ] || bench_die "run as root (RAW ICMP sockets)"

bench_init
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BLOCK="$(free_loopback_block)"

# --- targets and config -------------------------------------------------------------------------
# 127.BLOCK.0.1 .. : 250 addresses per third octet, all answered by the kernel.
write_targets() {
  awk -v n="$TARGETS" -v b="$BLOCK" 'BEGIN { for (i = 0; i < n; i++) printf "127.%d.%d.%d\n", b, int(i / 250), i % 250 + 1 }' \
    >"$BENCH_WORK/targets.txt"
}

# One poll per second per target, one echo request per poll: "pinged once per second".
write_config() {
  local port="$1"
  {
    echo "global: {interval: 1s, timeout: 900ms, max_concurrent_polls: $((TARGETS * 2))}"
    echo "web: {listen_address: \"127.0.0.1:$port\"}"
    echo "modules:"
    echo "  ping1: {type: icmp, count: 1, timeout: 800ms}"
    echo "targets:"
    awk '{ printf "  - {name: h%d, address: \"%s\", kind: host, modules: [ping1]}\n", NR, $1 }' "$BENCH_WORK/targets.txt"
  } >"$BENCH_WORK/ispmonitor.yaml"
}

# Starts ispmonitor; sets OURS_PID and OURS_URL. Extra environment in $@ (e.g. RUST_LOG=...).
start_ours() {
  local port
  port="$(free_tcp_port)"
  write_config "$port"
  OURS_URL="http://127.0.0.1:$port"
  OURS_COMMAND=("$BIN" serve --config "$BENCH_WORK/ispmonitor.yaml" --api.listen-address none --log.level warn)
  env "$@" "${OURS_COMMAND[@]}" >"$BENCH_WORK/ours.log" 2>&1 &
  OURS_PID=$!
  bench_track "$OURS_PID"
  for _ in $(seq 1 300); do
    kill -0 "$OURS_PID" 2>/dev/null || { tail -20 "$BENCH_WORK/ours.log" >&2; bench_die "ispmonitor exited"; }
    curl -sf "$OURS_URL/metrics" -o /dev/null && return
    sleep 0.1
  done
  bench_die "ispmonitor did not serve /metrics"
}

scrape() { curl -sf "$OURS_URL/metrics"; }

# Sums of the ICMP families over every target: requests replies sum count bucket(bound)...
icmp_totals() {
  awk -v bounds="$RTT_BOUNDS" '
    BEGIN { nb = split(bounds, b, " ") }
    /^ispmonitor_icmp_requests_total\{/ { req += $NF }
    /^ispmonitor_icmp_replies_total\{/ { rep += $NF }
    /^ispmonitor_icmp_rtt_seconds_sum\{/ { sum += $NF }
    /^ispmonitor_icmp_rtt_seconds_count\{/ { cnt += $NF }
    /^ispmonitor_icmp_rtt_seconds_bucket\{/ {
      match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
      for (i = 1; i <= nb; i++) if (le + 0 == b[i] + 0) bucket[i] += $NF }
    END { printf "%d %d %.9f %d", req, rep, sum, cnt; for (i = 1; i <= nb; i++) printf " %d", bucket[i]; print "" }'
}

# --- phase 1: ours alone --------------------------------------------------------------------------
# utime and stime (seconds) of a process, apart: on loopback the kernel answers our echo
# requests inside our own sendto, so part of the system time is the "remote" host's work.
user_system_seconds() {
  local stat
  stat="$(cat "/proc/$1/stat")"
  awk -v tck="$TICKS_PER_SECOND" '{ printf "%.2f %.2f", $12 / tck, $13 / tck }' <<<"${stat##*) }"
}

measure_ours_alone() {
  start_ours
  sleep "$WARMUP_SECONDS"
  local cpu0 cpu1 before after us0 us1
  before="$(scrape | icmp_totals)"
  cpu0="$(cpu_seconds "$OURS_PID")"
  us0="$(user_system_seconds "$OURS_PID")"
  sleep "$SECONDS_PER_PHASE"
  cpu1="$(cpu_seconds "$OURS_PID")"
  us1="$(user_system_seconds "$OURS_PID")"
  ALONE_USER="$(calc '%.2f' "$(cut -d' ' -f1 <<<"$us1") - $(cut -d' ' -f1 <<<"$us0")")"
  ALONE_SYSTEM="$(calc '%.2f' "$(cut -d' ' -f2 <<<"$us1") - $(cut -d' ' -f2 <<<"$us0")")"
  after="$(scrape | icmp_totals)"
  ALONE_CPU="$(calc '%.2f' "$cpu1 - $cpu0")"
  ALONE_CORES="$(calc '%.3f' "$ALONE_CPU / $SECONDS_PER_PHASE")"
  ALONE_RSS_MIB="$(calc '%.1f' "$(status_kib "$OURS_PID" VmRSS) / 1024")"
  read -r ALONE_REQUESTS ALONE_REPLIES _ <<<"$(delta "$before" "$after")"
  ALONE_LOSS="$(calc '%.4f' "100 * (1 - $ALONE_REPLIES / ($ALONE_REQUESTS > 0 ? $ALONE_REQUESTS : 1))")"
  ALONE_RATE="$(calc '%.0f' "$ALONE_REQUESTS / $SECONDS_PER_PHASE")"
  ALONE_CPU_PER_ECHO_US="$(calc '%.1f' "1e6 * $ALONE_CPU / ($ALONE_REQUESTS > 0 ? $ALONE_REQUESTS : 1)")"
  bench_stop "$OURS_PID"
}

# Field-wise after - before of two icmp_totals lines.
delta() { paste -d' ' <(tr ' ' '\n' <<<"$2") <(tr ' ' '\n' <<<"$1") | awk '{ printf "%s ", $1 - $2 } END { print "" }'; }

# --- phase 2: ours and fping together, same targets, same seconds ---------------------------------
# Ours logs every RTT here (the ispmonitor::icmp_rtt trace target), so its quantiles are exact
# like fping's; the histogram gives the same mean.
measure_with_fping() {
  start_ours RUST_LOG=warn,ispmonitor::icmp_rtt=trace
  sleep "$WARMUP_SECONDS"
  local cpu0 cpu1 before after log_start log_end
  # fping: one request per target every 1000 ms, at most 20 µs between two sends, per-target
  # RTTs printed at the end (-C). fping 5.1 keeps each of its 65,535 sequence numbers for 10 s,
  # so one process pings at most about 6,500 targets a second ("not enough sequence numbers
  # available"): the targets are split over processes of 5,000.
  local parts=$(((TARGETS + 4999) / 5000)) part pids=()
  split -n "l/$parts" -d "$BENCH_WORK/targets.txt" "$BENCH_WORK/fping-targets."
  FPING_COMMAND=(fping -C "$SECONDS_PER_PHASE" -p 1000 -i 0.02 -t 800 -q -f)
  before="$(scrape | icmp_totals)"
  cpu0="$(cpu_seconds "$OURS_PID")"
  log_start="$(wc -l <"$BENCH_WORK/ours.log")"
  for part in "$BENCH_WORK"/fping-targets.*; do
    (
      TIMEFORMAT='%U %S'
      { time "${FPING_COMMAND[@]}" "$part" 2>"$part.out"; } 2>"$part.time" || true
    ) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  cat "$BENCH_WORK"/fping-targets.*.out >"$BENCH_WORK/fping.out"
  FPING_PROCESSES="$parts"
  log_end="$(wc -l <"$BENCH_WORK/ours.log")"
  cpu1="$(cpu_seconds "$OURS_PID")"
  after="$(scrape | icmp_totals)"
  sed -n "$((log_start + 1)),${log_end}p" "$BENCH_WORK/ours.log" |
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^rtt_ns=/) print substr($i, 8) / 1e9 }' |
    sort -g >"$BENCH_WORK/ours.rtts"
  rm -f "$BENCH_WORK/ours.log"
  WITH_FPING_CPU="$(calc '%.2f' "$cpu1 - $cpu0")"
  FPING_CPU="$(cat "$BENCH_WORK"/fping-targets.*.time | awk '{ s += $1 + $2 } END { printf "%.2f", s }')"
  read -r -a OURS_DELTA <<<"$(delta "$before" "$after")"
  bench_stop "$OURS_PID"
  # fping's per-target lines "ADDR : 0.03 0.02 - ..." (ms; "-" is a loss).
  awk -F' : ' '{ n = split($2, v, " "); for (i = 1; i <= n; i++) if (v[i] != "-") print v[i] / 1000 }' \
    "$BENCH_WORK/fping.out" | sort -g >"$BENCH_WORK/fping.rtts"
  FPING_SENT="$(awk -F' : ' '{ n = split($2, v, " "); s += n } END { print s + 0 }' "$BENCH_WORK/fping.out")"
  FPING_REPLIES="$(wc -l <"$BENCH_WORK/fping.rtts")"
}

file_mean() { awk '{ s += $1 } END { printf "%.9f", s / (NR > 0 ? NR : 1) }' "$1"; }

# The q-quantile of a sorted file of seconds.
file_quantile() { awk -v q="$2" '{ v[NR] = $1 } END { i = int(q * NR); if (i < 1) i = 1; printf "%.9f", v[i] }' "$1"; }

# Share of fping's RTTs at or under each bound, as cumulative counts like ours.
fping_buckets() {
  local bound
  for bound in $RTT_BOUNDS; do
    awk -v bound="$bound" '$1 <= bound { n++ } END { printf "%d ", n }' "$BENCH_WORK/fping.rtts"
  done
}

# --- phase 3: blackbox_exporter's icmp prober, driven through /probe over the same targets ------
# curl fetches one /probe URL per target, 128 at a time over kept-alive connections, round
# after round until the time is up: as many probes as blackbox_exporter can serve, so the figure
# to compare is its CPU per probe (and the cores 10,000 probes a second would take).
measure_blackbox() {
  local port
  port="$(free_tcp_port)"
  printf '%s\n' 'modules:' '  icmp:' '    prober: icmp' '    timeout: 800ms' '    icmp:' \
    '      preferred_ip_protocol: ip4' >"$BENCH_WORK/blackbox.yml"
  BLACKBOX_COMMAND=("$BLACKBOX" --config.file "$BENCH_WORK/blackbox.yml" --web.listen-address "127.0.0.1:$port" --log.level error)
  "${BLACKBOX_COMMAND[@]}" >"$BENCH_WORK/blackbox.log" 2>&1 &
  BLACKBOX_PID=$!
  bench_track "$BLACKBOX_PID"
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/metrics" -o /dev/null && break; sleep 0.1; done
  awk -v port="$port" '{ printf "url = \"http://127.0.0.1:%s/probe?module=icmp&target=%s\"\n", port, $1 }' \
    "$BENCH_WORK/targets.txt" >"$BENCH_WORK/urls.cfg"
  LOAD_COMMAND=(curl -s --parallel --parallel-max 128 -K "$BENCH_WORK/urls.cfg")
  local cpu0 cpu1 start end probes=0 succeeded=0 round
  cpu0="$(cpu_seconds "$BLACKBOX_PID")"
  start="$(date +%s.%N)"
  end="$(calc '%.3f' "$start + $BLACKBOX_SECONDS")"
  while awk -v now="$(date +%s.%N)" -v end="$end" 'BEGIN { exit !(now < end) }'; do
    round="$("${LOAD_COMMAND[@]}" 2>/dev/null | grep -c '^probe_success 1' || true)"
    succeeded=$((succeeded + round))
    probes=$((probes + TARGETS))
  done
  BLACKBOX_ELAPSED="$(calc '%.3f' "$(date +%s.%N) - $start")"
  cpu1="$(cpu_seconds "$BLACKBOX_PID")"
  BLACKBOX_CPU="$(calc '%.2f' "$cpu1 - $cpu0")"
  BLACKBOX_PROBES="$succeeded"
  BLACKBOX_FAILED=$((probes - succeeded))
  BLACKBOX_RATE="$(calc '%.0f' "$probes / $BLACKBOX_ELAPSED")"
  BLACKBOX_CPU_PER_PROBE_US="$(calc '%.1f' "1e6 * $BLACKBOX_CPU / ($probes > 0 ? $probes : 1)")"
  BLACKBOX_CORES_AT_TARGET="$(calc '%.2f' "$BLACKBOX_CPU_PER_PROBE_US * $TARGETS / 1e6")"
  bench_stop "$BLACKBOX_PID"
}


verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
us() { calc '%.1f' "$1 * 1e6"; }
absdiff_us() { awk -v a="$1" -v b="$2" 'BEGIN { d = (a - b) * 1e6; if (d < 0) d = -d; printf "%.1f", d }'; }

report() {
  local requests="${OURS_DELTA[0]}" replies="${OURS_DELTA[1]}" sum="${OURS_DELTA[2]}" count="${OURS_DELTA[3]}"
  local ours_counts="$count ${OURS_DELTA[*]:4}"
  local fping_counts
  fping_counts="$FPING_REPLIES $(fping_buckets)"
  local ours_mean fping_mean histogram_mean
  histogram_mean="$(calc '%.9f' "$sum / ($count > 0 ? $count : 1)")"
  ours_mean="$(file_mean "$BENCH_WORK/ours.rtts")"
  fping_mean="$(file_mean "$BENCH_WORK/fping.rtts")"
  local q worst_diff=0
  declare -A OURS_Q FPING_Q
  for q in 0.5 0.9 0.99; do
    OURS_Q[$q]="$(file_quantile "$BENCH_WORK/ours.rtts" "$q")"
    FPING_Q[$q]="$(file_quantile "$BENCH_WORK/fping.rtts" "$q")"
  done
  local mean_diff p50_diff p90_diff p99_diff
  mean_diff="$(absdiff_us "$ours_mean" "$fping_mean")"
  p50_diff="$(absdiff_us "${OURS_Q[0.5]}" "${FPING_Q[0.5]}")"
  p90_diff="$(absdiff_us "${OURS_Q[0.9]}" "${FPING_Q[0.9]}")"
  p99_diff="$(absdiff_us "${OURS_Q[0.99]}" "${FPING_Q[0.99]}")"
  worst_diff="$(printf '%s\n' "$mean_diff" "$p50_diff" "$p90_diff" "$p99_diff" | sort -g | tail -1)"
  local ours_loss fping_loss
  ours_loss="$(calc '%.3f' "100 * (1 - $replies / ($requests > 0 ? $requests : 1))")"
  fping_loss="$(calc '%.3f' "100 * (1 - $FPING_REPLIES / ($FPING_SENT > 0 ? $FPING_SENT : 1))")"
  cat <<EOF
## ICMP: $TARGETS targets pinged once per second

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine)
- Revision: $(bench_revision); peers: $(fping -v 2>&1 | head -1), $("$BLACKBOX" --version 2>&1 | head -1 | cut -d' ' -f1-3)
- Command: \`bash scripts/bench/icmp.sh\`
- Load: $TARGETS loopback targets (127.$BLOCK.0.1 ..), each polled every 1 s with one echo request
  (\`type: icmp, count: 1, timeout: 800ms\`), ${SECONDS_PER_PHASE} s per phase after ${WARMUP_SECONDS} s of warm-up;
  CPU is utime + stime of the whole process from /proc/PID/stat.

### CPU

| program | phase | echo requests/s | CPU s | cores | CPU µs per echo | loss % |
|---|---|---:|---:|---:|---:|---:|
| ispmonitor | alone | $ALONE_RATE | $ALONE_CPU | $ALONE_CORES | $ALONE_CPU_PER_ECHO_US | $ALONE_LOSS |
| ispmonitor | with fping running, RTT trace logged | $(calc '%.0f' "$requests / $SECONDS_PER_PHASE") | $WITH_FPING_CPU | $(calc '%.3f' "$WITH_FPING_CPU / $SECONDS_PER_PHASE") | $(calc '%.1f' "1e6 * $WITH_FPING_CPU / ($requests > 0 ? $requests : 1)") | $ours_loss |
| fping $(fping -v 2>&1 | awk '{ print $3 }') ($FPING_PROCESSES processes) | with ispmonitor running | $(calc '%.0f' "$FPING_SENT / $SECONDS_PER_PHASE") | $FPING_CPU | $(calc '%.3f' "$FPING_CPU / $SECONDS_PER_PHASE") | $(calc '%.1f' "1e6 * $FPING_CPU / ($FPING_SENT > 0 ? $FPING_SENT : 1)") | $fping_loss |
| blackbox_exporter (/probe) | alone, as fast as it serves | $BLACKBOX_RATE | $BLACKBOX_CPU | $(calc '%.3f' "$BLACKBOX_CPU / $BLACKBOX_ELAPSED") | $BLACKBOX_CPU_PER_PROBE_US | $(calc '%.3f' "100 * $BLACKBOX_FAILED / (($BLACKBOX_PROBES + $BLACKBOX_FAILED) > 0 ? ($BLACKBOX_PROBES + $BLACKBOX_FAILED) : 1)") |

ispmonitor alone: $ALONE_USER s user, $ALONE_SYSTEM s system (on loopback the kernel builds each
reply inside our sendto, so that work is counted here too; fping pays it the same way). Resident
memory with $TARGETS targets: $ALONE_RSS_MIB MiB. blackbox_exporter served
$BLACKBOX_RATE probes/s on this machine (curl, not counted, shares the 2 cores); at $TARGETS probes/s it
would need about $BLACKBOX_CORES_AT_TARGET cores (its CPU per probe times the rate).

| ratio | value |
|---|---:|
| CPU per echo, fping / ispmonitor (same run) | $(calc '%.2f' "($FPING_CPU / ($FPING_SENT > 0 ? $FPING_SENT : 1)) / ($WITH_FPING_CPU / ($requests > 0 ? $requests : 1))") |
| CPU per echo, blackbox_exporter / ispmonitor alone | $(calc '%.1f' "$BLACKBOX_CPU_PER_PROBE_US / $ALONE_CPU_PER_ECHO_US") |

### RTT, ispmonitor and fping over the same ${SECONDS_PER_PHASE} s

Ours from the per-reply trace (\`RUST_LOG=ispmonitor::icmp_rtt=trace\`, every RTT the histogram
recorded), fping's from its per-target \`-C\` output (printed to the µs); all quantiles exact. The
histogram's own mean (_sum / _count over the phase) was $(us "$histogram_mean") µs. Our tail is
wider than fping's only while fping runs: on loopback the kernel answers a request inside the
sender's \`sendto\`, and before answering ours it hands a copy to fping's unfiltered RAW sockets
and wakes fping, while fping's requests reach our RAW socket only as far as its BPF filter. A
process that merely reads a RAW ICMP socket does the same to our RTTs (see CHANGELOG).

| statistic | ispmonitor | fping | difference |
|---|---:|---:|---:|
| replies | $(wc -l <"$BENCH_WORK/ours.rtts") | $FPING_REPLIES | |
| mean | $(us "$ours_mean") µs | $(us "$fping_mean") µs | $mean_diff µs |
| p50 | $(us "${OURS_Q[0.5]}") µs | $(us "${FPING_Q[0.5]}") µs | $p50_diff µs |
| p90 | $(us "${OURS_Q[0.9]}") µs | $(us "${FPING_Q[0.9]}") µs | $p90_diff µs |
| p99 | $(us "${OURS_Q[0.99]}") µs | $(us "${FPING_Q[0.99]}") µs | $p99_diff µs |

| share of replies at or under (histogram buckets) | ispmonitor | fping |
|---|---:|---:|
EOF
  local i=1 bound
  local -a ours_c fping_c
  read -r -a ours_c <<<"$ours_counts"
  read -r -a fping_c <<<"$fping_counts"
  for bound in $RTT_BOUNDS; do
    echo "| $(us "$bound") µs | $(calc '%.1f' "100 * ${ours_c[$i]} / (${ours_c[0]} > 0 ? ${ours_c[0]} : 1)") % | $(calc '%.1f' "100 * ${fping_c[$i]} / (${fping_c[0]} > 0 ? ${fping_c[0]} : 1)") % |"
    i=$((i + 1))
  done
  cat <<EOF

### Targets

| target | measured | result |
|---|---|---|
| $TARGETS targets once per second on at most $TARGET_CORES core | $ALONE_CORES cores ($ALONE_RATE echo/s) | $(verdict "$ALONE_CORES <= $TARGET_CORES && $ALONE_RATE >= 0.99 * $TARGETS") |
| RTTs within $TARGET_RTT_DIFF_US µs of fping (mean, p50, p90, p99) | largest difference $worst_diff µs | $(verdict "$worst_diff <= $TARGET_RTT_DIFF_US") |

### Exact commands

\`\`\`sh
$(printf '%q ' "${OURS_COMMAND[@]}" | sed "s#$BENCH_WORK#DIR#g")  # DIR/ispmonitor.yaml: see write_config
$(printf '%q ' "${FPING_COMMAND[@]}")DIR/fping-targets.NN  # one per 5,000 targets, at the same time as a second ispmonitor run
$(printf '%q ' "${BLACKBOX_COMMAND[@]}" | sed "s#$BENCH_WORK#DIR#g")
$(printf '%q ' "${LOAD_COMMAND[@]}" | sed "s#$BENCH_WORK#DIR#g")
\`\`\`
EOF
}

write_targets
bench_log "ispmonitor alone: $TARGETS targets, ${SECONDS_PER_PHASE} s"
measure_ours_alone
bench_log "ispmonitor with fping: ${SECONDS_PER_PHASE} s"
measure_with_fping
bench_log "blackbox_exporter: ${BLACKBOX_SECONDS} s"
measure_blackbox
report >"$BENCH_WORK/section.md"
cat "$BENCH_WORK/section.md"
write_section icmp "$BENCH_WORK/section.md"
