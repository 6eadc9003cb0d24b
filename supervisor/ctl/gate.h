/* The deploy gate's judgement (`fleetctl wait`): a pure function of what the
 * feed showed and of time. No NATS, no clock, no output: the caller feeds it
 * ServiceStatus and Event messages with the monotonic time they arrived, asks
 * gate_update(now) for the verdict, and prints what gate_progress and
 * gate_reason say. Messages are only read; nothing keeps a pointer into them.
 *
 * Words:
 * - A *counted* instance reports the target version (every instance when no
 *   version is given) and is listed in the service's latest status.
 * - *Ready*: every target service has at least `required` counted instances,
 *   each HEALTHY without a break for min_healthy_ms. `required` is --healthy,
 *   else the service's `desired` as the feed says now (at least 1). The
 *   min-healthy clock of an instance starts when the gate first sees it
 *   HEALTHY (a status or an event), and restarts after any other health or a
 *   new incarnation.
 * - A *death* of an instance: its health goes to DEAD (event or status), or a
 *   new life appears (incarnation change, `restarts` rise) whose predecessor's
 *   death the gate did not see, unless that life ended on purpose (STOPPED).
 *   Each death is counted once: a DEAD seen by event and then by status is one,
 *   and the restart that follows it is not another.
 * - *Failures* of a service: deaths of its counted instances.
 *
 * Verdicts, checked in this order:
 * - FAILED at once (fail fast, not at the timeout): a counted instance is
 *   FENCED (the supervisor's crash-loop escalation, or an operator's fence);
 *   or a service's failures exceed max_failures (default per service:
 *   max(3, ceil(desired / 2)), the ECS deployment circuit breaker's rule;
 *   0 means no death is tolerated: the first one fails); or, while baking,
 *   any death of a counted instance.
 * - READY once ready and, with a bake, bake_ms later without a death.
 * - TIMED_OUT when not ready timeout_ms after the start (the bake is not
 *   bounded by the timeout: it starts at ready and lasts bake_ms).
 * - WAITING or BAKING otherwise. */
#ifndef FLEETCTL_GATE_H
#define FLEETCTL_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/status.h"
#include "fleet/v1/fleet.pb-c.h"

#define GATE_DEFAULT_MIN_HEALTHY_MS (10LL * 1000)
#define GATE_DEFAULT_TIMEOUT_MS (5LL * 60 * 1000)
#define GATE_MAX_FAILURES_AUTO (-1)   /* max(3, ceil(desired / 2)) per service */
#define GATE_REASON_MAX 512

enum gate_verdict {
    GATE_WAITING,     /* not ready yet, nothing failed */
    GATE_BAKING,      /* ready; watching for deaths until the bake ends */
    GATE_READY,       /* final: ready (and baked) */
    GATE_FAILED,      /* final: see gate_reason */
    GATE_TIMED_OUT,   /* final: not ready within the timeout */
};

struct gate_opts {
    const char *version;     /* target version; NULL or "": every instance counts. Copied */
    uint32_t healthy;        /* instances required per service; 0: the service's desired */
    int64_t min_healthy_ms;  /* HEALTHY without a break this long; 0 allowed */
    int64_t timeout_ms;      /* > 0 */
    int64_t max_failures;    /* deaths tolerated per service; GATE_MAX_FAILURES_AUTO: the ECS rule */
    int64_t bake_ms;         /* 0: ready ends the wait */
    bool fleet;              /* --all: progress and verdict are told as "N/M services" */
};

/* What the gate shows of one service (gate_service). Strings are the gate's,
 * valid until the next call that changes it. */
struct gate_service_view {
    const char *name;
    uint32_t required;       /* instances needed now */
    uint32_t healthy;        /* counted instances HEALTHY now */
    uint32_t stable;         /* of them, HEALTHY for min_healthy_ms */
    uint32_t other;          /* listed instances on another version */
    uint32_t failures;       /* deaths of counted instances */
    int64_t max_failures;    /* the threshold in force */
    bool ready;
};

struct gate;

/* A gate started at `now_ms` for no service yet. Returns NULL when out of
 * memory. Destroy with gate_destroy (NULL allowed). */
struct gate *gate_create(const struct gate_opts *o, int64_t now_ms);
void gate_destroy(struct gate *g);

/* Adds a target service (a valid name; adding one twice is a no-op).
 * FLEET_OK, or FLEET_ERR_NO_MEMORY with the gate unchanged. */
fleet_status gate_add_service(struct gate *g, const char *name);

/* A status of a service at `now_ms` (the query's answer or the feed); one of
 * a service the gate does not target is ignored. FLEET_OK, or
 * FLEET_ERR_NO_MEMORY: instances that could not be recorded are not tracked
 * (the rest of the status is taken). */
fleet_status gate_status(struct gate *g, const Fleet__V1__ServiceStatus *st, int64_t now_ms);

/* An event at `now_ms`. Events of untargeted services or without an
 * instance are ignored. FLEET_OK or FLEET_ERR_NO_MEMORY (event not taken). */
fleet_status gate_event(struct gate *g, const Fleet__V1__Event *ev, int64_t now_ms);

/* Judges at `now_ms` and returns the verdict. Once final it stays final;
 * later messages change nothing. */
enum gate_verdict gate_update(struct gate *g, int64_t now_ms);

/* When gate_update must be called again even if nothing arrives (a
 * min-healthy clock, the bake or the timeout runs out), monotonic ms;
 * INT64_MAX once final. As of the last gate_update. */
int64_t gate_next_deadline(const struct gate *g);

/* Rises each time gate_update finds something an operator would want to hear
 * (an instance became HEALTHY or stable, a death, a version count, the
 * verdict), not when only time passed: print progress when it changes. */
uint64_t gate_generation(const struct gate *g);

/* One progress line at `now_ms`, no newline, e.g.
 * "story-teller 1/2 on 1.5.0 healthy, 6s of min-healthy-time left". */
void gate_progress(const struct gate *g, int64_t now_ms, char *out, size_t n);

/* Why the verdict is final ("story-teller 2/2 on 1.5.0 healthy for 10s",
 * "story-teller/i-3 on 1.5.0 fenced (crashloop ...)"); "" while not final. */
const char *gate_reason(const struct gate *g);

size_t gate_service_count(const struct gate *g);
/* The k-th target service (k < gate_service_count), in the order added. */
void gate_service(const struct gate *g, size_t k, struct gate_service_view *out);

/* "ready", "failed", "timed out", "waiting", "baking": static strings. */
const char *gate_verdict_name(enum gate_verdict v);

#endif
