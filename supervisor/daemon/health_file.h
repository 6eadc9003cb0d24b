/* The health file: how `fleet-supervisor healthcheck` (the ECS/Docker
 * container health check; the image has no curl) learns whether the daemon
 * in the same container is alive and connected.
 *
 * The daemon calls health_write about once a second; it writes one small
 * JSON object to a temporary file next to `path` and renames it over `path`,
 * so a reader sees the old file or the new one, never half of one:
 *
 *   {"unix_ms":1764000000123,"observer":"NORMAL","leader":true,
 *    "nats_connected":true,"store":"ok","pid":1}
 *
 * The healthcheck reads it and passes only when it was written within
 * max-age (default 10 s) and says nats_connected. The file lives at
 * $FLEET_HEALTH_FILE, default /tmp/fleet-supervisor.health
 * (health_default_path). */
#ifndef SUPERVISOR_HEALTH_FILE_H
#define SUPERVISOR_HEALTH_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_DEFAULT_PATH "/tmp/fleet-supervisor.health"
#define HEALTH_DEFAULT_MAX_AGE_MS 10000

/* What the daemon knows about itself at one moment. The strings are only
 * read during health_write; NULL is written as "". */
struct health_snapshot {
    int64_t unix_ms;            /* wall clock (CLOCK_REALTIME) in ms */
    const char *observer_state; /* e.g. "NORMAL", "WARMING_UP", "SELF_PRESERVATION" */
    bool leader;                /* holds the leader lease */
    bool nats_connected;        /* its NATS link is up */
    const char *store_status;   /* the JetStream store, free text, e.g. "ok" */
};

/* $FLEET_HEALTH_FILE when set and not empty, else HEALTH_DEFAULT_PATH. */
const char *health_default_path(void);

/* Writes `s` to `path` atomically (temporary file in the same directory,
 * then rename). Returns 0, or -1 with errno set (nothing at `path`
 * changed, the temporary file removed). Does not log: the caller decides
 * how often a failure is worth a line. */
int health_write(const char *path, const struct health_snapshot *s);

/* Reads `path` and judges it at `now_unix_ms`. Returns true when the file
 * holds a snapshot written within max_age_ms (either side of now: a clock
 * step backwards is not a pass forever) that says nats_connected. On false,
 * `reason` (when not NULL) gets one line without a newline saying why. */
bool health_check(const char *path, int64_t now_unix_ms, int64_t max_age_ms,
                  char *reason, size_t reason_len);

/* `fleet-supervisor healthcheck [--file PATH] [--max-age-ms N]`: argv[0] is
 * "healthcheck". Prints nothing on success; one line on stderr otherwise.
 * Returns the exit code: 0 healthy, 1 unhealthy, 2 usage error. */
int health_command(int argc, char **argv);

#endif
