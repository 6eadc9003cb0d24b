#!/usr/bin/env bash
# ctest entry for integration.js_dashboard: a real nats-server with
# JetStream and a supervisor signing key; dashboard.test.mjs then starts the
# supervisor with --http, fleet-agents for four services, and a real
# headless Chromium (Debian chromium, driven by npm playwright-core) on the
# dashboard page. The screenshot is left in $FLEET_ARTIFACT_DIR (default:
# the ctest working directory) as dashboard.png.
# Needs FLEET_BIN_DIR, node, npm modules nats, protobufjs and playwright-core,
# nats-server and chromium. Logs are printed on failure, or always with
# FLEET_JS_VERBOSE=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the directory holding fleet-supervisor}
artifacts=${FLEET_ARTIFACT_DIR:-$PWD}
cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_programs "$bin_dir/daemon/fleet-supervisor" "$bin_dir/agent/fleet-agent" "$bin_dir/ctl/fleetctl" nats-server \
  node chromium
js_need_modules nats protobufjs playwright-core

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-js-dashboard.XXXXXX")
nats_pid=""
status=1
cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  # shellcheck disable=SC2046
  stop_pids $(cat "$tmp/processes.pids" 2>/dev/null)
  [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    echo "---- fleet-supervisor log ----"; grep -v '"level":"debug"' "$tmp/supervisor.log" 2>/dev/null | tail -n 60
    echo "---- nats-server log ----"; tail -n 30 "$tmp/nats.log" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_nats "$tmp/nats.log" -js -sd "$tmp/js" || exit 1
"$bin_dir/ctl/fleetctl" keygen --out "$tmp/supervisor.seed" >"$tmp/supervisor.pub"
http_port=$(free_port)

export FLEET_BIN_DIR="$bin_dir" FLEET_DASHBOARD_DIR="$tmp" FLEET_HTTP_PORT="$http_port" FLEET_ARTIFACT_DIR="$artifacts"
node --test --test-reporter=spec dashboard.test.mjs
status=$?
