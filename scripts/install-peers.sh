#!/usr/bin/env bash
#! Installs the real programs the tests talk to (net-snmp agent and clients, OpenSSH's sshd,
#! Prometheus and promtool, snmp_exporter, iproute2 for network namespaces and netem).
#! Idempotent: skips apt when everything is already there.
set -euo pipefail

need=()
command -v snmpd >/dev/null 2>&1 || [ -x /usr/sbin/snmpd ] || need+=(snmpd)
command -v snmpget >/dev/null 2>&1 || need+=(snmp)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v prometheus-snmp-exporter >/dev/null 2>&1 || need+=(prometheus-snmp-exporter)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
# nft: random packet loss in a test namespace on kernels built without netem (sch_netem).
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)

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
