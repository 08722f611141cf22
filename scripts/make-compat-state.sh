#!/usr/bin/env bash
# Writes the backward-compatibility test data (issue 11): a small state root made by the
# kheish-daemon of commit f2e81d5 (v0.1, Ed25519 through OpenSSL, before NSec), kept under
# tests/Kheish.Daemon.Tests/TestData/compat-v0.1/. CompatStateTests checks that today's binary
# verifies its ledger, decrypts its store and broker state, and appends to it.
#
# Run once; commit what it writes. It builds the old binary in a temporary git worktree
# (scripts/publish.sh there, ~5-10 min on 2 cores), or uses KHEISH_COMPAT_BIN when set (a binary
# built from that commit). Nothing here is a real secret: the master key and the slot values are
# fixed test values, written out in manifest.json so the test can use them.
#
# What the state root holds:
#   audit-signing.key                      created by the old daemon on first start
#   external-actions/compat-run-1.jsonl    2 probe actions (4 records), via POST test-action
#   external-actions/session-compat-s1...  1 probe action (2 records)
#   external-actions/unscoped.jsonl        1 probe action (2 records)
#   external-action-checkpoints/           signed checkpoints and index
#   auth/...                               the encrypted slot store (2 slots), the encrypted
#                                          broker snapshot and journal (1 session, 1 revoked subject)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
commit=f2e81d5
out=tests/Kheish.Daemon.Tests/TestData/compat-v0.1
# Fixed test key (base64 of 32 bytes): it encrypts test data only.
master_key="Y29tcGF0LXYwLjEtdGVzdC1tYXN0ZXIta2V5LTMyYg=="
admin_token="compat-admin-token-not-a-secret-0123456789"

work=$(mktemp -d -p "${TMPDIR:-/tmp}" kheish-compat.XXXXXX)
daemon_pid=""
cleanup() {
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  if [ -d "$work/src" ]; then git -C "$repo" worktree remove --force "$work/src" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${KHEISH_COMPAT_BIN:-}" ]; then
  bin=$KHEISH_COMPAT_BIN
else
  echo "compat: building kheish-daemon at $commit in a temporary worktree ..." >&2
  git -C "$repo" worktree add --detach "$work/src" "$commit" >/dev/null
  (cd "$work/src" && KHEISH_PUBLISH_TFMS=net10.0 scripts/publish.sh >&2)
  bin=$work/src/artifacts/kheish-daemon
fi
version=$("$bin" --version | head -1)
echo "compat: old binary $bin ($version)" >&2

root=$work/state
export KHEISH_AUTH_STORE_MASTER_KEY=$master_key
unset KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY_FILE KHEISH_STATE_ROOT

# Two slots in the encrypted store (offline, as an operator would).
printf 'compat-v0.1-openai-value-0001' | "$bin" --state-root "$root" secrets set compat.openai --provider openai --stdin --offline >/dev/null
printf 'compat-v0.1-generic-value-0002' | "$bin" --state-root "$root" secrets set compat.generic --provider generic --stdin --offline >/dev/null

# The ledger, a session and a lease-free broker state through the running daemon.
printf '%s' "$admin_token" > "$work/admin.token"
"$bin" --state-root "$root" serve --bind 127.0.0.1:0 --http-admin-token-file "$work/admin.token" >"$work/serve.log" 2>&1 &
daemon_pid=$!
# shellcheck source=lib/bench-common.sh
. scripts/lib/bench-common.sh
url=$(daemon_url "$work/serve.log" 100)
[ -n "$url" ] || { cat "$work/serve.log" >&2; echo "compat: the old daemon did not start" >&2; exit 1; }
post() {
  curl -sf -X POST -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' --data "$2" "$url$1" >/dev/null
}
post /v1/runtime/audit/test-action '{"run_id":"compat-run-1","target":"compat-probe-1"}'
post /v1/runtime/audit/test-action '{"run_id":"compat-run-1","target":"compat-probe-2"}'
post /v1/runtime/audit/test-action '{"session_id":"compat-s1","target":"compat-probe-3"}'
post /v1/runtime/audit/test-action '{"target":"compat-probe-4"}'
post /v1/sessions '{"session_id":"compat-s1"}'
post /v1/runtime/auth/subjects/agent:compat-revoked/revoke '{}'
kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=""

public_key=$("$bin" --state-root "$root" audit public-key)
"$bin" --state-root "$root" runs verify --all --public-key "$public_key" >&2

rm -rf "$out"
mkdir -p "$out"
cp -a "$root" "$out/state"
rm -f "$out/state/daemon.lock"
cat > "$out/manifest.json" <<JSON
{
  "written_by": "kheish-daemon $version (commit $commit) via scripts/make-compat-state.sh",
  "master_key": "$master_key",
  "public_key": "$public_key",
  "buckets": 3,
  "records": 8,
  "slots": {
    "compat.openai": "compat-v0.1-openai-value-0001",
    "compat.generic": "compat-v0.1-generic-value-0002"
  },
  "session": "compat-s1",
  "revoked_subject": "agent:compat-revoked"
}
JSON
echo "compat: wrote $out (public key $public_key)" >&2
find "$out" -type f | sort >&2
