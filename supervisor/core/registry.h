/* The fleet as data: services, their instances, an index by name and a heap
 * of deadlines at which an instance must be judged again.
 *
 * Pure storage: no policy, no clock. The registry owns every service and
 * instance it returns; pointers stay valid until that object is removed or the
 * registry destroyed. Not thread-safe: one thread owns it (DESIGN.md §10). */
#ifndef CORE_REGISTRY_H
#define CORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "availability.h"
#include "detector.h"
#include "fleet/names.h"
#include "health.h"
#include "policy.h"

#define VERSION_MAX FLEET_VERSION_MAX /* longest version string kept */
#define SERVICE_VERSIONS_MAX 8 /* distinct versions listed per service */
#define NO_DEADLINE INT64_MAX

struct service;

struct instance {
    struct service *service;
    struct instance *next; /* next instance of the same service */
    struct instance *prev;
    uint32_t hash;
    uint32_t heap_slot;    /* position in the deadline heap, UINT32_MAX if none */
    int64_t deadline_ms;   /* when to judge it again, NO_DEADLINE if never */
    struct detector detector;
    int64_t last_seen_ms;  /* arrival of the last accepted heartbeat */
    int64_t health_since_ms;
    uint64_t incarnation;
    uint64_t prev_incarnation; /* the life before, so its late heartbeats are stale */
    uint64_t contender;    /* a proven other life claiming the instance while this one lives; 0 none */
    int64_t contender_first_ms; /* when the contender was first heard */
    int64_t contender_last_ms;  /* when it was last heard */
    uint64_t seq;
    uint64_t fence_epoch;
    uint64_t term_seen;
    int64_t next_action_ms; /* when the policy acts next (monotonic), 0 = nothing planned */
    struct instance *policy_next; /* link in the observer's held or in-flight list */
    struct instance *policy_prev;
    struct policy_instance policy;
    uint32_t restarts;     /* new incarnations seen since first tracked */
    uint32_t pid;
    unsigned char health;  /* enum inst_health */
    unsigned char state;   /* enum serving_state of the last heartbeat */
    unsigned char server;  /* slot of the NATS server its last heartbeat came through (servers.h) */
    bool server_held;      /* silent past its dead threshold, held on that server */
    bool keyed;            /* the current life proved a heartbeat: its unproven ones are refused */
    bool conflict;         /* the current life kept heartbeating after the contender appeared */
    bool heard;            /* a heartbeat was accepted; false only for a record made by
                              observer_restore that has not heard from the instance yet */
    char name[FLEET_NAME_MAX + 1];
    char version[VERSION_MAX + 1];
    char reason[REASON_MAX];
};

struct service {
    uint32_t hash;
    uint32_t desired;
    bool expected;   /* in the config */
    bool ever_seen;  /* some instance has sent a heartbeat */
    bool dirty;      /* changed since the feed last published it */
    bool version_drift;
    unsigned char health; /* enum svc_health */
    uint32_t n_instances;
    uint32_t count[INST_HEALTH_COUNT]; /* instances per health */
    struct instance *first;
    uint32_t n_versions;
    char versions[SERVICE_VERSIONS_MAX][VERSION_MAX + 1];
    struct availability availability;
    /* Policy (observer_config's service_config, resolved). */
    uint32_t crashloop_max;        /* restarts allowed in the window, 1..POLICY_TALLY_MAX */
    uint32_t max_interval_ms;      /* promised intervals are clamped to this (0: no clamp) */
    uint32_t max_instances;        /* instances tracked at most (0: unbounded) */
    int64_t crashloop_window_ms;
    bool restart_disabled;
    bool no_agent;                 /* service_config.no_agent */
    uint32_t n_depends_on;
    char (*depends_on)[FLEET_NAME_MAX + 1]; /* owned: freed with the service */
    char name[FLEET_NAME_MAX + 1];
};

struct registry;

/* Returns 0 and the new registry in *out, or -1 (out of memory, *out untouched).
 * Destroy with registry_destroy. */
int registry_create(struct registry **out);
void registry_destroy(struct registry *r);

/* Lookups: NULL when absent. `name` must be a valid name (checked by callers). */
struct service *registry_service(const struct registry *r, const char *name);
struct instance *registry_instance(const struct registry *r, const struct service *s,
                                   const char *name);

/* Adds an empty service / instance (zeroed, health UNSPECIFIED, no deadline,
 * an idle policy record).
 * Returns NULL on allocation failure, leaving the registry unchanged. The
 * caller has checked that the name is not present. */
struct service *registry_add_service(struct registry *r, const char *name);
struct instance *registry_add_instance(struct registry *r, struct service *s, const char *name);

/* Removes and frees (a service with its depends_on array); the pointers are
 * invalid afterwards. A service must have no instances left. The caller
 * unlinks an instance from any list of its own first. */
void registry_remove_instance(struct registry *r, struct instance *i);
void registry_remove_service(struct registry *r, struct service *s);

/* Services in insertion order (stable between calls that add/remove none). */
size_t registry_service_count(const struct registry *r);
struct service *registry_service_at(const struct registry *r, size_t index);
size_t registry_instance_count(const struct registry *r);

/* Deadline heap. schedule() inserts, moves or (with NO_DEADLINE) removes. */
void registry_schedule(struct registry *r, struct instance *i, int64_t deadline_ms);
/* Earliest deadline, NO_DEADLINE when none. */
int64_t registry_next_deadline(const struct registry *r);
/* The instance with the earliest deadline if it is <= now_ms, else NULL. It
 * stays scheduled: the caller reschedules it. */
struct instance *registry_due(const struct registry *r, int64_t now_ms);

#endif
