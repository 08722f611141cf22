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

# Writes DIR/nginx.conf: one worker, no access log, temp paths inside DIR, keep-alive without a
# request cap, and the server/upstream blocks read from standard input (a here-document, so the
# caller expands its variables). Start it with: nginx -c DIR/nginx.conf -p DIR
nginx_conf() {
  local dir=$1 servers
  servers=$(cat)
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
$servers
}
CONF
}

# The median of the numbers on standard input (space- or newline-separated).
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
