/* The Prometheus text exposition format 0.0.4 of the supervisor's figures,
 * written from a view the daemon fills (exporter.c): no NATS, no globals,
 * no clock. Every family has HELP and TYPE; names follow Prometheus's
 * naming guide (fleet_ prefix, base units, counters end in _total).
 *
 * The `health` label of fleet_instances is the InstanceHealth enum name
 * without its prefix, lowercased ("healthy", "dead", ...); fleet_observer_state's
 * `state` likewise ("normal", "self_preservation", ...). */
#ifndef FLEET_METRICS_H
#define FLEET_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"

/* fleet_detection_seconds: last heartbeat -> DEAD. */
#define METRICS_DETECTION_BUCKETS 9
extern const double metrics_detection_bounds[METRICS_DETECTION_BUCKETS];

struct metrics_histogram {
    uint64_t in_bucket[METRICS_DETECTION_BUCKETS + 1]; /* per bucket (not cumulative); last: above every bound */
    uint64_t count;
    double sum;
};
/* Counts one observation of `seconds` (negative ones as 0). */
void metrics_histogram_observe(struct metrics_histogram *h, double seconds);

struct metrics_service {
    const char *name;
    uint32_t count[INST_HEALTH_COUNT]; /* instances per enum inst_health */
    double availability_1h, availability_24h;
    uint64_t restarts;                 /* sum of its instances' restarts */
};

/* Only with http.instance_metrics (cardinality: one series per instance). */
struct metrics_instance {
    const char *service, *instance;
    bool up;                           /* HEALTHY or DEGRADED */
};

/* One series of a family with one label. */
struct metrics_labelled {
    const char *label;
    uint64_t value;
};

struct metrics_admin {
    const char *verb, *result;
    uint64_t value;
};

/* Read at the edge (procstat.h). */
struct metrics_process {
    uint64_t resident_bytes;
    double cpu_seconds;
    double start_time_seconds;  /* since the Unix epoch */
    uint64_t open_fds, max_fds;
};

/* Everything /metrics shows; pointers are the caller's, valid for the call. */
struct metrics_view {
    const char *version;
    uint32_t services_expected, services_available;
    double availability;
    const struct metrics_service *services;
    size_t n_services;
    const struct metrics_instance *instances; /* NULL / 0: no fleet_instance_up */
    size_t n_instances;
    uint64_t heartbeats_received;
    const struct metrics_labelled *refused;   /* label: reason */
    size_t n_refused;
    const struct metrics_labelled *controls_sent; /* label: action */
    size_t n_controls_sent;
    const struct metrics_labelled *control_acks;  /* label: result */
    size_t n_control_acks;
    const struct metrics_admin *admin;
    size_t n_admin;
    uint64_t micro_pings;                     /* probe: micro (micro_probe.h) */
    uint64_t micro_accepted;
    const struct metrics_labelled *micro_refused; /* label: reason */
    size_t n_micro_refused;
    uint64_t escalated_no_agent;              /* restarts/fences escalated, not sent: no agent */
    const struct metrics_histogram *detection;
    enum observer_state observer;
    bool leader;
    uint64_t term;
    struct metrics_process process;
};

/* Writes the exposition into a malloc'd NUL-terminated buffer (*out, *len;
 * the caller frees). Returns 0, or -1 (out of memory; out-params untouched). */
int metrics_write(const struct metrics_view *v, char **out, size_t *len);

#endif
