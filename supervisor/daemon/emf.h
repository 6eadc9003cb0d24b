/* The fleet's gauges as CloudWatch Embedded Metric Format (EMF) lines: JSON
 * objects, one a line, that CloudWatch Logs (the ECS `awslogs` log driver
 * sends stdout there) turns into metrics with no agent and no API call.
 *
 * emf_render is pure: the figures in, the text out. Each call writes
 *
 *   - one fleet-wide line, Dimensions [[]] (no dimension):
 *       ServicesExpected, ServicesAvailable, InstancesExpected,
 *       InstancesHealthy (Count), Availability (None: a ratio 0..1),
 *       SelfPreservation (Count: 1 while the observer is in
 *       SELF_PRESERVATION, else 0), and the property ObserverState
 *       ("NORMAL", ...; a property, not a metric: text is not a value);
 *   - one line per service, Dimensions [["Service"]], "Service": its name:
 *       HealthyInstances, DesiredInstances (Count), Availability1h (None).
 *
 * A line per service because one EMF document holds one value per
 * dimension key: a service is a dimension value, so services cannot share
 * a line. Every line is far inside the specification's limits (at most 100
 * metrics per directive, 30 keys per dimension set, 1 MB per event): 6
 * metrics, at most 1 key. Every line carries _aws.Timestamp (epoch ms, a
 * number) and Namespace EMF_NAMESPACE. */
#ifndef SUPERVISOR_EMF_H
#define SUPERVISOR_EMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct observer;

#define EMF_NAMESPACE "FleetSupervisor"

struct emf_service {
    const char *name;           /* a fleet name: the "Service" dimension's value */
    uint32_t healthy;           /* instances HEALTHY now */
    uint32_t desired;           /* instances wanted (0 for an unexpected service) */
    double availability_1h;     /* fraction of the last hour it was AVAILABLE */
};

/* The figures of one moment. Strings and the array are only read during
 * emf_render. */
struct emf_fleet {
    int64_t unix_ms;            /* the lines' Timestamp */
    uint32_t services_expected;
    uint32_t services_available;
    double availability;        /* available / expected */
    uint32_t instances_expected;
    uint32_t instances_healthy;
    const char *observer_state; /* "NORMAL", "SELF_PRESERVATION", ... (NULL = "") */
    const struct emf_service *services;
    size_t n_services;
};

/* Renders every line of `f`, each ended by '\n', fleet-wide first, then the
 * services in array order. Returns a malloc'd NUL-terminated string the
 * caller frees, or NULL when out of memory (nothing else can fail).
 * Values: whole numbers as JSON integers, ratios with 15 significant
 * digits, a non-finite ratio as 0 (EMF values must be numbers). */
char *emf_render(const struct emf_fleet *f);

/* The figures of `obs` at core time `now_ms`, stamped `unix_ms`. On 0,
 * *out is filled and out->services is a malloc'd array whose names point
 * into the observer's registry (valid until the observer next changes):
 * release it with emf_fleet_fini. On -1 (out of memory) *out is untouched.
 * Integrates the availability windows, hence the non-const observer. */
int emf_collect(struct observer *obs, int64_t now_ms, int64_t unix_ms, struct emf_fleet *out);

/* Frees what emf_collect allocated; the struct itself is the caller's. */
void emf_fleet_fini(struct emf_fleet *f);

/* When the lines are next due, every interval_s seconds of core time; off
 * (interval 0) never. */
struct emf_schedule {
    uint32_t interval_ms;       /* 0 = off */
    int64_t next_ms;            /* core time of the next lines */
};

/* Starts (or restarts, after a reload) the schedule: the first lines are
 * due one interval after `now_ms`. */
void emf_schedule_set(struct emf_schedule *s, uint32_t interval_s, int64_t now_ms);

/* True when lines are due at `now_ms`; then the next are due one interval
 * later (and never in the past: a loop that slept long skips, it does not
 * burst). */
bool emf_schedule_due(struct emf_schedule *s, int64_t now_ms);

/* Core time of the next lines, INT64_MAX when off: for the loop's timeout. */
int64_t emf_schedule_next(const struct emf_schedule *s);

/* The daemon's one call, on the owner thread: when lines are due at core
 * time `now_ms`, moves the schedule on and, when `write` (the supervisor
 * publishes the feed: one writer per fleet), collects `obs`'s figures and
 * writes every line to the log's stream in one piece (log_raw), stamped
 * `unix_ms`. Out of memory: those lines are skipped and an error logged;
 * the next are due one interval later as usual. */
void emf_tick(struct emf_schedule *s, struct observer *obs, bool write, int64_t now_ms, int64_t unix_ms);

#endif
