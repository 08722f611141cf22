#!/usr/bin/env bash
# Installs the real peers the tests and benchmarks talk to, so a fresh machine (and CI)
# needs nothing by hand. Idempotent and quiet when everything is present.
# Writes .cache/test-env.sh, which scripts/test.sh sources.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p .cache

# Debian packages: one per line "command package".
apt_needed=()
while read -r cmd pkg; do
  [ -z "$cmd" ] && continue
  command -v "$cmd" >/dev/null 2>&1 || apt_needed+=("$pkg")
done <<'LIST'
tmux tmux
openssl openssl
node nodejs
npm npm
LIST
if [ ${#apt_needed[@]} -gt 0 ]; then
  echo "test-deps: apt-get install ${apt_needed[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${apt_needed[@]}" >/dev/null
fi

# npm packages the tests drive (real clients and servers), installed into .cache/npm.
# node@22 brings a Node 22 binary (.cache/npm/node_modules/node/bin/node) for the peers that
# need it (the MCP conformance suite, the Inspector CLI); everything else runs on the system node.
npm_dir="$root/.cache/npm"
mkdir -p "$npm_dir"
[ -f "$npm_dir/package.json" ] || echo '{"name":"kheish-test-peers","private":true}' > "$npm_dir/package.json"
npm_pkgs=(
  openai@4
  @modelcontextprotocol/server-everything
  @modelcontextprotocol/sdk
  @modelcontextprotocol/conformance@0.1.16
  @modelcontextprotocol/inspector-cli@1
  supergateway@4
  node@22
  @anthropic-ai/claude-code@2
  @openai/codex@0
  oidc-provider@9
  parse-prometheus-text-format@1
)
missing=()
for p in "${npm_pkgs[@]}"; do
  name=${p%@*}; [ -n "$name" ] || name=$p
  [ -d "$npm_dir/node_modules/$name" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: npm install ${missing[*]}" >&2
  (cd "$npm_dir" && npm install --no-audit --no-fund --silent "${missing[@]}" >/dev/null)
fi

cat > .cache/test-env.sh <<ENV
export KHEISH_NODE_MODULES="$npm_dir/node_modules"
ENV
