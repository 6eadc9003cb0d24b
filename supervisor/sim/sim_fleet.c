/* Building the simulated fleet, injecting its failures and running its
 * schedule. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

#include "fleet/clock.h"

#include "fleet_shape.h"
#include "sim_fleet.h"
#include "sim_log.h"

static const char *const fault_names[] = {
    [FAULT_CRASH] = "crash", [FAULT_HANG] = "hang", [FAULT_EXIT] = "exit",
    [FAULT_FLAP] = "flap", [FAULT_SLOW] = "slow", [FAULT_WRONG_VERSION] = "wrong-version",
    [FAULT_DEGRADED] = "degraded",
};

/* splitmix64: fast, good enough for jitter; not for anything secret. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double next_unit(uint64_t *state)
{
    return (double)(next_random(state) >> 11) / 9007199254740992.0;
}

/* Appends `count` instances `<service>-1..count`. Returns 0 or 2. */
static int add_service(struct sim_fleet *f, const char *service, unsigned count, bool expected)
{
    for (unsigned i = 1; i <= count; i++) {
        struct sim_instance *in = &f->inst[f->n];
        int len = snprintf(in->name, sizeof(in->name), "%s-%u", service, i);

        if (len < 0 || (size_t)len >= sizeof(in->name)) {
            fprintf(stderr, "fleet-sim: instance name %s-%u is longer than %d characters\n",
                    service, i, FLEET_NAME_MAX);
            return 2;
        }
        strcpy(in->service, service);
        strcpy(in->version, SIM_VERSION_DEFAULT);
        in->expected = expected;
        in->slow_factor = 1;
        f->n++;
    }
    f->n_services++;
    return 0;
}

static bool service_in_fleet(const struct sim_fleet *f, const char *service)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->inst[i].service, service) == 0)
            return true;
    return false;
}

static void apply_fault(struct sim_instance *in, const struct sim_fault *fault)
{
    switch (fault->kind) {
    case FAULT_CRASH:
    case FAULT_HANG:
    case FAULT_EXIT:
        if (in->has_stop && in->stop_at_s <= fault->at_s)
            return;     /* an earlier stop wins: a dead process cannot die again */
        in->has_stop = true;
        in->stop_kind = fault->kind;
        in->stop_at_s = fault->at_s;
        in->exit_code = fault->exit_code;
        return;
    case FAULT_FLAP:
        in->flap_up_s = fault->up_s;
        in->flap_down_s = fault->down_s;
        return;
    case FAULT_SLOW:
        in->slow_factor = fault->factor;
        return;
    case FAULT_WRONG_VERSION:
        strcpy(in->version, fault->version);
        return;
    case FAULT_DEGRADED:
        in->degraded = true;
        return;
    }
}

/* Attaches each fault to the instances it names. Returns 0 or 2. */
static int resolve_faults(struct sim_fleet *f, const struct sim_opts *o)
{
    for (size_t k = 0; k < o->n_faults; k++) {
        const struct sim_fault *fault = &o->faults[k];
        size_t hits = 0;

        for (size_t i = 0; i < f->n; i++) {
            struct sim_instance *in = &f->inst[i];

            if (strcmp(in->name, fault->target) == 0 || strcmp(in->service, fault->target) == 0) {
                apply_fault(in, fault);
                hits++;
            }
        }
        if (hits == 0) {
            fprintf(stderr, "fleet-sim: --%s %s: no instance or service of that name in the fleet\n",
                    fault_names[fault->kind], fault->target);
            return 2;
        }
    }
    return 0;
}

int sim_fleet_build(struct sim_fleet *f, const struct sim_opts *o)
{
    const struct shape_service *shape = NULL;
    size_t n_shape = 0, total = 0;
    char name[FLEET_NAME_MAX + 1];
    int rc;

    memset(f, 0, sizeof(*f));
    f->interval_ms = o->interval_ms;
    f->jitter = o->jitter_pct / 100.0;
    f->rng = (uint64_t)fleet_unix_ms() ^ ((uint64_t)getpid() << 32);

    if (o->services == 0) {
        shape = fleet_shape_default(&n_shape);
        for (size_t i = 0; i < n_shape; i++)
            total += shape[i].instances;
    } else {
        total = (size_t)o->services * o->instances_per_service;
    }
    for (size_t i = 0; i < o->n_unexpected; i++)
        total += o->unexpected[i].count;
    f->inst = calloc(total != 0 ? total : 1, sizeof(*f->inst));
    if (f->inst == NULL) {
        fprintf(stderr, "fleet-sim: out of memory for %zu instances\n", total);
        return 1;
    }

    for (size_t i = 0; i < n_shape; i++)
        if ((rc = add_service(f, shape[i].name, shape[i].instances, true)) != 0)
            return rc;
    for (unsigned i = 1; i <= o->services; i++) {
        snprintf(name, sizeof(name), "svc-%u", i);
        if ((rc = add_service(f, name, o->instances_per_service, true)) != 0)
            return rc;
    }
    for (size_t i = 0; i < o->n_unexpected; i++) {
        if (service_in_fleet(f, o->unexpected[i].service)) {
            fprintf(stderr, "fleet-sim: --unexpected %s: that service is already in the fleet\n",
                    o->unexpected[i].service);
            return 2;
        }
        if ((rc = add_service(f, o->unexpected[i].service, o->unexpected[i].count, false)) != 0)
            return rc;
    }
    return resolve_faults(f, o);
}

/* Sending period of `in` with jitter drawn fresh: interval x slow factor,
 * +- jitter. */
static int64_t next_period_ms(struct sim_fleet *f, const struct sim_instance *in)
{
    double period = f->interval_ms * in->slow_factor;
    double jittered = period * (1.0 + f->jitter * (2.0 * next_unit(&f->rng) - 1.0));

    return jittered < 1.0 ? 1 : (int64_t)jittered;
}

static int schedule(struct sim_fleet *f, size_t idx, enum sim_event_kind kind, int64_t due_ms)
{
    struct sim_event ev = { .due_ms = due_ms, .instance = (uint32_t)idx, .kind = kind };

    if (sim_sched_push(&f->sched, ev) != 0) {
        sim_log("error", "out_of_memory", "{s:s}", "instance", f->inst[idx].name);
        return 1;
    }
    return 0;
}

/* Logs the failures that hold from the start. */
static void log_standing_faults(const struct sim_instance *in, uint32_t interval_ms)
{
    if (!in->expected)
        sim_log("info", "fault", "{s:s, s:s, s:s}", "fault", "unexpected",
                "service", in->service, "instance", in->name);
    if (strcmp(in->version, SIM_VERSION_DEFAULT) != 0)
        sim_log("info", "fault", "{s:s, s:s, s:s, s:s}", "fault", "wrong-version",
                "service", in->service, "instance", in->name, "version", in->version);
    if (in->slow_factor != 1)
        sim_log("info", "fault", "{s:s, s:s, s:s, s:f, s:i}", "fault", "slow",
                "service", in->service, "instance", in->name, "factor", in->slow_factor,
                "promised_interval_ms", (int)interval_ms);
    if (in->degraded)
        sim_log("info", "fault", "{s:s, s:s, s:s}", "fault", "degraded",
                "service", in->service, "instance", in->name);
}

static int create_sender(struct sim_fleet *f, fleet_hb_opts *opts, size_t idx)
{
    struct sim_instance *in = &f->inst[idx];
    fleet_status s;

    s = fleet_hb_opts_set_service(opts, in->service);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_instance(opts, in->name);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_version(opts, in->version);
    if (s == FLEET_OK)
        s = fleet_hb_create(opts, &in->hb);
    if (s != FLEET_OK) {
        sim_log("error", "hb_create_failed", "{s:s, s:s}", "instance", in->name,
                "error", fleet_last_error());
        return 1;
    }
    return 0;
}

/* nats.c thread: a verified RESTART; the sim thread carries it out. */
static fleet_status on_restart(void *ctx, const fleet_control *c)
{
    struct sim_instance *in = ctx;
    struct sim_fleet *f = in->fleet;

    (void)c;
    pthread_mutex_lock(&f->restarts_lock);
    if (f->n_restarts < f->n)
        f->restarts[f->n_restarts++] = (uint32_t)(in - f->inst);
    pthread_mutex_unlock(&f->restarts_lock);
    return FLEET_OK;
}

static int start_obeying(struct sim_fleet *f, const struct sim_opts *o, size_t idx)
{
    struct sim_instance *in = &f->inst[idx];
    fleet_verifier_opts vo = { .trusted = (const char *const *)o->trusted, .n_trusted = o->n_trusted };
    fleet_obey_handlers h = { .ctx = in, .on_restart = on_restart };

    in->fleet = f;
    if (o->n_trusted == 0)
        return 0;
    if (fleet_obey_start(in->hb, &vo, &h, &in->obey) != FLEET_OK) {
        sim_log("error", "obey_failed", "{s:s, s:s}", "instance", in->name, "error", fleet_last_error());
        return 1;
    }
    return 0;
}

/* A simulated restart: a new life that sends again, whatever fault had
 * silenced the old one. */
static void restart_instance(struct sim_fleet *f, size_t idx, int64_t now_ms)
{
    struct sim_instance *in = &f->inst[idx];
    bool was_silent = in->silent; /* a silenced instance has no events left */

    in->silent = false;
    in->flap_down = false;
    in->has_stop = false;
    in->started = false;
    (void)fleet_hb_new_incarnation(in->hb);
    sim_log("info", "restarted", "{s:s, s:s}", "service", in->service, "instance", in->name);
    if (was_silent)
        (void)schedule(f, idx, EV_SEND, now_ms);
}

static void run_restarts(struct sim_fleet *f, int64_t now_ms)
{
    uint32_t todo[64];
    size_t n;

    do {
        pthread_mutex_lock(&f->restarts_lock);
        n = f->n_restarts < 64 ? f->n_restarts : 64;
        memcpy(todo, f->restarts + f->n_restarts - n, n * sizeof(*todo));
        f->n_restarts -= n;
        pthread_mutex_unlock(&f->restarts_lock);
        for (size_t k = 0; k < n; k++)
            restart_instance(f, todo[k], now_ms);
    } while (n > 0);
}

int sim_fleet_start(struct sim_fleet *f, const struct sim_opts *o, natsConnection *nc, int64_t now_ms)
{
    fleet_hb_opts *opts;
    int rc = 1;

    f->restarts = calloc(f->n ? f->n : 1, sizeof(*f->restarts));
    if (f->restarts == NULL || pthread_mutex_init(&f->restarts_lock, NULL) != 0) {
        free(f->restarts);
        f->restarts = NULL;
        sim_log("error", "out_of_memory", "{s:s}", "what", "restart queue");
        return 1;
    }
    if (fleet_hb_opts_create(&opts) != FLEET_OK) {
        sim_log("error", "hb_opts_failed", "{s:s}", "error", fleet_last_error());
        return 1;
    }
    if (fleet_hb_opts_set_prefix(opts, o->prefix) != FLEET_OK) {
        fprintf(stderr, "fleet-sim: --prefix %s: %s\n", o->prefix, fleet_last_error());
        rc = 2;
        goto out_free_opts;
    }
    if (fleet_hb_opts_set_conn(opts, nc) != FLEET_OK ||
        fleet_hb_opts_set_interval_ms(opts, o->interval_ms) != FLEET_OK ||
        fleet_hb_opts_set_autonomous(opts, false) != FLEET_OK) {
        sim_log("error", "hb_opts_failed", "{s:s}", "error", fleet_last_error());
        goto out_free_opts;
    }
    /* Simulated instances prove their heartbeats to the keys they obey. */
    for (size_t k = 0; k < o->n_trusted; k++) {
        if (fleet_hb_opts_add_trusted_key(opts, o->trusted[k]) != FLEET_OK) {
            sim_log("error", "hb_opts_failed", "{s:s}", "error", fleet_last_error());
            goto out_free_opts;
        }
    }
    for (size_t i = 0; i < f->n; i++) {
        struct sim_instance *in = &f->inst[i];
        int64_t first = now_ms + (int64_t)(next_unit(&f->rng) * f->interval_ms);

        if (create_sender(f, opts, i) != 0 || schedule(f, i, EV_SEND, first) != 0 ||
            start_obeying(f, o, i) != 0)
            goto out_free_opts;
        if (in->has_stop && schedule(f, i, EV_STOP, now_ms + (int64_t)(in->stop_at_s * 1000)) != 0)
            goto out_free_opts;
        if (in->flap_up_s > 0 && schedule(f, i, EV_FLAP, now_ms + (int64_t)(in->flap_up_s * 1000)) != 0)
            goto out_free_opts;
        log_standing_faults(in, f->interval_ms);
    }
    rc = 0;
out_free_opts:
    fleet_hb_opts_destroy(opts);
    return rc;
}

/* One heartbeat; the first announces the instance ready (or degraded). A
 * refused publish is counted by the sender, so nothing is checked here. */
static void send_heartbeat(struct sim_instance *in)
{
    if (in->started) {
        (void)fleet_hb_send(in->hb);
        return;
    }
    in->started = true;
    if (in->degraded) {
        (void)fleet_hb_set_check(in->hb, "http", false, "simulated: GET /health returned 503");
        (void)fleet_hb_set_state(in->hb, FLEET_STATE_DEGRADED);
    } else {
        (void)fleet_hb_set_state(in->hb, FLEET_STATE_SERVING);
    }
}

static void stop_instance(struct sim_instance *in)
{
    in->silent = true;
    if (in->stop_kind == FAULT_EXIT) {
        (void)fleet_hb_set_exit(in->hb, in->exit_code, 0, fleet_unix_ms());
        sim_log("info", "fault", "{s:s, s:s, s:s, s:i}", "fault", "exit", "service", in->service,
                "instance", in->name, "exit_code", in->exit_code);
        return;
    }
    sim_log("info", "fault", "{s:s, s:s, s:s}", "fault", fault_names[in->stop_kind],
            "service", in->service, "instance", in->name);
}

void sim_fleet_run_due(struct sim_fleet *f, int64_t now_ms)
{
    struct sim_event ev;

    run_restarts(f, now_ms);
    while (sim_sched_pop_due(&f->sched, now_ms, &ev)) {
        struct sim_instance *in = &f->inst[ev.instance];

        if (in->silent)
            continue;   /* a stopped instance has no further events */
        switch (ev.kind) {
        case EV_SEND:
            if (!in->flap_down)
                send_heartbeat(in);
            (void)schedule(f, ev.instance, EV_SEND, ev.due_ms + next_period_ms(f, in));
            break;
        case EV_STOP:
            stop_instance(in);
            break;
        case EV_FLAP:
            in->flap_down = !in->flap_down;
            sim_log("info", "fault", "{s:s, s:s, s:s, s:s}", "fault", "flap", "service", in->service,
                    "instance", in->name, "now", in->flap_down ? "silent" : "sending");
            (void)schedule(f, ev.instance, EV_FLAP,
                           ev.due_ms + (int64_t)(1000 * (in->flap_down ? in->flap_down_s : in->flap_up_s)));
            break;
        }
    }
}

int64_t sim_fleet_next_due(const struct sim_fleet *f)
{
    return sim_sched_next_due(&f->sched);
}

void sim_fleet_totals(const struct sim_fleet *f, fleet_hb_counters *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < f->n; i++) {
        fleet_hb_counters c;

        if (f->inst[i].hb != NULL && fleet_hb_stats(f->inst[i].hb, &c) == FLEET_OK) {
            out->sent += c.sent;
            out->failed += c.failed;
        }
    }
}

void sim_fleet_fini(struct sim_fleet *f)
{
    /* Obeying first: no handler may run once the senders are gone. */
    for (size_t i = 0; i < f->n; i++)
        fleet_obey_destroy(f->inst[i].obey);
    for (size_t i = 0; i < f->n; i++)
        fleet_hb_destroy(f->inst[i].hb);
    if (f->restarts != NULL)
        pthread_mutex_destroy(&f->restarts_lock);
    free(f->restarts);
    free(f->inst);
    sim_sched_fini(&f->sched);
    memset(f, 0, sizeof(*f));
}
