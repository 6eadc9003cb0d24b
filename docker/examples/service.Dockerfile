# Example: a Python service image wrapped by fleet-agent (docker/README.md).
# Build from the service's repository with this repository's
# docker/examples/fleet-agent-entrypoint.sh copied next to it.
#
# fleet-agent is a dynamically linked Debian 12 program: the service image
# must be Debian 12 based (python:*-slim-bookworm, node:*-bookworm-slim,
# debian:bookworm-slim, ...). The fleet image lists the Debian packages its
# programs need in /usr/share/fleet/runtime-packages.
ARG FLEET_IMAGE=123456789012.dkr.ecr.eu-west-1.amazonaws.com/fleet-supervisor:0.1.0
FROM ${FLEET_IMAGE} AS fleet

FROM python:3.11-slim-bookworm
COPY --from=fleet /usr/share/fleet/runtime-packages /usr/share/fleet/runtime-packages
RUN apt-get update \
 && xargs -a /usr/share/fleet/runtime-packages apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY --from=fleet /usr/local/bin/fleet-agent /usr/local/bin/fleet-agent
COPY fleet-agent-entrypoint.sh /usr/local/bin/fleet-agent-entrypoint

WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -r requirements.txt \
 && useradd --system --uid 10002 --user-group --no-create-home app
USER app
ENV FLEET_SERVICE=story-teller \
    FLEET_HTTP_CHECK=http://127.0.0.1:8080/health
STOPSIGNAL SIGTERM
# Before: ENTRYPOINT ["python", "-m", "story_teller"]
ENTRYPOINT ["fleet-agent-entrypoint"]
CMD ["python", "-m", "story_teller"]
