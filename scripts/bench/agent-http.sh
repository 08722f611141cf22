#!/usr/bin/env bash
# Agent plane under load (issue 7): wrk on loopback, in one run, GET /healthz (the ceiling)
# vs GET /agent/v1/whoami with a valid X-API-Key, with 1 and with 1,000 keys configured.
# Lookup is by digest, so 1,000 keys must cost the same as 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/bench-common.sh
need_wrk
bin=${KHEISH_DAEMON_BIN:-$(pwd)/artifacts/kheish-daemon}
dur=${BENCH_SECONDS:-6}
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
p99() { awk '$1=="99%" {print $2}' <<<"$1"; }
for nkeys in 1 1000; do
  tmp=$(mktemp -d)
  mkdir -p "$tmp/project"
  export XDG_CONFIG_HOME="$tmp/xdg"
  key=$("$bin" security generate-key --project-root "$tmp/project" -o json | sed -E 's/.*"key":"([^"]+)".*/\1/')
  python3 - "$tmp/project/.kheish/security.json" "$nkeys" <<'PY'
import json, sys, hashlib, os
path, n = sys.argv[1], int(sys.argv[2])
doc = json.load(open(path))
for i in range(n - 1):
    d = hashlib.sha256(os.urandom(32)).hexdigest()
    doc["api_keys"].append({"id": d[:12], "digest": "sha256:" + d, "principal": f"apikey:{d[:12]}", "created_at": "2026-01-01T00:00:00Z"})
json.dump(doc, open(path, "w"))
PY
  "$bin" serve --bind 127.0.0.1:0 --state-root "$tmp/state" --project-root "$tmp/project" 2>"$tmp/log" &
  pid=$!
  url=$(daemon_url "$tmp/log")
  wrk -t1 -c4 -d1s "$url/healthz" >/dev/null 2>&1
  h=$(wrk -t2 -c32 -d"${dur}s" --latency "$url/healthz" 2>&1)
  w=$(wrk -t2 -c32 -d"${dur}s" --latency -H "X-API-Key: $key" "$url/agent/v1/whoami" 2>&1)
  bad=$(awk '/Non-2xx/ {print $4}' <<<"$w")
  echo "keys=$nkeys  healthz: $(rps "$h") req/s p99 $(p99 "$h") | whoami: $(rps "$w") req/s p99 $(p99 "$w")${bad:+ NON-2xx $bad} | ratio $(awk -v a="$(rps "$w")" -v b="$(rps "$h")" 'BEGIN {printf "%.2f", a/b}') (target >= 0.80)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
done
