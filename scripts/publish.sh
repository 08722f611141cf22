#!/usr/bin/env bash
# Publishes the single-file native AOT binary to artifacts/kheish-daemon (net10.0, linux-x64).
# PublishAot is set here, never in a project file. The binary is one file: libsodium is embedded
# in it (src/Kheish.Core/Crypto/Libsodium.cs), so nothing beside it is needed at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

out=artifacts
rid=linux-x64
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "publish: native AOT for net10.0 ..." >&2
if ! dotnet publish src/Kheish.Daemon/Kheish.Daemon.csproj -c Release -r "$rid" \
    -p:PublishAot=true -o "$out/publish" -nologo "$@" >"$log" 2>&1; then
  echo "publish: native AOT failed; full log:" >&2
  cat "$log" >&2
  exit 1
fi
# Trim/AOT warnings are errors (TreatWarningsAsErrors), but ILC prints some as plain warnings.
if grep -E "warning (IL|CS)[0-9]+" "$log" >&2; then
  echo "publish: the native AOT build printed warnings (above); they must be fixed" >&2
  exit 1
fi

# Copy then rename: a running copy of the old binary (a test daemon, a bench) stays valid.
cp "$out/publish/kheish-daemon" "$out/kheish-daemon.new" && mv -f "$out/kheish-daemon.new" "$out/kheish-daemon"
chmod 0755 "$out/kheish-daemon"
size=$(stat -c %s "$out/kheish-daemon")
echo "publish: $out/kheish-daemon (net10.0, native AOT, $((size / 1024 / 1024)) MiB, $size bytes)"
"$out/kheish-daemon" --version
"$out/kheish-daemon" --help >/dev/null
echo "publish: --version and --help ran"
