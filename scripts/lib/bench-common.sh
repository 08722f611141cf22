# Sourced by scripts/bench/*.sh (kept outside that folder so scripts/bench.sh does not run it).

# Installs wrk from Debian when missing.
need_wrk() {
  command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
}

# Waits for a daemon's ready line in LOG (up to TRIES x 0.1 s) and prints its base URL.
daemon_url() {
  local log=$1 tries=${2:-50}
  for _ in $(seq "$tries"); do grep -qs "listening on" "$log" && break; sleep 0.1; done
  grep -soE 'http://127.0.0.1:[0-9]+' "$log" | head -1
}
