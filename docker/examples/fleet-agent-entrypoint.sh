#!/bin/sh
# Wraps a service image's command with fleet-agent (docker/README.md,
# "Wrapping a service with fleet-agent"). Use as the ENTRYPOINT and keep the
# service's own command as CMD:
#   ENTRYPOINT ["fleet-agent-entrypoint"]
#   CMD ["python", "-m", "story_teller"]
# Environment: FLEET_SERVICE (required), FLEET_INSTANCE (default:
# <service>-<hostname>, dots made dashes: unique per ECS task), FLEET_VERSION,
# FLEET_HTTP_CHECK (URL), NATS_URL, FLEET_TRUSTED_KEYS (public keys).
# exec: fleet-agent is PID 1; it forwards SIGTERM to the service, SIGKILLs it
# after --grace-ms, reaps every orphan (it is a subreaper) and exits with the
# service's status.
set -eu
: "${FLEET_SERVICE:?set FLEET_SERVICE to the service name in the supervisor config}"
host=$(hostname | tr -c 'A-Za-z0-9_\n-' '-')
instance=${FLEET_INSTANCE:-$(printf '%s-%s' "$FLEET_SERVICE" "$host" | cut -c1-64)}
set -- --service "$FLEET_SERVICE" --instance "$instance" \
    ${FLEET_VERSION:+--version "$FLEET_VERSION"} \
    ${FLEET_HTTP_CHECK:+--http-check "$FLEET_HTTP_CHECK"} \
    --grace-ms "${FLEET_GRACE_MS:-10000}" -- "$@"
exec fleet-agent "$@"
