#!/usr/bin/env bash
# The soak (DESIGN.md §11, issue 13 §3): 10 minutes of fleet-supervisor
# (signing key, restarts on, default detector and policy) and fleet-sim's
# 1,000 instances at a 1 s interval with +-30 % jitter, on a real nats-server
# with JetStream that is stopped by PID in the middle and started again on
# the same port with the same store; two real crashes as the control sample.
# It fails (exit 1) on any false DEAD, false restart or fence, a missed
# crash, a fleet that does not recover, or supervisor RSS growth past
# start x 1.2 + 2 MiB; it prints the report either way. The suite runs one
# minute of the same (ctest integration.soak).
# Builds Release into build-bench/ (as scripts/bench.sh does).
# Usage: scripts/soak.sh [bench_soak flags, e.g. --duration-s 1800 --nats-down-ms 10000]
#        (see build-bench/tests/bench/bench_soak --help)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build="$root/build-bench"

echo "== build (Release) into $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target fleet-supervisor fleet-sim fleetctl bench_soak >/dev/null
export FLEET_BIN_DIR="$build/supervisor"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(. /etc/os-release && echo "$PRETTY_NAME"), $(nats-server --version)"

echo
echo "== soak (targets: 0 false restarts, 0 false DEADs, supervisor RSS flat)"
"$build/tests/bench/bench_soak" --duration-s 600 "$@"
