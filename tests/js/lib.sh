# Shared by the ctest entries in this folder (sourced, not run): npm
# modules, the programs a test needs, a free loopback port, and a real
# nats-server on it.

# Exits 1, naming what is missing, unless every argument is there: a path
# (containing a /) must be an executable file, a bare name a program on PATH.
js_need_programs() {
  local p
  for p in "$@"; do
    if [[ "$p" == */* ]]; then
      [[ -x "$p" ]] || { echo "$(basename "$0"): $p not found or not executable" >&2; exit 1; }
    else
      command -v "$p" >/dev/null || { echo "$(basename "$0"): $p not on PATH" >&2; exit 1; }
    fi
  done
}

# Installs node_modules with `npm ci` unless every named module is present.
js_need_modules() {
  local m
  for m in "$@"; do
    if [[ ! -d "node_modules/$m" ]]; then
      echo "node_modules incomplete ($m missing): running npm ci"
      npm ci --no-audit --no-fund
      return
    fi
  done
}

# A free loopback port: bind port 0 and read what the kernel chose.
free_port() {
  node -e 'const s = require("net").createServer();
           s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# Waits until something accepts on 127.0.0.1:$1 (bash /dev/tcp probe), or fails.
wait_port() {
  local port=$1 tries=100
  while (( tries-- > 0 )); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Starts nats-server on a free loopback port, logging to $1, with any further
# arguments (e.g. -js -sd DIR); sets NATS_URL (exported) and nats_pid.
# Returns non-zero if it does not accept in 10 s.
start_nats() {
  local log=$1 port
  shift
  port=$(free_port)
  export NATS_URL="nats://127.0.0.1:$port"
  nats-server -a 127.0.0.1 -p "$port" "$@" >"$log" 2>&1 &
  nats_pid=$!
  if ! wait_port "$port"; then
    echo "nats-server did not accept on port $port (log: $log)" >&2
    return 1
  fi
}

# Starts a JetStream cluster of three with the fleet-test-cluster program ($1),
# its output in $2; sets cluster_pid and NATS_NODES (exported: the node URLs,
# comma-separated). Stop it with kill "$cluster_pid" (it stops its nodes).
start_nats_cluster() {
  local bin=$1 out=$2 tries=300
  "$bin" 3 >"$out" 2>&1 &
  cluster_pid=$!
  while (( tries-- > 0 )); do
    if grep -q '^URLS ' "$out" 2>/dev/null; then
      NATS_NODES=$(sed -n 's/^URLS //p' "$out")
      export NATS_NODES
      return 0
    fi
    kill -0 "$cluster_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "the NATS cluster did not start (see $out):" >&2
  cat "$out" >&2
  return 1
}

# Stops each pid given: SIGTERM, up to 5 s to exit, then SIGKILL. Arguments
# that are not numbers or name no live process are skipped.
stop_pids() {
  local p
  for p in "$@"; do
    [[ "$p" =~ ^[0-9]+$ ]] || continue
    kill -TERM "$p" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
}
