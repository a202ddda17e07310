#!/bin/sh
# Switchyard's drop-in for netavark (docs/frontends/netavark.md): Podman runs it with
# CONTAINERS_HELPER_BINARY_DIR=<checkout>/libexec. It speaks netavark 1.4's command line:
#   netavark [-f|--file FILE] [-c|--config DIR] [-r|--rootless BOOL] [-a|--aardvark-binary PATH]
#            setup|teardown NETNS_PATH | update NETWORK --network-dns-servers IP… | version | --version
# and forwards setup/teardown/update to the running Switchyard daemon (POST /netavark/…,
# where the work is done: src/frontends/netavark/), printing its answer: the StatusBlock map
# on stdout, or {"error": "…"} and exit 1. No Node here: a process per container call
# must start fast. The daemon's socket: $SWITCHYARD_NETAVARK_SOCKET, else the default.
# This sh + curl version is the fallback libexec/build.mjs installs as libexec/netavark when
# there is no C compiler; the usual libexec/netavark is libexec/netavark.c compiled.
SOCK=${SWITCHYARD_NETAVARK_SOCKET:-/run/switchyard/switchyard.sock}
VERSION=1.4.0
fail() { printf '{"error":"%s"}\n' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t' '  ')"; exit 1; }
file=- cmd= target=
while [ $# -gt 0 ]; do
  case $1 in
    -f|--file) [ $# -ge 2 ] || fail "option $1 needs a value"; file=$2; shift 2 ;;
    --file=*) file=${1#*=}; shift ;;
    -c|--config|-r|--rootless|-a|--aardvark-binary|--plugin-directory|--firewall-driver)
      [ $# -ge 2 ] || fail "option $1 needs a value"; shift 2 ;;
    --config=*|--rootless=*|--aardvark-binary=*|--plugin-directory=*|--firewall-driver=*) shift ;;
    -V|--version) echo "netavark $VERSION"; exit 0 ;;
    -h|--help|help)
      echo "usage: netavark [--file FILE] [--config DIR] [--rootless BOOL] [--aardvark-binary PATH] setup|teardown NETNS | update NETWORK --network-dns-servers IP | version"
      exit 0 ;;
    version)
      printf '{\n  "version": "%s",\n  "commit": "switchyard",\n  "build_time": "",\n  "target": "switchyard"\n}\n' "$VERSION"
      exit 0 ;;
    setup|teardown)
      [ $# -ge 2 ] || fail "$1: the network namespace path is required"
      cmd=$1 target=$2; shift 2 ;;
    update)
      [ $# -ge 2 ] || fail "update: the network name is required"
      cmd=update target=$2; shift $#
      file=/dev/null ;;
    *) fail "unknown argument $1" ;;
  esac
done
[ -n "$cmd" ] || fail "a subcommand is required: setup, teardown, update or version"
case $target in /*|"") ;; *) [ "$cmd" = update ] || target=$PWD/$target ;; esac
curl -s --unix-socket "$SOCK" --fail-with-body -H "Netavark-Netns: $target" \
  -H 'Content-Type: application/json' --data-binary @"$file" "http://switchyard/netavark/$cmd"
rc=$?
case $rc in
  0) exit 0 ;;
  22) echo; exit 1 ;;
  26) fail "cannot read the network options from $file" ;;
esac
fail "the Switchyard daemon is not reachable at $SOCK (curl exit $rc)"
