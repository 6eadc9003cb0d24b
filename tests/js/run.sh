#!/usr/bin/env bash
# ctest entry for integration.js_interop: starts a real nats-server and
# fleet-supervisor on a free loopback port, then runs the Node.js interop test
# (interop.test.mjs) against them.  Needs FLEET_BIN_DIR (the build's supervisor/
# directory), node, npm and nats-server.  The supervisor and nats-server logs
# are printed on failure, or always with FLEET_JS_VERBOSE=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the directory holding fleet-supervisor}
supervisor=$bin_dir/daemon/fleet-supervisor

cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_programs "$supervisor" nats-server node
js_need_modules nats protobufjs

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-js-interop.XXXXXX")
nats_pid=""
sup_pid=""
status=1

cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  [[ -n "$sup_pid" ]] && kill "$sup_pid" 2>/dev/null && wait "$sup_pid" 2>/dev/null
  [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    echo "---- fleet-supervisor log ($tmp/supervisor.log) ----"
    cat "$tmp/supervisor.log" 2>/dev/null || true
    echo "---- nats-server log ----"
    tail -n 50 "$tmp/nats.log" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


start_nats "$tmp/nats.log" -js -sd "$tmp/js" || exit 1

cat >"$tmp/fleet.yaml" <<EOF
nats:
  url: $NATS_URL
services:
  - name: js-svc
    desired: 2
EOF

"$supervisor" --config "$tmp/fleet.yaml" >"$tmp/supervisor.log" 2>&1 &
sup_pid=$!
sleep 0.2
if ! kill -0 "$sup_pid" 2>/dev/null; then
  echo "run.sh: fleet-supervisor exited at start" >&2
  exit 1
fi

node --test --test-reporter=spec interop.test.mjs
status=$?
