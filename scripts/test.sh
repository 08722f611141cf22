#!/usr/bin/env bash
# The test command: publishes the AOT binary (the end-to-end tests run it), installs the
# real peers the tests talk to, builds and runs every test project, and prints one closing
# line "N passed, N failed, N skipped". Exits non-zero on any failure or when nothing ran.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== publish (native AOT) =="
if ! scripts/publish.sh; then
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
export KHEISH_DAEMON_BIN="$root/artifacts/kheish-daemon"
export KHEISH_CONFORMANCE_DIR="${KHEISH_CONFORMANCE_DIR:-$root/../shared/conformance}"

if [ -x scripts/test-deps.sh ]; then
  echo "== test dependencies =="
  if ! scripts/test-deps.sh; then
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
  fi
  # test-deps.sh writes the environment the tests need (paths of npm peers, ...).
  if [ -f .cache/test-env.sh ]; then
    # shellcheck disable=SC1091
    . .cache/test-env.sh
  fi
fi

echo "== build =="
if ! dotnet build Kheish.sln -c Debug -nologo -v q; then
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

passed=0; failed=0; skipped=0; broken=0
for proj in tests/*/*.csproj; do
  name=$(basename "$proj" .csproj)
  exe="$(dirname "$proj")/bin/Debug/$(cat artifacts/kheish-daemon.tfm 2>/dev/null || echo net10.0)/$name"
  [ -x "$exe" ] || exe="$(dirname "$proj")/bin/Debug/net10.0/$name"
  echo "== $name =="
  log=$(mktemp)
  "$exe" -noColor ${KHEISH_TEST_ARGS:-} 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # xunit v3: "Kheish.Core.Tests  Total: 3, Errors: 0, Failed: 0, Skipped: 0, Not Run: 0, Time: ..."
  line=$(grep -E "Total: [0-9]+, Errors: [0-9]+, Failed: [0-9]+, Skipped: [0-9]+" "$log" | tail -1)
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "$name: no summary line (exit $rc)"
    broken=$((broken + 1))
    continue
  fi
  t=$(sed -E 's/.*Total: ([0-9]+).*/\1/' <<<"$line")
  e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failed: ([0-9]+).*/\1/' <<<"$line")
  s=$(sed -E 's/.*Skipped: ([0-9]+).*/\1/' <<<"$line")
  n=$(sed -E 's/.*Not Run: ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + t - f - s - n))
  failed=$((failed + f + e))
  skipped=$((skipped + s + n))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "$e" -eq 0 ]; then
    broken=$((broken + 1))
  fi
done

failed=$((failed + broken))
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
exit 0
