/* bench_soak's witness of the supervisor: a live subscription to its
 * events, Controls and FleetStatus (nats.c delivery threads record, under
 * a lock), and the whole audit stream read back after the run. */
#ifndef SOAK_WATCH_H
#define SOAK_WATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "fleet/names.h"
#include "fleet/subjects.h"
#include "fleet/v1/fleet.pb-c.h"

/* Subjects are under fleet-supervisor's default prefix. */
#define SOAK_PREFIX FLEET_DEFAULT_PREFIX

/* The wire numbers the verdict looks at. */
enum {
    SOAK_HEALTHY = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY,
    SOAK_SUSPECT = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_SUSPECT,
    SOAK_DEAD = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD,
    SOAK_RESTARTING = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_RESTARTING,
    SOAK_FENCED = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_FENCED,
    SOAK_RESTART = FLEET__V1__ACTION__ACTION_RESTART,
    SOAK_FENCE = FLEET__V1__ACTION__ACTION_FENCE,
    SOAK_OBS_NORMAL = FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_NORMAL,
};

struct soak_event {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    int from, to, action;
    int64_t unix_ms;
    char reason[FLEET_KEPT_REASON_MAX + 1];
};

struct soak_control {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    int action;
    int64_t unix_ms;          /* receive time, wall clock */
};

/* A growing array of `size`-byte records. */
struct soak_list {
    void *v;
    size_t n, cap, size;
};

struct soak_recorder {
    natsConnection *nc;
    natsSubscription *sub[3];
    pthread_mutex_t lock;     /* guards everything below */
    struct soak_list events;  /* struct soak_event, live */
    struct soak_list controls; /* struct soak_control */
    int observer;             /* of the latest FleetStatus */
    uint32_t healthy, expected;
    uint64_t statuses;
    uint64_t lost;            /* undecodable, or no memory to keep it */
    unsigned disconnects, reconnects;
};

/* Appends a zeroed record to `l` and returns it, or NULL when out of
 * memory (l unchanged). The list owns its array: free(l->v). */
void *soak_list_push(struct soak_list *l);

/* CLOCK_REALTIME in ms (Event.unix_ms and the sim's ts_ms are wall clock). */
int64_t soak_wall_ms(void);

/* Copies `src` (NULL: "") into dst[0..n), cut to fit. */
void soak_copy_name(char *dst, size_t n, const char *src);

/* Connects to `url` (reconnecting for ever, like every fleet program) and
 * subscribes to the events, the control subjects and the FleetStatus.
 * Returns 0, or -1 with a message; either way release with soak_rec_stop,
 * then nats_CloseAndWait, then soak_rec_free. */
int soak_rec_start(struct soak_recorder *r, const char *url);

/* Closes the subscriptions and the connection. Callbacks may still be
 * running on nats.c's threads: free the records with soak_rec_free only
 * after nats_CloseAndWait. */
void soak_rec_stop(struct soak_recorder *r);
void soak_rec_free(struct soak_recorder *r);

/* True when the latest FleetStatus shows the observer NORMAL and `total`
 * instances expected and healthy, and more than `after` statuses have
 * arrived (soak_rec_statuses before the wait; 0 for any). */
bool soak_rec_steady(struct soak_recorder *r, uint32_t total, uint64_t after);
uint64_t soak_rec_statuses(struct soak_recorder *r);

/* Reads every Event of the supervisor's audit stream (FLEET_AUDIT) into
 * `out` (struct soak_event records), and the stream's message count into
 * *stream_msgs. Returns 0, or -1 with a message (what was read stays in
 * `out`). */
int soak_read_audit(natsConnection *nc, struct soak_list *out, uint64_t *stream_msgs);

#endif
