#!/usr/bin/env bash
# Secret store benchmark (not a test): a 1,000-slot encrypted store.
#   - `secrets list --offline`: native AOT binary vs the same build on the JIT
#     (`dotnet artifacts/jit/kheish-daemon.dll`), medians, ratio.  Target: AOT <= 25 ms, >= 4x faster.
#   - `secrets set --offline` into that store (AOT): median.          Target: <= 50 ms.
# Uses hyperfine (installed from apt when missing); falls back to a timing loop without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
runs=${BENCH_RUNS:-30}

aot="$root/artifacts/kheish-daemon"
if [ ! -x "$aot" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
  scripts/publish.sh >&2
fi
if [ ! -f artifacts/jit/kheish-daemon.dll ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
  echo "bench/secrets: publishing the JIT build to artifacts/jit ..." >&2
  dotnet publish src/Kheish.Daemon -c Release -o artifacts/jit -nologo -v q >&2
fi
jit=(dotnet "$root/artifacts/jit/kheish-daemon.dll")

if ! command -v hyperfine >/dev/null 2>&1; then
  echo "bench/secrets: installing hyperfine ..." >&2
  (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq hyperfine >/dev/null 2>&1) || true
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
state="$work/state"
export KHEISH_AUTH_STORE_MASTER_KEY
KHEISH_AUTH_STORE_MASTER_KEY=$("$aot" secrets generate)
export BENCH_VALUE="sk-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# A legacy plaintext store of 1,000 slots, encrypted by the first `set` (the migration path).
mkdir -p "$state/auth"
chmod 700 "$state" "$state/auth"
{
  printf '{"slots":{'
  for i in $(seq 1 1000); do
    [ "$i" -gt 1 ] && printf ','
    printf '"slot-%04d":{"slot_id":"slot-%04d","provider":"openai","mode":"api_key","state":{"api_key":"sk-%04d-0123456789abcdef0123456789abcdef"},"updated_at_ms":1700000000000}' "$i" "$i" "$i"
  done
  printf '}}'
} > "$state/auth/global-slots.json"
chmod 600 "$state/auth/global-slots.json"
"$aot" secrets set bench-slot --provider openai --from-env BENCH_VALUE --offline --state-root "$state" >/dev/null
count=$("$aot" secrets list --offline --state-root "$state" --output json | grep -o '"slot_id"' | wc -l)
[ "$count" -eq 1001 ] || { echo "bench/secrets: expected 1001 slots, found $count" >&2; exit 1; }

# median_ms NAME CMD...: median wall time of CMD in milliseconds.
median_ms() {
  local name=$1; shift
  if command -v hyperfine >/dev/null 2>&1; then
    local json="$work/$name.json"
    hyperfine -N --warmup 3 --runs "$runs" --export-json "$json" -- "$(printf '%q ' "$@")" >/dev/null 2>&1 \
      || hyperfine --warmup 3 --runs "$runs" --export-json "$json" -- "$(printf '%q ' "$@")" >/dev/null
    local median user system
    median=$(grep -o '"median": *[0-9.e-]*' "$json" | head -1 | awk -F: '{print $2}')
    user=$(grep -o '"user": *[0-9.e-]*' "$json" | head -1 | awk -F: '{print $2}')
    system=$(grep -o '"system": *[0-9.e-]*' "$json" | head -1 | awk -F: '{print $2}')
    # "median_ms cpu_ms": wall-clock median, and mean user+system CPU (robust on a busy machine).
    awk -v m="$median" -v u="$user" -v s="$system" 'BEGIN {printf "%.2f %.2f", m * 1000, (u + s) * 1000}'
  else
    local times=() i start end
    for i in $(seq 1 3); do "$@" >/dev/null; done
    for i in $(seq 1 "$runs"); do
      start=$(date +%s%N); "$@" >/dev/null; end=$(date +%s%N)
      times+=("$(( (end - start) / 1000 ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f n/a", m / 1000}'
  fi
}

read -r aot_list aot_list_cpu <<<"$(median_ms aot-list "$aot" secrets list --offline --state-root "$state" --output json)"
read -r jit_list jit_list_cpu <<<"$(median_ms jit-list "${jit[@]}" secrets list --offline --state-root "$state" --output json)"
read -r aot_set aot_set_cpu <<<"$(median_ms aot-set "$aot" secrets set bench-slot --provider openai --from-env BENCH_VALUE --offline --state-root "$state")"
ratio=$(awk -v a="$aot_list" -v j="$jit_list" 'BEGIN {printf "%.1f", j / a}')

echo "secrets (1,001-slot encrypted store, $runs runs each, $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)):"
echo "  secrets list --offline  AOT median ${aot_list} ms (cpu ${aot_list_cpu} ms)  JIT median ${jit_list} ms (cpu ${jit_list_cpu} ms)  JIT/AOT ${ratio}x  (target: AOT <= 25 ms, >= 4x)"
echo "  secrets set  --offline  AOT median ${aot_set} ms (cpu ${aot_set_cpu} ms)  (target: <= 50 ms)"
