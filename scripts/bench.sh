#!/usr/bin/env bash
# Runs every benchmark (scripts/bench/*.sh) and prints their numbers. Benchmarks are not
# tests: they print ratios measured side by side in one run, never pass/fail on a time.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x artifacts/kheish-daemon ] || scripts/publish.sh
status=0
for b in scripts/bench/*.sh; do
  if [ -n "${1:-}" ] && [[ "$b" != *"$1"* ]]; then continue; fi
  echo "===== $(basename "$b" .sh) ====="
  bash "$b" || { echo "bench $(basename "$b") failed"; status=1; }
done
exit $status
