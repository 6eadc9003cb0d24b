/* Test fixture: a real NATS subscriber to the fleet feed that keeps the
 * latest FleetStatus and every Event, and waits on conditions with deadlines. */
#ifndef TESTS_FEEDWATCH_H
#define TESTS_FEEDWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include "fleet/v1/fleet.pb-c.h"

struct feedwatch;

/* The latest heartbeat seen from one instance (what its agent reports). */
struct feedwatch_heartbeat {
    uint32_t pid;
    uint64_t incarnation;
    int state;           /* ServingState */
    uint64_t fence_epoch;
    uint64_t term_seen;
    char nats_server[65];   /* id of the server it came through */
    bool has_exit;
    int exit_code;
    int exit_signal;
    int64_t at_ms;       /* monotonic receive time */
    uint64_t count;      /* heartbeats seen from it */
};

/* Connects to `url` (one URL or a list; reconnecting forever) and subscribes to fleet.v1.>
 * (statuses, events and heartbeats). Returns NULL on failure. */
struct feedwatch *feedwatch_start(const char *url);
void feedwatch_stop(struct feedwatch *w);

natsConnection *feedwatch_conn(struct feedwatch *w);

/* Health of an instance in the latest status (0 = not listed). */
int feedwatch_instance_health(struct feedwatch *w, const char *service, const char *instance);
/* Health of a service in the latest status (0 = not listed). */
int feedwatch_service_health(struct feedwatch *w, const char *service);

/* Waits until the latest status shows the instance/service in `health`, or
 * the observer in `state`. */
bool feedwatch_wait_instance(struct feedwatch *w, const char *service, const char *instance, int health,
                             int timeout_ms);
bool feedwatch_wait_service(struct feedwatch *w, const char *service, int health, int timeout_ms);
bool feedwatch_wait_observer(struct feedwatch *w, int state, int timeout_ms);

/* Waits for an event (seen since start) for service/instance going to `to`;
 * returns its receive time (monotonic ms) or -1. */
int64_t feedwatch_wait_event(struct feedwatch *w, const char *service, const char *instance, int to,
                             int timeout_ms);
/* Events seen so far going to `to` for service/instance ("" instance = any). */
int feedwatch_count_events(struct feedwatch *w, const char *service, const char *instance, int to);
int feedwatch_total_events(struct feedwatch *w);

/* Waits for an Event carrying `action` (Action number) for service/instance
 * ("" = any instance) whose reason contains `reason_part` (NULL = any);
 * returns its receive time or -1. */
int64_t feedwatch_wait_action(struct feedwatch *w, const char *service, const char *instance, int action,
                              const char *reason_part, int timeout_ms);
/* Events seen carrying `action` for service/instance ("" = any instance). */
int feedwatch_count_actions(struct feedwatch *w, const char *service, const char *instance, int action);

/* The Event.operator of the first event carrying `action` for
 * service/instance, into out[n]; false if there is none yet. */
bool feedwatch_action_operator(struct feedwatch *w, const char *service, const char *instance, int action,
                               char *out, size_t n);

/* From now on, the fewest HEALTHY instances `service` has in any status
 * (FleetStatus.services[].healthy); -1 until a status lists it. */
void feedwatch_track_healthy(struct feedwatch *w, const char *service);
int feedwatch_min_healthy(struct feedwatch *w);

/* Copies the latest heartbeat from service/instance; false if none seen. */
bool feedwatch_last_heartbeat(struct feedwatch *w, const char *service, const char *instance,
                              struct feedwatch_heartbeat *out);

/* Statuses received, the last feed_seq, and whether any feed_seq (status or
 * event) ever failed to rise. */
uint64_t feedwatch_statuses(struct feedwatch *w);
uint64_t feedwatch_last_seq(struct feedwatch *w);
bool feedwatch_seq_regressed(struct feedwatch *w);
/* The longest silence of the status feed (ms between two statuses, or
 * since the last one until now) since the last feedwatch_gap_reset. */
void feedwatch_gap_reset(struct feedwatch *w);
int64_t feedwatch_max_gap_ms(struct feedwatch *w);

/* Waits until at least `n` statuses have been received. */
bool feedwatch_wait_statuses(struct feedwatch *w, uint64_t n, int timeout_ms);
/* Observer states seen since start or the last reset, as a bit set (1 << state). */
unsigned feedwatch_observer_states_seen(struct feedwatch *w);
void feedwatch_reset_observer_states_seen(struct feedwatch *w);
/* Waits until a status in `state` arrives after the last reset. */
bool feedwatch_wait_observer_seen(struct feedwatch *w, int state, int timeout_ms);

/* A copy of the latest status (caller frees with fleet__v1__fleet_status__free_unpacked), or NULL. */
Fleet__V1__FleetStatus *feedwatch_latest(struct feedwatch *w);

/* Sends a request and returns the reply payload (malloc'd, *len set) or NULL. */
char *feedwatch_request(struct feedwatch *w, const char *subject, const void *data, int len, int *out_len,
                        int timeout_ms);

#endif
