/* bench_control: the three latency figures of DESIGN.md §11 that involve
 * detection and signed control, each on real processes over a real
 * nats-server on loopback:
 *
 *   1. crash: fleet-agent processes wrap `sleep 1000`, supervised by a real
 *      fleet-supervisor holding a signing key. The bench SIGKILLs a child (pid
 *      from its agent's heartbeat); latency = receive time of the Event
 *      `to = DEAD` for that instance - the time of kill(2). The supervisor's
 *      signed RESTART brings a new child; the next kill of that instance
 *      waits until it has been HEALTHY for longer than the policy's stable
 *      period, so every restart is a first one (immediate, no backoff).
 *      Also shown: DEAD event -> RESTART event (the core's decision path),
 *      and kill -> the new child's first heartbeat (recovery).
 *   2. control: the bench is the supervisor's edge. It seals Controls with
 *      libfleet (fleet_control_seal, a key generated here) and sends them as
 *      NATS requests to a fleet-agent trusting that key, alternating DRAIN
 *      and RESUME (neither restarts the child; the child ignores the drain
 *      signal). Latency = just before sealing -> the ControlAck is back
 *      (accepted, same seq). The agent acks once the Control is verified and
 *      queued to its main loop; the time until its heartbeat reports the new
 *      state (DRAINING / SERVING: the main loop has acted) is shown too.
 *   3. hang: fleet-sim sends 1 s heartbeats with +-jitter for services x
 *      instances; --hang silences some at staggered times (the process is
 *      alive but stuck). The supervisor runs with default detector settings
 *      (observe only: restart false). Latency = DEAD event receive time -
 *      the last heartbeat received from that instance, and - the hang time
 *      (the sim's own JSON log line for the fault, wall clock converted to
 *      this process's monotonic clock). DEAD events for instances that were
 *      not hung (or before their hang) are false DEADs.
 *
 * All receive times are taken in one nats.c subscription to fleet.v1.>
 * (heartbeats, events, statuses, delivered in order on one thread) with
 * CLOCK_MONOTONIC, so the figures include the supervisor's publish and the
 * server's delivery to a feed reader.
 *
 * Targets are reported, never asserted. Exit status: 0 when every part
 * measured (even short of a target), 1 when one could not (setup, a process
 * that did not come up, a refused control), 2 on bad arguments. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nats/nats.h>

#include "bench_util.h"
#include "fleet/control.h"
#include "fleet/nkey.h"
#include "fleet/v1/fleet.pb-c.h"
#include "natsd.h"
#include "proc.h"

#define SUBJECT_MAX 160
#define PATH_MAX_LEN 320
#define WAIT_MS 15000            /* longest wait for any one condition */
#define REQUEST_TIMEOUT_MS 2000
#define STOP_WAIT_MS 5000
#define REC_MAX_INSTANCES 4096
#define MAX_AGENTS 16
#define MAX_HANGS 200
#define CONTROL_WARMUP 4         /* commands sent before the measured ones */
#define CONTROL_EXPIRY_MS 10000
/* Part 1 policy: the shortest stable period the config allows; a kill waits
 * this long (plus a margin) of HEALTHY, so each restart is immediate. */
#define CRASH_STABLE_MS 1000
#define CRASH_STABLE_MARGIN_MS 200

enum {
    WIRE_HEALTH_HEALTHY = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY,
    WIRE_HEALTH_SUSPECT = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_SUSPECT,
    WIRE_HEALTH_DEAD = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD,
    WIRE_STATE_SERVING = FLEET__V1__SERVING_STATE__SERVING_STATE_SERVING,
    WIRE_STATE_DRAINING = FLEET__V1__SERVING_STATE__SERVING_STATE_DRAINING,
    WIRE_ACTION_RESTART = FLEET__V1__ACTION__ACTION_RESTART,
    WIRE_OBSERVER_NORMAL = FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_NORMAL,
};

struct bench_opts {
    uint64_t crash_runs, agents;
    uint64_t control_runs;
    uint64_t services, per_service, hangs, hang_start_s, hang_step_s, duration_s, jitter;
};

struct bench {
    struct bench_opts opt;
    struct natsd server;
    natsConnection *nc;      /* the recorder's subscriptions and control requests */
    char url_env[96];        /* NATS_URL=... for the children */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_control [--crash-runs N] [--agents A] [--control-runs N]\n"
            "                     [--services S] [--instances-per-service M] [--jitter PCT]\n"
            "                     [--hangs H] [--hang-start-s T] [--hang-step-s D] [--duration-s N]\n"
            "  1. crash:   N SIGKILLs of agent-wrapped children over A agents (default 100 over 5)\n"
            "  2. control: N signed DRAIN/RESUME requests to one fleet-agent (default 200)\n"
            "  3. hang:    fleet-sim, S x M instances at 1 s +-PCT %% (default 20 x 10, 30 %%);\n"
            "              H of them hang at T, T+D, ... s after its start (default 20 at 20 s\n"
            "              every 2 s); the run lasts N s from the sim's start (default 90)\n"
            "  a count of 0 (--crash-runs, --control-runs, --hangs) skips that part\n");
}

/* Fills *o: the defaults, then argv, then checks the hangs fit. Returns
 * bench_flags_parse's answer (2 when the hangs do not fit). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--crash-runs", 0, 100000, &o->crash_runs),
        BENCH_FLAG_NUM("--agents", 1, MAX_AGENTS, &o->agents),
        BENCH_FLAG_NUM("--control-runs", 0, 1000000, &o->control_runs),
        BENCH_FLAG_NUM("--services", 1, 1000, &o->services),
        BENCH_FLAG_NUM("--instances-per-service", 1, 1000, &o->per_service),
        BENCH_FLAG_NUM("--hangs", 0, MAX_HANGS, &o->hangs),
        BENCH_FLAG_NUM("--hang-start-s", 1, 3600, &o->hang_start_s),
        BENCH_FLAG_NUM("--hang-step-s", 0, 3600, &o->hang_step_s),
        BENCH_FLAG_NUM("--duration-s", 1, 7200, &o->duration_s),
        BENCH_FLAG_NUM("--jitter", 0, 50, &o->jitter),
    };
    int args;

    *o = (struct bench_opts){ .crash_runs = 100, .agents = 5, .control_runs = 200, .services = 20,
                              .per_service = 10, .hangs = 20, .hang_start_s = 20, .hang_step_s = 2,
                              .duration_s = 90, .jitter = 30 };
    args = bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
    if (args != BENCH_RUN)
        return args;
    if (o->hangs > o->services * o->per_service) {
        fprintf(stderr, "--hangs %" PRIu64 ": more than the %" PRIu64 " simulated instances\n", o->hangs,
                o->services * o->per_service);
        return 2;
    }
    if (o->hangs > 0 && o->hang_start_s + (o->hangs - 1) * o->hang_step_s + 10 > o->duration_s) {
        fprintf(stderr, "--duration-s %" PRIu64 ": must leave 10 s after the last hang (at %" PRIu64 " s)\n",
                o->duration_s, o->hang_start_s + (o->hangs - 1) * o->hang_step_s);
        return 2;
    }
    return BENCH_RUN;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the recorder: everything on fleet.v1.>, with receive times ---- */

struct rec_instance {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    uint32_t pid;             /* of the latest heartbeat */
    uint64_t incarnation;
    int state;                /* ServingState of the latest heartbeat */
    uint64_t heartbeats;
    int64_t last_hb_ns;       /* receive time of the latest heartbeat */
    int64_t state_since_ns;   /* ... of the first heartbeat of this life in `state` */
    int64_t life_since_ns;    /* ... of the first heartbeat with this pid */
    int health;               /* `to` of its latest event; 0 before any */
    int64_t health_since_ns;
};

struct rec_event {
    size_t inst;              /* index into the recorder's instances */
    int to, action;
    int64_t at_ns;            /* receive time */
    int64_t last_hb_ns;       /* the instance's latest heartbeat when it arrived (0: none) */
};

struct recorder {
    natsSubscription *sub;
    pthread_mutex_t lock;     /* guards everything below */
    pthread_cond_t done;
    bool completed;           /* the subscription delivers no more */
    struct rec_instance *inst;
    size_t n_inst;
    struct rec_event *ev;
    size_t n_ev, cap_ev;
    int observer;             /* ObserverState of the latest FleetStatus */
    unsigned observer_seen;   /* bit set of every state seen */
    uint64_t lost;            /* messages that did not fit or did not decode */
};

/* Caller holds the lock. Returns the instance's index, adding it if new, or
 * SIZE_MAX when the table is full. */
static size_t rec_slot(struct recorder *r, const char *service, const char *instance)
{
    for (size_t k = 0; k < r->n_inst; k++)
        if (strcmp(r->inst[k].instance, instance) == 0 && strcmp(r->inst[k].service, service) == 0)
            return k;
    if (r->n_inst == REC_MAX_INSTANCES)
        return SIZE_MAX;
    memset(&r->inst[r->n_inst], 0, sizeof(r->inst[0]));
    snprintf(r->inst[r->n_inst].service, sizeof(r->inst[0].service), "%s", service);
    snprintf(r->inst[r->n_inst].instance, sizeof(r->inst[0].instance), "%s", instance);
    return r->n_inst++;
}

static void rec_heartbeat(struct recorder *r, natsMsg *msg, int64_t at)
{
    Fleet__V1__Heartbeat *hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                            (const uint8_t *)natsMsg_GetData(msg));
    struct rec_instance *in;
    size_t k;

    pthread_mutex_lock(&r->lock);
    k = hb != NULL ? rec_slot(r, hb->service, hb->instance) : SIZE_MAX;
    if (k == SIZE_MAX) {
        r->lost++;
        goto out_unlock;
    }
    in = &r->inst[k];
    if (in->heartbeats == 0 || hb->pid != in->pid) {
        in->life_since_ns = at;
        in->state_since_ns = at;
    } else if ((int)hb->state != in->state) {
        in->state_since_ns = at;
    }
    in->pid = hb->pid;
    in->incarnation = hb->incarnation;
    in->state = (int)hb->state;
    in->last_hb_ns = at;
    in->heartbeats++;
out_unlock:
    pthread_mutex_unlock(&r->lock);
    if (hb != NULL)
        fleet__v1__heartbeat__free_unpacked(hb, NULL);
}

static void rec_event(struct recorder *r, natsMsg *msg, int64_t at)
{
    Fleet__V1__Event *ev = fleet__v1__event__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                    (const uint8_t *)natsMsg_GetData(msg));
    size_t k;

    if (ev == NULL) {
        pthread_mutex_lock(&r->lock);
        r->lost++;
        pthread_mutex_unlock(&r->lock);
        return;
    }
    if (ev->instance[0] == '\0')
        goto out_free; /* service-level */
    pthread_mutex_lock(&r->lock);
    k = rec_slot(r, ev->service, ev->instance);
    if (k != SIZE_MAX && r->n_ev == r->cap_ev) {
        size_t cap = r->cap_ev ? 2 * r->cap_ev : 1024;
        struct rec_event *grown = realloc(r->ev, cap * sizeof(*grown));

        if (grown != NULL) {
            r->ev = grown;
            r->cap_ev = cap;
        }
    }
    if (k == SIZE_MAX || r->n_ev == r->cap_ev) {
        r->lost++;
    } else {
        r->ev[r->n_ev++] = (struct rec_event){ .inst = k, .to = (int)ev->to, .action = (int)ev->action,
                                               .at_ns = at, .last_hb_ns = r->inst[k].last_hb_ns };
        if (ev->to != FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_UNSPECIFIED) {
            r->inst[k].health = (int)ev->to;
            r->inst[k].health_since_ns = at;
        }
    }
    pthread_mutex_unlock(&r->lock);
out_free:
    fleet__v1__event__free_unpacked(ev, NULL);
}

static void rec_status(struct recorder *r, natsMsg *msg)
{
    Fleet__V1__FleetStatus *fs = fleet__v1__fleet_status__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));

    pthread_mutex_lock(&r->lock);
    if (fs != NULL) {
        r->observer = (int)fs->observer;
        if (fs->observer < 32)
            r->observer_seen |= 1u << fs->observer;
    } else {
        r->lost++;
    }
    pthread_mutex_unlock(&r->lock);
    if (fs != NULL)
        fleet__v1__fleet_status__free_unpacked(fs, NULL);
}

/* nats.c delivery thread: one subscription, so messages arrive in order. */
static void rec_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    const char *subject = natsMsg_GetSubject(msg);
    int64_t at = bench_now_ns();

    (void)nc;
    (void)sub;
    if (strncmp(subject, "fleet.v1.hb.", 12) == 0)
        rec_heartbeat(closure, msg, at);
    else if (strncmp(subject, "fleet.v1.events.", 16) == 0)
        rec_event(closure, msg, at);
    else if (strcmp(subject, "fleet.v1.status") == 0)
        rec_status(closure, msg);
    natsMsg_Destroy(msg);
}

static void rec_on_complete(void *closure)
{
    struct recorder *r = closure;

    pthread_mutex_lock(&r->lock);
    r->completed = true;
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->lock);
}

/* Returns 0, or -1 with a message (nothing left to stop). */
static int rec_start(struct recorder *r, natsConnection *nc)
{
    natsStatus s;

    memset(r, 0, sizeof(*r));
    r->inst = calloc(REC_MAX_INSTANCES, sizeof(*r->inst));
    if (r->inst == NULL) {
        fprintf(stderr, "bench_control: out of memory for the recorder\n");
        return -1;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->done, NULL);
    s = natsConnection_Subscribe(&r->sub, nc, "fleet.v1.>", rec_on_msg, r);
    if (s == NATS_OK)
        s = natsSubscription_SetOnCompleteCB(r->sub, rec_on_complete, r);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_control: cannot subscribe to fleet.v1.>: %s\n", natsStatus_GetText(s));
        if (r->sub != NULL) {
            natsSubscription_Unsubscribe(r->sub);
            natsSubscription_Destroy(r->sub);
        }
        pthread_cond_destroy(&r->done);
        pthread_mutex_destroy(&r->lock);
        free(r->inst);
        return -1;
    }
    return 0;
}

/* Unsubscribes and waits until the callback can no longer run. */
static void rec_stop(struct recorder *r)
{
    if (natsSubscription_Unsubscribe(r->sub) == NATS_OK) {
        pthread_mutex_lock(&r->lock);
        while (!r->completed)
            pthread_cond_wait(&r->done, &r->lock);
        pthread_mutex_unlock(&r->lock);
    }
    natsSubscription_Destroy(r->sub);
    pthread_cond_destroy(&r->done);
    pthread_mutex_destroy(&r->lock);
    free(r->inst);
    free(r->ev);
}

/* Copies the instance's record; false if nothing was heard from it. */
static bool rec_get(struct recorder *r, const char *service, const char *instance, struct rec_instance *out)
{
    bool found = false;

    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < r->n_inst && !found; k++) {
        if (strcmp(r->inst[k].instance, instance) == 0 && strcmp(r->inst[k].service, service) == 0) {
            *out = r->inst[k];
            found = true;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return found;
}

static size_t rec_events(struct recorder *r)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->n_ev;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* The first event at index >= `from` for service/instance going to `to`
 * (-1: any) and carrying `action` (-1: any). Returns its index and *out, or
 * SIZE_MAX. */
static size_t rec_find_event(struct recorder *r, size_t from, const char *service, const char *instance, int to,
                             int action, struct rec_event *out)
{
    size_t found = SIZE_MAX;

    pthread_mutex_lock(&r->lock);
    for (size_t k = from; k < r->n_ev && found == SIZE_MAX; k++) {
        const struct rec_event *e = &r->ev[k];
        const struct rec_instance *in = &r->inst[e->inst];

        if ((to < 0 || e->to == to) && (action < 0 || e->action == action) &&
            strcmp(in->instance, instance) == 0 && strcmp(in->service, service) == 0) {
            *out = *e;
            found = k;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return found;
}

/* Waits for that event; returns its index (and *out) or SIZE_MAX. */
static size_t rec_wait_event(struct recorder *r, size_t from, const char *service, const char *instance, int to,
                             int action, int timeout_ms, struct rec_event *out)
{
    int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;
    size_t k;

    while ((k = rec_find_event(r, from, service, instance, to, action, out)) == SIZE_MAX &&
           bench_now_ns() < deadline)
        bench_sleep_ms(1);
    return k;
}

static int rec_observer(struct recorder *r)
{
    int s;

    pthread_mutex_lock(&r->lock);
    s = r->observer;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static bool rec_wait_observer(struct recorder *r, int state, int timeout_ms)
{
    int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;

    while (rec_observer(r) != state) {
        if (bench_now_ns() >= deadline)
            return false;
        bench_sleep_ms(10);
    }
    return true;
}

/* ---- figures ---- */

static const struct bench_table figures = { .num_width = 9, .target_width = 12 };

/* ---- processes and files ---- */

/* Writes `text` into `path` with `mode`. Returns 0 or -1 with a message. */
static int write_file(const char *path, mode_t mode, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "bench_control: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (chmod(path, mode) != 0 || fputs(text, f) < 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "bench_control: cannot write %s\n", path);
    return rc;
}

/* A fresh key pair: *kp (destroy it), its public key into `pub`. With
 * `seed_path`, the seed is also written there (mode 0600). */
static int make_key(const char *seed_path, fleet_keypair **kp, char pub[FLEET_NKEY_PUBLIC_LEN + 1])
{
    char seed[FLEET_NKEY_SEED_LEN + 2];
    int rc = -1;

    *kp = NULL;
    if (fleet_keypair_generate(kp) != FLEET_OK ||
        fleet_keypair_public(*kp, pub, FLEET_NKEY_PUBLIC_LEN + 1) != FLEET_OK) {
        fprintf(stderr, "bench_control: cannot generate a key pair\n");
        goto out;
    }
    if (seed_path == NULL) {
        rc = 0;
        goto out;
    }
    if (fleet_keypair_seed(*kp, seed, FLEET_NKEY_SEED_LEN + 1) != FLEET_OK) {
        fprintf(stderr, "bench_control: cannot export the seed\n");
        goto out;
    }
    strcat(seed, "\n");
    rc = write_file(seed_path, 0600, seed);
out:
    memset(seed, 0, sizeof(seed));
    if (rc != 0) {
        fleet_keypair_destroy(*kp);
        *kp = NULL;
    }
    return rc;
}

/* Starts fleet-supervisor on `config` and waits for its start line. */
static int start_supervisor(struct proc *p, const char *config)
{
    char *argv[] = { "fleet-supervisor", "--config", (char *)config, NULL };

    if (proc_start(p, argv, NULL) != 0)
        return -1;
    if (!proc_wait_output(p, "fleet-supervisor started", WAIT_MS)) {
        char *out = proc_output(p);

        fprintf(stderr, "bench_control: fleet-supervisor did not start within %d ms:\n%s\n", WAIT_MS,
                out ? out : "");
        free(out);
        return -1;
    }
    return 0;
}

/* SIGTERM, a grace period, then SIGKILL; safe on a process never started. */
static void stop_proc(struct proc *p)
{
    if (proc_signal(p, SIGTERM) == 0)
        proc_wait(p, STOP_WAIT_MS);
    proc_kill(p);
}

static int start_agent(struct bench *bn, struct proc *p, const char *service, const char *instance,
                       const char *trust, char *const command[])
{
    char *env[] = { bn->url_env, NULL };
    char *argv[24] = { "fleet-agent", "--service", (char *)service, "--instance", (char *)instance,
                       "--trust", (char *)trust, "--interval-ms", "1000", "--grace-ms", "1000", "--" };
    size_t n = 12;

    for (size_t k = 0; command[k] != NULL && n + 1 < sizeof(argv) / sizeof(argv[0]); k++)
        argv[n++] = command[k];
    argv[n] = NULL;
    return proc_start(p, argv, env);
}

/* ---- 1. crash -> DEAD ---- */

struct crash_run {
    size_t agent;
    int64_t kill_ns;
    size_t dead_index;        /* SIZE_MAX: no DEAD event in time */
    int64_t dead_ns;
};

static int run_crash(struct bench *bn, struct bench_series *dead, struct bench_series *decide, struct bench_series *recover,
                     uint64_t *missed)
{
    const size_t runs = (size_t)bn->opt.crash_runs, agents = (size_t)bn->opt.agents;
    char seed_path[PATH_MAX_LEN], config_path[PATH_MAX_LEN], pub[FLEET_NKEY_PUBLIC_LEN + 1];
    char config[2048], names[MAX_AGENTS][FLEET_NAME_MAX + 1];
    char *command[] = { "sleep", "1000", NULL };
    struct proc sup = { 0 }, agent[MAX_AGENTS] = { { 0 } };
    uint32_t killed_pid[MAX_AGENTS] = { 0 };
    int64_t killed_at[MAX_AGENTS] = { 0 };
    struct crash_run *run = calloc(runs, sizeof(*run));
    fleet_keypair *kp = NULL;
    struct recorder rec;
    bool recording = false;
    int rc = -1;

    if (run == NULL)
        return -1;
    snprintf(seed_path, sizeof(seed_path), "%s/crash.seed", bn->server.dir);
    snprintf(config_path, sizeof(config_path), "%s/crash.yaml", bn->server.dir);
    if (make_key(seed_path, &kp, pub) != 0)
        goto out;
    snprintf(config, sizeof(config),
             "nats:\n  url: %s\n"
             "detector:\n  link_grace_ms: 1000\n"
             "control:\n  signing_key_file: %s\n"
             "policy:\n  backoff_initial_ms: 100\n  backoff_max_ms: 1000\n  stable_after_ms: %d\n"
             "  max_concurrent_actions: %zu\n"
             "services:\n  - name: crash\n    desired: %zu\n    crashloop_max: 16\n"
             "    crashloop_window_s: 1\n",
             bn->server.url, seed_path, CRASH_STABLE_MS, agents, agents);
    if (write_file(config_path, 0644, config) != 0 || rec_start(&rec, bn->nc) != 0)
        goto out;
    recording = true;
    if (start_supervisor(&sup, config_path) != 0)
        goto out;
    for (size_t a = 0; a < agents; a++) {
        snprintf(names[a], sizeof(names[a]), "crash-%zu", a + 1);
        if (start_agent(bn, &agent[a], "crash", names[a], pub, command) != 0)
            goto out;
    }
    if (!rec_wait_observer(&rec, WIRE_OBSERVER_NORMAL, WAIT_MS)) {
        fprintf(stderr, "bench_control: the supervisor did not reach NORMAL within %d ms\n", WAIT_MS);
        goto out;
    }
    for (size_t k = 0; k < runs; k++) {
        struct crash_run *r = &run[k];
        size_t a = k % agents, e0;
        int64_t deadline = bench_now_ns() + (int64_t)WAIT_MS * 1000000;
        struct rec_instance in = { 0 };
        struct rec_event ev = { 0 };
        bool ready = false;

        /* A new life, serving, HEALTHY on the feed past the stable period. */
        while (!ready && bench_now_ns() < deadline) {
            ready = rec_get(&rec, "crash", names[a], &in) && in.state == WIRE_STATE_SERVING && in.pid != 0 &&
                    in.pid != killed_pid[a] && in.health == WIRE_HEALTH_HEALTHY &&
                    bench_now_ns() - in.health_since_ns >
                        (int64_t)(CRASH_STABLE_MS + CRASH_STABLE_MARGIN_MS) * 1000000;
            if (!ready)
                bench_sleep_ms(5);
        }
        if (!ready) {
            fprintf(stderr, "bench_control: crash/%s not back to HEALTHY with a new child within %d ms "
                            "(run %zu)\n", names[a], WAIT_MS, k + 1);
            goto out;
        }
        if (killed_at[a] != 0 && in.life_since_ns > killed_at[a])
            bench_series_add(recover, in.life_since_ns - killed_at[a]);
        e0 = rec_events(&rec);
        r->agent = a;
        r->kill_ns = bench_now_ns();
        if (kill((pid_t)in.pid, SIGKILL) != 0) {
            fprintf(stderr, "bench_control: kill(%u): %s\n", in.pid, strerror(errno));
            goto out;
        }
        killed_pid[a] = in.pid;
        killed_at[a] = r->kill_ns;
        r->dead_index = rec_wait_event(&rec, e0, "crash", names[a], WIRE_HEALTH_DEAD, -1, WAIT_MS, &ev);
        if (r->dead_index == SIZE_MAX) {
            (*missed)++;
            continue;
        }
        r->dead_ns = ev.at_ns;
        bench_series_add(dead, ev.at_ns - r->kill_ns);
    }
    /* The core's decision: DEAD event -> the RESTART event that follows it
     * for the same instance (before that instance's next DEAD). */
    for (size_t k = 0; k < runs; k++) {
        struct rec_event restart = { 0 }, next_dead = { 0 };
        size_t ri, ni;

        if (run[k].dead_index == SIZE_MAX)
            continue;
        ri = rec_wait_event(&rec, run[k].dead_index + 1, "crash", names[run[k].agent], -1, WIRE_ACTION_RESTART,
                            k + agents >= runs ? 3000 : 0, &restart);
        ni = rec_find_event(&rec, run[k].dead_index + 1, "crash", names[run[k].agent], WIRE_HEALTH_DEAD, -1, &next_dead);
        if (ri != SIZE_MAX && ri < ni)
            bench_series_add(decide, restart.at_ns - run[k].dead_ns);
    }
    rc = 0;
out:
    for (size_t a = 0; a < agents; a++)
        stop_proc(&agent[a]);
    if (rc != 0 && sup.pid != 0) {
        char *out_text = proc_output(&sup);

        fprintf(stderr, "--- fleet-supervisor output ---\n%s\n", out_text ? out_text : "");
        free(out_text);
    }
    stop_proc(&sup);
    if (recording)
        rec_stop(&rec);
    fleet_keypair_destroy(kp);
    free(run);
    return rc;
}

/* ---- 2. decision -> ack ---- */

/* Seals `c` with `kp`, requests it on `subject` and checks the ack.
 * Returns 0 with the times (ns) after sealing and at the reply, or -1. */
static int control_round_trip(natsConnection *nc, const char *subject, const fleet_control *c,
                              const fleet_keypair *kp, int64_t *sealed_ns, int64_t *acked_ns)
{
    Fleet__V1__ControlAck *ack = NULL;
    natsMsg *reply = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    natsStatus s;
    int rc = -1;

    if (fleet_control_seal(c, kp, &buf, &len) != FLEET_OK) {
        fprintf(stderr, "bench_control: fleet_control_seal failed\n");
        return -1;
    }
    *sealed_ns = bench_now_ns();
    s = natsConnection_Request(&reply, nc, subject, buf, (int)len, REQUEST_TIMEOUT_MS);
    *acked_ns = bench_now_ns();
    free(buf);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_control: request on %s: %s\n", subject, natsStatus_GetText(s));
        return -1;
    }
    ack = fleet__v1__control_ack__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                         (const uint8_t *)natsMsg_GetData(reply));
    if (ack == NULL)
        fprintf(stderr, "bench_control: the reply on %s is not a ControlAck\n", subject);
    else if (!ack->accepted || ack->seq != c->seq)
        fprintf(stderr, "bench_control: control seq %" PRIu64 " refused (ack seq %" PRIu64 "): %s\n", c->seq,
                ack->seq, ack->error);
    else
        rc = 0;
    if (ack != NULL)
        fleet__v1__control_ack__free_unpacked(ack, NULL);
    natsMsg_Destroy(reply);
    return rc;
}

static int run_control(struct bench *bn, struct bench_series *acked, struct bench_series *acted, struct bench_series *seal)
{
    const size_t runs = (size_t)bn->opt.control_runs;
    char pub[FLEET_NKEY_PUBLIC_LEN + 1], subject[SUBJECT_MAX];
    /* The child ignores the drain signal (SIGUSR1), so DRAIN leaves it running. */
    char *command[] = { "/bin/sh", "-c", "trap '' USR1; exec sleep 1000", NULL };
    struct proc agent = { 0 };
    fleet_keypair *kp = NULL;
    struct rec_instance in = { 0 };
    struct recorder rec;
    bool recording = false, up = false;
    int rc = -1;

    if (make_key(NULL, &kp, pub) != 0)
        return -1;
    if (rec_start(&rec, bn->nc) != 0)
        goto out;
    recording = true;
    if (start_agent(bn, &agent, "ctl", "ctl-1", pub, command) != 0)
        goto out;
    for (int64_t deadline = bench_now_ns() + (int64_t)WAIT_MS * 1000000; !up && bench_now_ns() < deadline;
         bench_sleep_ms(5))
        up = rec_get(&rec, "ctl", "ctl-1", &in) && in.state == WIRE_STATE_SERVING && in.pid != 0;
    if (!up) {
        fprintf(stderr, "bench_control: fleet-agent ctl/ctl-1 sent no SERVING heartbeat within %d ms\n",
                WAIT_MS);
        goto out;
    }
    snprintf(subject, sizeof(subject), "fleet.v1.ctl.ctl.ctl-1");
    for (size_t k = 0; k < CONTROL_WARMUP + runs; k++) {
        fleet_control c = { .incarnation = in.incarnation, .term = 0, .seq = k + 1 };
        int want = k % 2 == 0 ? WIRE_STATE_DRAINING : WIRE_STATE_SERVING;
        int64_t t0, sealed, replied, deadline;
        struct rec_instance now = { 0 };
        bool done = false;

        snprintf(c.service, sizeof(c.service), "ctl");
        snprintf(c.instance, sizeof(c.instance), "ctl-1");
        snprintf(c.reason, sizeof(c.reason), "bench_control");
        c.action = k % 2 == 0 ? FLEET_ACTION_DRAIN : FLEET_ACTION_RESUME;
        if (fleet_control_new_nonce(&c) != FLEET_OK) {
            fprintf(stderr, "bench_control: no nonce\n");
            goto out;
        }
        c.issued_unix_ms = wall_ms();
        c.expires_unix_ms = c.issued_unix_ms + CONTROL_EXPIRY_MS;
        t0 = bench_now_ns();
        if (control_round_trip(bn->nc, subject, &c, kp, &sealed, &replied) != 0)
            goto out;
        /* The main loop has acted once a heartbeat reports the new state. */
        deadline = bench_now_ns() + (int64_t)WAIT_MS * 1000000;
        while (!done && bench_now_ns() < deadline) {
            done = rec_get(&rec, "ctl", "ctl-1", &now) && now.state == want && now.state_since_ns >= t0;
            if (!done)
                bench_sleep_ms(1);
        }
        if (!done || now.pid != in.pid) {
            fprintf(stderr, "bench_control: ctl/ctl-1 did not report state %d for seq %zu within %d ms\n",
                    want, k + 1, WAIT_MS);
            goto out;
        }
        if (k < CONTROL_WARMUP)
            continue;
        bench_series_add(seal, sealed - t0);
        bench_series_add(acked, replied - t0);
        bench_series_add(acted, now.state_since_ns - t0);
    }
    rc = 0;
out:
    stop_proc(&agent);
    if (recording)
        rec_stop(&rec);
    fleet_keypair_destroy(kp);
    return rc;
}

/* ---- 3. hang -> DEAD ---- */

struct hang_target {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    char arg[2 * FLEET_NAME_MAX + 16];  /* --hang argument */
    int64_t hang_ns;                    /* monotonic, from the sim's log; 0: not logged */
};

struct hang_result {
    uint64_t instances_seen;    /* sent at least one heartbeat */
    uint64_t false_dead;        /* DEAD for an instance not (yet) hung */
    uint64_t false_suspect;     /* SUSPECT for one not (yet) hung (context) */
    uint64_t undetected;        /* hung, no DEAD by the end */
    uint64_t unlogged;          /* hung, but the sim's log line was not found */
    unsigned observer_seen;
    uint64_t lost;
};

/* Reads the sim's "fault" lines of kind hang and sets each target's hang
 * time: wall ms in the log, converted with the (wall, mono) pair taken
 * together in this process. */
static void hang_times(const struct proc *sim, struct hang_target *t, size_t n, int64_t ref_wall_ms,
                       int64_t ref_mono_ns)
{
    char *out = proc_output(sim), *line, *save = NULL;

    if (out == NULL)
        return;
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_t *doc = json_loads(line, 0, NULL);
        const char *event = json_string_value(json_object_get(doc, "event"));
        const char *fault = json_string_value(json_object_get(doc, "fault"));
        const char *instance = json_string_value(json_object_get(doc, "instance"));
        json_t *ts = json_object_get(doc, "ts_ms");

        if (event != NULL && fault != NULL && instance != NULL && json_is_integer(ts) &&
            strcmp(event, "fault") == 0 && strcmp(fault, "hang") == 0) {
            for (size_t k = 0; k < n; k++)
                if (strcmp(t[k].instance, instance) == 0)
                    t[k].hang_ns = ref_mono_ns + ((int64_t)json_integer_value(ts) - ref_wall_ms) * 1000000;
        }
        json_decref(doc);
    }
    free(out);
}

static int run_hang(struct bench *bn, struct bench_series *since_hb, struct bench_series *since_hang, struct hang_result *res)
{
    const struct bench_opts *o = &bn->opt;
    const size_t n_hangs = (size_t)o->hangs;
    char config_path[PATH_MAX_LEN], num[3][24], *config = NULL;
    char **argv = calloc(12 + 2 * n_hangs + 1, sizeof(*argv));
    struct hang_target *t = calloc(n_hangs, sizeof(*t));
    char *env[] = { bn->url_env, NULL };
    struct proc sup = { 0 }, sim = { 0 };
    int64_t start_ns, end_ns, ref_wall, ref_mono;
    struct recorder rec;
    bool recording = false;
    size_t cap, used, n = 0;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    cap = 256 + (size_t)o->services * 64;
    config = malloc(cap);
    if (argv == NULL || t == NULL || config == NULL) {
        fprintf(stderr, "bench_control: out of memory\n");
        goto out;
    }
    /* Default detector settings; restart false: observe only, no control. */
    used = (size_t)snprintf(config, cap, "nats:\n  url: %s\nservices:\n",
                            bn->server.url);
    for (uint64_t s = 1; s <= o->services && used < cap; s++)
        used += (size_t)snprintf(config + used, cap - used,
                                 "  - name: svc-%" PRIu64 "\n    desired: %" PRIu64 "\n    restart: false\n", s,
                                 o->per_service);
    snprintf(config_path, sizeof(config_path), "%s/hang.yaml", bn->server.dir);
    if (used >= cap || write_file(config_path, 0644, config) != 0 || rec_start(&rec, bn->nc) != 0)
        goto out;
    recording = true;
    if (start_supervisor(&sup, config_path) != 0)
        goto out;

    snprintf(num[0], sizeof(num[0]), "%" PRIu64, o->services);
    snprintf(num[1], sizeof(num[1]), "%" PRIu64, o->per_service);
    snprintf(num[2], sizeof(num[2]), "%" PRIu64, o->jitter);
    argv[n++] = "fleet-sim";
    argv[n++] = "--services";
    argv[n++] = num[0];
    argv[n++] = "--instances-per-service";
    argv[n++] = num[1];
    argv[n++] = "--interval-ms";
    argv[n++] = "1000";
    argv[n++] = "--jitter";
    argv[n++] = num[2];
    for (size_t k = 0; k < n_hangs; k++) {
        size_t svc = k % (size_t)o->services + 1, inst = k / (size_t)o->services + 1;

        snprintf(t[k].service, sizeof(t[k].service), "svc-%zu", svc);
        snprintf(t[k].instance, sizeof(t[k].instance), "svc-%zu-%zu", svc, inst);
        snprintf(t[k].arg, sizeof(t[k].arg), "%s@%" PRIu64, t[k].instance, o->hang_start_s + k * o->hang_step_s);
        argv[n++] = "--hang";
        argv[n++] = t[k].arg;
    }
    argv[n] = NULL;
    start_ns = bench_now_ns();
    if (proc_start(&sim, argv, env) != 0)
        goto out;
    ref_mono = bench_now_ns();
    ref_wall = wall_ms();
    if (!rec_wait_observer(&rec, WIRE_OBSERVER_NORMAL,
                           (int)((int64_t)o->hang_start_s * 1000 - (bench_now_ns() - start_ns) / 1000000))) {
        fprintf(stderr, "bench_control: the supervisor was not NORMAL before the first hang (%" PRIu64 " s)\n",
                o->hang_start_s);
        goto out;
    }
    end_ns = start_ns + (int64_t)o->duration_s * 1000000000;
    for (int64_t now = bench_now_ns(); now < end_ns; now = bench_now_ns()) {
        if (proc_wait(&sim, 0) >= 0) {
            char *out_text = proc_output(&sim);

            fprintf(stderr, "bench_control: fleet-sim exited early:\n%s\n", out_text ? out_text : "");
            free(out_text);
            goto out;
        }
        bench_sleep_ms((int)((end_ns - now) / 1000000 < 200 ? (end_ns - now) / 1000000 + 1 : 200));
    }
    hang_times(&sim, t, n_hangs, ref_wall, ref_mono);

    pthread_mutex_lock(&rec.lock);
    res->observer_seen = rec.observer_seen;
    res->lost = rec.lost;
    for (size_t i = 0; i < rec.n_inst; i++)
        res->instances_seen += rec.inst[i].heartbeats > 0;
    for (size_t e = 0; e < rec.n_ev; e++) {
        const struct rec_event *ev = &rec.ev[e];
        const struct rec_instance *in = &rec.inst[ev->inst];
        struct hang_target *hung = NULL;

        if (ev->to != WIRE_HEALTH_DEAD && ev->to != WIRE_HEALTH_SUSPECT)
            continue;
        for (size_t k = 0; k < n_hangs && hung == NULL; k++)
            if (strcmp(t[k].instance, in->instance) == 0 && strcmp(t[k].service, in->service) == 0)
                hung = &t[k];
        if (hung != NULL && hung->hang_ns == 0)
            continue; /* its hang time is unknown: neither a figure nor a false DEAD */
        if (hung != NULL && ev->at_ns >= hung->hang_ns) {
            if (ev->to == WIRE_HEALTH_DEAD && hung->hang_ns > 0) {
                bench_series_add(since_hang, ev->at_ns - hung->hang_ns);
                if (ev->last_hb_ns > 0)
                    bench_series_add(since_hb, ev->at_ns - ev->last_hb_ns);
                hung->hang_ns = -hung->hang_ns; /* counted: later events are not its first DEAD */
            }
            continue;
        }
        if (ev->to == WIRE_HEALTH_DEAD)
            res->false_dead++;
        else
            res->false_suspect++;
    }
    pthread_mutex_unlock(&rec.lock);
    for (size_t k = 0; k < n_hangs; k++) {
        if (t[k].hang_ns == 0)
            res->unlogged++;
        else if (t[k].hang_ns > 0)
            res->undetected++;
    }
    rc = 0;
out:
    stop_proc(&sim);
    stop_proc(&sup);
    if (recording)
        rec_stop(&rec);
    free(config);
    free(argv);
    free(t);
    return rc;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    struct bench_series dead = { 0 }, decide = { 0 }, recover = { 0 }, acked = { 0 }, acted = { 0 }, seal = { 0 },
                  since_hb = { 0 }, since_hang = { 0 };
    struct hang_result hang = { 0 };
    struct bench bn = { 0 };
    uint64_t missed = 0;
    bool crash_ok = false, control_ok = false, hang_ok = false;
    int args = parse_args(argc, argv, &bn.opt), rc = 1;
    natsStatus s;

    if (args != BENCH_RUN)
        return args;
    signal(SIGPIPE, SIG_IGN);
    if (bench_series_init(&dead, (size_t)bn.opt.crash_runs, "bench_control") != 0 ||
        bench_series_init(&decide, (size_t)bn.opt.crash_runs, "bench_control") != 0 ||
        bench_series_init(&recover, (size_t)bn.opt.crash_runs, "bench_control") != 0 ||
        bench_series_init(&acked, (size_t)bn.opt.control_runs, "bench_control") != 0 ||
        bench_series_init(&acted, (size_t)bn.opt.control_runs, "bench_control") != 0 ||
        bench_series_init(&seal, (size_t)bn.opt.control_runs, "bench_control") != 0 ||
        bench_series_init(&since_hb, (size_t)bn.opt.hangs, "bench_control") != 0 ||
        bench_series_init(&since_hang, (size_t)bn.opt.hangs, "bench_control") != 0)
        goto out_free;
    if (nats_Open(-1) != NATS_OK) {
        fprintf(stderr, "bench_control: nats_Open failed\n");
        goto out_free;
    }
    if (natsd_start(&bn.server, true) != 0)
        goto out_close;
    s = natsConnection_ConnectTo(&bn.nc, bn.server.url);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_control: cannot connect to %s: %s\n", bn.server.url, natsStatus_GetText(s));
        goto out_stop_server;
    }
    snprintf(bn.url_env, sizeof(bn.url_env), "NATS_URL=%s", bn.server.url);
    printf("bench_control: server %s; crash %" PRIu64 " runs over %" PRIu64 " agents; control %" PRIu64
           " requests (+%d warm-up); hang %" PRIu64 " of %" PRIu64 " x %" PRIu64 " sim instances, 1 s +-%"
           PRIu64 " %%, from %" PRIu64 " s every %" PRIu64 " s, %" PRIu64 " s run\n",
           bn.server.url, bn.opt.crash_runs, bn.opt.agents, bn.opt.control_runs, CONTROL_WARMUP, bn.opt.hangs,
           bn.opt.services, bn.opt.per_service, bn.opt.jitter, bn.opt.hang_start_s, bn.opt.hang_step_s,
           bn.opt.duration_s);
    fflush(stdout);

    crash_ok = bn.opt.crash_runs == 0 || run_crash(&bn, &dead, &decide, &recover, &missed) == 0;
    printf("part 1 (crash) %s\n", bn.opt.crash_runs == 0 ? "skipped" : crash_ok ? "done" : "FAILED");
    fflush(stdout);
    control_ok = bn.opt.control_runs == 0 || run_control(&bn, &acked, &acted, &seal) == 0;
    printf("part 2 (control) %s\n", bn.opt.control_runs == 0 ? "skipped" : control_ok ? "done" : "FAILED");
    fflush(stdout);
    hang_ok = bn.opt.hangs == 0 || run_hang(&bn, &since_hb, &since_hang, &hang) == 0;
    printf("part 3 (hang) %s\n", bn.opt.hangs == 0 ? "skipped" : hang_ok ? "done" : "FAILED");

    printf("\n");
    bench_table_header(&figures);
    if (bn.opt.crash_runs > 0 && crash_ok) {
        bench_series_row(&figures, "1. kill(child) -> DEAD event", &dead, "p99 <= 100", 100);
        bench_series_row(&figures, "   DEAD event -> RESTART event (core)", &decide, NULL, -1);
        bench_series_row(&figures, "   kill(child) -> new child's 1st heartbeat", &recover, NULL, -1);
    }
    if (bn.opt.control_runs > 0 && control_ok) {
        bench_series_row(&figures, "2. Control request -> ControlAck (accepted)", &acked, "p99 <= 5", 5);
        bench_series_row(&figures, "   request -> heartbeat with the new state", &acted, NULL, -1);
        bench_series_row(&figures, "   of which sealing (ed25519 sign)", &seal, NULL, -1);
    }
    if (bn.opt.hangs > 0 && hang_ok) {
        bench_series_row(&figures, "3. hang: last heartbeat -> DEAD event", &since_hb, "p99 <= 3000", 3000);
        bench_series_row(&figures, "   hang (sim's fault log) -> DEAD event", &since_hang, "p99 <= 3000", 3000);
    }
    printf("\n");
    if (bn.opt.crash_runs > 0 && crash_ok)
        printf("crash: %" PRIu64 " of %" PRIu64 " kills without a DEAD event within %d ms\n", missed,
               bn.opt.crash_runs, WAIT_MS);
    if (bn.opt.hangs > 0 && hang_ok) {
        printf("hang: %" PRIu64 " instances heard, %" PRIu64 " hung, %" PRIu64 " undetected, %" PRIu64
               " without a sim log line\n",
               hang.instances_seen, bn.opt.hangs, hang.undetected, hang.unlogged);
        printf("hang: false DEADs %" PRIu64 " (target 0: %s), false SUSPECTs %" PRIu64 " (context), "
               "observer %s SELF_PRESERVATION, %" PRIu64 " feed messages not recorded\n",
               hang.false_dead, hang.false_dead == 0 ? "met" : "NOT met", hang.false_suspect,
               hang.observer_seen & (1u << FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_SELF_PRESERVATION)
                   ? "entered" : "never entered",
               hang.lost);
    }
    rc = crash_ok && control_ok && hang_ok ? 0 : 1;

    natsConnection_Destroy(bn.nc);
out_stop_server:
    natsd_stop(&bn.server, false);
out_close:
    nats_Close();
out_free:
    bench_series_free(&dead);
    bench_series_free(&decide);
    bench_series_free(&recover);
    bench_series_free(&acked);
    bench_series_free(&acted);
    bench_series_free(&seal);
    bench_series_free(&since_hb);
    bench_series_free(&since_hang);
    return rc;
}
