#!/usr/bin/env bash
# Proves docker/ on a machine with no Docker engine (docker/README.md, "Proof"):
#
#  1. lints docker/Dockerfile (npm dockerfilelint), checks the ECS task
#     definitions for the fields ECS requires (jq), the NATS server configs
#     (nats-server -t) and docker/entrypoint.sh (sh -n);
#  2. makes a Debian 12 base image with debootstrap + podman import (cached);
#  3. builds the image with `podman build --runtime runc` (the build stage
#     runs the unit tests);
#  4. runs it, read-only root, as in ECS: against a nats-server (JetStream)
#     on a free loopback port, the 45-service example config mounted
#     read-only, the signing key passed as an env var (as ECS `secrets`
#     does), fleet-sim on the host sending the demo fleet's heartbeats;
#  5. checks: the image's HEALTHCHECK passes (`podman healthcheck run` and
#     `fleet-supervisor healthcheck`), a FleetStatus with 45 services appears
#     on the feed (host fleetctl), PID 1 is fleet-supervisor as uid 10001, the
#     key is not in its environment, it signs with the key, and SIGTERM stops
#     it with exit 0 in well under the stop timeout;
#  6. prints the image size and start-up times.
#
# Usage: tests/docker/prove.sh   (root, or sudo; installs podman, runc,
# debootstrap and the npm linter when missing)
# Environment: FLEET_DOCKER_WORK  cache dir for the base rootfs, linter and logs
#                                 (default /var/tmp/fleet-docker)
#              FLEET_BIN_DIR      host build's supervisor/ dir (default: builds one)
#              KEEP=1             leave the image and work files
# Exit: 0 all checks pass; 1 a check failed; 77 skipped (podman cannot run
# containers here; the reason is printed).
set -eEuo pipefail
# A step that fails ends the proof and says which one: set -e alone would
# exit with the command's status and no word of what failed.
trap 'rc=$?; printf "prove.sh: FAILED at line %s: %s (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${FLEET_DOCKER_WORK:-/var/tmp/fleet-docker}
image=localhost/fleet-supervisor:prove
base=localhost/debian:bookworm-slim
skip=77
mkdir -p "$work"
run_dir=$(mktemp -d "$work/run.XXXXXX")
failures=0
pids=()
ctr=""

log() { printf '== %s\n' "$*"; }
pass() { printf '   ok    %s\n' "$*"; }
bad() { printf '   FAIL  %s\n' "$*"; failures=$((failures + 1)); }
skip_now() { printf 'SKIPPED: %s\n' "$*" >&2; exit "$skip"; }
now_ms() { date +%s%3N; }

cleanup() {
  [[ -n "$ctr" ]] && podman rm -f -t 0 "$ctr" >/dev/null 2>&1 || true
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
  [[ "${KEEP:-0}" == 1 ]] || rm -rf "$run_dir"
}
trap cleanup EXIT

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null && sudo -n true 2>/dev/null || skip_now "needs root or passwordless sudo (rootful podman, debootstrap)"
  sudo="sudo"
fi
as_root() { $sudo "$@"; }

# ---------------------------------------------------------------- tools
need=()
for t in podman:podman runc:runc debootstrap:debootstrap nats-server:nats-server jq:jq; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if ((${#need[@]})); then
  log "installing ${need[*]}"
  as_root apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || skip_now "cannot install ${need[*]} with apt-get"
fi
command -v node >/dev/null && command -v npm >/dev/null || skip_now "node and npm are needed for dockerfilelint"
lint="$work/npm/node_modules/.bin/dockerfilelint"
if [[ ! -x "$lint" ]]; then
  log "installing dockerfilelint (npm, into $work/npm)"
  npm install --silent --no-audit --no-fund --prefix "$work/npm" dockerfilelint@1.8.0 >/dev/null \
    || skip_now "npm cannot install dockerfilelint"
fi

# podman without systemd or CAP_SYS_RESOURCE: raising rlimits above the
# caller's fails in runc ("error setting rlimits"); ask for what we have.
nofile=$(ulimit -Hn); [[ "$nofile" == unlimited || "$nofile" -gt 65536 ]] && nofile=65536
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=32768:32768")
podman_run=(as_root podman run --runtime runc --network host "${ulimits[@]}")

# ---------------------------------------------------------------- static checks
log "static checks"
if "$lint" "$root/docker/Dockerfile" >"$run_dir/lint.txt" 2>&1; then
  pass "dockerfilelint docker/Dockerfile"
else
  bad "dockerfilelint docker/Dockerfile:"; sed 's/^/         /' "$run_dir/lint.txt"
fi
if sh -n "$root/docker/entrypoint.sh"; then pass "sh -n docker/entrypoint.sh"; else bad "docker/entrypoint.sh syntax"; fi
if command -v shellcheck >/dev/null; then
  if shellcheck -s sh "$root/docker/entrypoint.sh"; then pass "shellcheck docker/entrypoint.sh"; else bad "shellcheck docker/entrypoint.sh"; fi
fi
# ECS: what RegisterTaskDefinition requires for Fargate, and what our
# operators rely on (non-blocking logs, health check, stop timeout, secrets).
ecs_check='
  def fail(m): error(m);
  (if (.family|type) == "string" and (.family|test("^[A-Za-z0-9_-]{1,255}$")) then . else fail("family missing or invalid") end)
  | (if .networkMode == "awsvpc" then . else fail("networkMode must be awsvpc (Fargate)") end)
  | (if (.requiresCompatibilities|index("FARGATE")) != null then . else fail("requiresCompatibilities lacks FARGATE") end)
  | (if (.cpu|type) == "string" and (.memory|type) == "string" then . else fail("task-level cpu and memory (strings) are required on Fargate") end)
  | (if (.cpu|tonumber) as $c | [256,512,1024,2048,4096,8192,16384]|index($c) != null then . else fail("cpu is not a Fargate size") end)
  | (if (.executionRoleArn|type) == "string" then . else fail("executionRoleArn is required for awslogs and secrets") end)
  | (if (.containerDefinitions|type) == "array" and (.containerDefinitions|length) > 0 then . else fail("containerDefinitions empty") end)
  | (if ([.containerDefinitions[] | select(.essential == true)]|length) > 0 then . else fail("no essential container") end)
  | .containerDefinitions[] as $c
  | (if ($c.name|type) == "string" and ($c.image|type) == "string" and ($c.essential|type) == "boolean" then . else fail("container needs name, image, essential") end)
  | (if $c.logConfiguration.logDriver == "awslogs" then . else fail($c.name + ": logDriver is not awslogs") end)
  | (if $c.logConfiguration.options.mode == "non-blocking" then . else fail($c.name + ": awslogs mode is not non-blocking") end)
  | (if ($c.logConfiguration.options["max-buffer-size"]|type) == "string" then . else fail($c.name + ": non-blocking needs max-buffer-size") end)
  | (if ($c.logConfiguration.options|has("awslogs-group") and has("awslogs-region") and has("awslogs-stream-prefix")) then . else fail($c.name + ": awslogs-group/region/stream-prefix") end)
  | (if ($c.healthCheck.command|type) == "array" and ($c.healthCheck.command[0] == "CMD" or $c.healthCheck.command[0] == "CMD-SHELL") then . else fail($c.name + ": healthCheck.command") end)
  | (if ($c.stopTimeout|type) == "number" and $c.stopTimeout >= 2 and $c.stopTimeout <= 120 then . else fail($c.name + ": stopTimeout 2..120") end)
  | (if ($c.secrets|type) == "array" and ($c.secrets|length) > 0 and all($c.secrets[]; (.name|type) == "string" and (.valueFrom|test("^arn:aws:(secretsmanager|ssm):"))) then . else fail($c.name + ": secrets[].name/valueFrom (Secrets Manager or SSM ARN)") end)
  | (if all(($c.environment // [])[]; (.name|test("KEY$|SEED|PASSWORD|TOKEN")|not)) then . else fail($c.name + ": a secret-looking plain environment variable") end)
  | "ok"'
for td in "$root"/docker/ecs/*.task.json; do
  name=${td#"$root"/}
  if out=$(jq -e -r "[$ecs_check] | unique | .[0]" "$td" 2>&1); then
    pass "$name: required ECS fields ($out)"
  else
    bad "$name: $out"
  fi
done
if jq -e '.containerDefinitions[0] | (.healthCheck.command | index("healthcheck")) != null and ([.secrets[].name] | index("FLEET_SIGNING_KEY")) != null' \
     "$root/docker/ecs/fleet-supervisor.task.json" >/dev/null; then
  pass "supervisor task: health check is fleet-supervisor healthcheck, key from secrets"
else
  bad "supervisor task: health check or FLEET_SIGNING_KEY secret missing"
fi
# The variables docker/ecs/nats-server.conf takes from the NATS task's environment.
ecs_nats_env=(NATS_SERVER_NAME=prove NATS_SYS_PASSWORD=sys-pw NATS_SUPERVISOR_PASSWORD=sup-pw
              NATS_OPERATOR_PASSWORD=op-pw NATS_STORY_TELLER_PASSWORD=st-pw NATS_STATE_MANAGER_PASSWORD=sm-pw)
for conf in "$root/docker/ecs/nats-server.conf" "$root/docker/nats/nats-server.conf"; do
  if (cd "$run_dir" && env "${ecs_nats_env[@]}" nats-server -t -c "$conf") >"$run_dir/natsconf.txt" 2>&1; then
    pass "nats-server -t ${conf#"$root"/}"
  else
    bad "nats-server -t ${conf#"$root"/}: $(tr '\n' ' ' <"$run_dir/natsconf.txt")"
  fi
done

# ---------------------------------------------------------------- host programs
if [[ -n "${FLEET_BIN_DIR:-}" ]]; then
  bin=$FLEET_BIN_DIR
else
  log "building the programs on the host (fleetctl, fleet-sim; fleet-supervisor, fleet-agent for the permissions check)"
  "$root/scripts/deps.sh" >/dev/null
  # In the checkout being proved (git-ignored): a build directory is tied to
  # its source tree, so a shared one would break for the next clone.
  cmake -S "$root" -B "$root/build-docker-host" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLEET_TESTS=OFF >/dev/null
  cmake --build "$root/build-docker-host" -j"$(nproc)" --target fleetctl fleet-sim fleet-supervisor fleet-agent >/dev/null
  bin=$root/build-docker-host/supervisor
fi

# The Debian mirror this machine's apt uses, from one-line sources.list
# files ("deb URL suite ...") or deb822 .sources files ("URIs: URL ...");
# deb.debian.org when neither names one. Never fails.
apt_mirror() {
  local f line word words
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] || continue
    while read -r line; do
      case "$line" in
        deb\ *|URIs:*)
          read -ra words <<<"$line"
          for word in "${words[@]}"; do
            if [[ "$word" =~ ^https?://.*/debian/?$ ]]; then echo "${word%/}"; return 0; fi
          done ;;
      esac
    done <"$f"
  done
  echo http://deb.debian.org/debian
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# ---------------------------------------------------------------- NATS permissions
# docker/ecs/nats-server.conf for real, on the host: the supervisor and a
# service run under their own users; a service using its credentials for
# another service's heartbeats is refused by the server.
log "NATS permissions (docker/ecs/nats-server.conf; host programs)"
"$bin/ctl/fleetctl" keygen --out "$run_dir/perm.seed" >"$run_dir/perm.pub"
pp=$(free_port) pm=$(free_port)
# The same file, only listening on loopback ports and storing in run_dir.
sed -e "s|^listen: .*|listen: 127.0.0.1:$pp|" -e "s|^http: .*|http: 127.0.0.1:$pm|" \
    -e "s|store_dir: .*|store_dir: \"$run_dir/js-ecs\"|" "$root/docker/ecs/nats-server.conf" >"$run_dir/nats-ecs.conf"
env "${ecs_nats_env[@]}" nats-server -c "$run_dir/nats-ecs.conf" >"$run_dir/nats-ecs.log" 2>&1 &
pids+=($!)
wait_port "$pp" || bad "nats-server with docker/ecs/nats-server.conf did not start"
FLEET_HEALTH_FILE=$run_dir/perm.health FLEET_SIGNING_KEY_FILE=$run_dir/perm.seed \
  "$bin/daemon/fleet-supervisor" -c "$root/supervisor/daemon/fleet.example.yaml" -s "nats://fleet-supervisor:sup-pw@127.0.0.1:$pp" \
  >"$run_dir/perm-supervisor.log" 2>&1 &
pids+=($!)
"$bin/agent/fleet-agent" -s "nats://svc-story-teller:st-pw@127.0.0.1:$pp" --service story-teller \
  --instance story-teller-1 --trust "$(cat "$run_dir/perm.pub")" -- sleep 600 >"$run_dir/perm-agent1.log" 2>&1 &
pids+=($!)
"$bin/agent/fleet-agent" -s "nats://svc-story-teller:st-pw@127.0.0.1:$pp" --service state-manager \
  --instance state-manager-1 --trust "$(cat "$run_dir/perm.pub")" -- sleep 600 >"$run_dir/perm-agent2.log" 2>&1 &
pids+=($!)
perm_ok=""
for _ in $(seq 60); do
  if "$bin/ctl/fleetctl" -s "nats://fleet-operator:op-pw@127.0.0.1:$pp" --timeout-ms 500 status --json \
       >"$run_dir/perm-status.json" 2>/dev/null &&
     jq -e '[.services[] | select(.name == "story-teller") | .instances[] | select(.instance == "story-teller-1" and .health == "HEALTHY")] | length == 1' \
       "$run_dir/perm-status.json" >/dev/null; then
    perm_ok=1; break
  fi
  sleep 0.25
done
sleep 1.5     # a few more heartbeats of the impostor
"$bin/ctl/fleetctl" -s "nats://fleet-operator:op-pw@127.0.0.1:$pp" --timeout-ms 1000 status --json >"$run_dir/perm-status.json" 2>/dev/null || true
if [[ -n "$perm_ok" ]]; then
  pass "svc-story-teller's agent is HEALTHY on the feed (its heartbeats, control and status subscriptions allowed)"
else
  bad "story-teller-1 never became HEALTHY under docker/ecs/nats-server.conf"
fi
if jq -e '[.services[] | select(.name == "state-manager") | .instances[]] | length == 0' "$run_dir/perm-status.json" >/dev/null &&
   grep -Eq 'Violation.*(Publish to "|Subject ")fleet.v1.hb.state-manager.state-manager-1' "$run_dir/nats-ecs.log"; then
  pass "svc-story-teller's credentials cannot send state-manager heartbeats (refused by the server; its ctl subscription too)"
else
  bad "heartbeats for state-manager with story-teller's credentials were not refused"
fi
others=$(grep 'Violation' "$run_dir/nats-ecs.log" | grep -v 'fleet.v1.[a-z]*.state-manager.state-manager-1' | sort -u | head -5 || true)
if [[ -z "$others" ]]; then
  pass "no other permission violation (supervisor: feed, JetStream state/lease/audit, \$SRV; operator: status)"
else
  bad "unexpected permission violations: $others"
fi
for p in "${pids[@]: -4}"; do kill "$p" 2>/dev/null || true; done

# ---------------------------------------------------------------- can podman run at all?
log "podman"
if ! as_root podman info >"$run_dir/podman-info.txt" 2>&1; then
  skip_now "podman info fails: $(tail -3 "$run_dir/podman-info.txt" | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- base image
if as_root podman image exists "$base"; then
  pass "base $base (cached)"
else
  rootfs=$work/rootfs
  if [[ ! -x "$rootfs/bin/sh" ]]; then
    mirror=$(apt_mirror)
    log "debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
    rm -rf "$rootfs"
    as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -5 "$work/debootstrap.log" >&2; skip_now "debootstrap failed (see $work/debootstrap.log)"; }
  fi
  # Trim as the official slim image does: no apt lists or cached debs, no
  # docs, man pages or translations, now or from later installs.
  as_root sh -c "
    rm -rf '$rootfs'/var/cache/apt/archives/*.deb '$rootfs'/var/lib/apt/lists/* \
           '$rootfs'/usr/share/doc/* '$rootfs'/usr/share/man/* '$rootfs'/usr/share/info/*
    find '$rootfs'/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
      > '$rootfs'/etc/dpkg/dpkg.cfg.d/docker-slim
    rm -f '$rootfs'/etc/apt/sources.list
    printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm bookworm-updates' \
      'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
      'Types: deb' 'URIs: http://deb.debian.org/debian-security' 'Suites: bookworm-security' \
      'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
      > '$rootfs'/etc/apt/sources.list.d/debian.sources"
  as_root tar -C "$rootfs" -c . | as_root podman import -q - "$base" >/dev/null
  pass "base $base imported from $rootfs"
fi
if ! "${podman_run[@]}" --rm "$base" true >"$run_dir/probe.txt" 2>&1; then
  skip_now "podman cannot run a container here: $(tr '\n' ' ' <"$run_dir/probe.txt")"
fi

# ---------------------------------------------------------------- image
log "podman build (compiles and runs the unit tests inside; minutes)"
t=$(now_ms)
if ! as_root podman build --runtime runc --network host "${ulimits[@]}" --format docker \
     --ignorefile "$root/docker/Dockerfile.dockerignore" --build-arg "BASE=${base%:*}" \
     -f "$root/docker/Dockerfile" -t "$image" "$root" >"$work/build.log" 2>&1; then
  tail -30 "$work/build.log"
  bad "podman build failed (full log: $work/build.log)"
  exit 1
fi
build_s=$(( ($(now_ms) - t) / 1000 ))
units=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$work/build.log" | tail -1 || true)
pass "image $image built in ${build_s}s; unit tests in the build stage: ${units:-?}"
size=$(as_root podman image inspect --format '{{.Size}}' "$image")
base_size=$(as_root podman image inspect --format '{{.Size}}' "$base")
pass "image size $((size / 1000000)) MB (base $((base_size / 1000000)) MB; ours $(((size - base_size) / 1000000)) MB)"
if [[ $(as_root podman image inspect --format '{{.Config.User}}' "$image") == fleet:fleet ]]; then
  pass "image runs as fleet:fleet"
else
  bad "image USER is not fleet:fleet"
fi

# ---------------------------------------------------------------- run it
port=$(free_port)
url=nats://127.0.0.1:$port
nats-server -a 127.0.0.1 -p "$port" -js -sd "$run_dir/js" >"$run_dir/nats.log" 2>&1 &
pids+=($!)
wait_port "$port" || bad "nats-server did not start"
"$bin/ctl/fleetctl" keygen --out "$run_dir/signing.seed" >"$run_dir/signing.pub"
pub=$(cat "$run_dir/signing.pub")
"$bin/sim/fleet-sim" -s "$url" --trust "$pub" >"$run_dir/sim.log" 2>&1 &
pids+=($!)
cp "$root/supervisor/daemon/fleet.example.yaml" "$run_dir/fleet.yaml"
chmod 0644 "$run_dir/fleet.yaml"

log "podman run (read-only root, key from the environment as ECS secrets does)"
ctr=fleet-prove-$$
t0=$(now_ms)
# -e NAME with no value: podman copies it from its own environment, so the
# seed is not on any command line.
FLEET_SIGNING_KEY=$(cat "$run_dir/signing.seed") \
  "${podman_run[@]}" -d --name "$ctr" --read-only -e FLEET_SIGNING_KEY -e "NATS_URL=$url" \
  -v "$run_dir/fleet.yaml:/etc/fleet/fleet.yaml:ro" "$image" >/dev/null 2>"$run_dir/podman-run.txt"
t_health="" t_status=""
for _ in $(seq 600); do
  if [[ -z "$t_health" ]] && as_root podman exec "$ctr" fleet-supervisor healthcheck 2>"$run_dir/hc.txt"; then
    t_health=$(( $(now_ms) - t0 ))
  fi
  if [[ -z "$t_status" ]] && "$bin/ctl/fleetctl" -s "$url" --timeout-ms 500 status --json >"$run_dir/status.json" 2>/dev/null \
     && [[ $(jq '.services | length' "$run_dir/status.json") -ge 45 ]]; then
    t_status=$(( $(now_ms) - t0 ))
  fi
  [[ -n "$t_health" && -n "$t_status" ]] && break
  [[ $(as_root podman inspect --format '{{.State.Running}}' "$ctr") == true ]] || break
  sleep 0.1
done
as_root podman logs "$ctr" >"$run_dir/supervisor.log" 2>&1 || true
if [[ -n "$t_health" ]]; then pass "fleet-supervisor healthcheck passed ${t_health} ms after podman run"
else bad "fleet-supervisor healthcheck never passed: $(cat "$run_dir/hc.txt")"; tail -20 "$run_dir/supervisor.log"; fi
if [[ -n "$t_status" ]]; then
  pass "FleetStatus on the feed ${t_status} ms after podman run: $(jq -r '"\(.services|length) services, \([.services[]|select(.health=="AVAILABLE")]|length) available"' "$run_dir/status.json")"
else
  bad "no FleetStatus with 45 services on $url"
fi
if as_root podman healthcheck run "$ctr" >"$run_dir/phc.txt" 2>&1; then
  pass "the image's HEALTHCHECK (podman healthcheck run) passes"
else
  bad "podman healthcheck run: $(tr '\n' ' ' <"$run_dir/phc.txt")"
fi
pid1=$(as_root podman exec "$ctr" readlink /proc/1/exe 2>/dev/null || true); pid1=${pid1##*/}
uid1=$(as_root podman exec "$ctr" awk '/^Uid:/ { print $2 }' /proc/1/status 2>/dev/null || true)
if [[ "$pid1" == fleet-supervisor && "$uid1" == 10001 ]]; then pass "PID 1 is fleet-supervisor, uid 10001"
else bad "PID 1 is '$pid1' uid '$uid1' (want fleet-supervisor, 10001)"; fi
if as_root podman exec "$ctr" sh -c 'tr "\0" "\n" </proc/1/environ | grep -q "^FLEET_SIGNING_KEY="'; then
  bad "FLEET_SIGNING_KEY is still in the supervisor's environment"
else
  pass "the seed is not in the supervisor's environment (written to a 0600 file by the entrypoint)"
fi
if grep -q "\"signer\":\"$pub\"" "$run_dir/supervisor.log"; then pass "the supervisor signs with the key from the environment"
else bad "the supervisor does not report signer $pub"; fi

log "SIGTERM (podman stop, 30 s timeout like the task's stopTimeout)"
t=$(now_ms)
as_root podman stop -t 30 "$ctr" >/dev/null 2>&1
stop_ms=$(( $(now_ms) - t ))
code=$(as_root podman inspect --format '{{.State.ExitCode}}' "$ctr")
if [[ "$code" == 0 && $stop_ms -lt 10000 ]]; then pass "stopped in ${stop_ms} ms, exit code 0"
else bad "stop took ${stop_ms} ms, exit code $code"; fi

echo
echo "figures: image $((size / 1000000)) MB (base $((base_size / 1000000)) MB), build ${build_s}s," \
     "healthy ${t_health:-?} ms and first FleetStatus ${t_status:-?} ms after podman run, SIGTERM stop ${stop_ms} ms"
if ((failures)); then echo "prove.sh: $failures check(s) FAILED"; exit 1; fi
echo "prove.sh: all checks passed"
