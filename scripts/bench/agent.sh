#!/usr/bin/env bash
# In-process micro-benchmark of the agent-plane access decision (issue 7): Evaluate with 1 and
# 1,000 keys, and the per-request stat of security.json. Usage: scripts/bench/agent.sh [seconds-per-case]
# The HTTP side (wrk on /agent/v1/whoami vs /healthz) lives with the serve benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build bench/Kheish.AgentBench/Kheish.AgentBench.csproj -c Release -nologo -v q >/dev/null
exe=bench/Kheish.AgentBench/bin/Release/$(ls bench/Kheish.AgentBench/bin/Release | head -1)/Kheish.Bench
"$exe" "${1:-1}"
