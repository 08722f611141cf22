#!/usr/bin/env bash
# Connectors (issue 15): sequential latency of a sidecar's credential fetch (lease check, scope,
# slot read, one durable ledger record) and of a verified Slack ingress request (HMAC check,
# replay cache, one durable ledger record, queue), both over keep-alive loopback HTTP. Prints
# p50/p99 and the machine's raw fsync latency is what dominates both.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/bench-common.sh
bin=artifacts/kheish-daemon
py=$(python3 -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
n=${BENCH_REQUESTS:-300}
admin=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
KHEISH_AUTH_STORE_MASTER_KEY=$(head -c 32 /dev/urandom | base64) \
  "$bin" serve --bind 127.0.0.1:0 --state-root "$tmp/state" --http-admin-token "$admin" 2>"$tmp/log" &
pid=$!
url=$(daemon_url "$tmp/log")
cat > "$tmp/lat.py" <<'PY'
import hashlib, hmac, http.client, json, os, sys, time, urllib.parse
def pct(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000
def run(label, n, send):
    conn = http.client.HTTPConnection(urllib.parse.urlparse(os.environ["BENCH_URL"]).netloc)
    lat = []
    for i in range(n):
        t = time.perf_counter(); status = send(conn, i); lat.append(time.perf_counter() - t)
        assert status == 200, status
    print(f"{label}: n={n} p50 {pct(lat, .5):.2f} ms  p99 {pct(lat, .99):.2f} ms")
mode, n = sys.argv[1], int(sys.argv[2])
if mode == "fetch":
    tok = os.environ["KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN"]
    def send(c, i):
        c.request("GET", "/v1/connectors/external/bench/credentials/KEY", headers={"Authorization": "Bearer " + tok})
        r = c.getresponse(); r.read(); return r.status
    with open(sys.argv[3], "w") as f:
        sys.stdout = f; run("credential fetch (sidecar)", n, send)
else:
    secret = sys.argv[3].encode()
    def send(c, i):
        body = json.dumps({"type": "event_callback", "event": {"n": i}}); ts = str(int(time.time()))
        sig = "v0=" + hmac.new(secret, f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        c.request("POST", "/v1/connectors/slack/team/ingress", body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, "Content-Type": "application/json"})
        r = c.getresponse(); r.read(); return r.status
    run("slack ingress (verified)", n, send)
PY
put() { curl -sf -XPUT "$url/v1/runtime/connectors/$1" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "$2" >/dev/null; }
put slack/team '{"signing_secret":{"value":"bench-signing-secret"}}'
put external/bench "{\"command\":\"$py\",\"args\":[\"$tmp/lat.py\",\"fetch\",\"$n\",\"$tmp/fetch.txt\"],\"env\":{\"BENCH_URL\":\"$url\"},\"env_keys\":{\"KEY\":{\"value\":\"bench-value\"}}}"
BENCH_URL=$url "$py" "$tmp/lat.py" slack "$n" bench-signing-secret
for _ in $(seq 1 600); do [ -s "$tmp/fetch.txt" ] && break; sleep 0.1; done
cat "$tmp/fetch.txt"
