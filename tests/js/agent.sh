#!/usr/bin/env bash
# ctest entry for integration.js_agent: starts a real nats-server on a free
# loopback port, then runs agent.test.mjs, which starts the real fleet-agent
# trusting a key made by npm @nats-io/nkeys and sends it Controls signed in JS.
# Needs FLEET_BIN_DIR (the build's supervisor/ directory), node, npm and
# nats-server. The agent and nats-server logs are printed on failure, or
# always with FLEET_JS_VERBOSE=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the directory holding agent/fleet-agent}
agent=$bin_dir/agent/fleet-agent
[[ -x "$agent" ]] || { echo "agent.sh: $agent not found or not executable" >&2; exit 1; }
command -v nats-server >/dev/null || { echo "agent.sh: nats-server not on PATH" >&2; exit 1; }
command -v node >/dev/null || { echo "agent.sh: node not on PATH" >&2; exit 1; }

cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_modules nats protobufjs @nats-io/nkeys

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-js-agent.XXXXXX")
nats_pid=""
status=1

cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  # The test stops the agent itself; this only catches one left behind when
  # node died early (its pid is written by the test).
  [[ -s "$tmp/agent.pid" ]] && stop_pids "$(<"$tmp/agent.pid")"
  [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    echo "---- fleet-agent log ($tmp/agent.log) ----"
    cat "$tmp/agent.log" 2>/dev/null || true
    echo "---- nats-server log ----"
    tail -n 50 "$tmp/nats.log" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export FLEET_BIN_DIR="$bin_dir"
export FLEET_AGENT_LOG="$tmp/agent.log"
export FLEET_AGENT_PIDFILE="$tmp/agent.pid"

start_nats "$tmp/nats.log" || exit 1

node --test --test-reporter=spec agent.test.mjs
status=$?
