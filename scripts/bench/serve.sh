#!/usr/bin/env bash
# Control plane under load (issue 4): wrk on loopback, in one run, GET /healthz (the ceiling:
# no auth, no work) vs GET /v1/status with a read-only bearer token. Prints req/s, p99 and the
# ratio, and the idle RSS of the AOT binary.
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
# 2 runs of 15 s: the RSS after load is the figure after 30 s of load (issue 16).
dur=${BENCH_SECONDS:-15}
run() { wrk -t2 -c32 -d"${dur}s" --latency "$@" 2>&1; }
wrk -t1 -c4 -d1s "$url/healthz" >/dev/null 2>&1 # warm-up
h=$(run "$url/healthz")
s=$(run -H "Authorization: Bearer $(cat "$tmp/ro")" "$url/v1/status")
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
p99() { awk '$1=="99%" {print $2}' <<<"$1"; }
non2xx() { awk '/Non-2xx/ {print $4}' <<<"$1"; }
h_rps=$(rps "$h"); s_rps=$(rps "$s")
echo "GET /healthz            : $h_rps req/s, p99 $(p99 "$h") $( [ -n "$(non2xx "$h")" ] && echo "NON-2xx: $(non2xx "$h")")"
echo "GET /v1/status (ro tok) : $s_rps req/s, p99 $(p99 "$s") $( [ -n "$(non2xx "$s")" ] && echo "NON-2xx: $(non2xx "$s")")"
echo "ratio authenticated/ceiling: $(awk -v a="$s_rps" -v b="$h_rps" 'BEGIN {printf "%.2f", a/b}') (target >= 0.80)"
echo "idle RSS: $((rss_idle / 1024)) MB (target <= 40 MB); after $((2 * dur)) s of load: $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MB (target <= 64 MB)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
