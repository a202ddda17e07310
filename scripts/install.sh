#!/usr/bin/env bash
# Installs everything Switchyard needs on Debian 12 (as root): the Debian packages
# (nftables/libnftables for the firewall, iproute2/util-linux for tests and sandboxes,
# dnsutils/iperf3/socat/dnsperf for tests and benchmarks, etcd-server for the cluster
# store's tests and lab, openssl for their throwaway TLS certificates, bird2 for routed
# networks' BGP), the npm packages,
# and builds.
# Idempotent. Usage: scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(nftables libnftables1 iproute2 util-linux procps iputils-ping dnsutils iperf3 socat netcat-openbsd dnsperf curl etcd-server openssl)
DEBS+=(containernetworking-plugins)  # CNI reference plugins in /usr/lib/cni: the CNI front end's differential tests
DEBS+=(gcc libc6-dev)  # compiles bin/cni/switchyard, the CNI plugin's forwarder (bin/cni/forward.c), and libexec/netavark (libexec/netavark.c), in `npm run build`
DEBS+=(podman netavark aardvark-dns runc conmon catatonit golang-github-containers-common busybox-static)  # Podman 4.3 (CNI backend) end to end on Switchyard: test/e2e/cni-podman.test.ts, and the netavark drop-in (test/e2e/netavark-podman.test.ts) (runc: crun fails on hybrid cgroups)
DEBS+=(bird2)  # BGP speaker of routed networks (services/bgp): the daemon runs its own, never the package's service
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v docker >/dev/null 2>&1; then
  # Only the docker CLI is used (tests drive our daemon with it). Keep the package's
  # own daemon from starting: it would create docker0 and rules on this host.
  missing+=(docker.io)
elif [[ ${SWY_BENCH_DOCKER_SWARM:-} == 1 && ! -x /usr/sbin/dockerd ]]; then
  # The opt-in multi-host anchor (bench/anchors/docker-swarm.sh) starts Debian's dockerd
  # itself, inside namespaces of its own; another docker CLI on PATH does not bring it.
  missing+=(docker.io)
fi
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null 2>&1; then
    # Only the etcd binary is used: tests and the cluster lab start their own etcd with a
    # private data dir and ports (test/helpers/etcd.ts). policy-rc.d above keeps the
    # package's service from starting now; disabling the unit keeps it from starting at
    # the next boot (systemctl edits the unit links offline too).
    systemctl disable etcd.service >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" podman "* ]] && command -v systemctl >/dev/null 2>&1; then
    # Only the podman binary is used, with private roots and configuration (test/helpers/podman.ts).
    systemctl disable podman.socket podman.service podman-restart.service podman-auto-update.timer >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" docker.io "* ]] && command -v systemctl >/dev/null 2>&1; then
    # Same for Docker: only its binaries are used, never its services in this namespace.
    systemctl disable docker.service docker.socket containerd.service >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" bird2 "* ]] && command -v systemctl >/dev/null 2>&1; then
    # Only the bird/birdc binaries are used: the daemon (and the tests) start BIRD with a
    # configuration under the exec root, in the daemon's namespace (services/bgp/supervisor.ts).
    # policy-rc.d kept the package's bird.service from starting; this keeps it off at boot.
    systemctl disable bird.service >/dev/null 2>&1 || true
  fi
fi

# `npm ci` installs exactly what package-lock.json pins (the lock lists every platform's
# optional lmdb/msgpackr-extract binaries, so npm 10 and 11 both accept it, and a later
# `npm install` leaves it unchanged). A node_modules that is a symlink is a tree shared
# with another checkout (a git worktree): it is used as it is, never wiped.
if [[ -L node_modules ]]; then
  echo "install.sh: node_modules is a symlink to $(readlink node_modules); not reinstalling it" >&2
else
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
