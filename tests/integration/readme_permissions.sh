#!/usr/bin/env bash
# ctest entry for integration.readme_permissions: the NATS permissions block
# of README.md ("NATS permissions"), taken from the README as written, on a
# real nats-server, with the real supervisor, fleetctl and fleet-agent under
# its users:
#   - story-teller's agent becomes HEALTHY on the feed (heartbeats, control
#     and status subscriptions allowed);
#   - its child SIGKILLed is restarted through a signed RESTART the agent
#     answers (the ack: a response the block allows once);
#   - fleetctl reads the status and the audit trail as fleet-operator;
#   - an agent using story-teller's user for state-manager is refused by the
#     server and never appears on the feed;
#   - no other permission violation in the server's log.
# Needs FLEET_BIN_DIR, FLEET_SOURCE_DIR, nats-server and node (JSON parsing).
set -euo pipefail

bin=${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the supervisor/ directory of the build}
src=${FLEET_SOURCE_DIR:?FLEET_SOURCE_DIR must name the source tree}
for t in nats-server node; do
  command -v "$t" >/dev/null || { echo "readme_permissions: $t not on PATH" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-readme-perm.XXXXXX")
pids=()
status=1
cleanup() {
  local rc=$?
  set +e
  [[ $status -eq 0 ]] || status=$rc
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [[ $status -ne 0 ]]; then
    for f in nats supervisor agent impostor; do
      echo "---- $f log ----"
      tail -n 40 "$tmp/$f.log" 2>/dev/null
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# Polls `cmd...` every 100 ms until it succeeds or `ms` have passed.
wait_for() {
  local ms=$1; shift
  local deadline=$(($(date +%s%3N) + ms))
  until "$@"; do
    (($(date +%s%3N) < deadline)) || return 1
    sleep 0.1
  done
}

# The block between the README's markers, without its code fence.
awk '/<!-- readme-permissions: end -->/ { on = 0 }
     on && !/^```/ { print }
     /<!-- readme-permissions: begin -->/ { on = 1 }' "$src/README.md" >"$tmp/nats.conf"
grep -q 'svc-story-teller' "$tmp/nats.conf" || fail "no permissions block between the README's markers"

SUPERVISOR_PASS=sup-pw OPERATOR_PASS=op-pw STORY_TELLER_PASS=st-pw \
  nats-server -c "$tmp/nats.conf" -a 127.0.0.1 -p -1 -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
pids+=($!)
port_of() { sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/nats.log"; }
wait_for 10000 grep -q "Server is ready" "$tmp/nats.log" || fail "nats-server did not start with the README's block"
port=$(port_of)
url() { echo "nats://$1@127.0.0.1:$port"; }

"$bin/ctl/fleetctl" keygen --out "$tmp/seed" >"$tmp/pub"
cat >"$tmp/sup.yaml" <<EOF
nats:
  url: $(url fleet-supervisor:sup-pw)
supervisor:
  status_interval_ms: 200
services:
  - name: story-teller
    desired: 1
control:
  signing_key_file: $tmp/seed
policy:
  backoff_initial_ms: 200
EOF
FLEET_HEALTH_FILE=$tmp/health "$bin/daemon/fleet-supervisor" -c "$tmp/sup.yaml" >"$tmp/supervisor.log" 2>&1 &
pids+=($!)
"$bin/agent/fleet-agent" -s "$(url svc-story-teller:st-pw)" --service story-teller --instance story-teller-1 \
  --interval-ms 200 --grace-ms 1000 --trust "$(cat "$tmp/pub")" -- sleep 600 >"$tmp/agent.log" 2>&1 &
agent=$!
pids+=("$agent")
"$bin/agent/fleet-agent" -s "$(url svc-story-teller:st-pw)" --service state-manager --instance state-manager-1 \
  --interval-ms 200 --grace-ms 1000 --trust "$(cat "$tmp/pub")" -- sleep 600 >"$tmp/impostor.log" 2>&1 &
pids+=($!)

# `health` of instance $2 of service $1 in fleetctl's JSON status (as
# fleet-operator), or "absent".
health_of() {
  "$bin/ctl/fleetctl" -s "$(url fleet-operator:op-pw)" --timeout-ms 1000 status --json 2>/dev/null |
    node -e '
      let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
        const st = JSON.parse(s), svc = (st.services || []).find(x => x.name === process.argv[1]);
        const inst = svc && (svc.instances || []).find(i => i.instance === process.argv[2]);
        console.log(inst ? inst.health : "absent");
      });' "$1" "$2"
}
is_healthy() { [[ $(health_of story-teller story-teller-1) == HEALTHY ]]; }
child_of() { pgrep -P "$agent" -x sleep | head -n 1; }

wait_for 20000 is_healthy || fail "story-teller-1 never became HEALTHY under the README's permissions"
pass "story-teller's agent is HEALTHY on the feed, read by fleetctl as fleet-operator"

first=$(child_of)
[[ -n "$first" ]] || fail "the agent has no child"
kill -KILL "$first"
new_child() { local c; c=$(child_of); [[ -n "$c" && "$c" != "$first" ]]; }
wait_for 15000 new_child || fail "the SIGKILLed child was not restarted"
grep -q '"msg":"control decided","action":"RESTART"' "$tmp/supervisor.log" ||
  fail "the restart did not come from the supervisor"
wait_for 15000 is_healthy || fail "story-teller-1 did not come back HEALTHY"
if grep -q '"msg":"escalation"' "$tmp/supervisor.log"; then fail "the supervisor escalated: the ack did not reach it"; fi
pass "a SIGKILLed child is restarted by a signed RESTART the agent acknowledged"

"$bin/ctl/fleetctl" -s "$(url fleet-operator:op-pw)" --timeout-ms 2000 events --since 1h >"$tmp/events.txt" 2>&1 ||
  fail "fleetctl events as fleet-operator: $(cat "$tmp/events.txt")"
grep -q 'story-teller-1' "$tmp/events.txt" || fail "the audit trail read as fleet-operator lacks story-teller-1"
pass "fleetctl reads the audit trail as fleet-operator"

violation_of_impostor() { grep -Eq 'Violation.*fleet\.v1\.hb\.state-manager\.state-manager-1' "$tmp/nats.log"; }
wait_for 10000 violation_of_impostor || fail "heartbeats for state-manager with story-teller's user were not refused"
[[ $(health_of state-manager state-manager-1) == absent ]] || fail "the impostor appears on the feed"
pass "story-teller's user cannot send state-manager's heartbeats (refused by the server)"

others=$(grep 'Violation' "$tmp/nats.log" | grep -v 'state-manager' | head -n 5 || true)
[[ -z "$others" ]] || fail "unexpected permission violations: $others"
pass "no other permission violation"
status=0
