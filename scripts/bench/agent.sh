#!/usr/bin/env bash
# In-process micro-benchmark of the agent-plane access decision (issue 7): Evaluate with 1 and
# 1,000 keys, and the per-request stat of security.json. Usage: scripts/bench/agent.sh [seconds-per-case]
# The HTTP side (wrk on /agent/v1/whoami vs /healthz) is scripts/bench/agent-http.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build bench/Kheish.Bench/Kheish.Bench.csproj -c Release -nologo -v q >/dev/null
bench/Kheish.Bench/bin/Release/net10.0/Kheish.Bench agent "${1:-1}"
