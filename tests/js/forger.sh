#!/usr/bin/env bash
# ctest entry for integration.js_forgers: a real nats-server with JetStream,
# the real supervisor (with a signing key and an on_escalate hook) and a real
# fleet-agent trusting that key; forger.test.mjs then publishes, as a
# hostile publisher allowed on the service's heartbeat subject would, forged
# heartbeats written only from DESIGN.md and fleet.proto. None may make the
# supervisor restart, fence or declare DEAD the live instance, nor run the
# hook; a real death afterwards is still repaired. Then the ECS cases: the
# whole task replaced by a new instance, and a graceful stop (SIGTERM to
# the agent, PID 1 of the task) are neither repaired nor escalated.
# Needs FLEET_BIN_DIR, node, npm modules nats and protobufjs, nats-server.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the directory holding fleet-supervisor}
cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_programs "$bin_dir/daemon/fleet-supervisor" "$bin_dir/agent/fleet-agent" "$bin_dir/ctl/fleetctl" nats-server node
js_need_modules nats protobufjs

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-js-forger.XXXXXX")
nats_pid="" sup_pid="" agent_pid=""
status=1
cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  stop_pids $agent_pid $sup_pid
  for p in $agent_pid $sup_pid; do wait "$p" 2>/dev/null; done
  # Agents the test started itself, if node died before stopping them.
  for p in $(cat "$tmp/extra.pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    echo "---- fleet-supervisor log ----"; grep -v '"level":"debug"' "$tmp/supervisor.log" | tail -n 60
    echo "---- fleet-agent log ----"; tail -n 30 "$tmp/agent.log"
    echo "---- hook output ----"; cat "$tmp/hook.out" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_nats "$tmp/nats.log" -js -sd "$tmp/js" || exit 1
"$bin_dir/ctl/fleetctl" keygen --out "$tmp/seed" >"$tmp/pub"
cat >"$tmp/fleet.yaml" <<YAML
nats:
  url: $NATS_URL
supervisor:
  status_interval_ms: 200
detector:
  default_interval_ms: 200
services:
  - name: web
    desired: 1
control:
  signing_key_file: $tmp/seed
  on_escalate: "echo escalated >> $tmp/hook.out"
policy:
  backoff_initial_ms: 200
YAML
# Under AddressSanitizer (scripts/test.sh's second pass) freed memory is
# held in a quarantine of up to 256 MiB, which the flood's RSS bound would
# measure instead of the supervisor's own memory: keep it small for this
# process (ignored by a build without ASan).
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
  "$bin_dir/daemon/fleet-supervisor" --config "$tmp/fleet.yaml" >"$tmp/supervisor.log" 2>&1 &
sup_pid=$!
"$bin_dir/agent/fleet-agent" -s "$NATS_URL" --service web --instance web-1 --interval-ms 200 --grace-ms 1000 \
  --trust "$(cat "$tmp/pub")" -- sleep 1000 >"$tmp/agent.log" 2>&1 &
agent_pid=$!

export FLEET_FORGER_HOOK_OUT="$tmp/hook.out" FLEET_FORGER_SUPERVISOR_PID="$sup_pid"
export FLEET_FORGER_AGENT_PID="$agent_pid" FLEET_FORGER_TRUST="$(cat "$tmp/pub")" FLEET_FORGER_DIR="$tmp"
node --test --test-reporter=spec forger.test.mjs
status=$?
