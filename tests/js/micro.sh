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
cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  stop_pids $sup_pid
  [[ -n "$sup_pid" ]] && wait "$sup_pid" 2>/dev/null
  # The micro services and the hostile answerer, if node left any behind.
  for p in $(cat "$tmp/processes.pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    echo "---- fleet-supervisor log ----"; grep -v '"level":"debug"' "$tmp/supervisor.log" | tail -n 80
    echo "---- hook output ----"; cat "$tmp/hook.out" 2>/dev/null
    for f in "$tmp"/*.log; do [[ "$f" == */supervisor.log || "$f" == */nats.log ]] || { echo "---- $f ----"; tail -n 10 "$f"; }; done
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
control:
  signing_key_file: $tmp/seed
  on_escalate: 'echo "\$FLEET_SERVICE|\$FLEET_INSTANCE|\$FLEET_REASON" >> $tmp/hook.out'
YAML
"$bin_dir/daemon/fleet-supervisor" --check-config --config "$tmp/fleet.yaml" >/dev/null
"$bin_dir/daemon/fleet-supervisor" --config "$tmp/fleet.yaml" >"$tmp/supervisor.log" 2>&1 &
sup_pid=$!

export FLEET_MICRO_DIR="$tmp" FLEET_MICRO_HOOK_OUT="$tmp/hook.out" FLEET_MICRO_SUPERVISOR_PID="$sup_pid"
node --test --test-reporter=spec "${FLEET_JS_TEST_FILE:-micro.test.mjs}"
status=$?
