#!/usr/bin/env bash
# ctest entry for integration.js_admin: a real nats-server with JetStream and
# a supervisor signing key (fleetctl keygen); admin.test.mjs then makes an
# operator key with npm @nats-io/nkeys, writes the supervisor's config
# listing it under operators:, starts the supervisor and two fleet-agents
# (web/web-1, web/web-2) trusting the supervisor's key, and signs
# AdminCommands built with protobufjs from DESIGN.md and fleet.proto alone.
# Needs FLEET_BIN_DIR, node, npm modules nats, protobufjs and @nats-io/nkeys,
# nats-server. Logs are printed on failure, or always with FLEET_JS_VERBOSE=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the directory holding fleet-supervisor}
cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_programs "$bin_dir/daemon/fleet-supervisor" "$bin_dir/agent/fleet-agent" "$bin_dir/ctl/fleetctl" nats-server node
js_need_modules nats protobufjs @nats-io/nkeys

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-js-admin.XXXXXX")
nats_pid=""
status=1
cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  # The test stops what it started; this catches what it left behind when
  # node died early (it writes every pid it starts to processes.pids).
  # shellcheck disable=SC2046
  stop_pids $(cat "$tmp/processes.pids" 2>/dev/null)
  [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    echo "---- fleet-supervisor log ----"; grep -v '"level":"debug"' "$tmp/supervisor.log" 2>/dev/null | tail -n 60
    for a in "$tmp"/agent-*.log; do echo "---- $(basename "$a") ----"; tail -n 20 "$a"; done
    echo "---- nats-server log ----"; tail -n 30 "$tmp/nats.log" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_nats "$tmp/nats.log" -js -sd "$tmp/js" || exit 1
"$bin_dir/ctl/fleetctl" keygen --out "$tmp/supervisor.seed" >"$tmp/supervisor.pub"

export FLEET_BIN_DIR="$bin_dir" FLEET_ADMIN_DIR="$tmp"
node --test --test-reporter=spec admin.test.mjs
status=$?
