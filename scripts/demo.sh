#!/usr/bin/env bash
# The demo: installs what is missing, builds, then runs a local fleet of 45
# services / 68 instances (fleet-sim) under fleet-supervisor and shows
# `fleetctl watch`. Within a minute injected failures make instances go
# SUSPECT and DEAD, the availability figure move, and the supervisor restart
# them with Ed25519-signed control. Ctrl-C stops everything this script
# started (and nothing else).
#
# NATS_URL picks the server (default nats://127.0.0.1:4222); if nothing
# answers there, a local nats-server is started on that port.
# DEMO_SECONDS=N stops the demo by itself after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
url=${NATS_URL:-nats://127.0.0.1:4222}
hostport=${url#nats://}
host=${hostport%:*}
port=${hostport##*:}

"$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build-demo" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLEET_TESTS=OFF >/dev/null
cmake --build "$root/build-demo" -j"$(nproc)" >/dev/null
bin=$root/build-demo/supervisor

work=$(mktemp -d /tmp/fleet-demo-XXXXXX)
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo
  echo "demo stopped; logs were in $work (removed)"
  rm -rf "$work"
}
trap cleanup INT TERM EXIT

reachable() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if reachable; then
  echo "using the NATS server at $url"
else
  echo "no NATS server at $url: starting a local one (JetStream on)"
  nats-server -a "$host" -p "$port" -js -sd "$work/js" >"$work/nats.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do reachable && break; sleep 0.05; done
  reachable || { echo "nats-server did not start; see $work/nats.log" >&2; exit 1; }
fi

# A signing key for this demo only: the supervisor signs its control with
# it, the simulated instances trust it.
"$bin/ctl/fleetctl" keygen --out "$work/signing.seed" >"$work/signing.pub"
FLEET_SIGNING_KEY_FILE="$work/signing.seed" \
  "$bin/daemon/fleet-supervisor" --config "$root/supervisor/daemon/fleet.example.yaml" -s "$url" \
  >"$work/supervisor.log" 2>&1 &
pids+=($!)

# Failures a newcomer should see within a minute.
"$bin/sim/fleet-sim" -s "$url" --trust "$(cat "$work/signing.pub")" \
  --crash story-teller-1@10 \
  --hang npc-behavior-2@20 \
  --exit payments@30:1 \
  --flap matchmaking-1:15/15 \
  --wrong-version inventory-2:1.3.9 \
  --degraded leaderboard \
  --unexpected legacy-importer:2 \
  >"$work/sim.log" 2>&1 &
pids+=($!)

echo "supervisor log: $work/supervisor.log   simulator log: $work/sim.log"
echo "watch: story-teller-1 crashes at 10 s, npc-behavior-2 hangs at 20 s, payments exits at 30 s:"
echo "       each goes DEAD, gets a signed RESTART and comes back with a new incarnation;"
echo "       matchmaking-1 flaps, inventory runs two versions, legacy-importer is unexpected."
sleep 1
if [[ -n "${DEMO_SECONDS:-}" ]]; then
  timeout --foreground "$DEMO_SECONDS" "$bin/ctl/fleetctl" -s "$url" watch || true
else
  "$bin/ctl/fleetctl" -s "$url" watch || true
fi
