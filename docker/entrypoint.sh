#!/bin/sh
# fleet-entrypoint: the image's ENTRYPOINT (docker/README.md).
#
# ECS `secrets` hands a secret to a container as an environment variable,
# but fleet-supervisor reads its control signing key from a file with mode
# 0600 (FLEET_SIGNING_KEY_FILE) and refuses anything else. So: when
# FLEET_SIGNING_KEY holds the seed ("S..."), write it to a 0600 file in
# memory (/dev/shm, a tmpfs; else the /run/fleet volume), point
# FLEET_SIGNING_KEY_FILE at it and drop FLEET_SIGNING_KEY from the
# environment. printf is a shell builtin: the seed is never in any argv.
#
# Then exec, so the program replaces this shell as PID 1 and receives
# SIGTERM itself (fleet-supervisor drains and exits 0; it reaps its own
# on_escalate hooks, so no init is needed):
#   (no arguments, or options)  fleet-supervisor [options]
#   anything else               that command, e.g. `fleetctl status`,
#                               `fleet-sim ...`, `fleet-supervisor healthcheck`
set -eu

if [ -n "${FLEET_SIGNING_KEY:-}" ]; then
    if [ -n "${FLEET_SIGNING_KEY_FILE:-}" ]; then
        echo "fleet-entrypoint: set FLEET_SIGNING_KEY or FLEET_SIGNING_KEY_FILE, not both" >&2
        exit 2
    fi
    keydir=${FLEET_KEY_DIR:-}
    if [ -z "$keydir" ]; then
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then keydir=/dev/shm; else keydir=/run/fleet; fi
    fi
    umask 077
    keyfile=$(mktemp "$keydir/signing-key.XXXXXX") || {
        echo "fleet-entrypoint: cannot create a key file in $keydir (set FLEET_KEY_DIR to a writable tmpfs)" >&2
        exit 1
    }
    printf '%s\n' "$FLEET_SIGNING_KEY" > "$keyfile"
    chmod 0600 "$keyfile"
    FLEET_SIGNING_KEY_FILE=$keyfile
    export FLEET_SIGNING_KEY_FILE
    unset FLEET_SIGNING_KEY
    umask 022
fi

if [ "$#" -eq 0 ]; then
    exec fleet-supervisor
fi
case "$1" in
    -*) exec fleet-supervisor "$@" ;;
    *) exec "$@" ;;
esac
