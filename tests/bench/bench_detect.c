/* bench_detect: how fast the detector declares a silent instance DEAD, and
 * how often it is wrong, on replayed heartbeat traces (issue 13 §1).
 *
 * A trace is generated from --seed: --instances senders in three cohorts of
 * equal size, all promising --interval-ms:
 *   steady   each gap is the interval +-5 % (uniform),
 *   jittery  each gap is the interval +-30 % (uniform); with
 *            --jitter-on-schedule each arrival is its slot +-30 % instead
 *            (gaps of 0.4-1.6 intervals),
 *   pausy    steady, but every 15-25 s one gap stalls 1.5-2.5 intervals
 *            longer (a gap of 2.5-3.5 intervals: a GC pause, a busy loop).
 * --deaths senders (spread evenly over the cohorts) die once, at a uniform
 * time in [--settle-s, --duration-s - 10 s]: their heartbeats stop. Nobody
 * else ever stops.
 *
 * The trace is replayed through the real pure core (observer_heartbeat,
 * observer_tick at every observer_next_deadline) on a virtual clock, so a
 * 10-minute trace takes well under a second and every figure is exact and
 * repeatable. Three detectors judge the same trace side by side:
 *   ours         the observer with the default detector (detector.h),
 *   fixed        a fleet-wide timeout tuned on this very trace to the
 *                shortest one with no false DEAD (longest live gap + 1 ms):
 *                an oracle no real deployment gets,
 *   3 missed     DEAD after 3 promised intervals of silence (Kubernetes-style).
 * A false DEAD is a DEAD for a sender that had not died (at that time).
 * Latency is last heartbeat -> DEAD, in promised intervals.
 *
 * Exit status: 0; 1 on a setup failure; with --strict also 1 when a target
 * of issue 13 is missed (0 false DEADs; p99 <= 2 / 2.5 / 4 intervals for
 * steady / jittery / pausy). The replay is deterministic, so --strict is a
 * regression check, not a timing assertion. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "observer.h"

enum cohort { STEADY, JITTERY, PAUSY, N_COHORTS };

static const char *const cohort_name[N_COHORTS] = { "steady", "jittery", "pausy" };
/* Issue 13's targets: p99 last heartbeat -> DEAD, in intervals. */
static const double target_p99[N_COHORTS] = { 2.0, 2.5, 4.0 };

#define STEADY_JITTER 0.05
#define JITTERY_JITTER 0.30
#define STALL_MIN 1.5            /* intervals a pausy stall adds to a gap */
#define STALL_MAX 2.5
#define STALL_EVERY_MIN_MS 15000
#define STALL_EVERY_MAX_MS 25000
#define DEATH_TAIL_MS 10000      /* no death this close to the end: DEAD must fit */
#define MISSED_INTERVALS 3.0     /* the "3 missed" baseline */
#define TICK_MAX_MS 500          /* the daemon's loop wakes at least this often (MAX_POLL_MS) */

struct opts {
    uint64_t instances, deaths, duration_s, interval_ms, seed, settle_s;
    bool strict, on_schedule;
};

/* One sender's schedule and what the detectors made of it. */
struct sender {
    enum cohort cohort;
    int64_t next_ms;       /* its next heartbeat's arrival */
    int64_t phase_ms;      /* jittery on schedule: slot k is at phase + k x interval */
    uint64_t slot;
    int64_t next_stall_ms; /* pausy: when its next stall begins */
    int64_t death_ms;      /* INT64_MAX = never dies */
    int64_t last_ms;       /* its last heartbeat's arrival, -1 = none yet */
    int64_t dead_ms;       /* our DEAD for its death, -1 = not yet */
    uint64_t seq;
    double max_live_gap;   /* longest gap while alive, ms */
    uint32_t missed_false; /* live gaps over the "3 missed" timeout */
};

struct run {
    struct opts o;
    struct sender *s;
    size_t n;
    uint64_t rng;
    uint64_t false_dead[N_COHORTS];
    uint64_t false_suspect[N_COHORTS];
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_detect [--instances N] [--deaths D] [--duration-s S] [--interval-ms I]\n"
               "                    [--seed X] [--settle-s W] [--jitter-on-schedule] [--strict]\n"
               "  defaults: 180 instances, 30 deaths, 600 s, 200 ms, seed 13, deaths after 60 s\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--instances", 3, 30000, &o->instances),
        BENCH_FLAG_NUM("--deaths", 0, 30000, &o->deaths),
        BENCH_FLAG_NUM("--duration-s", 30, 86400, &o->duration_s),
        BENCH_FLAG_NUM("--interval-ms", 50, 60000, &o->interval_ms),
        BENCH_FLAG_NUM("--seed", 0, UINT64_MAX, &o->seed),
        BENCH_FLAG_NUM("--settle-s", 0, 86400, &o->settle_s),
        BENCH_FLAG_ON("--jitter-on-schedule", &o->on_schedule),
        BENCH_FLAG_ON("--strict", &o->strict),
    };

    *o = (struct opts){ .instances = 180, .deaths = 30, .duration_s = 600, .interval_ms = 200,
                        .seed = 13, .settle_s = 60 };
    return bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
}

/* splitmix64: a small, well-mixed generator; the trace is the seed's. */
static uint64_t next_u64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *x, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(next_u64(x) >> 11) / 9007199254740992.0);
}

/* The gap after a heartbeat at `at_ms`, by the sender's rhythm. */
static int64_t next_gap_ms(struct run *r, struct sender *s, int64_t at_ms)
{
    double interval = (double)r->o.interval_ms;
    double jitter = s->cohort == JITTERY ? JITTERY_JITTER : STEADY_JITTER;
    double gap = interval * (1.0 + uniform(&r->rng, -jitter, jitter));

    if (s->cohort == JITTERY && r->o.on_schedule) {
        s->slot++;
        return s->phase_ms + (int64_t)llround(interval * ((double)s->slot + uniform(&r->rng, -jitter, jitter))) -
               at_ms;
    }
    if (s->cohort == PAUSY && at_ms >= s->next_stall_ms) {
        gap += interval * uniform(&r->rng, STALL_MIN, STALL_MAX);
        s->next_stall_ms = at_ms + (int64_t)uniform(&r->rng, STALL_EVERY_MIN_MS, STALL_EVERY_MAX_MS);
    }
    return (int64_t)llround(gap);
}

/* Sender k: cohort k % 3; deaths go to the first `deaths` senders, which
 * spreads them evenly over the cohorts. */
static int senders_init(struct run *r)
{
    int64_t duration_ms = (int64_t)r->o.duration_s * 1000;
    int64_t first_death = (int64_t)r->o.settle_s * 1000, last_death = duration_ms - DEATH_TAIL_MS;

    if (last_death <= first_death) {
        fprintf(stderr, "bench_detect: --settle-s leaves no time for deaths in --duration-s\n");
        return -1;
    }
    r->n = (size_t)r->o.instances;
    r->s = calloc(r->n, sizeof(*r->s));
    if (r->s == NULL) {
        fprintf(stderr, "bench_detect: out of memory for %zu senders\n", r->n);
        return -1;
    }
    for (size_t k = 0; k < r->n; k++) {
        struct sender *s = &r->s[k];

        s->cohort = (enum cohort)(k % N_COHORTS);
        s->next_ms = (int64_t)uniform(&r->rng, 0, (double)r->o.interval_ms);
        s->phase_ms = s->next_ms;   /* slot 0 is the first heartbeat */
        s->next_stall_ms = (int64_t)uniform(&r->rng, 5000, STALL_EVERY_MAX_MS);
        s->death_ms = k < r->o.deaths ? (int64_t)uniform(&r->rng, (double)first_death, (double)last_death)
                                      : INT64_MAX;
        s->last_ms = -1;
        s->dead_ms = -1;
    }
    return 0;
}

static size_t sender_index(const struct instance *i)
{
    return (size_t)strtoull(i->name + strlen("inst-"), NULL, 10);
}

/* Our detector's verdicts: a DEAD before the sender's death is false; the
 * first DEAD after it is the detection. */
static void on_event(void *ctx, const struct core_event *ev)
{
    struct run *r = ctx;
    struct sender *s;

    if (ev->instance == NULL)
        return;
    s = &r->s[sender_index(ev->instance)];
    if (ev->to == INST_DEAD && ev->at_ms < s->death_ms)
        r->false_dead[s->cohort]++;
    else if (ev->to == INST_DEAD && s->dead_ms < 0)
        s->dead_ms = ev->at_ms;
    else if (ev->to == INST_SUSPECT && ev->at_ms < s->death_ms)
        r->false_suspect[s->cohort]++;
}

/* The sender due first (a linear scan: 180 senders, a few million beats). */
static struct sender *earliest(struct run *r, int64_t end_ms)
{
    struct sender *best = NULL;

    for (size_t k = 0; k < r->n; k++) {
        struct sender *s = &r->s[k];

        if (s->next_ms < s->death_ms && s->next_ms < end_ms && (best == NULL || s->next_ms < best->next_ms))
            best = s;
    }
    return best;
}

static int send_one(struct run *r, struct observer *obs, struct sender *s)
{
    struct hb_input hb;
    size_t k = (size_t)(s - r->s);
    int64_t at = s->next_ms;

    memset(&hb, 0, sizeof(hb));
    hb.arrival_ms = at;
    hb.sent_unix_ms = 1700000000000 + at;
    hb.incarnation = 0x9e3779b97f4a7c15u * (k + 1);
    hb.seq = ++s->seq;
    hb.interval_ms = (uint32_t)r->o.interval_ms;
    hb.state = SERVING_SERVING;
    hb.checks_ok = true;
    bench_service_name((size_t)s->cohort, hb.service);
    bench_instance_name(k, hb.instance);
    snprintf(hb.version, sizeof(hb.version), "1.0.0");
    if (observer_heartbeat(obs, &hb) != HB_ACCEPTED) {
        fprintf(stderr, "bench_detect: heartbeat %" PRIu64 " of %s not accepted\n", hb.seq, hb.instance);
        return -1;
    }
    if (s->last_ms >= 0) {
        double gap = (double)(at - s->last_ms);

        if (gap > s->max_live_gap)
            s->max_live_gap = gap;
        if (gap > MISSED_INTERVALS * (double)r->o.interval_ms)
            s->missed_false++;
    }
    s->last_ms = at;
    s->next_ms = at + next_gap_ms(r, s, at);
    return 0;
}

/* Replays the whole trace: heartbeats and the observer's own deadlines in
 * time order, ticks exactly when the observer asks, and at least every
 * TICK_MAX_MS as the daemon's loop does (a longer gap between ticks would
 * read as the observer's own stall). */
static int replay(struct run *r, struct observer *obs)
{
    int64_t end_ms = (int64_t)r->o.duration_s * 1000, ticked = 0;

    for (;;) {
        struct sender *s = earliest(r, end_ms);
        int64_t due = observer_next_deadline(obs);
        int64_t beat = s != NULL ? s->next_ms : end_ms;

        if (due > ticked + TICK_MAX_MS)
            due = ticked + TICK_MAX_MS;
        if (due <= beat && due < end_ms) {
            observer_tick(obs, due);
            ticked = due;
            continue;
        }
        if (s == NULL)
            break;
        if (send_one(r, obs, s) != 0)
            return -1;
    }
    observer_tick(obs, end_ms);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);

    if (n == 0)
        return NAN;
    return v[rank == 0 ? 0 : rank - 1];
}

static bool report(const struct run *r)
{
    double interval = (double)r->o.interval_ms, fixed_ms = 0;
    double *lat[N_COHORTS];
    double *all = calloc(N_COHORTS * (r->n + 1), sizeof(*all));
    size_t n_lat[N_COHORTS] = { 0 };
    uint64_t missed_false[N_COHORTS] = { 0 }, undetected = 0;
    bool met = true;

    if (all == NULL) {
        fprintf(stderr, "bench_detect: out of memory for the report\n");
        return false;
    }
    for (int c = 0; c < N_COHORTS; c++)
        lat[c] = all + (size_t)c * (r->n + 1);
    for (size_t k = 0; k < r->n; k++) {
        const struct sender *s = &r->s[k];

        if (s->max_live_gap > fixed_ms)
            fixed_ms = s->max_live_gap;
        missed_false[s->cohort] += s->missed_false;
        if (s->death_ms == INT64_MAX)
            continue;
        if (s->dead_ms < 0) {
            undetected++;
            continue;
        }
        lat[s->cohort][n_lat[s->cohort]++] = (double)(s->dead_ms - s->last_ms) / interval;
    }
    fixed_ms += 1.0; /* the shortest fleet-wide timeout with no false DEAD on this trace */

    printf("bench_detect: %zu senders, %" PRIu64 " deaths, %" PRIu64 " s at %" PRIu64
           " ms, seed %" PRIu64 ", deaths after %" PRIu64 " s\n",
           r->n, r->o.deaths, r->o.duration_s, r->o.interval_ms, r->o.seed, r->o.settle_s);
    printf("latency = last heartbeat -> DEAD, in promised intervals (x %" PRIu64 " ms)\n\n", r->o.interval_ms);
    printf("%-8s %6s | %5s %5s %5s %5s %6s %5s | %5s %5s | %5s %5s | %s\n", "cohort", "deaths", "false",
           "p50", "p99", "max", "target", "susp", "fixed", "p99", "3miss", "p99", "met");
    for (int c = 0; c < N_COHORTS; c++) {
        double *v = lat[c];
        size_t n = n_lat[c];
        bool ok;

        qsort(v, n, sizeof(*v), cmp_double);
        ok = r->false_dead[c] == 0 && (n == 0 || pct(v, n, 0.99) <= target_p99[c]);
        met = met && ok;
        printf("%-8s %6zu | %5" PRIu64 " %5.2f %5.2f %5.2f %6.1f %5" PRIu64 " | %5d %5.2f | %5" PRIu64
               " %5.2f | %s\n",
               cohort_name[c], n, r->false_dead[c], pct(v, n, 0.5), pct(v, n, 0.99), n ? v[n - 1] : NAN,
               target_p99[c], r->false_suspect[c], 0, fixed_ms / interval, missed_false[c],
               MISSED_INTERVALS, ok ? "yes" : "NO");
    }
    printf("\ncolumns: ours (false DEADs, p50/p99/max latency, target p99, false SUSPECTs) | fixed timeout\n"
           "%.0f ms tuned on this trace (false DEADs, p99) | DEAD after 3 missed intervals (false DEADs, p99)\n",
           fixed_ms);
    if (undetected != 0) {
        printf("bench_detect: %" PRIu64 " deaths never declared DEAD\n", undetected);
        met = false;
    }
    printf("bench_detect: targets %s\n", met ? "met" : "MISSED");
    free(all);
    return met;
}

int main(int argc, char **argv)
{
    struct run r = { 0 };
    /* One service per cohort (cohort c is svc-<c>); DEAD instances are
     * forgotten after an hour of silence. */
    struct bench_observer_params fleet = { .n_services = N_COHORTS, .forget_after_ms = 3600 * 1000 };
    struct observer_sink sink = { .ctx = &r, .on_event = on_event };
    struct observer *obs = NULL;
    int args = parse_args(argc, argv, &r.o), rc = 1;

    if (args != BENCH_RUN)
        return args;
    if (r.o.deaths > r.o.instances) {
        fprintf(stderr, "bench_detect: --deaths %" PRIu64 " exceeds --instances %" PRIu64 "\n", r.o.deaths,
                r.o.instances);
        return 2;
    }
    r.rng = r.o.seed;
    if (senders_init(&r) != 0)
        return 1;
    fleet.instances = r.n;
    fleet.interval_ms = (uint32_t)r.o.interval_ms;
    if (bench_observer_create(&fleet, &sink, 0, &obs) != 0)
        goto out_free_senders;
    if (replay(&r, obs) != 0)
        goto out_destroy_observer;
    rc = report(&r) || !r.o.strict ? 0 : 1;   /* report prints even when --strict fails */
out_destroy_observer:
    observer_destroy(obs);
out_free_senders:
    free(r.s);
    return rc;
}
