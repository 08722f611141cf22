#!/usr/bin/env bash
# Credential broker benchmarks (issue 5). Prints numbers; never fails on a missed target.
#  1. BenchmarkDotNet short job (in-process): lease issue and validate, ops/s, P95 and P99
#     of the iteration means, allocations; then one PASS/FAIL line per benchmark vs p99 <= 20 us.
#  2. Per-operation latency: every call timed alone (p50/p99/p99.9/max of single calls) for
#     issue and validate, then the machine's raw fsync and an atomic write measured in the same
#     run beside durable lease revocation (journal append + fsync) at 100/1k/10k live leases.
# Env: KHEISH_BENCH_DIR (default .cache/bench: keep it on the real disk, not tmpfs),
#      KHEISH_BENCH_OPS (operations per latency measurement, default 200000).
set -euo pipefail
cd "$(dirname "$0")/../.."
export KHEISH_BENCH_DIR="${KHEISH_BENCH_DIR:-$PWD/.cache/bench}"
mkdir -p "$KHEISH_BENCH_DIR"

echo "== build (Release) =="
dotnet build bench/Kheish.Bench/Kheish.Bench.csproj -c Release -nologo -v q 2>&1 | grep -E " error |Warn|Error" | sort -u || true
bin=bench/Kheish.Bench/bin/Release/$(ls bench/Kheish.Bench/bin/Release | head -1)/Kheish.Bench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench dir: $KHEISH_BENCH_DIR on $(stat -f -c %T "$KHEISH_BENCH_DIR") ($(df -P "$KHEISH_BENCH_DIR" | awk 'NR==2 {print $1}'))"

echo "== BenchmarkDotNet: lease issue / validate (short job) =="
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$bin" bdn >"$log" 2>&1 || { cat "$log"; exit 1; }
sed -n '/^| Method/,/^$/p' "$log"
sed -n '/^benchmark /,$p' "$log"

echo "== per-operation latency, fsync and durable revocation =="
"$bin" latency "${KHEISH_BENCH_OPS:-200000}"
