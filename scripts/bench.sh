#!/usr/bin/env bash
# The project's benchmarks (DESIGN.md §11), full size, in one run:
#   1. heartbeat ingest: fleet-supervisor vs a bare nats.c subscriber (bench_ingest)
#   2. heap per tracked instance, 100k instances (bench_memory)
#   3. core instructions per heartbeat and per tick, under callgrind (bench_core)
#   4. detection and signed control latency: crash -> DEAD, control request ->
#      ack, hang -> DEAD under jitter (bench_control, ~2 minutes)
#   5. failover: leader SIGKILLed -> the new leader's first FleetStatus, 20
#      runs at the default lease TTL of 2 s (bench_failover, ~2 minutes), then
#      the same on a NATS cluster of three with the leader's node SIGKILLed
#      too (--cluster, ~5 minutes)
#   6. HTTP: request latency of every endpoint, idle and under full ingest,
#      and what serving HTTP costs ingest (bench_http)
#   7. detection on replayed traces: steady, jittery and pausy senders, the
#      detector against a tuned fixed timeout and "3 missed" (bench_detect)
#   8. restart race (BENCHMARKS.md §8): a SIGKILLed child back up under runsv, s6-supervise,
#      fleet-agent alone and fleet-agent + fleet-supervisor, against a bare
#      fork/exec loop, and their idle RSS (bench_restart, ~6 minutes; needs
#      runit and s6: scripts/deps.sh --bench)
#   11. cost at scale: supervisor RSS, CPU and feed bytes/s of a steady fleet
#      at 1k, 10k and 100k instances, against the every-service-every-interval
#      feed in the same run (bench_scale, ~6 minutes)
# Builds Release into build-bench/. Figures are printed, targets reported, never
# asserted: the script fails only when a benchmark could not measure.
# Usage: scripts/bench.sh [extra bench_ingest flags, e.g. --rounds 3 --perf FILE]
#   BENCH_CONTROL_ARGS="--duration-s 60 --crash-runs 50" overrides bench_control's
#   defaults (see bench_control --help); BENCH_FAILOVER_ARGS="--runs 10
#   --lease-ttl-ms 5000" likewise for bench_failover; BENCH_RESTART_ARGS="--rounds 1" for
#   bench_restart.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build="$root/build-bench"
heartbeats=200000

echo "== build (Release) into $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target fleet-supervisor fleet-agent fleet-sim \
  bench_ingest bench_memory bench_core bench_control bench_failover bench_http bench_detect bench_restart \
  bench_scale >/dev/null
bench="$build/tests/bench"
export FLEET_BIN_DIR="$build/supervisor"
echo "machine: $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $(nats-server --version)"

echo
echo "== 1. heartbeat ingest from 3 publisher processes (targets: supervisor CPU per heartbeat <= 1.5 x the bare subscriber's, with and without proofs; zero drops; §9)"
"$bench/bench_ingest" "$@"

echo
echo "== 2. memory per tracked instance (target: <= 1 KiB)"
"$bench/bench_memory" --instances 100000 --services 100

echo
echo "== 3. core instructions (callgrind; target: <= 1,500 per heartbeat)"
"$bench/bench_core" --instances 10000 --heartbeats "$heartbeats"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Total Ir collected inside `fn` (warm-up excluded by CALLGRIND_ZERO_STATS).
collect() { # fn
  valgrind --tool=callgrind --toggle-collect="$1" --callgrind-out-file="$out/$1.cg" \
    "$bench/bench_core" --instances 10000 --heartbeats "$heartbeats" >/dev/null 2>"$out/$1.log" ||
    { cat "$out/$1.log" >&2; exit 1; }
  awk '/^summary:/ { print $2; exit }' "$out/$1.cg"
}
ir_hb=$(collect observer_heartbeat)
ir_tick=$(collect observer_tick)
ticks=$((heartbeats / 1000))
awk -v ir="$ir_hb" -v k="$heartbeats" 'BEGIN {
  per = ir / k
  printf "observer_heartbeat: %d Ir / %d heartbeats = %.0f instructions per heartbeat (target <= 1500: %s)\n",
         ir, k, per, per <= 1500 ? "met" : "NOT met" }'
awk -v ir="$ir_tick" -v t="$ticks" -v k="$heartbeats" 'BEGIN {
  printf "observer_tick: %d Ir / %d ticks = %.0f per tick, %.1f per heartbeat amortised\n",
         ir, t, ir / t, ir / k }'
echo "top of observer_heartbeat (inclusive Ir):"
callgrind_annotate --inclusive=yes "$out/observer_heartbeat.cg" 2>/dev/null |
  grep -E '^ *[0-9,]+ ' | grep -vE 'PROGRAM TOTALS|below main|libc_start|ld-linux|:main ' |
  head -12 || true # head may close the pipe early

echo
echo "== 4. detection and signed control (targets: crash -> DEAD p99 <= 100 ms,"
echo "      control -> ack p99 <= 5 ms, hang -> DEAD p99 <= 3 s with 0 false DEADs)"
read -r -a control_args <<<"${BENCH_CONTROL_ARGS:-}"
"$bench/bench_control" "${control_args[@]}"

echo
echo "== 5. failover (target: leader killed -> new leader's first status p99 <= 3 s, default settings)"
read -r -a failover_args <<<"${BENCH_FAILOVER_ARGS:-}"
"$bench/bench_failover" "${failover_args[@]}"
echo
echo "== 5b. failover on a cluster of three, the leader's node killed with it (no target: the figure)"
"$bench/bench_failover" --cluster "${failover_args[@]}"

echo
echo "== 6. HTTP under full ingest (targets: /healthz, /readyz p99 <= 10 ms; /metrics, /api/status,"
echo "      /api/events first byte p99 <= 50 ms; no heartbeat dropped)"
"$bench/bench_http"

echo
echo "== 7. detection on replayed traces (targets: 0 false DEADs; p99 last heartbeat -> DEAD <= 2 / 2.5 / 4"
echo "      intervals for steady / jittery / pausy senders)"
for seed in 13 1 2; do
  "$bench/bench_detect" --seed "$seed"
done
"$bench/bench_detect" --instances 900 --deaths 300 --seed 7

echo
echo "== 8. restart race (targets: fleet-agent + supervisor p50 <= 2.5 ms, p99 <= 4 ms; fleet-agent"
echo "      alone restarts a first death at once; fleet-agent idle RSS <= 4 MB)"
read -r -a restart_args <<<"${BENCH_RESTART_ARGS:-}"
"$bench/bench_restart" "${restart_args[@]}"

echo
echo "== 11. cost at scale (target at 100k steady instances: feed <= 200 KB/s, supervisor <= 5 % of a core)"
"$bench/bench_scale"
