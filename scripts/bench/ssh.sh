#!/usr/bin/env bash
#! SSH at scale: ispmonitor polling 1,000 servers every 60 s over persistent sessions, all of
#! them pointing at one private OpenSSH sshd on loopback (the default `linux` module, one
#! collection command per poll). Measures the poller's CPU from /proc while the connections come
#! up (startup) and then over two intervals, its memory, reconnects and poll results, and the
#! sshd side's CPU (it forks the command's shell and cat processes) for scale.
#!
#!   cargo build --release --bin ispmonitor
#!   bash scripts/bench/ssh.sh                 # about 4 minutes
#!   BENCH_QUICK=1 bash scripts/bench/ssh.sh   # 100 servers every 10 s; docs left alone
#!
#! No peer: Prometheus has no SSH poller to compare with (node_exporter runs on the server
#! itself). Needs root (sshd on a private port logs in the local user ispmon-test, created by
#! scripts/install-peers.sh). sshd and ispmonitor are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh

if [ "$BENCH_QUICK" = 1 ]; then
  SERVERS=100
  INTERVAL=10
else
  SERVERS=1000
  INTERVAL=60
fi
MEASURED_INTERVALS=2
TARGET_CORES=0.25
SSHD=/usr/sbin/sshd
USER_NAME=ispmon-test

[ -x "$BIN" ] || bench_die "$BIN missing: cargo build --release --bin ispmonitor"
[ -x "$SSHD" ] || bench_die "$SSHD missing: bash scripts/install-peers.sh"
id "$USER_NAME" >/dev/null 2>&1 || bench_die "user $USER_NAME missing: bash scripts/install-peers.sh"

bench_init
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
chmod 755 "$BENCH_WORK"

# One sshd for every target: MaxStartups above the number of handshakes that can overlap, so
# none is refused while 1,000 connections come up; each connection runs one command at a time.
start_sshd() {
  SSHD_PORT="$(free_tcp_port)"
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$BENCH_WORK/host_key"
  ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$BENCH_WORK/client_key"
  cp "$BENCH_WORK/client_key.pub" "$BENCH_WORK/authorized_keys"
  chmod 644 "$BENCH_WORK/authorized_keys"
  cat >"$BENCH_WORK/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $BENCH_WORK/host_key
PidFile $BENCH_WORK/sshd.pid
AuthorizedKeysFile $BENCH_WORK/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $USER_NAME
MaxSessions 10
MaxStartups $((SERVERS + 100)):30:$((SERVERS * 2 + 100))
LoginGraceTime 60
ClientAliveInterval 0
UseDNS no
LogLevel ERROR
EOF
  "$SSHD" -t -f "$BENCH_WORK/sshd_config" || bench_die "sshd -t refused the config"
  SSHD_COMMAND=("$SSHD" -D -f "$BENCH_WORK/sshd_config" -E "$BENCH_WORK/sshd.log")
  "${SSHD_COMMAND[@]}" &
  SSHD_PID=$!
  bench_track "$SSHD_PID"
  for _ in $(seq 1 100); do
    [ "$(head -c 7 < /dev/tcp/127.0.0.1/"$SSHD_PORT" 2>/dev/null)" = SSH-2.0 ] && return
    sleep 0.1
  done
  bench_die "sshd did not answer on port $SSHD_PORT"
}

# A process and all its descendants (sshd puts each connection in its own session, so a process
# group would miss them).
# One `ps` and a breadth-first walk in awk: fast enough for thousands of processes.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      queue[1] = root; n = 1; print root
      for (i = 1; i <= n; i++) for (p in parent) if (parent[p] == queue[i]) { queue[++n] = p; print p }
    }'
}

# CPU seconds of sshd's whole tree, including children already reaped (cutime + cstime): the
# shells and cat processes of each collection command live only for the poll.
sshd_cpu_seconds() {
  local pid
  for pid in $(descendants "$SSHD_PID"); do
    local stat
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    awk '{ print $12 + $13 + $14 + $15 }' <<<"${stat##*) }"
  done | awk -v tck="$TICKS_PER_SECOND" '{ s += $1 } END { printf "%.2f", s / tck }'
}

write_config() {
  local web_port="$1" host_key
  host_key="$(cut -d' ' -f1-2 "$BENCH_WORK/host_key.pub")"
  {
    echo "global: {interval: ${INTERVAL}s, timeout: $((INTERVAL < 20 ? INTERVAL / 2 : 10))s, max_concurrent_polls: $SERVERS}"
    echo "web: {listen_address: \"127.0.0.1:$web_port\"}"
    echo "credentials:"
    echo "  bench: {type: ssh, username: $USER_NAME, private_key_file: $BENCH_WORK/client_key, host_key: \"$host_key\"}"
    echo "targets:"
    for i in $(seq 1 "$SERVERS"); do
      echo "  - {name: s$i, address: \"127.0.0.1:$SSHD_PORT\", kind: server, modules: [linux], credential: bench}"
    done
  } >"$BENCH_WORK/ispmonitor.yaml"
}

start_ours() {
  local port
  port="$(free_tcp_port)"
  write_config "$port"
  OURS_URL="http://127.0.0.1:$port"
  OURS_COMMAND=("$BIN" serve --config "$BENCH_WORK/ispmonitor.yaml" --api.listen-address none --log.level warn)
  "${OURS_COMMAND[@]}" >"$BENCH_WORK/ours.log" 2>&1 &
  OURS_PID=$!
  bench_track "$OURS_PID"
  for _ in $(seq 1 300); do
    kill -0 "$OURS_PID" 2>/dev/null || { tail -20 "$BENCH_WORK/ours.log" >&2; bench_die "ispmonitor exited"; }
    curl -sf "$OURS_URL/metrics" -o /dev/null && return
    sleep 0.1
  done
  bench_die "ispmonitor did not serve /metrics"
}

# "connections successes failures" from one scrape.
ssh_totals() {
  curl -sf "$OURS_URL/metrics" | awk '
    /^ispmonitor_server_ssh_connections_total\{/ { c += $NF }
    /^ispmonitor_polls_total\{protocol="ssh",result="success"\}/ { s += $NF }
    /^ispmonitor_polls_total\{protocol="ssh",result="/ && !/result="success"/ { f += $NF }
    END { printf "%d %d %d\n", c, s, f }'
}

# Lag p99 of SSH polls from the scheduling-lag histogram (upper bound of its bucket).
lag_p99() {
  curl -sf "$OURS_URL/metrics" | awk '
    /^ispmonitor_poll_schedule_lag_seconds_bucket\{protocol="ssh"/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n++; bound[n] = le; count[n] = $NF }
    /^ispmonitor_poll_schedule_lag_seconds_count\{protocol="ssh"/ { total = $NF }
    END { for (i = 1; i <= n; i++) if (count[i] >= 0.99 * total) { print bound[i]; exit } print "n/a" }'
}

measure() {
  local start before after cpu0 cpu1 sshd0 sshd1 t0 t1 measured=$((INTERVAL * MEASURED_INTERVALS))
  start="$(date +%s.%N)"
  start_ours
  # Every target's first poll lands somewhere in the first interval (random offset).
  local deadline=$((SECONDS + INTERVAL * 3))
  until [ "$(ssh_totals | cut -d' ' -f1)" -ge "$SERVERS" ]; do
    [ "$SECONDS" -lt "$deadline" ] || bench_die "only $(ssh_totals | cut -d' ' -f1) of $SERVERS connections after $((INTERVAL * 3)) s"
    sleep 1
  done
  UP_SECONDS="$(calc '%.1f' "$(date +%s.%N) - $start")"
  STARTUP_CPU="$(cpu_seconds "$OURS_PID")"
  STARTUP_RSS_MIB="$(calc '%.1f' "$(status_kib "$OURS_PID" VmRSS) / 1024")"
  # Let the last handshakes' first polls finish before measuring steady state.
  sleep 5
  # sshd's tree is read outside the window, which the scrapes and CPU reads bracket tightly.
  sshd0="$(sshd_cpu_seconds)"
  before="$(ssh_totals)"
  cpu0="$(cpu_seconds "$OURS_PID")"
  t0="$(date +%s.%N)"
  sleep "$measured"
  cpu1="$(cpu_seconds "$OURS_PID")"
  t1="$(date +%s.%N)"
  after="$(ssh_totals)"
  sshd1="$(sshd_cpu_seconds)"
  measured="$(calc '%.1f' "$t1 - $t0")"
  STEADY_CPU="$(calc '%.2f' "$cpu1 - $cpu0")"
  STEADY_CORES="$(calc '%.4f' "$STEADY_CPU / $measured")"
  SSHD_CPU="$(calc '%.2f' "$sshd1 - $sshd0")"
  SSHD_PROCESSES="$(descendants "$SSHD_PID" | wc -l)"
  read -r c0 s0 f0 <<<"$before"
  read -r c1 s1 f1 <<<"$after"
  RECONNECTS=$((c1 - c0))
  SUCCESSES=$((s1 - s0))
  FAILURES=$((f1 - f0))
  EXPECTED_POLLS=$((SERVERS * MEASURED_INTERVALS))
  CPU_PER_POLL_MS="$(calc '%.2f' "1000 * $STEADY_CPU / ($SUCCESSES > 0 ? $SUCCESSES : 1)")"
  RSS_MIB="$(calc '%.1f' "$(status_kib "$OURS_PID" VmRSS) / 1024")"
  HWM_MIB="$(calc '%.1f' "$(status_kib "$OURS_PID" VmHWM) / 1024")"
  LAG_P99="$(lag_p99)"
  MEASURED_SECONDS="$measured"
}

verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }

report() {
  cat <<EOF
## SSH: $SERVERS servers every ${INTERVAL} s over persistent sessions

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$BENCH_QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full)
- Machine: $(bench_machine)
- Revision: $(bench_revision); server: $("$SSHD" -V 2>&1 | head -1 | cut -d, -f1)
- Command: \`bash scripts/bench/ssh.sh\`
- Load: $SERVERS targets (default \`linux\` module, ed25519 key, pinned host key), all on one sshd at
  127.0.0.1; steady state measured over $MEASURED_INTERVALS intervals ($MEASURED_SECONDS s) once every connection was up.
  CPU is utime + stime from /proc/PID/stat; sshd's is its whole process tree, reaped children
  included (the per-connection sessions and the shells they fork for the collection command),
  read just outside the window, so it covers a little more than the window.

| phase | seconds | ispmonitor CPU s | cores | CPU ms per poll | polls ok | polls failed | new connections | RSS |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| startup (first handshake of every server) | $UP_SECONDS | $STARTUP_CPU | $(calc '%.4f' "$STARTUP_CPU / $UP_SECONDS") | | | | $SERVERS | $STARTUP_RSS_MIB MiB |
| steady state | $MEASURED_SECONDS | $STEADY_CPU | $STEADY_CORES | $CPU_PER_POLL_MS | $SUCCESSES | $FAILURES | $RECONNECTS | $RSS_MIB MiB (peak $HWM_MIB) |

The server side for scale: sshd used $SSHD_CPU CPU s over the steady state (about
$(calc '%.3f' "$SSHD_CPU / $MEASURED_SECONDS") cores, $SSHD_PROCESSES processes) running the same polls. SSH
scheduling lag p99 (bucket bound): $LAG_P99 s. No peer row: no Prometheus exporter polls servers
over SSH.

| target | measured | result |
|---|---|---|
| $SERVERS servers every ${INTERVAL} s on at most $TARGET_CORES core (steady state) | $STEADY_CORES cores, $SUCCESSES of $EXPECTED_POLLS polls ok, $RECONNECTS reconnects | $(verdict "$STEADY_CORES <= $TARGET_CORES && $SUCCESSES >= 0.99 * $EXPECTED_POLLS && $RECONNECTS == 0") |

\`\`\`sh
$(printf '%q ' "${SSHD_COMMAND[@]}" | sed "s#$BENCH_WORK#DIR#g")  # DIR/sshd_config: see start_sshd
$(printf '%q ' "${OURS_COMMAND[@]}" | sed "s#$BENCH_WORK#DIR#g")  # DIR/ispmonitor.yaml: see write_config
\`\`\`
EOF
}

bench_log "sshd for $SERVERS servers"
start_sshd
bench_log "ispmonitor: $SERVERS servers every ${INTERVAL} s"
measure
report >"$BENCH_WORK/section.md"
cat "$BENCH_WORK/section.md"
write_section ssh "$BENCH_WORK/section.md"
