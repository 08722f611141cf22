#!/usr/bin/env bash
# Publishes the single-file native AOT binary to artifacts/kheish-daemon.
# net10.0 when the .NET 10 NativeAOT pack restores from our package source, else net9.0
# (Directory.Build.props: KheishTargetFramework). PublishAot is set here, never in a project
# file: there it would make every restore ask for the missing pack.
set -euo pipefail
cd "$(dirname "$0")/.."

out=artifacts
rid=linux-x64
log=$(mktemp)
trap 'rm -f "$log"' EXIT

publish() {
  local tfm=$1; shift
  dotnet publish src/Kheish.Daemon/Kheish.Daemon.csproj -c Release -r "$rid" \
    -p:PublishAot=true -p:KheishTargetFramework="$tfm" \
    -o "$out/publish-$tfm" -nologo "$@" >"$log" 2>&1
}

tfm=""
for candidate in ${KHEISH_PUBLISH_TFMS:-net10.0 net9.0}; do
  echo "publish: trying native AOT for $candidate ..." >&2
  if publish "$candidate"; then
    tfm=$candidate
    break
  fi
  grep -E "error" "$log" | sort -u | head -5 >&2 || true
done
if [ -z "$tfm" ]; then
  echo "publish: native AOT failed for every target framework; full log:" >&2
  cat "$log" >&2
  exit 1
fi

cp "$out/publish-$tfm/kheish-daemon" "$out/kheish-daemon"
chmod 0755 "$out/kheish-daemon"
echo "$tfm" > "$out/kheish-daemon.tfm"
size=$(stat -c %s "$out/kheish-daemon")
echo "publish: $out/kheish-daemon ($tfm, native AOT, $((size / 1024 / 1024)) MiB, $size bytes)"
"$out/kheish-daemon" --version
"$out/kheish-daemon" --help >/dev/null
echo "publish: --version and --help ran"
