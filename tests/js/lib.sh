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

# Makes the supervisor's signing key with fleetctl from the bin dir $1: the
# seed in $2/seed, its public key (the agents' --trust) in $2/pub.
js_keygen() {
  "$1/ctl/fleetctl" keygen --out "$2/seed" >"$2/pub"
}

# js_fleet_yaml FILE SEED HOOK: writes FILE, a supervisor config for the
# nats-server of start_nats (NATS_URL): status every 200 ms, then what stdin
# holds (the test's own detector, services, limits, policy ...), then the
# signing key file SEED and the on_escalate hook HOOK (a shell command,
# single-quoted here for YAML, so it may hold $ and " as it is).
js_fleet_yaml() {
  local file=$1 seed=$2 hook=${3//\'/\'\'}
  {
    printf 'nats:\n  url: %s\nsupervisor:\n  status_interval_ms: 200\n' "$NATS_URL"
    cat
    printf "control:\n  signing_key_file: %s\n  on_escalate: '%s'\n" "$seed" "$hook"
  } >"$file"
}

# Prints the supervisor's log $1 without its debug lines, the last $2.
js_show_supervisor_log() {
  echo "---- fleet-supervisor log ----"; grep -v '"level":"debug"' "$1" 2>/dev/null | tail -n "$2"
}

# js_cleanup SHOW PIDFILE PID...: the EXIT trap of a script that runs
# programs against the nats-server of start_nats, with the pids expanded
# when it fires:  trap 'js_cleanup show_logs "$tmp/extra.pids" $agent_pid' EXIT
# It must be the trap's first command (it reads the exit status). Uses the
# script's tmp (its scratch folder) and status (1 until the test ran, then
# the test's result; while it is not 0 the script's exit status replaces
# it). Stops every PID (stop_pids, in the order given) and reaps it,
# SIGKILLs the pids listed in PIDFILE (those the test started itself, if
# it died before stopping them), stops nats_pid, runs the function SHOW
# (the logs worth reading) when the test failed or FLEET_JS_VERBOSE is set,
# removes $tmp and exits with status.
js_cleanup() {
  local rc=$? show=$1 pid_file=$2 p
  shift 2
  set +e
  [[ $status -eq 0 ]] || status=$rc
  stop_pids "$@"
  for p in "$@"; do wait "$p" 2>/dev/null; done
  for p in $(cat "$pid_file" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    "$show"
  fi
  rm -rf "$tmp"
  exit "$status"
}
