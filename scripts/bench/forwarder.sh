#!/usr/bin/env bash
# Issue 16: YARP's IHttpForwarder (Yarp.ReverseProxy 2.3.0) against the egress proxy's own
# forwarding, measured side by side. bench/Kheish.ForwardBench is published native (as the
# daemon is) and listens three times, each forwarding GET /v1/models to one nginx serving a
# static JSON:
#   hand        the egress proxy's forwarding code path (header rules, injected credential,
#               SHA-256 of the body, echo redactor, flush per read), without lease and ledger
#   yarp        IHttpForwarder + HttpTransformer.Empty: YARP's floor, none of our rules
#   yarp-rules  IHttpForwarder with our header rules, credential, hashing and redaction
# wrk drives them in alternated rounds (BENCH_ROUNDS, default 3, BENCH_SECONDS each, default 5);
# prints the median req/s and the forwarder process's CPU per call (utime+stime / requests) of
# each, and the ratios against hand. Lease and ledger cost the same under either forwarder.
# Also prints the trim/AOT warnings of the native publish (adoption needs none).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/bench-common.sh
need_wrk
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.2; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

out=.cache/forwardbench
dotnet publish bench/Kheish.ForwardBench -c Release -r linux-x64 -p:PublishAot=true -o "$out" -nologo >"$tmp/publish.log" 2>&1 || { cat "$tmp/publish.log"; exit 1; }
warnings=$(grep -cE 'warning (IL|CA)[0-9]+' "$tmp/publish.log" || true)

up_port=$(free_port); hand_port=$(free_port); yarp_port=$(free_port); rules_port=$(free_port)
mkdir -p "$tmp/www/v1"; chmod 755 "$tmp"
printf '{"object":"list","data":[{"id":"gpt-bench","object":"model","created":1700000000,"owned_by":"bench"}]}' > "$tmp/www/v1/models"; chmod -R a+rX "$tmp/www"
nginx_conf "$tmp" <<CONF
  server { listen 127.0.0.1:$up_port; root $tmp/www; }
CONF
"$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp" & pids+=($!)
"$out/Kheish.ForwardBench" "http://127.0.0.1:$up_port" "$hand_port" "$yarp_port" "$rules_port" >"$tmp/fwd.log" 2>&1 & fpid=$!; pids+=($fpid)
wait_port "$up_port"; wait_port "$hand_port"
for p in "$hand_port" "$yarp_port" "$rules_port"; do
  body=$(curl -sS "http://127.0.0.1:$p/v1/models")
  [[ "$body" == *gpt-bench* ]] || { echo "forwarder on $p answered: $body"; cat "$tmp/fwd.log"; exit 1; }
done

dur=${BENCH_SECONDS:-5}; conns=${BENCH_CONNECTIONS:-32}; rounds=${BENCH_ROUNDS:-3}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for p in "$hand_port" "$yarp_port" "$rules_port"; do wrk -t1 -c4 -d1s "http://127.0.0.1:$p/v1/models" >/dev/null 2>&1; done
declare -A rps us
for r in $(seq "$rounds"); do
  for v in hand yarp rules; do
    case $v in hand) p=$hand_port ;; yarp) p=$yarp_port ;; rules) p=$rules_port ;; esac
    c0=$(cpu "$fpid"); o=$(wrk -t2 -c"$conns" -d"${dur}s" "http://127.0.0.1:$p/v1/models" 2>&1); c1=$(cpu "$fpid")
    grep -q Non-2xx <<<"$o" && { echo "$v: non-2xx answers"; echo "$o"; exit 1; }
    x=$(awk '/Requests\/sec/ {print $2}' <<<"$o")
    rps[$v]="${rps[$v]:-} $x"
    us[$v]="${us[$v]:-} $(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v r="$x" -v s="$dur" 'BEGIN {printf "%.1f", t / hz / (r * s) * 1e6}')"
  done
done
echo "wrk -t2 -c$conns -d${dur}s, $rounds alternated rounds, $(nproc) cores shared by wrk, nginx and the forwarder"
for v in hand yarp rules; do
  printf '%-11s req/s %-28s median %8.0f   CPU per call (us) %-22s median %6.1f\n' "$v" "${rps[$v]}" "$(median <<<"${rps[$v]}")" "${us[$v]}" "$(median <<<"${us[$v]}")"
done
mh=$(median <<<"${rps[hand]}"); my=$(median <<<"${rps[yarp]}"); mr=$(median <<<"${rps[rules]}")
ch=$(median <<<"${us[hand]}"); cy=$(median <<<"${us[yarp]}"); cr=$(median <<<"${us[rules]}")
echo "ratio req/s yarp/hand $(awk -v a="$my" -v b="$mh" 'BEGIN {printf "%.2f", a/b}'), yarp-rules/hand $(awk -v a="$mr" -v b="$mh" 'BEGIN {printf "%.2f", a/b}'); CPU per call yarp/hand $(awk -v a="$cy" -v b="$ch" 'BEGIN {printf "%.2f", a/b}'), yarp-rules/hand $(awk -v a="$cr" -v b="$ch" 'BEGIN {printf "%.2f", a/b}') (adopt YARP only if yarp-rules is measurably cheaper than hand)"
echo "native publish of the forwarder bench (Yarp.ReverseProxy $(grep -oP 'Yarp.ReverseProxy" Version="\K[^"]+' Directory.Packages.props)): $warnings trim/AOT warnings"
echo "forwarder RSS after the runs: $(( $(awk '/VmRSS/ {print $2}' /proc/$fpid/status) / 1024 )) MB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
