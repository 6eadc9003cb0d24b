/* bench_failover: failover time (issues 4 and 8), leader SIGKILLed -> the
 * new leader's first FleetStatus, on real processes over a real nats-server
 * with JetStream on loopback, or (--cluster) a cluster of three where the
 * leader's node is SIGKILLed with it.
 *
 * Two fleet-supervisor replicas (--id failover-a / failover-b) share one
 * config: the status interval (default 1 s), the lease TTL
 * (state.lease_ttl_ms, default LEASE_TTL_DEFAULT_MS: the supervisor's
 * default) and two services, observe only (no signing key, restart false);
 * each gets its server with --server. With --cluster, replica k connects to
 * node k+1 only (it learns the others from the cluster), the recorder to
 * node 3, and a run kills the leader and its node together, as a lost
 * machine would; the node is started again before the next run. Each run:
 *
 *   1. the leader is the replica whose FleetStatus (term > 0) is on
 *      fleet.v1.status; its log says "leading", the other's "standby", and
 *      the standby has already tried to take the lease (its Create is seen
 *      on the lease key);
 *   2. a random delay in [0, TTL/4) (the renewal period), so the kill lands
 *      anywhere in the leader's renewal cycle;
 *   3. t0, then kill(leader, SIGKILL);
 *   4. t1 = receive time of the first FleetStatus on fleet.v1.status with the
 *      other replica's supervisor_id and a term > 0: failover = t1 - t0;
 *   5. after another random delay in [0, TTL/4), the killed replica is
 *      started again with the same id and becomes the standby for the next
 *      run. (A standby tries to take the lease every 250 ms from its start,
 *      the leader renews every TTL/4 from its takeover: restarted at once,
 *      its attempts would stay locked just after the leader's renewals and
 *      every takeover would come right after the key expires, the best case.
 *      The delay puts its attempts anywhere in the cycle, as in a real
 *      deployment. The second replica is started the same way.)
 *
 * A SIGKILLed leader cannot resign, so the standby waits for the lease key to
 * expire on the server (TTL after the leader's last renewal) and takes it at
 * its next attempt (it tries every min(TTL/4, 250 ms)). Expected: failover
 * between about TTL - TTL/4 and TTL + 250 ms on one server; on the cluster,
 * plus a JetStream election (4-9 s) when the killed node led the lease's
 * stream. The bench also subscribes to the lease key's
 * subject ($KV.<bucket>.leader) and takes the receive time of every write
 * (payload: the writer's id; the standby's refused Creates are seen too), to
 * split the figure: the leader's last renewal -> kill (the phase), the key's
 * expiry (last renewal + TTL) -> the takeover write, and the takeover write
 * -> the first status. Terms (FleetStatus.term) must rise every run.
 *
 * Receive times: CLOCK_MONOTONIC in nats.c callbacks of this process.
 * Targets are reported, never asserted. Exit status: 0 when every run
 * measured (even past the target), 1 when one could not (setup, a replica
 * that did not come up, no takeover in time), 2 on bad arguments. */
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

#include <nats/nats.h>

#include "bench_util.h"
#include "fleet/v1/fleet.pb-c.h"
#include "lease.h"
#include "natsd.h"
#include "policy.h"
#include "proc.h"

#define PATH_MAX_LEN 320
#define WAIT_MS 15000            /* longest wait for a replica to come up */
#define STOP_WAIT_MS 5000
#define MAX_RUNS 1000
#define LEASE_SUBJECT "$KV.fleet_leader.leader"  /* default lease bucket, key "leader" */
#define FAILOVER_TARGET_MS 3000.0                /* issue 8: p99 with default settings */

static const char *const replica_id[2] = { "failover-a", "failover-b" };

struct bench_opts {
    uint64_t runs, lease_ttl_ms, status_interval_ms, seed, quiet_s;
    bool cluster;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_failover [--runs N] [--lease-ttl-ms T] [--status-interval-ms S] [--seed X] [--cluster]\n"
            "  N failovers (default 20) between two fleet-supervisor replicas with lease TTL T ms\n"
            "  (default %d, the supervisor's default; at least %d) and status interval S ms\n"
            "  (default 1000); X seeds the random delay before each kill (default: time and pid);\n"
            "  --cluster: on a JetStream cluster of three, killing the leader's node with it\n"
            "  --quiet-s Q: instead of failovers, Q seconds with no fault at all, counting\n"
            "  leader changes (there should be none)\n",
            LEASE_TTL_DEFAULT_MS, LEASE_TTL_MIN_MS);
}

/* Fills *o: the defaults, then argv. Returns bench_flags_parse's answer. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--runs", 1, MAX_RUNS, &o->runs),
        BENCH_FLAG_NUM("--lease-ttl-ms", LEASE_TTL_MIN_MS, 600000, &o->lease_ttl_ms),
        BENCH_FLAG_NUM("--status-interval-ms", 100, 60000, &o->status_interval_ms),
        BENCH_FLAG_NUM("--seed", 0, UINT64_MAX, &o->seed),
        BENCH_FLAG_NUM("--quiet-s", 1, 86400, &o->quiet_s),
        BENCH_FLAG_ON("--cluster", &o->cluster),
    };

    *o = (struct bench_opts){ .runs = 20, .lease_ttl_ms = LEASE_TTL_DEFAULT_MS, .status_interval_ms = 1000,
                              .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) };
    return bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
}

/* ---- the recorder: FleetStatus and lease writes, with receive times ---- */

struct rec_status {
    int64_t at_ns;
    int who;                  /* 0 / 1: replica_id index; -1: another id */
    uint64_t term;
};

struct rec_write {
    int64_t at_ns;
    int who;
};

struct recorder {
    natsSubscription *status_sub, *lease_sub;
    pthread_mutex_t lock;     /* guards everything below */
    struct rec_status *st;
    size_t n_st, cap_st;
    struct rec_write *wr;
    size_t n_wr, cap_wr;
    uint64_t lost;            /* did not decode or did not fit */
};

static int who_of(const char *id, size_t len)
{
    for (int k = 0; k < 2; k++)
        if (strlen(replica_id[k]) == len && memcmp(replica_id[k], id, len) == 0)
            return k;
    return -1;
}

/* Caller holds the lock. Makes room for one more element of `size` bytes. */
static bool grow(void **v, size_t n, size_t *cap, size_t size)
{
    void *bigger;
    size_t want;

    if (n < *cap)
        return true;
    want = *cap ? 2 * *cap : 256;
    bigger = realloc(*v, want * size);
    if (bigger == NULL)
        return false;
    *v = bigger;
    *cap = want;
    return true;
}

static void on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    int64_t at = bench_now_ns();
    struct recorder *r = closure;
    Fleet__V1__FleetStatus *fs = fleet__v1__fleet_status__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));

    (void)nc;
    (void)sub;
    pthread_mutex_lock(&r->lock);
    if (fs == NULL || !grow((void **)&r->st, r->n_st, &r->cap_st, sizeof(*r->st)))
        r->lost++;
    else
        r->st[r->n_st++] = (struct rec_status){
            .at_ns = at, .term = fs->term,
            .who = fs->supervisor_id != NULL ? who_of(fs->supervisor_id, strlen(fs->supervisor_id)) : -1 };
    pthread_mutex_unlock(&r->lock);
    if (fs != NULL)
        fleet__v1__fleet_status__free_unpacked(fs, NULL);
    natsMsg_Destroy(msg);
}

static void on_lease_write(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    int64_t at = bench_now_ns();
    struct recorder *r = closure;

    (void)nc;
    (void)sub;
    pthread_mutex_lock(&r->lock);
    if (!grow((void **)&r->wr, r->n_wr, &r->cap_wr, sizeof(*r->wr)))
        r->lost++;
    else
        r->wr[r->n_wr++] = (struct rec_write){
            .at_ns = at, .who = who_of(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg)) };
    pthread_mutex_unlock(&r->lock);
    natsMsg_Destroy(msg);
}

static int rec_start(struct recorder *r, natsConnection *nc)
{
    natsStatus s;

    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    s = natsConnection_Subscribe(&r->status_sub, nc, "fleet.v1.status", on_status, r);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&r->lease_sub, nc, LEASE_SUBJECT, on_lease_write, r);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_failover: cannot subscribe: %s\n", natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

/* Drains both subscriptions: once this returns, no callback runs. */
static void rec_stop(struct recorder *r)
{
    if (natsSubscription_Drain(r->status_sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(r->status_sub, STOP_WAIT_MS);
    if (natsSubscription_Drain(r->lease_sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(r->lease_sub, STOP_WAIT_MS);
}

/* Call after rec_stop and after the connection is closed. */
static void rec_free(struct recorder *r)
{
    natsSubscription_Destroy(r->status_sub);
    natsSubscription_Destroy(r->lease_sub);
    pthread_mutex_destroy(&r->lock);
    free(r->st);
    free(r->wr);
}

static size_t rec_statuses(struct recorder *r)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->n_st;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* The first status at index >= from from `who` with a term > 0 and received
 * at or after `since`: its index and *out, or SIZE_MAX. */
static size_t rec_find_status(struct recorder *r, size_t from, int who, int64_t since, struct rec_status *out)
{
    size_t found = SIZE_MAX;

    pthread_mutex_lock(&r->lock);
    for (size_t k = from; k < r->n_st && found == SIZE_MAX; k++)
        if (r->st[k].who == who && r->st[k].term > 0 && r->st[k].at_ns >= since) {
            *out = r->st[k];
            found = k;
        }
    pthread_mutex_unlock(&r->lock);
    return found;
}

static size_t rec_wait_status(struct recorder *r, size_t from, int who, int64_t since, int64_t timeout_ms,
                              struct rec_status *out)
{
    int64_t deadline = bench_now_ns() + timeout_ms * 1000000;
    size_t k;

    while ((k = rec_find_status(r, from, who, since, out)) == SIZE_MAX && bench_now_ns() < deadline)
        bench_sleep_ms(1);
    return k;
}

/* The latest status with a term > 0: its sender (and *term), or -2 when
 * none yet. */
static int rec_latest_leader(struct recorder *r, uint64_t *term)
{
    int who = -2;

    pthread_mutex_lock(&r->lock);
    for (size_t k = r->n_st; k > 0 && who == -2; k--)
        if (r->st[k - 1].term > 0) {
            who = r->st[k - 1].who;
            if (term != NULL)
                *term = r->st[k - 1].term;
        }
    pthread_mutex_unlock(&r->lock);
    return who;
}

/* Whether `who` wrote the lease key at or after `since`. */
static bool rec_wrote_since(struct recorder *r, int who, int64_t since)
{
    bool found = false;

    pthread_mutex_lock(&r->lock);
    for (size_t k = r->n_wr; k > 0 && !found && r->wr[k - 1].at_ns >= since; k--)
        found = r->wr[k - 1].who == who;
    pthread_mutex_unlock(&r->lock);
    return found;
}

/* For the interval (kill, took_over): the killed leader's last lease write
 * before the kill (0: none seen), the other's last write before its first
 * status (the takeover Create; 0: none) and how many writes it made in
 * between (its attempts, the successful one included). */
static void rec_lease_story(struct recorder *r, int killed, int64_t kill_ns, int64_t status_ns,
                            int64_t *last_renewal, int64_t *takeover, uint64_t *attempts)
{
    *last_renewal = *takeover = 0;
    *attempts = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < r->n_wr; k++) {
        const struct rec_write *w = &r->wr[k];

        if (w->who == killed && w->at_ns < kill_ns)
            *last_renewal = w->at_ns;
        if (w->who == 1 - killed && w->at_ns > kill_ns && w->at_ns <= status_ns) {
            *takeover = w->at_ns;
            (*attempts)++;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

/* Statuses from `who` with a term > 0 received at or after `since`. */
static uint64_t rec_count_after(struct recorder *r, int who, int64_t since)
{
    uint64_t n = 0;

    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < r->n_st; k++)
        n += r->st[k].who == who && r->st[k].term > 0 && r->st[k].at_ns >= since;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Statuses with a term received at or after `since` that are not from
 * `who` in `term`: a change of leader (or of term) in a quiet run. */
static uint64_t rec_changes_since(struct recorder *r, int who, uint64_t term, int64_t since)
{
    uint64_t n = 0;

    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < r->n_st; k++)
        n += r->st[k].at_ns >= since && r->st[k].term > 0 && (r->st[k].who != who || r->st[k].term != term);
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* ---- figures ---- */

static const struct bench_table figures = { .num_width = 10, .target_width = 14 };

/* ---- replicas ---- */

struct bench {
    struct bench_opts opt;
    struct natsd server;          /* one server, or ... */
    struct natsd_cluster cluster; /* ... three (--cluster) */
    natsConnection *nc;
    struct recorder rec;
    char config_path[PATH_MAX_LEN];
    struct proc sup[2];
    int64_t started_ns[2];    /* when each replica was (last) started */
};

static int write_config(struct bench *bn)
{
    FILE *f;
    int rc = 0;

    snprintf(bn->config_path, sizeof(bn->config_path), "%s/failover.yaml",
             bn->opt.cluster ? bn->cluster.node[0].dir : bn->server.dir);
    f = fopen(bn->config_path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_failover: cannot write %s: %s\n", bn->config_path, strerror(errno));
        return -1;
    }
    /* No signing key: observe only (a failover needs none). */
    if (fprintf(f,
                "supervisor:\n  status_interval_ms: %" PRIu64 "\n"
                "state:\n  lease_ttl_ms: %" PRIu64 "\n"
                "services:\n"
                "  - name: web\n    desired: 2\n    restart: false\n"
                "  - name: api\n    desired: 1\n    restart: false\n",
                bn->opt.status_interval_ms, bn->opt.lease_ttl_ms) < 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "bench_failover: cannot write %s\n", bn->config_path);
    return rc;
}

static void dump_output(const struct proc *p, int k)
{
    char *out = proc_output(p);

    fprintf(stderr, "--- fleet-supervisor %s output ---\n%s\n", replica_id[k], out ? out : "");
    free(out);
}

/* Replica k's server: the server, or node k+1 of the cluster. */
static const char *replica_url(const struct bench *bn, int k)
{
    return bn->opt.cluster ? bn->cluster.node[k].url : bn->server.url;
}

static int start_replica(struct bench *bn, int k)
{
    char *argv[] = { "fleet-supervisor", "--config", bn->config_path, "--id", (char *)replica_id[k],
                     "--server", (char *)replica_url(bn, k), NULL };

    bn->started_ns[k] = bench_now_ns();
    if (proc_start(&bn->sup[k], argv, NULL) != 0)
        return -1;
    if (!proc_wait_output(&bn->sup[k], "fleet-supervisor started", WAIT_MS)) {
        fprintf(stderr, "bench_failover: %s did not start within %d ms\n", replica_id[k], WAIT_MS);
        dump_output(&bn->sup[k], k);
        return -1;
    }
    return 0;
}

/* Waits until `leader` publishes statuses with a term and says "leading",
 * and the other says "standby" and has tried to take the lease since it
 * started. Returns 0, or -1 with a message. */
static int wait_roles(struct bench *bn, int leader)
{
    const int standby = 1 - leader;
    const int64_t timeout_ms = (int64_t)(3 * bn->opt.lease_ttl_ms + 2 * bn->opt.status_interval_ms) + WAIT_MS;
    const int64_t deadline = bench_now_ns() + timeout_ms * 1000000;
    struct rec_status st;

    for (;;) {
        bool ok = rec_latest_leader(&bn->rec, NULL) == leader &&
                  rec_find_status(&bn->rec, 0, leader, bn->started_ns[standby], &st) != SIZE_MAX &&
                  rec_wrote_since(&bn->rec, standby, bn->started_ns[standby]) &&
                  proc_wait_output(&bn->sup[leader], "\"msg\":\"leading\"", 1) &&
                  proc_wait_output(&bn->sup[standby], "standby", 1);

        if (ok)
            return 0;
        if (bench_now_ns() >= deadline)
            break;
        bench_sleep_ms(10);
    }
    fprintf(stderr, "bench_failover: within %" PRId64 " ms, %s did not lead (statuses with a term, "
                    "\"leading\") with %s as the standby (\"standby\", a lease attempt)\n",
            timeout_ms, replica_id[leader], replica_id[standby]);
    dump_output(&bn->sup[0], 0);
    dump_output(&bn->sup[1], 1);
    return -1;
}

static void stop_proc(struct proc *p)
{
    if (proc_signal(p, SIGTERM) == 0)
        proc_wait(p, STOP_WAIT_MS);
    proc_kill(p);
}

/* --quiet-s: nothing happens for that long; any status from another leader
 * or in another term is a false leader change. Returns 0 (measured). */
static int quiet_run(struct bench *bn, int leader)
{
    uint64_t term = 0, changes;
    int64_t since = bench_now_ns();
    size_t before = rec_statuses(&bn->rec);

    (void)rec_latest_leader(&bn->rec, &term);
    for (uint64_t s = 0; s < bn->opt.quiet_s; s++)
        bench_sleep_ms(1000);
    changes = rec_changes_since(&bn->rec, leader, term, since);
    printf("quiet run: %" PRIu64 " s with no fault; %s led in term %" PRIu64 " throughout: %s; "
           "%zu statuses received, %" PRIu64 " from another leader or term (false leader changes: %s)\n",
           bn->opt.quiet_s, replica_id[leader], term, changes == 0 ? "yes" : "NO", rec_statuses(&bn->rec) - before,
           changes, changes == 0 ? "0, target met" : "NOT met");
    return 0;
}

struct results {
    struct bench_series failover, phase, to_takeover, expiry_to_takeover, takeover_to_status, delay, restart;
    uint64_t attempts, terms_rose, stale_after_kill, lease_unseen;
    uint64_t *term;           /* the new leader's term, per run */
    size_t done;
};

/* One failover. Returns 0 or -1 with a message. */
static int run_one(struct bench *bn, struct results *res, size_t run, int *leader, uint64_t *rng)
{
    const int killed = *leader, heir = 1 - *leader;
    const int64_t ttl_ns = (int64_t)bn->opt.lease_ttl_ms * 1000000;
    const int64_t timeout_ms = (int64_t)(3 * bn->opt.lease_ttl_ms + 2 * bn->opt.status_interval_ms) + WAIT_MS;
    const int64_t delay_ms = (int64_t)(policy_rng_next(rng) % (bn->opt.lease_ttl_ms / 4));
    const int64_t restart_ms = (int64_t)(policy_rng_next(rng) % (bn->opt.lease_ttl_ms / 4));
    int64_t t0, last_renewal, takeover;
    uint64_t attempts, old_term = 0;
    struct rec_status first = { 0 };
    size_t from;

    bench_sleep_ms(delay_ms);
    if (rec_latest_leader(&bn->rec, &old_term) != killed) {
        fprintf(stderr, "bench_failover: run %zu: %s no longer leads before the kill\n", run + 1,
                replica_id[killed]);
        return -1;
    }
    from = rec_statuses(&bn->rec);
    t0 = bench_now_ns();
    if (proc_signal(&bn->sup[killed], SIGKILL) != 0) {
        fprintf(stderr, "bench_failover: kill(%s): %s\n", replica_id[killed], strerror(errno));
        return -1;
    }
    if (bn->opt.cluster)
        natsd_kill(&bn->cluster.node[killed]);   /* the machine it ran on */
    if (rec_wait_status(&bn->rec, from, heir, t0, timeout_ms, &first) == SIZE_MAX) {
        fprintf(stderr, "bench_failover: run %zu: no FleetStatus from %s within %" PRId64 " ms of the kill\n",
                run + 1, replica_id[heir], timeout_ms);
        dump_output(&bn->sup[heir], heir);
        return -1;
    }
    proc_wait(&bn->sup[killed], STOP_WAIT_MS);
    rec_lease_story(&bn->rec, killed, t0, first.at_ns, &last_renewal, &takeover, &attempts);
    bench_series_add(&res->failover, first.at_ns - t0);
    bench_series_add(&res->delay, delay_ms * 1000000);
    bench_series_add(&res->restart, restart_ms * 1000000);
    if (last_renewal > 0 && takeover > 0) {
        bench_series_add(&res->phase, t0 - last_renewal);
        bench_series_add(&res->to_takeover, takeover - t0);
        bench_series_add(&res->expiry_to_takeover, takeover - (last_renewal + ttl_ns));
        bench_series_add(&res->takeover_to_status, first.at_ns - takeover);
    } else {
        res->lease_unseen++;
    }
    res->attempts += attempts;
    res->stale_after_kill += rec_count_after(&bn->rec, killed, t0);
    res->term[run] = first.term;
    if (first.term > old_term)
        res->terms_rose++;
    printf("run %2zu: killed %s (term %" PRIu64 ") %4" PRId64 " ms after its last lease write; %s leads, "
           "term %" PRIu64 ", first status %8.2f ms after the kill (takeover write at %8.2f ms, "
           "attempt %" PRIu64 ")\n",
           run + 1, replica_id[killed], old_term, last_renewal > 0 ? (t0 - last_renewal) / 1000000 : -1,
           replica_id[heir], first.term, (double)(first.at_ns - t0) / 1e6,
           takeover > 0 ? (double)(takeover - t0) / 1e6 : -1.0, attempts);
    fflush(stdout);
    res->done++;

    /* The killed replica comes back as the standby, after a random delay:
     * a standby tries every TTL/3 from its start and the leader renews every
     * TTL/3 from its takeover, so restarting it at once would lock its
     * attempts to just after the leader's renewals (the next takeover would
     * always come right after the key expires). */
    proc_kill(&bn->sup[killed]);
    if (bn->opt.cluster && natsd_restart(&bn->cluster.node[killed]) != 0) {
        fprintf(stderr, "bench_failover: run %zu: node %d did not start again\n", run + 1, killed + 1);
        return -1;
    }
    bench_sleep_ms(restart_ms);
    if (start_replica(bn, killed) != 0 || wait_roles(bn, heir) != 0)
        return -1;
    *leader = heir;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench bn = { 0 };
    struct results res = { 0 };
    int args = parse_args(argc, argv, &bn.opt), rc = 1, leader = -2;
    bool recording = false;
    double target_ms, p99;
    uint64_t rng;
    natsStatus s;

    if (args != BENCH_RUN)
        return args;
    signal(SIGPIPE, SIG_IGN);
    rng = policy_rng_seed(bn.opt.seed); /* the delay before each kill, reproducible with --seed */
    res.term = calloc((size_t)bn.opt.runs, sizeof(*res.term));
    if (res.term == NULL || bench_series_init(&res.failover, (size_t)bn.opt.runs, "bench_failover") != 0 ||
        bench_series_init(&res.phase, (size_t)bn.opt.runs, "bench_failover") != 0 ||
        bench_series_init(&res.to_takeover, (size_t)bn.opt.runs, "bench_failover") != 0 ||
        bench_series_init(&res.expiry_to_takeover, (size_t)bn.opt.runs, "bench_failover") != 0 ||
        bench_series_init(&res.takeover_to_status, (size_t)bn.opt.runs, "bench_failover") != 0 ||
        bench_series_init(&res.delay, (size_t)bn.opt.runs, "bench_failover") != 0 ||
        bench_series_init(&res.restart, (size_t)bn.opt.runs, "bench_failover") != 0)
        goto out_free;
    if (nats_Open(-1) != NATS_OK) {
        fprintf(stderr, "bench_failover: nats_Open failed\n");
        goto out_free;
    }
    if (bn.opt.cluster ? natsd_cluster_start(&bn.cluster, 3) != 0 : natsd_start(&bn.server, true) != 0)
        goto out_close;
    /* The recorder: on the cluster, on the node no replica uses (never killed). */
    s = natsConnection_ConnectTo(&bn.nc, bn.opt.cluster ? bn.cluster.node[2].url : bn.server.url);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_failover: cannot connect: %s\n", natsStatus_GetText(s));
        goto out_stop_server;
    }
    if (rec_start(&bn.rec, bn.nc) != 0)
        goto out_conn;
    recording = true;
    if (write_config(&bn) != 0)
        goto out_conn;
    printf("bench_failover: %s (JetStream); 2 replicas (%s, %s); %" PRIu64 " runs; lease TTL %" PRIu64
           " ms (renewal every %" PRIu64 " ms); status interval %" PRIu64 " ms; seed %" PRIu64 "\n",
           bn.opt.cluster ? "a cluster of 3, the leader's node killed with it" : bn.server.url, replica_id[0],
           replica_id[1], bn.opt.runs, bn.opt.lease_ttl_ms, bn.opt.lease_ttl_ms / 4, bn.opt.status_interval_ms,
           bn.opt.seed);
    fflush(stdout);

    /* Both up; whoever publishes statuses with a term leads. */
    if (start_replica(&bn, 0) != 0)
        goto out_stop;
    bench_sleep_ms((int64_t)(policy_rng_next(&rng) % (bn.opt.lease_ttl_ms / 4))); /* see run_one */
    if (start_replica(&bn, 1) != 0)
        goto out_stop;
    for (int64_t deadline = bench_now_ns() + (int64_t)WAIT_MS * 1000000;
         (leader = rec_latest_leader(&bn.rec, NULL)) == -2 && bench_now_ns() < deadline;)
        bench_sleep_ms(10);
    if (leader == -2) {
        fprintf(stderr, "bench_failover: no FleetStatus with a term within %d ms\n", WAIT_MS);
        dump_output(&bn.sup[0], 0);
        dump_output(&bn.sup[1], 1);
        goto out_stop;
    }
    if (leader < 0 || wait_roles(&bn, leader) != 0)
        goto out_stop;
    if (bn.opt.quiet_s > 0) {
        rc = quiet_run(&bn, leader);
        goto out_stop;
    }
    for (size_t k = 0; k < bn.opt.runs; k++)
        if (run_one(&bn, &res, k, &leader, &rng) != 0)
            goto out_report;
    rc = 0;

out_report:
    target_ms = FAILOVER_TARGET_MS;
    printf("\n");
    bench_table_header(&figures);
    {
        char target[32];

        snprintf(target, sizeof(target), "p99 <= %.0f", target_ms);
        bench_series_row(&figures, "kill(leader) -> new leader's 1st FleetStatus", &res.failover, target, target_ms);
    }
    bench_series_row(&figures, "   leader's last lease write -> kill", &res.phase, NULL, -1);
    bench_series_row(&figures, "   kill -> takeover lease write (Create)", &res.to_takeover, NULL, -1);
    bench_series_row(&figures, "   lease expiry (last write + TTL) -> takeover", &res.expiry_to_takeover, NULL, -1);
    bench_series_row(&figures, "   takeover lease write -> 1st FleetStatus", &res.takeover_to_status, NULL, -1);
    bench_series_row(&figures, "   (random delay: standby ready -> kill)", &res.delay, NULL, -1);
    bench_series_row(&figures, "   (random delay: takeover -> restart)", &res.restart, NULL, -1);
    printf("\n");
    if (res.failover.n > 0) {
        uint64_t lost;

        pthread_mutex_lock(&bn.rec.lock);
        lost = bn.rec.lost;
        pthread_mutex_unlock(&bn.rec.lock);
        p99 = bench_series_pct_ms(&res.failover, 0.99); /* sorted by series_row */
        printf("failover: %zu runs, p50 %.2f ms, p99 %.2f ms, max %.2f ms; lease TTL %" PRIu64
               " ms; p99 / 3 s = %.3f (target <= 1: %s)\n",
               res.failover.n, bench_series_pct_ms(&res.failover, 0.5), p99, (double)res.failover.v[res.failover.n - 1] / 1e6,
               bn.opt.lease_ttl_ms, p99 / target_ms, p99 <= target_ms ? "met" : "NOT met");
        printf("failover: p50 / TTL = %.3f; expected range TTL - TTL/4 .. TTL + 250 ms = %" PRIu64 " .. %" PRIu64
               " ms (plus the expiry check and the status publish%s)\n",
               bench_series_pct_ms(&res.failover, 0.5) / (double)bn.opt.lease_ttl_ms,
               bn.opt.lease_ttl_ms - bn.opt.lease_ttl_ms / 4, bn.opt.lease_ttl_ms + 250,
               bn.opt.cluster ? "; on the cluster, a JetStream election when the lease's stream led on the killed node"
                              : "");
        printf("terms:");
        for (size_t k = 0; k < res.done; k++)
            printf(" %" PRIu64, res.term[k]);
        printf("; rose in %" PRIu64 " of %zu runs\n", res.terms_rose, res.done);
        printf("lease: the standby wrote the lease key %.2f times per outage on average (the last one took it); "
               "%" PRIu64 " runs without the writes seen; statuses from a killed leader after its kill: %" PRIu64
               "; messages not recorded: %" PRIu64 "\n",
               (double)res.attempts / (double)res.done, res.lease_unseen, res.stale_after_kill, lost);
    }

out_stop:
    stop_proc(&bn.sup[0]);
    stop_proc(&bn.sup[1]);
out_conn:
    if (recording)
        rec_stop(&bn.rec);
    natsConnection_Destroy(bn.nc);
    if (recording)
        rec_free(&bn.rec);
out_stop_server:
    natsd_stop(&bn.server, false);
    natsd_cluster_stop(&bn.cluster);
out_close:
    nats_Close();
out_free:
    bench_series_free(&res.failover);
    bench_series_free(&res.phase);
    bench_series_free(&res.to_takeover);
    bench_series_free(&res.expiry_to_takeover);
    bench_series_free(&res.takeover_to_status);
    bench_series_free(&res.delay);
    bench_series_free(&res.restart);
    free(res.term);
    return rc;
}
