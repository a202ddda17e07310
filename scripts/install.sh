#!/usr/bin/env bash
# Installs everything Switchyard needs on Debian 12 (as root): the Debian packages
# (nftables/libnftables for the firewall, iproute2/util-linux for tests and sandboxes,
# dnsutils/iperf3/socat/dnsperf for tests and benchmarks), the npm packages, and builds.
# Idempotent. Usage: scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(nftables libnftables1 iproute2 util-linux procps iputils-ping dnsutils iperf3 socat netcat-openbsd dnsperf curl)
DEBS+=(containernetworking-plugins)  # CNI reference plugins in /usr/lib/cni: the CNI front end's differential tests
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v docker >/dev/null 2>&1; then
  # Only the docker CLI is used (tests drive our daemon with it). Keep the package's
  # own daemon from starting: it would create docker0 and rules on this host.
  missing+=(docker.io)
fi
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# `npm install` honours package-lock.json; `npm ci` is not used because npm 11 rejects
# this lock file (it wants entries for other platforms' optional lmdb/msgpackr binaries).
npm install --no-audit --no-fund --loglevel=error
npm run build --silent
