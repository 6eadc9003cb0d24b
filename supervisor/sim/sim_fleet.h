/* The simulated fleet: its instances, the failures injected into them and
 * the schedule that drives their heartbeats from one thread. */
#ifndef SIM_FLEET_H
#define SIM_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "fleet/heartbeat.h"
#include "fleet/obey.h"
#include "fleet/names.h"
#include "sim_opts.h"
#include "sim_sched.h"

#define SIM_VERSION_DEFAULT "1.4.2"

struct sim_fleet;

struct sim_instance {
    struct sim_fleet *fleet;    /* back pointer, for control handlers */
    fleet_obey *obey;           /* owned; NULL without trusted keys */
    char service[FLEET_NAME_MAX + 1];
    char name[FLEET_NAME_MAX + 1];
    char version[FLEET_HB_VERSION_MAX + 1];
    fleet_hb *hb;               /* owned; NULL until sim_fleet_start */
    bool expected;              /* false for --unexpected instances */
    double slow_factor;         /* sending period / promised interval */
    bool degraded;
    bool has_stop;              /* a crash, hang or exit is scheduled */
    enum sim_fault_kind stop_kind;
    double stop_at_s;
    int exit_code;
    double flap_up_s, flap_down_s;  /* 0: does not flap */
    bool started, silent, flap_down;
};

struct sim_fleet {
    struct sim_instance *inst;  /* owned; n entries */
    size_t n;
    size_t n_services;
    struct sim_sched sched;
    /* Restarts asked for by control (nats.c threads), run by the sim thread. */
    pthread_mutex_t restarts_lock;
    uint32_t *restarts;         /* instance indexes; n_restarts entries, capacity n */
    size_t n_restarts;
    uint32_t interval_ms;
    double jitter;              /* fraction, 0.05 = +-5 % */
    uint64_t rng;
};

/* Lays out the instances of the shape `o` asks for, plus --unexpected ones,
 * and attaches every failure to its targets. Returns 0, 1 (out of memory)
 * or 2 (a target or name that does not fit; message on stderr). Release
 * with sim_fleet_fini whatever it returns. */
int sim_fleet_build(struct sim_fleet *f, const struct sim_opts *o);

/* Creates one non-autonomous heartbeat sender per instance on the shared
 * connection `nc` (which must outlive sim_fleet_fini) and schedules the
 * first sends, spread over one interval, and the failures, from `now_ms`.
 * Returns 0, 1 (runtime failure, logged) or 2 (bad --prefix). */
int sim_fleet_start(struct sim_fleet *f, const struct sim_opts *o, natsConnection *nc, int64_t now_ms);

/* Runs every event due at `now_ms`, and the restarts control asked for. */
void sim_fleet_run_due(struct sim_fleet *f, int64_t now_ms);

/* Monotonic time of the next event, INT64_MAX when nothing is left. */
int64_t sim_fleet_next_due(const struct sim_fleet *f);

/* Sums the senders' counters. */
void sim_fleet_totals(const struct sim_fleet *f, fleet_hb_counters *out);

/* Destroys every sender and frees the fleet. Safe on a zeroed or partly
 * built fleet. */
void sim_fleet_fini(struct sim_fleet *f);

#endif
