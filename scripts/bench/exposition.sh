#!/usr/bin/env bash
#! Benchmark section `exposition`: CPU seconds per `/metrics` scrape of ~1,000,000 series, bytes,
#! memory per stored series, and VmRSS after 1, 10 and 50 scrapes (no per-scrape growth).
#!
#!   cargo build --release --bin ispmonitor --example exposition_bench
#!   bash scripts/bench/exposition.sh                # 1,700 routers x 48 interfaces, ~1.0 M series
#!   BENCH_QUICK=1 bash scripts/bench/exposition.sh  # 100 routers, fewer scrapes; docs left alone
#!
#! Data comes through the real poller path: `ispmonitor simulate` serves the fleet, and the driver
#! `examples/exposition_bench.rs` polls every router twice with the production SNMP pollers into
#! the results store, then serves the exporter's own router. It does not keep polling (as
#! `ispmonitor serve` would), so all the CPU it uses afterwards is the scrapes'. The simulator
#! is stopped before the scrapes.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh

# --- settings ---------------------------------------------------------------------------------
if [ "$BENCH_QUICK" = 1 ]; then
  DEVICES=100
  SCRAPES=12
else
  DEVICES=1700
  SCRAPES=50
fi
INTERFACES=48
# Extra scrapes per variant (OpenMetrics, gzip) after the classic-text series.
VARIANT_SCRAPES=5
TARGET_SERIES=1000000
TARGET_CPU_SECONDS=0.25
STREAM_LIMIT_MIB=16
DRIVER="${BENCH_DRIVER:-target/release/examples/exposition_bench}"

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"
[ -x "$DRIVER" ] || bench_die "$DRIVER missing: cargo build --release --example exposition_bench"
command -v curl >/dev/null || bench_die "curl missing"
command -v snmpget >/dev/null || bench_die "snmpget missing (scripts/install-peers.sh)"
bench_init

# --- helpers ----------------------------------------------------------------------------------

# The address `offset` places after an IPv4 address.
ipv4_plus() {
  awk -F. -v n="$2" '{
      x = (($1 * 256 + $2) * 256 + $3) * 256 + $4 + n
      printf "%d.%d.%d.%d", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256
    }' <<<"$1"
}

# Waits until an agent answers a v2c GET of sysUpTime.
wait_agent() {
  local pid="$1" endpoint="$2" logfile="$3"
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; bench_die "simulator exited"; }
    snmpget -v2c -c public -m '' -t 0.2 -r 0 "$endpoint" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && return
    sleep 0.1
  done
  bench_die "agent at $endpoint did not answer within a minute"
}

# Waits until a process's log has a line starting with `prefix` and prints that line.
wait_line() {
  local pid="$1" logfile="$2" prefix="$3"
  for _ in $(seq 1 3000); do
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; bench_die "process $pid exited"; }
    if grep -q "^$prefix" "$logfile"; then
      grep -m1 "^$prefix" "$logfile"
      return
    fi
    sleep 0.2
  done
  bench_die "no '$prefix' line from $pid within 10 minutes"
}

# One scrape to /dev/null; extra curl arguments (headers) are passed through.
scrape() { curl -sf -o /dev/null "$@" "$METRICS_URL"; }

# Average CPU seconds per scrape over `count` scrapes (extra arguments go to curl).
cpu_per_scrape() {
  local count="$1" before after
  shift
  before="$(cpu_seconds "$DRIVER_PID")"
  for _ in $(seq 1 "$count"); do scrape "$@"; done
  after="$(cpu_seconds "$DRIVER_PID")"
  calc '%.3f' "($after - $before) / $count"
}

# --- run --------------------------------------------------------------------------------------
BLOCK="$(free_loopback_block)"
FIRST="127.$BLOCK.0.1"
SNMP_PORT="$(free_udp_port)"
HTTP_PORT="$(free_tcp_port)"
METRICS_URL="http://127.0.0.1:$HTTP_PORT/metrics"
FLEET="$BENCH_WORK/fleet.yaml"

SIM_CMD=("$BIN" simulate --devices "$DEVICES" --interfaces "$INTERFACES" --listen "$FIRST"
  --port "$SNMP_PORT" --control.listen-address none --write-config "$FLEET")
bench_log "starting ${SIM_CMD[*]}"
"${SIM_CMD[@]}" >"$BENCH_WORK/simulate.log" 2>&1 &
SIM_PID=$!
bench_track "$SIM_PID"
wait_agent "$SIM_PID" "$(ipv4_plus "$FIRST" $((DEVICES - 1))):$SNMP_PORT" "$BENCH_WORK/simulate.log"

DRIVER_CMD=("$DRIVER" --config "$FLEET" --listen "127.0.0.1:$HTTP_PORT")
bench_log "starting ${DRIVER_CMD[*]}"
"${DRIVER_CMD[@]}" >"$BENCH_WORK/driver.log" 2>&1 &
DRIVER_PID=$!
bench_track "$DRIVER_PID"
FILLED="$(wait_line "$DRIVER_PID" "$BENCH_WORK/driver.log" filled)"
wait_line "$DRIVER_PID" "$BENCH_WORK/driver.log" serving >/dev/null
bench_log "$FILLED"
bench_stop "$SIM_PID"

RSS_FILLED="$(status_kib "$DRIVER_PID" VmRSS)"
# Reset the peak (VmHWM) so it covers the scrapes only, not the polls that filled the store.
echo 5 >"/proc/$DRIVER_PID/clear_refs"
# The first scrape, kept to count series and bytes (outside the timed loops).
curl -sf -o "$BENCH_WORK/metrics.txt" "$METRICS_URL"
BYTES="$(stat -c %s "$BENCH_WORK/metrics.txt")"
SERIES="$(grep -vc '^#' "$BENCH_WORK/metrics.txt")"
SNMP_SERIES="$(grep -c '^ispmonitor_interface_\|^ispmonitor_snmp_' "$BENCH_WORK/metrics.txt" || true)"
rm -f "$BENCH_WORK/metrics.txt"
RSS_1="$(status_kib "$DRIVER_PID" VmRSS)"

# Classic text, as most scrapers ask for it (no Accept-Encoding: the render alone).
CPU_TEXT_FIRST="$(cpu_per_scrape 9)"
RSS_10="$(status_kib "$DRIVER_PID" VmRSS)"
CPU_TEXT_STEADY="$(cpu_per_scrape $((SCRAPES - 10)))"
RSS_N="$(status_kib "$DRIVER_PID" VmRSS)"
CPU_TEXT="$(calc '%.3f' "($CPU_TEXT_FIRST * 9 + $CPU_TEXT_STEADY * ($SCRAPES - 10)) / ($SCRAPES - 1)")"
OM_ACCEPT='Accept: application/openmetrics-text;version=1.0.0'
CPU_OM="$(cpu_per_scrape "$VARIANT_SCRAPES" -H "$OM_ACCEPT")"
# What Prometheus sends by default: OpenMetrics, gzip.
CPU_GZIP="$(cpu_per_scrape "$VARIANT_SCRAPES" -H "$OM_ACCEPT" -H 'Accept-Encoding: gzip')"
GZIP_BYTES="$(curl -sf -H "$OM_ACCEPT" -H 'Accept-Encoding: gzip' "$METRICS_URL" | wc -c)"
RSS_END="$(status_kib "$DRIVER_PID" VmRSS)"
HWM="$(status_kib "$DRIVER_PID" VmHWM)"
bench_stop "$DRIVER_PID"

# --- report -----------------------------------------------------------------------------------
NS_PER_SERIES="$(calc '%.0f' "$CPU_TEXT * 1e9 / $SERIES")"
CPU_PER_MILLION="$(calc '%.3f' "$CPU_TEXT * 1000000 / $SERIES")"
BYTES_PER_SERIES="$(calc '%.0f' "$RSS_FILLED * 1024 / $SERIES")"
GROWTH_KIB=$((RSS_N - RSS_1))
PEAK_KIB=$((HWM - RSS_FILLED))
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo FAIL; fi; }
CPU_OK="$(calc '%d' "$CPU_PER_MILLION <= $TARGET_CPU_SECONDS")"
# No per-scrape growth: after 50 scrapes within 5 % (allocator noise) of after 1.
GROWTH_OK="$(calc '%d' "$RSS_N <= $RSS_1 * 1.05")"
# Streamed: scraping never holds the whole exposition (peak above the filled store within a
# few chunks and buffers, however large the exposition).
STREAM_OK="$(calc '%d' "$PEAK_KIB <= $STREAM_LIMIT_MIB * 1024")"
SIZE_NOTE=""
[ "$SERIES" -ge "$TARGET_SERIES" ] || SIZE_NOTE=" (scaled to 1,000,000 series: this run had $SERIES)"

REPORT="$BENCH_WORK/exposition.md"
{
  echo "### Exposition: \`/metrics\` at 1,000,000 series"
  echo
  echo "Run $(date -u +%Y-%m-%d) on $(bench_machine), revision $(bench_revision)."
  echo
  echo '```sh'
  echo "cargo build --release --bin ispmonitor --example exposition_bench"
  echo "${SIM_CMD[*]}" | sed "s#$BENCH_WORK#\$WORK#g"
  echo "${DRIVER_CMD[*]}" | sed "s#$BENCH_WORK#\$WORK#g"
  echo "curl -s -o /dev/null $METRICS_URL   # x $SCRAPES, then OpenMetrics and OpenMetrics+gzip x $VARIANT_SCRAPES"
  echo '```'
  echo
  echo "$DEVICES simulated routers ($INTERFACES interfaces, modules if_mib + system), each polled"
  echo "twice by the production SNMP pollers into the results store ($FILLED); then the simulator"
  echo "is stopped and the driver only answers scrapes, so its CPU time from /proc/PID/stat is"
  echo "the scrapes'. CPU per scrape is averaged over whole batches (the clock ticks at 10 ms)."
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| series per scrape (SNMP device series) | $SERIES ($SNMP_SERIES) |"
  echo "| bytes per scrape, text (OpenMetrics + gzip) | $BYTES ($GZIP_BYTES) |"
  echo "| CPU s per scrape, classic text (avg of $((SCRAPES - 1))) | $CPU_TEXT |"
  echo "| CPU s per scrape, OpenMetrics (avg of $VARIANT_SCRAPES) | $CPU_OM |"
  echo "| CPU s per scrape, OpenMetrics + gzip, as Prometheus asks (avg of $VARIANT_SCRAPES) | $CPU_GZIP |"
  echo "| CPU ns per series, classic text | $NS_PER_SERIES |"
  echo "| VmRSS filled, before any scrape | $((RSS_FILLED / 1024)) MiB ($BYTES_PER_SERIES bytes per series, whole process) |"
  echo "| VmRSS after 1 / 10 / $SCRAPES scrapes | $((RSS_1 / 1024)) / $((RSS_10 / 1024)) / $((RSS_N / 1024)) MiB |"
  echo "| VmRSS at the end / peak during the scrapes (VmHWM) | $((RSS_END / 1024)) / $((HWM / 1024)) MiB |"
  echo
  echo "No peer row: snmp_exporter renders only during its own \`/snmp\` request, right after"
  echo "walking the device, so its render cost cannot be measured apart from its polling (the"
  echo "efficiency section compares polling CPU); node_exporter's exposition is not comparable."
  echo
  echo "- $(verdict "$CPU_OK"): 1,000,000 series in at most $TARGET_CPU_SECONDS CPU s: $CPU_PER_MILLION s$SIZE_NOTE"
  echo "- $(verdict "$STREAM_OK"): streamed: peak during scrapes $((PEAK_KIB / 1024)) MiB above the filled store, for a $((BYTES / 1048576)) MiB exposition (limit $STREAM_LIMIT_MIB MiB)"
  echo "- $(verdict "$GROWTH_OK"): no per-scrape growth: VmRSS after $SCRAPES scrapes $((RSS_N / 1024)) MiB vs $((RSS_1 / 1024)) MiB after 1 (growth ${GROWTH_KIB} KiB, limit +5 %)"
} >"$REPORT"
cat "$REPORT"
write_section exposition "$REPORT"
