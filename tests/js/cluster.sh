#!/usr/bin/env bash
# ctest entry for integration.js_cluster: a JetStream cluster of three
# (fleet-test-cluster, the C fixture as a program), fleet-supervisor given
# the comma-separated list, then cluster.test.mjs against them. Needs
# FLEET_BIN_DIR and FLEET_TEST_CLUSTER (paths from CMake), node, npm and
# nats-server. Logs are printed on failure, or always with FLEET_JS_VERBOSE=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the directory holding fleet-supervisor}
cluster_bin=${FLEET_TEST_CLUSTER:?FLEET_TEST_CLUSTER must name the fleet-test-cluster program}
cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_modules nats protobufjs

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-js-cluster.XXXXXX")
cluster_pid=""
sup_pid=""
status=1

cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  [[ -n "$sup_pid" ]] && kill "$sup_pid" 2>/dev/null && wait "$sup_pid" 2>/dev/null
  [[ -n "$cluster_pid" ]] && kill "$cluster_pid" 2>/dev/null && wait "$cluster_pid" 2>/dev/null
  if [[ $status -ne 0 || -n "${FLEET_JS_VERBOSE:-}" ]]; then
    echo "---- fleet-supervisor log ----"
    cat "$tmp/supervisor.log" 2>/dev/null || true
    echo "---- cluster ----"
    cat "$tmp/cluster.out" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_nats_cluster "$cluster_bin" "$tmp/cluster.out" || exit 1

cat >"$tmp/fleet.yaml" <<YAML
nats:
  url: ${NATS_NODES//,/, }
supervisor:
  status_interval_ms: 200
detector:
  default_interval_ms: 200
services:
  - name: js-cluster
    desired: 1
YAML

"$bin_dir/daemon/fleet-supervisor" --config "$tmp/fleet.yaml" >"$tmp/supervisor.log" 2>&1 &
sup_pid=$!
node --test --test-reporter=spec cluster.test.mjs
