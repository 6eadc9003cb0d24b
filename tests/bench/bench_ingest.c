/* bench_ingest: heartbeat ingest of fleet-supervisor against a bare nats.c
 * subscriber, same load, same run (DESIGN.md §11: the supervisor reaches
 * >= 0.8 of the bare rate, with zero drops).
 *
 * One nats-server on loopback (generous max_pending and write_deadline so the
 * server itself never cuts a slow reader; its monitoring port tells whether it
 * did anyway). The load is --messages heartbeats for services x instances
 * (seq rising per instance), encoded before any timing starts and published
 * as fast as one nats.c connection can.
 *
 *   A (bare): an async subscription in this process, with the same pending
 *     limits as the supervisor's bus, that unpacks and frees each Heartbeat.
 *     rate = received / (last arrival - first arrival), timed in the callback.
 *   B (supervisor): a fresh fleet-supervisor child with every service in its
 *     config, no signing key (nothing to prove to). $SRV.STATS is polled
 *     every POLL_MS from a second connection; rate = (accepted at the end -
 *     accepted at the first sample showing any) / (time between those two
 *     samples), which excludes the start-up batch the first sample already
 *     contains.
 *   C (supervisor, proven): the same supervisor with a signing key, fed a
 *     second load in which every instance has its own incarnation key and
 *     every heartbeat carries a proof to that supervisor key (fleet.proto,
 *     fields 16-17): the cost of authenticated ingest, key agreements for
 *     every instance included. Every accepted heartbeat must have been
 *     proven ($SRV.STATS proofs.proven), or the run is not a measurement.
 *
 * A, B and C alternate for --rounds rounds (A B C A B C ...); the table
 * shows every run and the verdicts use the median of each side
 * (DESIGN.md §11: B >= 0.8 x A; C >= 200 k heartbeats/s). Drops: for A, messages
 * published but not received plus nats.c pending-limit drops; for B, those
 * not accepted (refusals, stale and nats.c drops shown separately); for both,
 * the server's slow_consumers counter must not move.
 *
 * CPU per heartbeat is shown for context, not comparable across sides: the
 * bare figure is its callback thread, the supervisor's its whole process.
 *
 * Targets are reported, never asserted. Exit status: 0 when every phase ran
 * (even short of a target), 1 when the bench could not measure (setup, a
 * phase that stalled, a corrupt delivery), 2 on bad arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nats/nats.h>
#include <sodium.h>

#include "bench_load.h"
#include "bench_util.h"
#include "fleet/nkey.h"
#include "fleet/proof.h"
#include "fleet/v1/fleet.pb-c.h"
#include "natsd.h"
#include "proc.h"
#include "service_api.h"

#define MAX_ROUNDS 9
/* Same pending limits as the supervisor's bus (supervisor/daemon/bus.c). */
#define SUB_PENDING_MSGS (4 * 1024 * 1024)
#define SUB_PENDING_BYTES (1024 * 1024 * 1024)
/* Per-connection bytes the server may queue for a reader (default 64 MiB). */
#define SERVER_MAX_PENDING "1073741824"
#define PROVEN_TARGET 200000.0  /* authenticated heartbeats/s (DESIGN.md §11) */

struct bench_opts {
    uint64_t messages;
    uint64_t services;
    uint64_t per_service;
    uint64_t rounds;
    const char *supervisor; /* path; NULL = fleet-supervisor from $FLEET_BIN_DIR */
    const char *perf_out;   /* perf record output of the first supervisor phase, or NULL */
};

/* Every heartbeat of the run, encoded once. */

/* One run of one side. */
struct phase_result {
    bool supervisor;
    bool proven;            /* C: the supervisor with a key, the proven load */
    uint64_t n_proven;      /* C: proofs.proven at the end */
    bool complete;          /* everything expected arrived before a stall */
    uint64_t delivered;     /* A: received; B: accepted */
    uint64_t received;      /* messages handed to the subscriber callback */
    uint64_t stale, refused;
    int64_t client_dropped; /* nats.c pending-limit drops */
    int64_t server_slow;    /* growth of the server's slow_consumers */
    double rate;            /* delivered heartbeats per second */
    double publish_rate;
    double cpu_ns_per_hb;   /* A: callback thread; B: whole supervisor process */
};

struct bench {
    struct bench_opts opt;
    struct natsd server;
    int monitor_port;
    struct bench_load load;
    struct bench_load proven_load; /* for C */
    fleet_keypair *key;      /* C's supervisor key (its seed in key_path) */
    char key_path[300];
    natsConnection *pub;  /* publisher */
    natsConnection *ctl;  /* $SRV requests */
    char supervisor_path[512];
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_ingest [--messages M] [--services S] [--instances-per-service N]\n"
            "                    [--rounds R] [--supervisor PATH] [--perf FILE]\n"
            "  defaults: 2000000 messages, 20 services x 500 instances, 2 rounds (A B C A B C);\n"
            "  --perf records the first supervisor phase with `perf record -g` into FILE\n");
}

/* Fills *o: the defaults, then argv. Returns bench_flags_parse's answer. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--messages", 1, 50000000, &o->messages),
        BENCH_FLAG_NUM("--services", 1, 1000, &o->services),
        BENCH_FLAG_NUM("--instances-per-service", 1, 10000, &o->per_service),
        BENCH_FLAG_NUM("--rounds", 1, MAX_ROUNDS, &o->rounds),
        BENCH_FLAG_STR("--supervisor", &o->supervisor),
        BENCH_FLAG_STR("--perf", &o->perf_out),
    };

    *o = (struct bench_opts){ .messages = 2000000, .services = 20, .per_service = 500, .rounds = 2 };
    return bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
}

static int64_t now_ms(void)
{
    return bench_now_ns() / 1000000;
}



/* ---- phase A: the bare subscriber ---- */

struct bare {
    uint64_t target;                 /* messages expected */
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t bad;        /* payloads that did not unpack */
    atomic_uint_fast64_t seq_sum;
    atomic_int_fast64_t first_ns, last_ns;   /* arrival times */
    atomic_int_fast64_t cpu_first_ns, cpu_last_ns; /* delivery thread CPU time */
};

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* nats.c delivery thread (one per subscription): unpack, look, free. */
static void bare_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct bare *b = closure;
    Fleet__V1__Heartbeat *hb;
    uint64_t n;
    int64_t t;

    (void)nc;
    (void)sub;
    hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                      (const uint8_t *)natsMsg_GetData(msg));
    if (hb != NULL) {
        atomic_fetch_add_explicit(&b->seq_sum, hb->seq, memory_order_relaxed);
        fleet__v1__heartbeat__free_unpacked(hb, NULL);
    } else {
        atomic_fetch_add_explicit(&b->bad, 1, memory_order_relaxed);
    }
    natsMsg_Destroy(msg);
    t = bench_now_ns();
    n = atomic_fetch_add_explicit(&b->received, 1, memory_order_relaxed) + 1;
    if (n == 1) {
        atomic_store_explicit(&b->first_ns, t, memory_order_relaxed);
        atomic_store_explicit(&b->cpu_first_ns, thread_cpu_ns(), memory_order_relaxed);
    }
    atomic_store_explicit(&b->last_ns, t, memory_order_release);
    if (n == b->target)
        atomic_store_explicit(&b->cpu_last_ns, thread_cpu_ns(), memory_order_relaxed);
}

/* Returns 0 with *r filled (complete or not), or -1 when it could not run. */
static int run_bare(struct bench *bn, struct phase_result *r)
{
    struct bare b = { .target = bn->load.n_msgs };
    natsSubscription *sub = NULL;
    natsConnection *nc = NULL;
    int64_t slow0, slow1, start, last_change;
    uint64_t seen = 0;
    natsStatus s;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (bench_varz_int(bn->monitor_port, "slow_consumers", &slow0) != 0)
        return -1;
    s = natsConnection_ConnectTo(&nc, bn->server.url);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub, nc, "fleet.v1.hb.>", bare_on_msg, &b);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sub, SUB_PENDING_MSGS, SUB_PENDING_BYTES);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_ingest: bare subscriber: %s\n", natsStatus_GetText(s));
        goto out_destroy_connection;
    }
    if (bench_load_publish(bn->pub, &bn->load, &r->publish_rate) != 0)
        goto out_unsubscribe;
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
        bench_sleep_ms(10);
    }
    natsSubscription_GetDropped(sub, &r->client_dropped);
    rc = 0;
out_unsubscribe:
    natsSubscription_Unsubscribe(sub); /* no callback runs after this returns... */
    natsSubscription_Destroy(sub);
out_destroy_connection:
    natsConnection_Destroy(nc);        /* ...nor after the connection is gone */
    if (rc != 0)
        return -1;
    if (bench_varz_int(bn->monitor_port, "slow_consumers", &slow1) != 0)
        return -1;
    r->server_slow = slow1 - slow0;
    r->received = r->delivered = atomic_load(&b.received);
    r->complete = r->received == b.target;
    if (r->received > 1)
        r->rate = (double)r->received * 1e9 /
                  (double)(atomic_load(&b.last_ns) - atomic_load(&b.first_ns));
    if (r->complete)
        r->cpu_ns_per_hb = (double)(atomic_load(&b.cpu_last_ns) - atomic_load(&b.cpu_first_ns)) /
                           (double)r->received;
    if (atomic_load(&b.bad) != 0 || (r->complete && atomic_load(&b.seq_sum) != bn->load.seq_sum)) {
        fprintf(stderr, "bench_ingest: bare subscriber got %" PRIu64 " undecodable or corrupt "
                        "heartbeats\n", (uint64_t)atomic_load(&b.bad));
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
static int run_supervisor(struct bench *bn, int round, bool proven, bool profile, struct phase_result *r)
{
    const struct bench_load *load = proven ? &bn->proven_load : &bn->load;
    char config[300], id[32];
    char *argv[] = { bn->supervisor_path, "--config", config, "--id", id, NULL };
    struct bench_poller poll = { .nc = bn->ctl, .id = id, .target = load->n_msgs };
    struct proc sup = { 0 };
    int64_t slow0, slow1, cpu0 = -1, cpu1 = -1;
    pthread_t poll_thread;
    pid_t perf = -1;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->supervisor = true;
    r->proven = proven;
    snprintf(config, sizeof(config), "%s/supervisor.yaml", bn->server.dir);
    snprintf(id, sizeof(id), "bench-r%d%s", round, proven ? "p" : "");
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
    if (profile)
        perf = perf_start(sup.pid, bn->opt.perf_out);
    cpu0 = bench_process_cpu_ns(sup.pid);
    if (pthread_create(&poll_thread, NULL, bench_poll_stats, &poll) != 0) {
        fprintf(stderr, "bench_ingest: cannot start the stats poller\n");
        goto out_stop_perf;
    }
    rc = bench_load_publish(bn->pub, load, &r->publish_rate);
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
    r->client_dropped = (int64_t)poll.last.sc_dropped;
    r->n_proven = poll.last.proven;
    r->complete = r->delivered == load->n_msgs;
    if (proven && r->n_proven != r->delivered) {
        fprintf(stderr, "bench_ingest: %" PRIu64 " heartbeats accepted but %" PRIu64 " proven: "
                        "the proven load was not checked\n", r->delivered, r->n_proven);
        return -1;
    }
    r->rate = bench_poller_rate(&poll);
    if (cpu0 >= 0 && cpu1 >= cpu0 && r->received > 0)
        r->cpu_ns_per_hb = (double)(cpu1 - cpu0) / (double)r->received;
    return 0;
}

/* ---- report ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_row(int round, const struct phase_result *r, uint64_t published)
{
    uint64_t drops = published - r->delivered;

    printf("%5d  %-16s %12.0f %10" PRIu64 " %7" PRIu64 " %12.0f %8.0f  stale=%" PRIu64
           " refused=%" PRIu64 " client_dropped=%" PRId64 " server_slow=%" PRId64 "%s\n",
           round, !r->supervisor ? "bare nats.c" : r->proven ? "supervisor+proof" : "fleet-supervisor",
           r->rate, r->delivered, drops,
           r->publish_rate, r->cpu_ns_per_hb, r->stale, r->refused, r->client_dropped,
           r->server_slow, r->complete ? "" : "  INCOMPLETE");
}

/* Prints the table and the verdicts. Returns the drops seen on any side. */
static uint64_t report(const struct bench *bn, const struct phase_result *a,
                       const struct phase_result *b, const struct phase_result *c, size_t rounds)
{
    double ra[MAX_ROUNDS], rb[MAX_ROUNDS], rc[MAX_ROUNDS], ma, mb, mc, best_a = 0, best_b = 0, ratio;
    uint64_t drops_a = 0, drops_b = 0, drops_c = 0;
    int64_t slow = 0;

    printf("\ncpu ns/hb: bare = its delivery-callback thread only (nats.c reader and GC threads\n"
           "not counted); supervisor = the whole process, every thread\n");
    printf("round  subscriber       rate (hb/s)  delivered   drops  publish/s  cpu ns/hb\n");
    for (size_t k = 0; k < rounds; k++) {
        print_row((int)k + 1, &a[k], bn->load.n_msgs);
        print_row((int)k + 1, &b[k], bn->load.n_msgs);
        print_row((int)k + 1, &c[k], bn->proven_load.n_msgs);
    }
    for (size_t k = 0; k < rounds; k++) {
        ra[k] = a[k].rate;
        rb[k] = b[k].rate;
        rc[k] = c[k].rate;
        best_a = a[k].rate > best_a ? a[k].rate : best_a;
        best_b = b[k].rate > best_b ? b[k].rate : best_b;
        drops_a += bn->load.n_msgs - a[k].delivered + (uint64_t)a[k].client_dropped;
        drops_b += bn->load.n_msgs - b[k].delivered;
        drops_c += bn->proven_load.n_msgs - c[k].delivered;
        slow += a[k].server_slow + b[k].server_slow + c[k].server_slow;
    }
    ma = median(ra, rounds);
    mb = median(rb, rounds);
    mc = median(rc, rounds);
    ratio = ma > 0 ? mb / ma : 0;
    printf("\nmedian of %zu rounds: bare %.0f hb/s, supervisor %.0f hb/s, ratio %.3f "
           "(best-of: %.3f)\n",
           rounds, ma, mb, ratio, best_a > 0 ? best_b / best_a : 0);
    printf("target ratio >= 0.80 (unauthenticated): %s\n", ratio >= 0.8 ? "met" : "NOT met");
    printf("authenticated (every heartbeat proven): median %.0f hb/s, %.3f x bare, %.3f x "
           "unauthenticated\n", mc, ma > 0 ? mc / ma : 0, mb > 0 ? mc / mb : 0);
    printf("target >= %.0f hb/s (authenticated): %s\n", PROVEN_TARGET,
           mc >= PROVEN_TARGET ? "met" : "NOT met");
    printf("drops: bare %" PRIu64 ", supervisor %" PRIu64 ", proven %" PRIu64
           "; server slow_consumers +%" PRId64 " (target 0: %s)\n",
           drops_a, drops_b, drops_c, slow, drops_b == 0 && drops_c == 0 && slow == 0 ? "met" : "NOT met");
    return drops_a + drops_b + drops_c;
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
    if (fleet_keypair_generate(&bn->key) != FLEET_OK) {
        fprintf(stderr, "bench_ingest: supervisor key: %s\n", fleet_last_error());
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
    s = natsConnection_ConnectTo(&bn->pub, bn->server.url);
    if (s == NATS_OK)
        s = natsConnection_ConnectTo(&bn->ctl, bn->server.url);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_ingest: cannot connect to %s: %s\n", bn->server.url,
                natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

/* Undoes bench_open, whatever part of it succeeded. */
static void bench_close(struct bench *bn)
{
    natsConnection_Destroy(bn->ctl);
    natsConnection_Destroy(bn->pub);
    natsd_stop(&bn->server, false);
    fleet_keypair_destroy(bn->key);
}

int main(int argc, char **argv)
{
    struct phase_result a[MAX_ROUNDS], b[MAX_ROUNDS], c[MAX_ROUNDS];
    struct bench bn = { 0 };
    int args = parse_args(argc, argv, &bn.opt), rc = 1;

    if (args != BENCH_RUN)
        return args;
    signal(SIGPIPE, SIG_IGN);
    if (bench_load_build(bn.opt.messages, bn.opt.services, bn.opt.per_service, NULL, &bn.load) != 0)
        return 1;
    if (nats_Open(-1) != NATS_OK) {
        fprintf(stderr, "bench_ingest: nats_Open failed\n");
        goto out_free_load;
    }
    if (bench_open(&bn) != 0 || bench_load_build(bn.opt.messages, bn.opt.services, bn.opt.per_service, bn.key,
                                                       &bn.proven_load) != 0)
        goto out_close_bench;
    printf("bench_ingest: %zu heartbeats (%zu..%zu B) over %zu instances (%" PRIu64 " services x %"
           PRIu64 "), %" PRIu64 " rounds A B C, server %s (max_pending %s, monitor :%d)\n",
           bn.load.n_msgs, bn.load.min_len, bn.proven_load.max_len, bn.load.n_instances, bn.opt.services,
           bn.opt.per_service, bn.opt.rounds, bn.server.url, SERVER_MAX_PENDING, bn.monitor_port);
    fflush(stdout);
    for (size_t k = 0; k < bn.opt.rounds; k++) {
        if (run_bare(&bn, &a[k]) != 0 ||
            run_supervisor(&bn, (int)k + 1, false, k == 0 && bn.opt.perf_out != NULL, &b[k]) != 0 ||
            run_supervisor(&bn, (int)k + 1, true, false, &c[k]) != 0)
            goto out_close_bench;
        printf("round %zu: bare %.0f hb/s%s, supervisor %.0f hb/s%s, proven %.0f hb/s%s\n", k + 1,
               a[k].rate, a[k].complete ? "" : " (incomplete)", b[k].rate,
               b[k].complete ? "" : " (incomplete)", c[k].rate, c[k].complete ? "" : " (incomplete)");
        fflush(stdout);
    }
    report(&bn, a, b, c, (size_t)bn.opt.rounds);
    rc = 0;
out_close_bench:
    bench_close(&bn);
    nats_Close();
out_free_load:
    bench_load_fini(&bn.proven_load);
    bench_load_fini(&bn.load);
    return rc;
}
