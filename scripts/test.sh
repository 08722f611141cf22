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
  "$exe" --progress off --no-ansi --disable-logo ${KHEISH_TEST_ARGS:-} 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # Colour codes (CI=true makes the platform emit them) would hide the summary from grep.
  sed -i 's/\x1b\[[0-9;]*m//g' "$log"
  # TUnit (Microsoft.Testing.Platform) ends with a summary block:
  #   total: N / failed: N / succeeded: N / skipped: N
  t=$(grep -E '^\s*total: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  f=$(grep -E '^\s*failed: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  p=$(grep -E '^\s*succeeded: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  s=$(grep -E '^\s*skipped: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  rm -f "$log"
  if [ -z "$t" ] || [ -z "$f" ] || [ -z "$p" ] || [ -z "$s" ]; then
    echo "$name: no TUnit summary (exit $rc)"
    broken=$((broken + 1))
    continue
  fi
  echo "$name summary: total $t, succeeded $p, failed $f, skipped $s"
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$name: exit $rc with no failed test"
    broken=$((broken + 1))
  fi
done

failed=$((failed + broken))
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
exit 0
