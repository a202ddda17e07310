#!/usr/bin/env bash
# Compares two commits of Switchyard on this machine, in one interleaved run (as root):
#
#   bench/compare.sh BASE_REF [HEAD_REF] [-- options for dist/bench/compare.js]
#
# BASE_REF is exported (git archive: a clean copy of the commit, no worktree registered in
# .git) to /tmp/swy-bench-base, with this checkout's node_modules symlinked, and built there.
# HEAD_REF, if given, goes the same way to /tmp/swy-bench-head; without it the head is this
# working tree (uncommitted changes included), built with tsc. Then
# dist/bench/compare.js starts one daemon of each and measures both side by side; the
# temporary copies are removed at the end (SWY_BENCH_KEEP=1 keeps them).
# docs/BENCHMARKS.md, "Comparing two commits".
#
# Example: bench/compare.sh HEAD~1 -- --sandboxes 100 --cycles 200
set -euo pipefail

usage() { echo "usage: bench/compare.sh BASE_REF [HEAD_REF] [-- compare.js options]" >&2; exit 2; }
[ $# -ge 1 ] || usage
[ "$(id -u)" -eq 0 ] || { echo "bench/compare.sh runs daemons in network namespaces: run it as root" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
BASE_REF=$1; shift
HEAD_REF=
if [ $# -ge 1 ] && [ "$1" != "--" ]; then HEAD_REF=$1; shift; fi
[ $# -ge 1 ] && [ "$1" = "--" ] && shift

MODULES=$(readlink -f "$REPO/node_modules") || { echo "no node_modules in $REPO" >&2; exit 2; }
TMP_DIRS=()
cleanup() {
  if [ "${SWY_BENCH_KEEP:-0}" != 1 ]; then
    for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done
  fi
}
trap cleanup EXIT

# export REF DIR: a built copy of commit REF in DIR.
export_ref() {
  local ref=$1 dir=$2 sha
  sha=$(git -C "$REPO" rev-parse --verify "$ref^{commit}") || { echo "unknown commit: $ref" >&2; exit 2; }
  rm -rf "$dir"
  mkdir -p "$dir"
  TMP_DIRS+=("$dir")
  git -C "$REPO" archive "$sha" | tar -x -C "$dir"
  ln -s "$MODULES" "$dir/node_modules"
  echo "[compare] building $ref ($(git -C "$REPO" log -1 --format='%h %s' "$sha" | cut -c1-72)) in $dir" >&2
  (cd "$dir" && node node_modules/typescript/bin/tsc -p tsconfig.json)
}

export_ref "$BASE_REF" /tmp/swy-bench-base
# This working tree is always built: the measuring script is its dist/bench/compare.js, which
# drives both builds through their own test harnesses and the HTTP API.
echo "[compare] building the working tree $REPO" >&2
(cd "$REPO" && node node_modules/typescript/bin/tsc -p tsconfig.json)
if [ -n "$HEAD_REF" ]; then
  export_ref "$HEAD_REF" /tmp/swy-bench-head
  HEAD_DIR=/tmp/swy-bench-head
  HEAD_LABEL=$HEAD_REF
else
  HEAD_DIR=$REPO
  HEAD_LABEL="working tree ($(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src || echo ', modified'))"
fi

node "$REPO/dist/bench/compare.js" --base /tmp/swy-bench-base --head "$HEAD_DIR" \
  --label-base "$BASE_REF" --label-head "$HEAD_LABEL" "$@"
