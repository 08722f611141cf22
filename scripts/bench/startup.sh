#!/usr/bin/env bash
# Startup with a large ledger (issue 16): `serve` from exec to its ready line, and to the first
# successful GET /readyz, on a 1,000,000-record ledger in 10,000 buckets and on one 10x smaller
# (100,000 records in 1,000 buckets). Target: <= 0.3 s, and independent of ledger size (ratio ~1).
# The ledgers are built once, through the real ledger code (signed, chained, group-committed,
# sequenced into the transparency log), by `Kheish.Bench fill` into BENCH_CACHE (default
# .cache/bench/startup), and checked once with `runs verify --all`. Each size is timed
# BENCH_RUNS times (default 9; the median is the figure: a start takes 50-90 ms and jitters by
# ~10 ms on this VM, so a median of 3 moved the ratio by ±0.15); every run ends with SIGTERM (a clean stop).
# An empty state root is timed the same way first: the floor of this machine at this load.
# Env: KHEISH_DAEMON_BIN, BENCH_CACHE, BENCH_RUNS, BENCH_BIG="records buckets", BENCH_SMALL="records buckets".
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${KHEISH_DAEMON_BIN:-artifacts/kheish-daemon}
[ -x "$bin" ] || { echo "no $bin: run scripts/publish.sh first" >&2; exit 1; }
cache=${BENCH_CACHE:-.cache/bench/startup}
runs=${BENCH_RUNS:-9}
read -r big_n big_b <<<"${BENCH_BIG:-1000000 10000}"
read -r small_n small_b <<<"${BENCH_SMALL:-100000 1000}"
tmp=$(mktemp -d); pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# Builds <cache>/<records>-<buckets>/state once; a partial build (no .done marker) is redone.
ledger_for() {
  local n=$1 b=$2 dir="$cache/$1-$2"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== building a $n-record ledger in $b buckets (once) into $dir ==" >&2
    dotnet build bench/Kheish.Bench/Kheish.Bench.csproj -c Release -nologo -v q >/dev/null
    bench/Kheish.Bench/bin/Release/net10.0/Kheish.Bench fill "$dir/state" "$n" "$b" >&2
    echo "== runs verify --all ==" >&2
    "$bin" runs verify --all --state-root "$dir/state" --output json | head -c 400 >&2; echo >&2
    touch "$dir/.done"
  fi
  echo "$dir/state"
}

now() { date +%s%N; }

# One start: prints "<ms to ready line> <ms to first 200 from /readyz> <bytes read by the process up
# to its ready line (/proc/<pid>/io rchar)>", then stops the daemon cleanly.
start_once() {
  local state=$1 fifo="$tmp/fifo" t0 t_ready t_http url line rchar=0
  rm -f "$fifo"; mkfifo "$fifo"
  t0=$(now)
  "$bin" serve --bind 127.0.0.1:0 --state-root "$state" --http-admin-token-file "$tmp/admin" 2>"$fifo" >/dev/null &
  pid=$!
  url=""
  exec 3<"$fifo"
  while IFS= read -r line <&3; do
    if [[ "$line" == *"listening on"* ]]; then
      t_ready=$(now)
      rchar=$(awk '/^rchar/ {print $2}' "/proc/$pid/io" 2>/dev/null || echo 0)
      url=$(grep -oE 'http://127.0.0.1:[0-9]+' <<<"$line" | head -1)
      break
    fi
  done
  [ -n "$url" ] || { echo "serve did not start" >&2; exit 1; }
  cat <&3 >/dev/null & local drain=$!
  until curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; do :; done
  t_http=$(now)
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  wait "$drain" 2>/dev/null || true
  exec 3<&-
  echo "$(( (t_ready - t0) / 1000000 )) $(( (t_http - t0) / 1000000 )) $rchar"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

head -c 32 /dev/urandom | base64 >"$tmp/admin"; chmod 600 "$tmp/admin"
declare -A ready http
# The floor: the same start on an empty state root (no ledger at all), in the same run.
for size in empty small big; do
  if [ $size = big ]; then n=$big_n; b=$big_b; elif [ $size = small ]; then n=$small_n; b=$small_b; else n=0; b=0; fi
  if [ $size = empty ]; then state="$tmp/empty-state"; else state=$(ledger_for "$n" "$b"); fi
  start_once "$state" >/dev/null # warm the page cache and the binary
  r=(); h=(); io=()
  for _ in $(seq "$runs"); do
    read -r a c d < <(start_once "$state")
    r+=("$a"); h+=("$c"); io+=("$d")
  done
  ready[$size]=$(printf '%s\n' "${r[@]}" | median)
  http[$size]=$(printf '%s\n' "${h[@]}" | median)
  kib=$(( $(printf '%s\n' "${io[@]}" | median) / 1024 ))
  echo "serve, $n records in $b buckets ($(du -sm "$state" | cut -f1) MB): ready line ${ready[$size]} ms, first /readyz 200 ${http[$size]} ms, ${kib} KiB read before ready (runs: ready ${r[*]} / http ${h[*]} ms)"
done
echo "ratio big/small ledger (ready line): $(awk -v a="${ready[big]}" -v b="${ready[small]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}') (target ~1.0: independent of ledger size)"
echo "ready line with $big_n records: ${ready[big]} ms, first /readyz ${http[big]} ms (target <= 300 ms); empty state root in this run: ${ready[empty]} ms, first /readyz ${http[empty]} ms"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
