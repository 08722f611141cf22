#!/usr/bin/env bash
# Runs every benchmark (scripts/bench/*.sh) and prints their numbers. Benchmarks are not
# tests: they print ratios measured side by side in one run, never pass/fail on a time.
#   scripts/bench.sh            every area, full output
#   scripts/bench.sh all        the same, then one summary table (each area's ratio/target lines)
#   scripts/bench.sh <area>     only scripts/bench/<area>.sh
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x artifacts/kheish-daemon ] || scripts/publish.sh
filter=${1:-}
[ "$filter" = all ] && filter=""
summary=$(mktemp); trap 'rm -f "$summary"' EXIT
status=0
for b in scripts/bench/*.sh; do
  if [ -n "$filter" ] && [[ "$b" != *"$filter"* ]]; then continue; fi
  area=$(basename "$b" .sh)
  echo "===== $area (load average $(cut -d' ' -f1-3 /proc/loadavg)) ====="
  out=$(bash "$b" 2>&1) || { echo "bench $area failed"; status=1; }
  echo "$out"
  grep -E 'target|ratio' <<<"$out" | sed "s/^/$area | /" >>"$summary"
done
if [ "${1:-}" = all ]; then
  echo
  echo "===== summary ($(date -u +%F), commit $(git rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)) ====="
  echo "area | figure (ours beside the limit or peer, same run) | ratio and target"
  cat "$summary"
fi
exit $status
