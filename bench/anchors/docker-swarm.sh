#!/usr/bin/env bash
# Docker's multi-host overlay as an anchor: three dockerd (Debian's docker.io 20.10) in three host
# namespaces on one underlay bridge, joined as a swarm; overlay create/rm, run → first ping across
# hosts, connect/disconnect, iperf3/RTT against a hand-built VXLAN pair and the underlay.
# Everything runs in throwaway swy-dsw* namespaces and is removed at the end (dockerd stopped by PID).
#
#   sudo bench/anchors/docker-swarm.sh [--quick] [--hosts 3] [--reps 30] [--cold-reps 20] [--seconds 5] [--rounds 3] [--out bench/results]
#
# Needs docker.io and iperf3: SWY_BENCH_DOCKER_SWARM=1 scripts/install.sh installs them (no service started).
# The same measurement runs inside `npm run bench` when SWY_BENCH_DOCKER_SWARM=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $(id -u) != 0 ]]; then echo "docker-swarm.sh: run as root (it makes network namespaces and starts dockerd in them)" >&2; exit 2; fi
if [[ ! -f dist/bench/anchors/docker-swarm.js || bench/anchors/docker-swarm.ts -nt dist/bench/anchors/docker-swarm.js ]]; then
  npm run build --silent
fi
exec node dist/bench/anchors/docker-swarm.js "$@"
