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
. scripts/lib/bench-common.sh
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

# Revocation over HTTP, including the durable journal write, beside the raw fsync of the same
# disk measured just before (issue 5). One connection, so each request waits for its own fsync.
echo "== revoke over HTTP (durable) vs raw fsync, same run =="
need_wrk
[ -x artifacts/kheish-daemon ] || scripts/publish.sh >/dev/null
tmp=$(mktemp -d -p "$KHEISH_BENCH_DIR")
"artifacts/kheish-daemon" serve --bind 127.0.0.1:0 --state-root "$tmp/state" 2>"$tmp/log" &
pid=$!
url=$(daemon_url "$tmp/log")
cat > "$tmp/revoke.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/runtime/auth/subjects/agent:bench-" .. counter .. "/revoke")
end
LUA
"$bin" latency 2000 2>/dev/null | grep -E "measurement|raw fsync" || true
out=$(wrk -t1 -c1 -d5s --latency -s "$tmp/revoke.lua" "$url" 2>&1)
echo "HTTP revoke (1 connection): $(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s, p50 $(awk '$1=="50%" {print $2}' <<<"$out"), p99 $(awk '$1=="99%" {print $2}' <<<"$out")$(awk '/Non-2xx/ {print "  NON-2xx " $4}' <<<"$out")"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$tmp"
