#!/bin/bash
# Overlay data-path variants side by side (docs/drivers/overlay.md "Speed"): ROUNDS rounds
# (default 5) of SECS seconds (default 4), the variants alternated within each round, then
# each variant's median and its median per-round ratio to `direct`. Needs root and iperf3.
#   bash bench/overlay-paths.sh
set -euo pipefail
here=$(dirname "$0")
ROUNDS=${ROUNDS:-5}; export SECS=${SECS:-4}
variants=(${VARIANTS:-direct bridge0 as:bridge0 fwd nochk:fwd bpf macvlan eg:macvlan eg:mvbr})
declare -A res
for r in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    unset AS NOCHK EMPTY ND EG
    m=$v
    case $v in
      as:*) export AS=1; m=${v#as:};; nochk:*) export NOCHK=1; m=${v#nochk:};;
      empty:*) export EMPTY=1; m=${v#empty:};; nd:*) export ND=1; m=${v#nd:};; eg:*) export EG=1; m=${v#eg:};;
    esac
    # A set-up can meet the previous run's namespaces still being torn down by the kernel: retry.
    g=$(bash "$here/overlay-path.sh" "$m" 2>/dev/null || { sleep 1; bash "$here/overlay-path.sh" "$m"; })
    res[$v]="${res[$v]:-} $g"
    echo "round $r $v $g" >&2
  done
done
python3 - "${variants[@]}" <<PY
import sys, statistics
res = {$(for v in "${variants[@]}"; do printf '"%s": [%s],' "$v" "$(echo ${res[$v]} | tr ' ' ',')"; done)}
d = res['direct']
print('| variant | Gbit/s, median (rounds) | median per-round ratio to direct |')
print('|---|---|---|')
for v in sys.argv[1:]:
    xs = res[v]
    ratio = statistics.median(x / y for x, y in zip(xs, d))
    print(f"| {v} | {statistics.median(xs):.2f} ({', '.join(f'{x:.2f}' for x in xs)}) | {ratio*100:.0f} % |")
PY
