/* bench_ingest: heartbeat ingest of fleet-supervisor against a bare nats.c
 * subscriber, same load, same run, from several publisher processes
 * (DESIGN.md §11; issue 13 §3 "Ingest ceiling").
 *
 * One nats-server on loopback (generous max_pending and write_deadline so the
 * server itself never cuts a slow reader; its monitoring port tells whether it
 * did anyway). The load is --messages heartbeats for services x instances
 * (seq rising per instance), encoded before any timing starts. It is sent by
 * --publishers forked processes, each on its own nats.c connection, each
 * with a slice of the instances (so every instance's seq still rises on one
 * connection), all told to start by one byte on their command pipes and
 * answering on their reply pipes when their slice is flushed.
 *
 *   A (bare): a forked process with one async nats.c subscription, the same
 *     pending limits as the supervisor's bus, that unpacks (protobuf-c) and
 *     frees each Heartbeat, nothing more. rate = received / (last arrival -
 *     first arrival), timed in its callback.
 *   B (supervisor): a fresh fleet-supervisor child with every service in its
 *     config, no signing key (nothing to prove to). $SRV.STATS is polled
 *     every POLL_MS from a second connection; rate = (accepted at the end -
 *     accepted at the first sample showing any) / (time between those two
 *     samples), which excludes the start-up batch the first sample already
 *     contains.
 *   A' (bare, proven load), A+ (bare, proof checked) and C (supervisor,
 *     proven): the same, fed a
 *     second load in which every instance has its own incarnation key and
 *     every heartbeat carries a proof to the supervisor's key (fleet.proto,
 *     fields 16-17). The bare side decodes these bigger heartbeats without
 *     checking the proof (it has no key); the supervisor checks every one,
 *     key agreements for every instance included. Every accepted heartbeat
 *     must have been proven ($SRV.STATS proofs.proven), or the run is not a
 *     measurement. A+ is the bare process doing the supervisor's own check
 *     (ingest_decode with a proofcheck on the supervisor's key, its default
 *     cache and ration) and nothing else: the floor any consumer that trusts
 *     only proven heartbeats pays, so C / A+ is what the supervisor adds.
 *   C warm: C, but every instance's first heartbeat (the load's first
 *     n_instances) goes out and is taken before the measurement starts, so
 *     the measured rest finds every key agreed: the steady state of lives
 *     that send thousands of heartbeats each, where C pays one key
 *     agreement (X25519, ~50 us) per 200 heartbeats. Its CPU is divided by
 *     the heartbeats of the measured part only.
 *
 * CPU per heartbeat, the same way for both sides: user + system time of the
 * whole subscribing process (/proc/PID/stat), every thread, from the moment
 * the publishers are told to start until the last heartbeat is taken,
 * divided by the heartbeats taken.
 *
 * A B A' C alternate for --rounds rounds (with --compare PATH, another
 * fleet-supervisor binary, say the one before a change, runs after each
 * supervisor side on the same load: A B B0 A' C C0); the table shows every
 * run, refusals per reason, and the verdicts use the median of each side
 * (targets: the supervisor's CPU per heartbeat <= 1.5 x the bare
 * subscriber's on the same load, zero drops; DESIGN.md §11: rate >= 0.8 x
 * bare, authenticated >= 200 k heartbeats/s).
 * Drops: for A, messages published but not received plus nats.c
 * pending-limit drops; for B, those not accepted (refusals, stale and nats.c
 * drops shown separately); for both, the server's slow_consumers counter
 * must not move.
 *
 * Targets are reported, never asserted. Exit status: 0 when every phase ran
 * (even short of a target), 1 when the bench could not measure (setup, a
 * phase that stalled, a corrupt delivery), 2 on bad arguments. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>
#include <sodium.h>

#include "bench_load.h"
#include "bench_util.h"
#include "bench_worker.h"
#include "bus.h"
#include "fleet/nkey.h"
#include "fleet/proof.h"
#include "fleet/subjects.h"
#include "fleet/v1/fleet.pb-c.h"
#include "ingest.h"
#include "natsd.h"
#include "proc.h"
#include "proofcheck.h"
#include "service_api.h"

#define MAX_ROUNDS 9
#define MAX_PUBLISHERS 16
/* Per-connection bytes the server may queue for a reader (default 64 MiB). */
#define SERVER_MAX_PENDING "1073741824"
#define CPU_RATIO_TARGET 1.5    /* supervisor CPU/hb over the bare subscriber's (issue 13 §3) */
#define RATE_RATIO_TARGET 0.8   /* supervisor rate over the bare subscriber's (DESIGN.md §11) */
#define PROVEN_TARGET 200000.0  /* authenticated heartbeats/s (DESIGN.md §11) */
#define WORKER_SETUP_MS 10000   /* a worker connects or subscribes within this */

/* Commands to the workers (bench_worker.h). */
#define CMD_CONNECT 'c'         /* publishers: connect now, before any timing */
#define CMD_PLAIN 'p'           /* publish / take the plain load */
#define CMD_PROVEN 'P'          /* publish / take the proven load */
#define CMD_CHECKED 'K'         /* bare: take the proven load and check every proof */
#define CMD_WARM 'w'            /* publishers: the proven load's first heartbeat of each instance */
#define CMD_REST 'r'            /* publishers: the rest of the proven load */
/* The supervisor's defaults (config.c limits.proven_keys_cached,
 * key_agreements_per_s), so the checked bare side checks as it does. */
#define CHECK_KEYS_CACHED 262144
#define CHECK_AGREEMENTS_PER_S 20000

struct bench_opts {
    uint64_t messages;
    uint64_t services;
    uint64_t per_service;
    uint64_t rounds;
    uint64_t publishers;
    const char *supervisor; /* path; NULL = fleet-supervisor from $FLEET_BIN_DIR */
    const char *compare;    /* another fleet-supervisor, run beside it (before/after), or NULL */
    const char *perf_out;   /* perf record output of round 1's B (C: with ".proof"), or NULL */
};

/* One run of one side. */
struct phase_result {
    bool supervisor;
    bool proven;            /* the proven load (A' or C) */
    uint64_t n_proven;      /* C: proofs.proven at the end */
    bool complete;          /* everything expected arrived before a stall */
    uint64_t delivered;     /* A: received; B: accepted */
    uint64_t received;      /* messages handed to the subscriber callback */
    uint64_t stale, refused;
    char refused_by[160];   /* B, C: refusals per reason */
    int64_t client_dropped; /* nats.c pending-limit drops */
    int64_t server_slow;    /* growth of the server's slow_consumers */
    double rate;            /* delivered heartbeats per second */
    double publish_rate;    /* all publishers: heartbeats / the slowest one's time */
    double cpu_ns_per_hb;   /* the whole subscribing process */
};

/* What the workers share, copied into each by fork. */
struct worker_env {
    const char *url;
    const struct bench_load *plain, *proven;
    const char *key_path;       /* bare, CMD_CHECKED: the supervisor's seed */
    size_t slice, n_slices;     /* publishers: which instances */
    natsConnection *nc;         /* publishers: opened on CMD_CONNECT */
};

struct bench {
    struct bench_opts opt;
    struct natsd server;
    int monitor_port;
    struct bench_load load;
    struct bench_load proven_load; /* for A' and C */
    fleet_keypair *key;      /* C's supervisor key (its seed in key_path) */
    char key_path[300];
    struct worker_env env;
    struct bench_worker pub[MAX_PUBLISHERS];
    struct bench_worker bare;
    natsConnection *ctl;  /* $SRV requests */
    char supervisor_path[512];
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_ingest [--messages M] [--services S] [--instances-per-service N]\n"
            "                    [--publishers P] [--rounds R] [--supervisor PATH] [--compare PATH]\n"
            "                    [--perf FILE]\n"
            "  defaults: 2000000 messages, 20 services x 500 instances, 3 publisher processes,\n"
            "  2 rounds (A B A' C each); --perf records the first round's supervisor phases\n"
            "  with `perf record -g` into FILE (unauthenticated) and FILE.proof; --compare\n"
            "  runs another fleet-supervisor binary (say, before a change) after each\n"
            "  supervisor side, on the same load, judged the same way\n");
}

/* Fills *o: the defaults, then argv. Returns bench_flags_parse's answer. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--messages", 1, 50000000, &o->messages),
        BENCH_FLAG_NUM("--services", 1, 1000, &o->services),
        BENCH_FLAG_NUM("--instances-per-service", 1, 10000, &o->per_service),
        BENCH_FLAG_NUM("--publishers", 1, MAX_PUBLISHERS, &o->publishers),
        BENCH_FLAG_NUM("--rounds", 1, MAX_ROUNDS, &o->rounds),
        BENCH_FLAG_STR("--supervisor", &o->supervisor),
        BENCH_FLAG_STR("--compare", &o->compare),
        BENCH_FLAG_STR("--perf", &o->perf_out),
    };

    *o = (struct bench_opts){ .messages = 2000000, .services = 20, .per_service = 500, .rounds = 2,
                              .publishers = 3 };
    return bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
}

static int64_t now_ms(void)
{
    return bench_now_ns() / 1000000;
}

/* ---- the publisher processes ---- */

/* A publisher's answer to CMD_PLAIN / CMD_PROVEN (and, ok only, CMD_CONNECT). */
struct pub_reply {
    int32_t ok;              /* 1: every heartbeat of the slice published and flushed */
    uint64_t sent;
    int64_t elapsed_ns;
};

/* In a publisher process: connects once, then publishes its slice per command. */
static int publisher_serve(void *ctx, char cmd, int reply_fd)
{
    struct worker_env *e = ctx;
    struct pub_reply r = { 0 };
    const struct bench_load *l = cmd == CMD_PLAIN ? e->plain : e->proven;
    size_t from = cmd == CMD_REST ? l->n_instances : 0, to = cmd == CMD_WARM ? l->n_instances : l->n_msgs;
    size_t sent = 0;
    double rate = 0;
    int64_t t0;

    if (cmd == CMD_CONNECT) {
        natsStatus s = nats_Open(-1);

        if (s == NATS_OK)
            s = natsConnection_ConnectTo(&e->nc, e->url);
        if (s != NATS_OK)
            fprintf(stderr, "bench_ingest: publisher %zu: %s\n", e->slice, natsStatus_GetText(s));
        r.ok = s == NATS_OK;
        return bench_worker_reply(reply_fd, &r, sizeof(r));
    }
    t0 = bench_now_ns();
    if (e->nc != NULL && bench_load_publish_range(e->nc, l, e->slice, e->n_slices, from, to, &sent, &rate) == 0)
        r = (struct pub_reply){ .ok = 1, .sent = sent, .elapsed_ns = bench_now_ns() - t0 };
    return bench_worker_reply(reply_fd, &r, sizeof(r));
}

/* Tells every publisher to send its slice of what `cmd` names (CMD_PLAIN,
 * CMD_PROVEN, CMD_WARM, CMD_REST), all at once, and waits for them. Writes
 * the aggregate rate. Returns 0 or -1. */
static int publish_all(struct bench *bn, char cmd, double *rate)
{
    int64_t slowest = 0;
    uint64_t sent = 0;
    int rc = 0;

    for (size_t k = 0; k < bn->opt.publishers; k++)
        if (bench_worker_send(&bn->pub[k], cmd) != 0)
            return -1;
    for (size_t k = 0; k < bn->opt.publishers; k++) {
        struct pub_reply r;

        if (bench_worker_read(&bn->pub[k], &r, sizeof(r), BENCH_PHASE_LIMIT_MS) != 0 || !r.ok) {
            rc = -1;
            continue;
        }
        sent += r.sent;
        slowest = r.elapsed_ns > slowest ? r.elapsed_ns : slowest;
    }
    if (rc == 0)
        *rate = slowest > 0 ? (double)sent * 1e9 / (double)slowest : 0;
    return rc;
}

/* ---- phase A: the bare subscriber, in its own process ---- */

struct bare {
    uint64_t target;                 /* messages expected */
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t bad;        /* payloads that did not unpack (or, checked, were not proven) */
    struct proofcheck *proofs;       /* CMD_CHECKED: check as the supervisor does; else NULL */
    atomic_uint_fast64_t seq_sum;
    atomic_int_fast64_t first_ns, last_ns;   /* arrival times */
};

/* The bare process's answers: `ok` alone once subscribed, then the result
 * as soon as the last heartbeat arrived (or a stall), before it tears its
 * subscription down, then `ok` again once it has. */
struct bare_reply {
    int32_t ok;
    uint64_t received, bad;
    int32_t seq_sum_ok;
    int64_t dropped;         /* natsSubscription_GetDropped */
    int64_t first_ns, last_ns;
};

/* nats.c delivery thread (one per subscription): unpack, look, free. */
static void bare_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct bare *b = closure;
    Fleet__V1__Heartbeat *hb;
    uint64_t n;
    int64_t t;

    (void)nc;
    (void)sub;
    if (b->proofs != NULL) {
        struct hb_input in;

        if (ingest_decode(b->proofs, strlen(FLEET_DEFAULT_PREFIX), SIZE_MAX, natsMsg_GetSubject(msg),
                          natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), now_ms(), &in) == HB_OK &&
            in.proven)
            atomic_fetch_add_explicit(&b->seq_sum, in.seq, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&b->bad, 1, memory_order_relaxed);
        goto out_count;
    }
    hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                      (const uint8_t *)natsMsg_GetData(msg));
    if (hb != NULL) {
        atomic_fetch_add_explicit(&b->seq_sum, hb->seq, memory_order_relaxed);
        fleet__v1__heartbeat__free_unpacked(hb, NULL);
    } else {
        atomic_fetch_add_explicit(&b->bad, 1, memory_order_relaxed);
    }
out_count:
    natsMsg_Destroy(msg);
    t = bench_now_ns();
    n = atomic_fetch_add_explicit(&b->received, 1, memory_order_relaxed) + 1;
    if (n == 1)
        atomic_store_explicit(&b->first_ns, t, memory_order_relaxed);
    atomic_store_explicit(&b->last_ns, t, memory_order_release);
}

/* In the bare process: subscribe, say so, take one load, answer, tear down. */
static int bare_serve(void *ctx, char cmd, int reply_fd)
{
    struct worker_env *e = ctx;
    const struct bench_load *l = cmd == CMD_PLAIN ? e->plain : e->proven;
    struct bare b = { .target = l->n_msgs };
    struct bare_reply r = { 0 };
    natsSubscription *sub = NULL;
    natsConnection *nc = NULL;
    int64_t start, last_change;
    uint64_t seen = 0;
    natsStatus s = nats_Open(-1); /* once; later calls are no-ops */

    if (cmd == CMD_CHECKED) {
        fleet_keypair *kp = NULL;

        if (fleet_keypair_from_seed_file(e->key_path, &kp) != FLEET_OK ||
            proofcheck_create(kp, CHECK_KEYS_CACHED, CHECK_AGREEMENTS_PER_S, &b.proofs) != 0) {
            fprintf(stderr, "bench_ingest: bare subscriber: cannot check proofs with %s\n", e->key_path);
            s = NATS_ERR;
        }
    }
    if (s == NATS_OK)
        s = natsConnection_ConnectTo(&nc, e->url);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub, nc, "fleet.v1.hb.>", bare_on_msg, &b);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sub, BUS_PENDING_MSGS, BUS_PENDING_BYTES);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK)
        fprintf(stderr, "bench_ingest: bare subscriber: %s\n", natsStatus_GetText(s));
    r.ok = s == NATS_OK;
    if (bench_worker_reply(reply_fd, &r, sizeof(r)) != 0 || !r.ok)
        goto out_destroy;
    start = last_change = now_ms();
    for (;;) {
        uint64_t n = atomic_load_explicit(&b.received, memory_order_acquire);
        int64_t t = now_ms();

        if (n >= b.target)
            break;
        if (n != seen) {
            seen = n;
            last_change = t;
        }
        if (t - last_change > BENCH_STALL_MS || t - start > BENCH_PHASE_LIMIT_MS)
            break;
        bench_sleep_ms(1);
    }
    natsSubscription_GetDropped(sub, &r.dropped);
    r.received = atomic_load(&b.received);
    r.bad = atomic_load(&b.bad);
    r.seq_sum_ok = r.received == b.target && atomic_load(&b.seq_sum) == l->seq_sum;
    r.first_ns = atomic_load(&b.first_ns);
    r.last_ns = atomic_load(&b.last_ns);
    if (bench_worker_reply(reply_fd, &r, sizeof(r)) != 0)
        goto out_destroy;
    natsSubscription_Unsubscribe(sub); /* no callback runs after this returns... */
    natsSubscription_Destroy(sub);
    sub = NULL;
    natsConnection_Destroy(nc);        /* ...nor after the connection is gone */
    nc = NULL;
    proofcheck_destroy(b.proofs);
    r = (struct bare_reply){ .ok = 1 };
    return bench_worker_reply(reply_fd, &r, sizeof(r));

out_destroy:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    proofcheck_destroy(b.proofs);
    return r.ok ? -1 : 0;
}

/* Runs the bare side with command `cmd` (CMD_PLAIN, CMD_PROVEN, CMD_CHECKED).
 * Returns 0 with *r filled (complete or not), or -1 when it could not run. */
static int run_bare(struct bench *bn, char cmd, struct phase_result *r)
{
    bool proven = cmd != CMD_PLAIN;
    const struct bench_load *load = proven ? &bn->proven_load : &bn->load;
    struct bare_reply ready, got, closed;
    int64_t slow0, slow1, cpu0, cpu1;

    memset(r, 0, sizeof(*r));
    r->proven = proven;
    if (bench_varz_int(bn->monitor_port, "slow_consumers", &slow0) != 0)
        return -1;
    if (bench_worker_send(&bn->bare, cmd) != 0 ||
        bench_worker_read(&bn->bare, &ready, sizeof(ready), WORKER_SETUP_MS) != 0 || !ready.ok)
        return -1;
    cpu0 = bench_process_cpu_ns(bn->bare.pid);
    if (publish_all(bn, proven ? CMD_PROVEN : CMD_PLAIN, &r->publish_rate) != 0 ||
        bench_worker_read(&bn->bare, &got, sizeof(got), BENCH_PHASE_LIMIT_MS + BENCH_STALL_MS) != 0)
        return -1;
    cpu1 = bench_process_cpu_ns(bn->bare.pid);
    if (bench_worker_read(&bn->bare, &closed, sizeof(closed), WORKER_SETUP_MS) != 0)
        return -1;
    if (bench_varz_int(bn->monitor_port, "slow_consumers", &slow1) != 0)
        return -1;
    r->server_slow = slow1 - slow0;
    r->client_dropped = got.dropped;
    r->received = r->delivered = got.received;
    r->complete = got.received == load->n_msgs;
    if (got.received > 1 && got.last_ns > got.first_ns)
        r->rate = (double)got.received * 1e9 / (double)(got.last_ns - got.first_ns);
    if (cpu0 >= 0 && cpu1 >= cpu0 && got.received > 0)
        r->cpu_ns_per_hb = (double)(cpu1 - cpu0) / (double)got.received;
    if (got.bad != 0 || (r->complete && !got.seq_sum_ok)) {
        fprintf(stderr, "bench_ingest: bare subscriber got %" PRIu64 " undecodable, unproven or corrupt "
                        "heartbeats\n", got.bad);
        return -1;
    }
    return 0;
}

/* Writes the supervisor's config for this load into `path`, with the
 * signing key when `proven`. Returns 0 or -1. */
static int write_supervisor_config(const struct bench *bn, bool proven, const char *path)
{
    char name[FLEET_NAME_MAX + 1];
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "bench_ingest: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "nats:\n  url: %s\nsupervisor:\n  status_interval_ms: 1000\n  log_level: warn\n"
               "detector:\n  default_interval_ms: %u\n",
            bn->server.url, BENCH_INTERVAL_MS);
    if (proven)
        fprintf(f, "control:\n  signing_key_file: %s\n", bn->key_path);
    fprintf(f, "services:\n");
    for (size_t s = 0; s < bn->opt.services; s++) {
        bench_service_name(s, name);
        fprintf(f, "  - name: %s\n    desired: %" PRIu64 "\n", name, bn->opt.per_service);
    }
    return fclose(f) == 0 ? 0 : -1;
}


/* Starts `perf record` (DWARF call graphs: the libraries have no frame
 * pointers) on `pid` into `out`. Returns its pid, or -1. */
static pid_t perf_start(pid_t pid, const char *out)
{
    char target[16];
    pid_t child;

    snprintf(target, sizeof(target), "%d", (int)pid);
    child = fork();
    if (child == 0) {
        execlp("perf", "perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,16384", "-o", out,
               "-p", target,
               (char *)NULL);
        _exit(127);
    }
    return child;
}

static void perf_stop(pid_t perf)
{
    int st;

    if (perf <= 0)
        return;
    kill(perf, SIGINT);
    waitpid(perf, &st, 0);
}


/* Returns 0 with *r filled (complete or not), or -1 when it could not run. */
/* One supervisor side. `warm` (proven only): every instance's first
 * heartbeat goes out and is taken before the measurement, so what is
 * measured is the rest, with every key already agreed: the steady state of
 * a fleet whose lives send thousands of heartbeats each, where the cold run
 * pays one key agreement per 200 heartbeats. */
static int run_supervisor(struct bench *bn, const char *path, int round, bool proven, bool warm, bool profile,
                          struct phase_result *r)
{
    const struct bench_load *load = proven ? &bn->proven_load : &bn->load;
    char config[300], id[32];
    char *argv[] = { (char *)path, "--config", config, "--id", id, NULL };
    struct bench_poller poll = { .nc = bn->ctl, .id = id, .target = load->n_msgs,
                                 .base = warm ? load->n_instances : 0 };
    struct proc sup = { 0 };
    int64_t slow0, slow1, cpu0 = -1, cpu1 = -1;
    pthread_t poll_thread;
    pid_t perf = -1;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->supervisor = true;
    r->proven = proven;
    snprintf(config, sizeof(config), "%s/supervisor.yaml", bn->server.dir);
    snprintf(id, sizeof(id), "bench-r%d%s%s%s", round, proven ? "p" : "", warm ? "w" : "",
             path == bn->supervisor_path ? "" : "c");
    if (write_supervisor_config(bn, proven, config) != 0)
        return -1;
    if (bench_varz_int(bn->monitor_port, "slow_consumers", &slow0) != 0)
        return -1;
    if (proc_start(&sup, argv, NULL) != 0)
        return -1;
    if (!bench_supervisor_ready(bn->ctl, id, &sup)) {
        char *out = proc_output(&sup);

        fprintf(stderr, "bench_ingest: fleet-supervisor did not answer $SRV.PING within %d ms:\n%s\n",
                BENCH_START_LIMIT_MS, out ? out : "");
        free(out);
        goto out_kill_supervisor;
    }
    if (profile) {
        char out[600];

        snprintf(out, sizeof(out), "%s%s", bn->opt.perf_out, proven ? ".proof" : "");
        perf = perf_start(sup.pid, out);
    }
    if (warm) {
        struct bench_poller first = { .nc = bn->ctl, .id = id, .target = load->n_instances };
        double warm_rate;

        if (publish_all(bn, CMD_WARM, &warm_rate) != 0)
            goto out_stop_perf;
        bench_poll_stats(&first);
        if (first.last.accepted != load->n_instances) {
            fprintf(stderr, "bench_ingest: warm-up: %" PRIu64 " of %zu first heartbeats accepted\n",
                    first.last.accepted, load->n_instances);
            goto out_stop_perf;
        }
    }
    if (pthread_create(&poll_thread, NULL, bench_poll_stats, &poll) != 0) {
        fprintf(stderr, "bench_ingest: cannot start the stats poller\n");
        goto out_stop_perf;
    }
    cpu0 = bench_process_cpu_ns(sup.pid);
    rc = publish_all(bn, warm ? CMD_REST : proven ? CMD_PROVEN : CMD_PLAIN, &r->publish_rate);
    pthread_join(poll_thread, NULL);
    cpu1 = bench_process_cpu_ns(sup.pid);
out_stop_perf:
    perf_stop(perf);
out_kill_supervisor:
    if (proc_signal(&sup, SIGTERM) == 0 && proc_wait(&sup, 5000) < 0)
        fprintf(stderr, "bench_ingest: fleet-supervisor ignored SIGTERM for 5 s\n");
    proc_kill(&sup);
    if (rc != 0)
        return -1;
    if (!poll.answered) {
        fprintf(stderr, "bench_ingest: fleet-supervisor never answered $SRV.STATS\n");
        return -1;
    }
    if (bench_varz_int(bn->monitor_port, "slow_consumers", &slow1) != 0)
        return -1;
    r->server_slow = slow1 - slow0;
    r->received = poll.last.received;
    r->delivered = poll.last.accepted;
    r->stale = poll.last.stale;
    r->refused = poll.last.refused;
    snprintf(r->refused_by, sizeof(r->refused_by), "%s", poll.last.refused_by);
    r->client_dropped = (int64_t)poll.last.sc_dropped;
    r->n_proven = poll.last.proven;
    r->complete = r->delivered == load->n_msgs;
    if (proven && r->n_proven < r->delivered) {
        fprintf(stderr, "bench_ingest: %" PRIu64 " heartbeats accepted but %" PRIu64 " proven: "
                        "the proven load was not checked\n", r->delivered, r->n_proven);
        return -1;
    }
    r->rate = bench_poller_rate(&poll);
    if (cpu0 >= 0 && cpu1 >= cpu0 && r->received > poll.base)
        r->cpu_ns_per_hb = (double)(cpu1 - cpu0) / (double)(r->received - poll.base);
    return 0;
}

/* ---- report ---- */

/* The sides of a round, in the order they run; the --compare ones only
 * with that flag. Each supervisor side is judged against the bare side of
 * its load. */
enum side {
    SIDE_BARE, SIDE_SUPERVISOR, SIDE_COMPARE,
    SIDE_BARE_PROVEN, SIDE_BARE_CHECKED, SIDE_SUPERVISOR_PROVEN, SIDE_COMPARE_PROVEN, SIDE_SUPERVISOR_WARM,
    SIDE_COUNT
};

static const char *const side_name[SIDE_COUNT] = {
    "bare nats.c", "fleet-supervisor", "--compare", "bare (proven load)", "bare+proof check", "supervisor+proof",
    "--compare+proof", "supervisor+proof warm",
};

static bool side_bare(int s)
{
    return s == SIDE_BARE || s == SIDE_BARE_PROVEN || s == SIDE_BARE_CHECKED;
}

static bool side_proven(int s)
{
    return s >= SIDE_BARE_PROVEN;
}

static bool side_runs(const struct bench *bn, int s)
{
    return (s != SIDE_COMPARE && s != SIDE_COMPARE_PROVEN) || bn->opt.compare != NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median of the figure at byte `offset` of each round's result (a double). */
static double median_of(const struct phase_result *r, size_t rounds, size_t offset)
{
    double v[MAX_ROUNDS];

    for (size_t k = 0; k < rounds; k++)
        memcpy(&v[k], (const char *)&r[k] + offset, sizeof(v[k]));
    qsort(v, rounds, sizeof(*v), cmp_double);
    return rounds % 2 ? v[rounds / 2] : (v[rounds / 2 - 1] + v[rounds / 2]) / 2;
}

static uint64_t drops_of(const struct phase_result *r, uint64_t published)
{
    return published - r->delivered + (r->supervisor ? 0 : (uint64_t)r->client_dropped);
}

static void print_row(int round, enum side side, const struct phase_result *r, uint64_t published)
{
    printf("%5d  %-21s %11.0f %10" PRIu64 " %6" PRIu64 " %11.0f %7.3f  stale=%" PRIu64 " refused=%" PRIu64
           "%s%s%s nats_dropped=%" PRId64 " server_slow=%" PRId64 "%s\n",
           round, side_name[side], r->rate, r->delivered, drops_of(r, published), r->publish_rate,
           r->cpu_ns_per_hb / 1000.0, r->stale, r->refused, r->refused_by[0] ? " (" : "", r->refused_by,
           r->refused_by[0] ? ")" : "", r->client_dropped, r->server_slow, r->complete ? "" : "  INCOMPLETE");
}

/* Prints the table and the verdicts. `res[s][k]` is side s in round k. */
static void report(const struct bench *bn, struct phase_result res[SIDE_COUNT][MAX_ROUNDS], size_t rounds)
{
    double rate[SIDE_COUNT], cpu[SIDE_COUNT];
    uint64_t drops[SIDE_COUNT] = { 0 };
    int64_t slow = 0;
    bool drops_met;

    printf("\n%" PRIu64 " publisher processes; cpu = user + system of the whole subscribing process\n"
           "(/proc/PID/stat, every thread) from the publishers' start to the last heartbeat taken, per "
           "heartbeat\n", bn->opt.publishers);
    printf("round  subscriber            rate (hb/s)  delivered  drops   publish/s  cpu us/hb\n");
    for (size_t k = 0; k < rounds; k++)
        for (int s = 0; s < SIDE_COUNT; s++)
            if (side_runs(bn, s))
                print_row((int)k + 1, (enum side)s, &res[s][k],
                          side_proven(s) ? bn->proven_load.n_msgs : bn->load.n_msgs);
    for (int s = 0; s < SIDE_COUNT; s++) {
        uint64_t published = side_proven(s) ? bn->proven_load.n_msgs : bn->load.n_msgs;

        if (!side_runs(bn, s))
            continue;
        rate[s] = median_of(res[s], rounds, offsetof(struct phase_result, rate));
        cpu[s] = median_of(res[s], rounds, offsetof(struct phase_result, cpu_ns_per_hb));
        for (size_t k = 0; k < rounds; k++) {
            drops[s] += drops_of(&res[s][k], published);
            slow += res[s][k].server_slow;
        }
    }
    printf("\nmedian of %zu rounds        rate (hb/s)  cpu us/hb  supervisor/bare: rate  cpu (target <= %.1f)\n",
           rounds, CPU_RATIO_TARGET);
    drops_met = slow == 0;
    for (int s = 0; s < SIDE_COUNT; s++) {
        int bare = side_proven(s) ? SIDE_BARE_PROVEN : SIDE_BARE;
        double rate_ratio = rate[bare] > 0 ? rate[s] / rate[bare] : 0;
        double cpu_ratio = cpu[bare] > 0 ? cpu[s] / cpu[bare] : 0;

        if (!side_runs(bn, s))
            continue;
        if (side_bare(s)) {
            printf("%-26s %11.0f %10.3f\n", side_name[s], rate[s], cpu[s] / 1000.0);
            continue;
        }
        printf("%-26s %11.0f %10.3f  %21.3f  %5.3f: %s", side_name[s], rate[s], cpu[s] / 1000.0, rate_ratio,
               cpu_ratio, cpu_ratio > 0 && cpu_ratio <= CPU_RATIO_TARGET ? "met" : "NOT met");
        if (side_proven(s) && cpu[SIDE_BARE_CHECKED] > 0)
            printf("; over bare+proof check %.3f", cpu[s] / cpu[SIDE_BARE_CHECKED]);
        printf("\n");
    }
    printf("DESIGN.md §11: supervisor rate >= %.1f x bare: %s; authenticated >= %.0f hb/s: %s\n", RATE_RATIO_TARGET,
           rate[SIDE_SUPERVISOR] >= RATE_RATIO_TARGET * rate[SIDE_BARE] ? "met" : "NOT met", PROVEN_TARGET,
           rate[SIDE_SUPERVISOR_PROVEN] >= PROVEN_TARGET ? "met" : "NOT met");
    printf("drops:");
    for (int s = 0; s < SIDE_COUNT; s++) {
        if (!side_runs(bn, s))
            continue;
        printf(" %s %" PRIu64 ",", side_name[s], drops[s]);
        drops_met = drops_met && (drops[s] == 0 || side_bare(s));
    }
    printf(" server slow_consumers +%" PRId64 " (target 0 for every supervisor: %s)\n", slow,
           drops_met ? "met" : "NOT met");
    if (bn->opt.compare != NULL)
        printf("--compare = %s\n", bn->opt.compare);
}

/* ---- main ---- */

/* Writes the seed of `kp` into `path`, readable by its owner only. */
static int write_seed(const fleet_keypair *kp, const char *path)
{
    char seed[FLEET_NKEY_SEED_LEN + 1];
    FILE *f = fopen(path, "w");
    int rc = -1;

    if (f != NULL && fleet_keypair_seed(kp, seed, sizeof(seed)) == FLEET_OK && chmod(path, 0600) == 0 &&
        fprintf(f, "%s\n", seed) > 0)
        rc = 0;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    sodium_memzero(seed, sizeof(seed));
    if (rc != 0)
        fprintf(stderr, "bench_ingest: cannot write the supervisor key %s\n", path);
    return rc;
}

/* Starts the server and the worker processes (before this process opens
 * nats.c: see bench_worker.h), then opens nats.c and the $SRV connection. */
static int bench_open(struct bench *bn)
{
    natsStatus s;

    if (bn->opt.supervisor != NULL)
        snprintf(bn->supervisor_path, sizeof(bn->supervisor_path), "%s", bn->opt.supervisor);
    else if (proc_find_program("fleet-supervisor", bn->supervisor_path,
                               sizeof(bn->supervisor_path)) != 0) {
        fprintf(stderr, "bench_ingest: fleet-supervisor not found: set FLEET_BIN_DIR or pass "
                        "--supervisor PATH\n");
        return -1;
    }
    bn->monitor_port = natsd_free_port();
    if (bn->monitor_port <= 0)
        return -1;
    snprintf(bn->server.extra_conf, sizeof(bn->server.extra_conf),
             "max_pending: %s\nwrite_deadline: \"60s\"\nhttp: 127.0.0.1:%d\n", SERVER_MAX_PENDING,
             bn->monitor_port);
    if (natsd_start(&bn->server, false) != 0)
        return -1;
    snprintf(bn->key_path, sizeof(bn->key_path), "%s/supervisor.nk", bn->server.dir);
    if (write_seed(bn->key, bn->key_path) != 0)
        return -1;
    bn->env = (struct worker_env){ .url = bn->server.url, .plain = &bn->load, .proven = &bn->proven_load,
                                   .key_path = bn->key_path, .n_slices = bn->opt.publishers };
    if (bench_worker_start(&bn->bare, bare_serve, &bn->env) != 0)
        return -1;
    for (size_t k = 0; k < bn->opt.publishers; k++) {
        struct pub_reply r;

        bn->env.slice = k;
        if (bench_worker_start(&bn->pub[k], publisher_serve, &bn->env) != 0 ||
            bench_worker_send(&bn->pub[k], CMD_CONNECT) != 0 ||
            bench_worker_read(&bn->pub[k], &r, sizeof(r), WORKER_SETUP_MS) != 0 || !r.ok)
            return -1;
    }
    if (nats_Open(-1) != NATS_OK) {
        fprintf(stderr, "bench_ingest: nats_Open failed\n");
        return -1;
    }
    s = natsConnection_ConnectTo(&bn->ctl, bn->server.url);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_ingest: cannot connect to %s: %s\n", bn->server.url, natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

/* Undoes bench_open, whatever part of it succeeded. */
static void bench_close(struct bench *bn)
{
    natsConnection_Destroy(bn->ctl);
    for (size_t k = 0; k < bn->opt.publishers; k++)
        bench_worker_stop(&bn->pub[k]);
    bench_worker_stop(&bn->bare);
    natsd_stop(&bn->server, false);
    nats_Close();
}

/* Runs round k: A B [B'] A' C [C'], in side order. Returns 0 or -1. */
static int run_round(struct bench *bn, size_t k, struct phase_result res[SIDE_COUNT][MAX_ROUNDS])
{
    bool profile = k == 0 && bn->opt.perf_out != NULL;

    for (int s = 0; s < SIDE_COUNT; s++) {
        int rc;

        if (!side_runs(bn, s))
            continue;
        if (side_bare(s))
            rc = run_bare(bn, s == SIDE_BARE ? CMD_PLAIN : s == SIDE_BARE_PROVEN ? CMD_PROVEN : CMD_CHECKED,
                          &res[s][k]);
        else if (s == SIDE_COMPARE || s == SIDE_COMPARE_PROVEN)
            rc = run_supervisor(bn, bn->opt.compare, (int)k + 1, side_proven(s), false, false, &res[s][k]);
        else
            rc = run_supervisor(bn, bn->supervisor_path, (int)k + 1, side_proven(s), s == SIDE_SUPERVISOR_WARM,
                                profile && s != SIDE_SUPERVISOR_WARM, &res[s][k]);
        if (rc != 0)
            return -1;
    }
    printf("round %zu:", k + 1);
    for (int s = 0; s < SIDE_COUNT; s++)
        if (side_runs(bn, s))
            printf("%s %s %.0f hb/s %.3f us/hb%s", s ? "," : "", side_name[s], res[s][k].rate,
                   res[s][k].cpu_ns_per_hb / 1000.0, res[s][k].complete ? "" : " (incomplete)");
    printf("\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static struct phase_result res[SIDE_COUNT][MAX_ROUNDS];
    struct bench bn = { 0 };
    int args = parse_args(argc, argv, &bn.opt), rc = 1;

    if (args != BENCH_RUN)
        return args;
    signal(SIGPIPE, SIG_IGN);
    if (fleet_keypair_generate(&bn.key) != FLEET_OK) {
        fprintf(stderr, "bench_ingest: supervisor key: %s\n", fleet_last_error());
        return 1;
    }
    if (bench_load_build(bn.opt.messages, bn.opt.services, bn.opt.per_service, NULL, &bn.load) != 0 ||
        bench_load_build(bn.opt.messages, bn.opt.services, bn.opt.per_service, bn.key, &bn.proven_load) != 0)
        goto out_free_load;
    if (bench_open(&bn) != 0)
        goto out_close_bench;
    printf("bench_ingest: %zu heartbeats (%zu..%zu B) over %zu instances (%" PRIu64 " services x %" PRIu64
           "), %" PRIu64 " publisher processes, %" PRIu64 " rounds A B A' C, server %s (max_pending %s, "
           "monitor :%d)\n",
           bn.load.n_msgs, bn.load.min_len, bn.proven_load.max_len, bn.load.n_instances, bn.opt.services,
           bn.opt.per_service, bn.opt.publishers, bn.opt.rounds, bn.server.url, SERVER_MAX_PENDING,
           bn.monitor_port);
    fflush(stdout);
    for (size_t k = 0; k < bn.opt.rounds; k++)
        if (run_round(&bn, k, res) != 0)
            goto out_close_bench;
    report(&bn, res, (size_t)bn.opt.rounds);
    rc = 0;
out_close_bench:
    bench_close(&bn);
out_free_load:
    bench_load_fini(&bn.proven_load);
    bench_load_fini(&bn.load);
    fleet_keypair_destroy(bn.key);
    return rc;
}
