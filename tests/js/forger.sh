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
show_logs() {
  js_show_supervisor_log "$tmp/supervisor.log" 60
  echo "---- fleet-agent log ----"; tail -n 30 "$tmp/agent.log"
  echo "---- hook output ----"; cat "$tmp/hook.out" 2>/dev/null
}
# Agents the test started itself, if node died before stopping them, are in
# extra.pids.
trap 'js_cleanup show_logs "$tmp/extra.pids" $agent_pid $sup_pid' EXIT
trap 'exit 130' INT TERM

start_nats "$tmp/nats.log" -js -sd "$tmp/js" || exit 1
js_keygen "$bin_dir" "$tmp"
js_fleet_yaml "$tmp/fleet.yaml" "$tmp/seed" "echo escalated >> $tmp/hook.out" <<YAML
detector:
  default_interval_ms: 200
services:
  - name: web
    desired: 1
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
