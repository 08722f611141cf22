#!/usr/bin/env bash
# TOML reader benchmark: parses one generated ~1 MB document with our reader (Kheish.Bench,
# Release, JIT) and with smol-toml (npm, installed into .cache/bench-npm), prints MB/s of both,
# the ratio ours/smol-toml (target >= 1.0) and our allocated bytes per parse.
# Usage: scripts/bench/toml.sh [seconds-per-parser]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${1:-5}

npm_dir="$root/.cache/bench-npm"
mkdir -p "$npm_dir"
[ -f "$npm_dir/package.json" ] || echo '{"name":"kheish-bench","private":true}' > "$npm_dir/package.json"
if [ ! -d "$npm_dir/node_modules/smol-toml" ]; then
  echo "bench: npm install smol-toml into $npm_dir" >&2
  (cd "$npm_dir" && npm install --no-audit --no-fund --silent smol-toml@1 >/dev/null)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
doc="$work/bench.toml"

dotnet build bench/Kheish.Bench/Kheish.Bench.csproj -c Release -nologo -v q >/dev/null
ours=$(dotnet "bench/Kheish.Bench/bin/Release/$(ls bench/Kheish.Bench/bin/Release | head -1)/Kheish.Bench.dll" toml "$doc" "$seconds")

cat > "$work/smol.mjs" <<'JS'
import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
const [file, seconds] = [process.argv[2], Number(process.argv[3])];
const bytes = readFileSync(file);
// Same work as ours: decode UTF-8, then parse.
const once = () => parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
const warmEnd = performance.now() + Math.min(2, seconds / 2) * 1000;
while (performance.now() < warmEnd) once();
let n = 0;
const start = performance.now();
while (performance.now() - start < seconds * 1000) { once(); n++; }
const elapsed = (performance.now() - start) / 1000;
console.log(`smol_mb_per_s=${(bytes.length * n / elapsed / 1e6).toFixed(1)} iterations=${n}`);
JS
smol=$(cd "$npm_dir" && cp "$work/smol.mjs" ./smol-bench.mjs && node ./smol-bench.mjs "$doc" "$seconds"; rm -f ./smol-bench.mjs)

ours_mbps=$(sed -E 's/.*ours_mb_per_s=([0-9.]+).*/\1/' <<<"$ours")
alloc=$(sed -E 's/.*ours_alloc_bytes_per_parse=([0-9]+).*/\1/' <<<"$ours")
bytes=$(sed -E 's/.*bytes=([0-9]+).*/\1/' <<<"$ours")
smol_mbps=$(sed -E 's/.*smol_mb_per_s=([0-9.]+).*/\1/' <<<"$smol")
smol_version=$(node -p "require('$npm_dir/node_modules/smol-toml/package.json').version")

echo "document: $bytes bytes (generated, many tables, arrays of tables, strings, arrays, inline tables, dates)"
echo "kheish TOML reader (.NET $(dotnet --version), JIT Release): $ours_mbps MB/s, $alloc bytes allocated per parse ($(awk -v a="$alloc" -v b="$bytes" 'BEGIN{printf "%.1f", a/b}') bytes per input byte)"
echo "smol-toml $smol_version (node $(node --version)): $smol_mbps MB/s"
echo "ratio ours/smol-toml: $(awk -v a="$ours_mbps" -v b="$smol_mbps" 'BEGIN{printf "%.2f", a/b}') (target >= 1.0)"
