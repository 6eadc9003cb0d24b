#!/usr/bin/env bash
# ctest entry for integration.js_micro: zero-code supervision of NATS micro
# services (probe: micro). Starts a real nats-server with JetStream and the
# real supervisor (a signing key, so it can act, and an on_escalate hook
# that records its target); micro.test.mjs then starts micro services
# written with npm nats (nc.services.add, micro_service.mjs) as separate
# node processes, SIGKILLs one, and runs a hostile answerer
# (micro_hostile.mjs). integration.js_srv_schema runs srv_schema.test.mjs
# on the same setup instead (FLEET_JS_TEST_FILE). Needs FLEET_BIN_DIR, node,
# npm modules nats, protobufjs, ajv and ajv-formats, nats-server.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the directory holding fleet-supervisor}
cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_programs "$bin_dir/daemon/fleet-supervisor" "$bin_dir/ctl/fleetctl" nats-server node
js_need_modules nats protobufjs ajv ajv-formats

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-js-micro.XXXXXX")
nats_pid="" sup_pid=""
status=1
show_logs() {
  js_show_supervisor_log "$tmp/supervisor.log" 80
  echo "---- hook output ----"; cat "$tmp/hook.out" 2>/dev/null
  for f in "$tmp"/*.log; do [[ "$f" == */supervisor.log || "$f" == */nats.log ]] || { echo "---- $f ----"; tail -n 10 "$f"; }; done
}
# The micro services and the hostile answerer, if node left any behind, are
# in processes.pids.
trap 'js_cleanup show_logs "$tmp/processes.pids" $sup_pid' EXIT
trap 'exit 130' INT TERM

start_nats "$tmp/nats.log" -js -sd "$tmp/js" || exit 1
js_keygen "$bin_dir" "$tmp"
# The hook's $FLEET_* are the hook's own, expanded when it runs.
# shellcheck disable=SC2016
js_fleet_yaml "$tmp/fleet.yaml" "$tmp/seed" 'echo "$FLEET_SERVICE|$FLEET_INSTANCE|$FLEET_REASON" >> '"$tmp/hook.out" <<YAML
detector:
  default_interval_ms: 200
  link_grace_ms: 1000
  forget_after_s: 10
limits:
  max_instances_per_service: 8
services:
  - name: web
    desired: 2
    probe: micro
    probe_interval_ms: 200
  - name: api
    desired: 1
    probe: micro
    probe_interval_ms: 200
YAML
"$bin_dir/daemon/fleet-supervisor" --check-config --config "$tmp/fleet.yaml" >/dev/null
"$bin_dir/daemon/fleet-supervisor" --config "$tmp/fleet.yaml" >"$tmp/supervisor.log" 2>&1 &
sup_pid=$!

export FLEET_MICRO_DIR="$tmp" FLEET_MICRO_HOOK_OUT="$tmp/hook.out" FLEET_MICRO_SUPERVISOR_PID="$sup_pid"
node --test --test-reporter=spec "${FLEET_JS_TEST_FILE:-micro.test.mjs}"
status=$?
