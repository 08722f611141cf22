#!/usr/bin/env bash
# Control plane under load (issue 4): wrk on loopback, in one run, GET /healthz (the ceiling:
# no auth, no work) vs GET /v1/status with a read-only bearer token. The two alternate for
# BENCH_ROUNDS rounds (default 3) of BENCH_SECONDS each (default 5), so a noisy stretch of the
# machine hits both; prints each round's req/s, the median ratio against the target, and the
# idle RSS of the AOT binary and its RSS after the 30 s of load.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/bench-common.sh
need_wrk
bin=${KHEISH_DAEMON_BIN:-artifacts/kheish-daemon}
tmp=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
head -c 32 /dev/urandom | base64 > "$tmp/admin"; head -c 32 /dev/urandom | base64 > "$tmp/ro"
"$bin" serve --bind 127.0.0.1:0 --state-root "$tmp/state" --http-admin-token-file "$tmp/admin" --http-readonly-token-file "$tmp/ro" 2>"$tmp/log" &
pid=$!
url=$(daemon_url "$tmp/log")
sleep 0.5
rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
rounds=${BENCH_ROUNDS:-3}
dur=${BENCH_SECONDS:-5}
run() { wrk -t2 -c32 -d"${dur}s" --latency "$@" 2>&1; }
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
p99() { awk '$1=="99%" {print $2}' <<<"$1"; }
non2xx() { awk '/Non-2xx/ {print $4}' <<<"$1"; }
wrk -t1 -c4 -d1s "$url/healthz" >/dev/null 2>&1 # warm-up
h_all=""; s_all=""; ratios=""
for r in $(seq "$rounds"); do
  h=$(run "$url/healthz")
  s=$(run -H "Authorization: Bearer $(cat "$tmp/ro")" "$url/v1/status")
  h_rps=$(rps "$h"); s_rps=$(rps "$s")
  ratio=$(awk -v a="$s_rps" -v b="$h_rps" 'BEGIN {printf "%.2f", a/b}')
  echo "round $r: GET /healthz $h_rps req/s (p99 $(p99 "$h")), GET /v1/status (ro tok) $s_rps req/s (p99 $(p99 "$s")), ratio $ratio$( [ -n "$(non2xx "$h")$(non2xx "$s")" ] && echo " NON-2xx: $(non2xx "$h") $(non2xx "$s")")"
  h_all="$h_all $h_rps"; s_all="$s_all $s_rps"; ratios="$ratios $ratio"
done
echo "GET /healthz            : median $(median <<<"$h_all") req/s"
echo "GET /v1/status (ro tok) : median $(median <<<"$s_all") req/s"
echo "ratio authenticated/ceiling: median $(median <<<"$ratios") of$ratios (target >= 0.80)"
echo "idle RSS: $((rss_idle / 1024)) MB (target <= 40 MB); after $((2 * rounds * dur)) s of load: $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MB (target <= 64 MB)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
