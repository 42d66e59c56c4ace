# Shared by the bench/compare_*.sh scripts (sourced, from the repository's root): argument parsing, corio's
# benchmark binaries, loopback ports and a private nginx.

# bench_args DEFAULT_ROUNDS "$@": parses --quick, --rounds N and --only WORKLOAD into $quick ("--quick" or
# ""), $rounds and the array $only (empty, or --only WORKLOAD: passed on to the programs as is).
bench_args() {
  rounds=$1
  shift
  quick=""
  only=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --quick) quick="--quick" ;;
      --rounds) rounds="$2"; shift ;;
      --only) only=(--only "$2"); shift ;;
      *) echo "usage: $(basename "$0") [--quick] [--rounds N] [--only WORKLOAD]" >&2; exit 2 ;;
    esac
    shift
  done
}

# corio_bench_bin TARGET OVERRIDE: the path of corio's side of a comparison, build/release/bench/TARGET (built
# with the release preset if missing), or $OVERRIDE's value when that variable is set. Prints nothing, with a
# warning, when it is missing after all: the script then runs the peers alone.
corio_bench_bin() {
  local target=$1 override=${!2:-} bin
  bin=${override:-build/release/bench/$target}
  if [ ! -x "$bin" ] && [ -z "$override" ]; then
    { cmake --preset release >/dev/null && cmake --build --preset release --target "$target" >/dev/null; } ||
      echo "$(basename "$0"): warning: could not build $bin" >&2
  fi
  if [ ! -x "$bin" ]; then
    echo "$(basename "$0"): warning: $bin missing: running the peers only" >&2
    return 0
  fi
  echo "$bin"
}

# A TCP port free on 127.0.0.1 now.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_ports PORT...: until each accepts a connection on 127.0.0.1 (10 s at most).
wait_ports() {
  local ports
  ports=$(IFS=,; echo "$*")
  for _ in $(seq 100); do
    /usr/bin/python3 -c "import socket; [socket.create_connection(('127.0.0.1',p),0.2).close() for p in ($ports,)]" \
      2>/dev/null && return 0
    sleep 0.1
  done
  return 0  # the workloads report what they cannot reach
}

# nginx_start DIR PORT SERVER_LINES: an nginx (one worker, keep-alive without limits, no logs) listening on
# 127.0.0.1:PORT with its files under DIR and SERVER_LINES inside its server block; sets $nginx_pid and waits
# until it accepts. The caller kills it (its cleanup trap).
nginx_start() {
  local dir=$1 port=$2 lines=$3 bin
  bin=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$bin" ] || { echo "$(basename "$0"): nginx is not installed" >&2; exit 1; }
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
user root;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 12000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  client_body_temp_path $dir/tmp_body; proxy_temp_path $dir/tmp_proxy; fastcgi_temp_path $dir/tmp_fcgi;
  uwsgi_temp_path $dir/tmp_uwsgi; scgi_temp_path $dir/tmp_scgi;
  server {
    listen 127.0.0.1:$port backlog=4096;
$lines
  }
}
EOF
  "$bin" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/logs/stderr.log" &
  nginx_pid=$!
  wait_ports "$port"
}
