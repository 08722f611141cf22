#!/usr/bin/env bash
# Egress proxy under load (issue 8): one nginx (Debian package) serves a small static JSON as
# the provider stand-in and, in a second server block, proxy_passes to it with keep-alive.
# wrk drives, in one run and with the same settings: the upstream directly, nginx proxy_pass,
# and our proxy (/agent/v1/routes/openai/models with an API key and a run id, so every call is
# a route lease + a started and a completed ledger record, fsynced with group commit).
# Prints req/s, p50/p99 and the ratios. Targets: ours >= 0.5 x nginx req/s; p50 added <= 1 ms.
# Second peer (issue 16): Portkey's AI gateway (@portkey-ai/gateway from npm, installed into
# .cache/bench-npm), which forwards to the same loopback upstream with no audit. It answers GET
# /v1/models with a 500, so that comparison is POST /v1/chat/completions for both (ours with its
# lease and two ledger records, Portkey with x-portkey-custom-host). BENCH_NO_PORTKEY=1 skips it.
# BENCH_KEY_ARGS adds generate-key flags (per-key limits, issue 18) to the bench key.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/bench-common.sh
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
bin=${KHEISH_DAEMON_BIN:-artifacts/kheish-daemon}
[ -x "$bin" ] || { echo "no $bin: run scripts/publish.sh first" >&2; exit 1; }

tmp=$(mktemp -d)
pid=""; npid=""
pkpid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$npid" ] && kill "$npid" 2>/dev/null; [ -n "$pkpid" ] && kill "$pkpid" 2>/dev/null; sleep 0.2; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
up_port=$(free_port); px_port=$(free_port)

mkdir -p "$tmp/www/v1"; chmod 755 "$tmp"  # nginx workers run unprivileged and must read www/
printf '{"object":"list","data":[{"id":"gpt-bench","object":"model","created":1700000000,"owned_by":"bench"}]}' > "$tmp/www/v1/models"; chmod -R a+rX "$tmp/www"
nginx_conf "$tmp" <<CONF
  upstream provider { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$up_port; root $tmp/www;
    location = /v1/chat/completions { return 200 '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'; }
  }
  server {
    listen 127.0.0.1:$px_port;
    location / { proxy_pass http://provider; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
CONF
"$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp" &
npid=$!

# Our daemon: one route to the same upstream, its key in the encrypted store, one API key.
export KHEISH_AUTH_STORE_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export XDG_CONFIG_HOME="$tmp/xdg"
mkdir -p "$tmp/project"
cat > "$tmp/routes.toml" <<TOML
version = 1
default_route = "openai"

[routes.openai]
driver = "openai"
default_model = "gpt-bench"
auth_ref = "openai.bench"
base_url = "http://127.0.0.1:$up_port/v1"
TOML
PROVIDER_KEY="sk-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  "$bin" secrets set openai.bench --offline --state-root "$tmp/state" --provider openai --from-env PROVIDER_KEY >/dev/null
# BENCH_KEY_ARGS: extra generate-key flags, e.g. limits (--rate-limit N --max-concurrent N --budget-...),
# to measure the per-key limit checks on the hot path against a run without them.
# shellcheck disable=SC2086
key=$("$bin" security generate-key --project-root "$tmp/project" --principal agent:bench ${BENCH_KEY_ARGS:-} -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
"$bin" serve --bind 127.0.0.1:0 --state-root "$tmp/state" --project-root "$tmp/project" --routes-file "$tmp/routes.toml" \
  --http-admin-token "$(head -c 32 /dev/urandom | base64)" 2>"$tmp/log" &
pid=$!
url=$(daemon_url "$tmp/log" 100)
[ -n "$url" ] || { cat "$tmp/log"; exit 1; }

direct="http://127.0.0.1:$up_port/v1/models"
viangx="http://127.0.0.1:$px_port/v1/models"
ours="$url/agent/v1/routes/openai/models"
hdr=(-H "X-API-Key: $key" -H "X-Kheish-Run-Id: bench-run")
code=$(curl -sS -o "$tmp/smoke" -w "%{http_code}" "${hdr[@]}" "$ours"); [ "$code" = 200 ] || { echo "proxy smoke call failed: $code $(cat "$tmp/smoke")"; cat "$tmp/log"; exit 1; }

dur=${BENCH_SECONDS:-8}
conns=${BENCH_CONNECTIONS:-32}
run() { wrk -t2 -c"$conns" -d"${dur}s" --latency "$@" 2>&1; }
# Warm-up (JIT-free AOT binary, but pools and the ledger bucket get created).
wrk -t1 -c4 -d1s "$direct" >/dev/null 2>&1; wrk -t1 -c4 -d1s "$viangx" >/dev/null 2>&1; wrk -t1 -c4 -d2s "${hdr[@]}" "$ours" >/dev/null 2>&1
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
d=$(run "$direct"); n=$(run "$viangx")
c0=$(cpu "$pid"); o=$(run "${hdr[@]}" "$ours"); c1=$(cpu "$pid")
# Latency at low load (1 connection): added latency without queueing.
d1=$(wrk -t1 -c1 -d3s --latency "$direct" 2>&1); o1=$(wrk -t1 -c1 -d3s --latency "${hdr[@]}" "$ours" 2>&1)

rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
pct() { awk -v p="$2" '$1==p {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f", v}' <<<"$1"; }
non2xx() { awk '/Non-2xx/ {print " NON-2xx: " $4}' <<<"$1"; }
line() { printf '%-34s %10s req/s   p50 %8s ms   p99 %8s ms%s\n' "$1" "$(rps "$2")" "$(pct "$2" 50%)" "$(pct "$2" 99%)" "$(non2xx "$2")"; }
echo "wrk -t2 -c$conns -d${dur}s, $(nproc) cores shared by wrk, nginx and the daemon"
line "direct upstream (nginx static)" "$d"
line "nginx proxy_pass" "$n"
line "kheish egress (lease + 2 records)" "$o"
echo "ratio ours/nginx req/s: $(awk -v a="$(rps "$o")" -v b="$(rps "$n")" 'BEGIN {printf "%.2f", a/b}') (target >= 0.35, issue 16)"
echo "p50 added over direct at -c$conns: $(awk -v a="$(pct "$o" 50%)" -v b="$(pct "$d" 50%)" 'BEGIN {printf "%.3f", a-b}') ms"
echo "p50 added over direct at -c1:  $(awk -v a="$(pct "$o1" 50%)" -v b="$(pct "$d1" 50%)" 'BEGIN {printf "%.3f", a-b}') ms (target <= 1 ms)  [direct $(pct "$d1" 50%) ms, ours $(pct "$o1" 50%) ms, ours $(rps "$o1") req/s]"
echo "daemon CPU per proxied call: $(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v r="$(rps "$o")" -v s="$dur" 'BEGIN {printf "%.0f", t / hz / (r * s) * 1e6}') us (utime+stime over the -c$conns run)"
echo "broker state after the run: $(du -k "$tmp/state/auth" | tail -1 | cut -f1) KiB (target <= 1024 KiB; proxy route leases are in memory only)"
echo "daemon RSS after the runs: $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MB (target <= 64 MB); load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${BENCH_SPLIT:-}" ]; then
  c0=$(cpu "$pid"); w=$(run -H "X-API-Key: $key" "$url/agent/v1/whoami"); c1=$(cpu "$pid")
  line "whoami (agent-plane auth only)" "$w"
  echo "daemon CPU per whoami: $(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v r="$(rps "$w")" -v s="$dur" 'BEGIN {printf "%.0f", t / hz / (r * s) * 1e6}') us"
fi
records=$(wc -l < "$tmp/state/external-actions/bench-run.jsonl")
echo "ledger records written for bench-run: $records"

if [ -z "${BENCH_NO_PORTKEY:-}" ]; then
  pk_dir=.cache/bench-npm
  if [ ! -f "$pk_dir/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    mkdir -p "$pk_dir"; [ -f "$pk_dir/package.json" ] || echo '{"name":"kheish-bench-peers","private":true}' > "$pk_dir/package.json"
    (cd "$pk_dir" && npm install --no-audit --no-fund --silent @portkey-ai/gateway@1 >/dev/null 2>&1) || echo "portkey: npm install failed; skipped"
  fi
  if [ -f "$pk_dir/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    pk_port=$(free_port)
    node "$pk_dir/node_modules/@portkey-ai/gateway/build/start-server.js" --port="$pk_port" --headless >"$tmp/portkey.log" 2>&1 &
    pkpid=$!
    body='{"model":"gpt-bench","messages":[{"role":"user","content":"hi"}]}'
    cat > "$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
    pk="http://127.0.0.1:$pk_port/v1/chat/completions"
    pkh=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: http://127.0.0.1:$up_port/v1" -H "Authorization: Bearer sk-bench-portkey")
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$pk_port/" && break; sleep 0.1; done
    code=$(curl -sS -o "$tmp/pksmoke" -w "%{http_code}" "${pkh[@]}" -H 'Content-Type: application/json' -d "$body" "$pk" || true)
    ochat="$url/agent/v1/routes/openai/chat/completions"
    ocode=$(curl -sS -o "$tmp/osmoke" -w "%{http_code}" "${hdr[@]}" -H 'Content-Type: application/json' -d "$body" "$ochat" || true)
    if [ "$code" != 200 ] || [ "$ocode" != 200 ]; then
      echo "portkey comparison skipped: smoke calls answered portkey $code ($(head -c 200 "$tmp/pksmoke")), ours $ocode ($(head -c 200 "$tmp/osmoke"))"
    else
      wrk -t1 -c4 -d1s -s "$tmp/post.lua" "${pkh[@]}" "$pk" >/dev/null 2>&1; wrk -t1 -c4 -d1s -s "$tmp/post.lua" "${hdr[@]}" "$ochat" >/dev/null 2>&1
      pd=$(run -s "$tmp/post.lua" "http://127.0.0.1:$up_port/v1/chat/completions")
      pp=$(run -s "$tmp/post.lua" "${pkh[@]}" "$pk")
      po=$(run -s "$tmp/post.lua" "${hdr[@]}" "$ochat")
      echo "POST /v1/chat/completions, same wrk settings, Portkey $(node -p "require('./$pk_dir/node_modules/@portkey-ai/gateway/package.json').version") on node $(node --version):"
      line "direct upstream (nginx return)" "$pd"
      line "portkey gateway (no audit)" "$pp"
      line "kheish egress (lease + 2 records)" "$po"
      echo "ratio ours/portkey req/s: $(awk -v a="$(rps "$po")" -v b="$(rps "$pp")" 'BEGIN {printf "%.2f", a/b}') (target >= 2.00)"
      echo "p50 ours vs portkey: $(pct "$po" 50%) ms vs $(pct "$pp" 50%) ms"
    fi
  fi
fi
