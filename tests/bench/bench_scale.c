/* bench_scale: what a steady fleet costs the supervisor and its feed
 * (issue 13 §3 "Cost at scale": at 100 k instances <= 200 KB/s of feed and
 * <= 5 % of a core).
 *
 * Per size (1 k, 10 k, 100 k instances as --services x size/services; up
 * to --largest) and per variant, on one nats-server on loopback:
 * fleet-supervisor with a config of the --services services (desired =
 * size/services, limits raised to fit), fleet-sim sending every instance's
 * heartbeats every --interval-ms (nothing changing), and a subscriber in
 * this process counting payload bytes on <prefix>.v1.status and
 * <prefix>.v1.status.* (the default prefix). Once query.status says every instance HEALTHY and
 * --settle-s more have passed, a window of --window-s: feed bytes and
 * messages per second, the supervisor's CPU (utime + stime from
 * /proc/PID/stat over the window, % of one core; and of its main thread,
 * the owner thread that runs the core and builds the feed), the context
 * switches per second of all its threads and its VmRSS at the end (--http:
 * it serves HTTP too). Beside it, over the same window, bare_sub (--bare): a
 * nats.c subscriber on the same heartbeats that only decodes them, the
 * floor of taking them at all on this machine.
 * Then a late joiner's check: query.status lists the services,
 * query.service each, and the instance lists must add up to the fleet.
 *
 * Variants (same run, same machine):
 * - "feed": the supervisor as configured by default (changes on
 *   <prefix>.v1.status.<service>, every service refreshed once per
 *   status_refresh_ms, staggered);
 * - "baseline": every service every status interval, the feed before
 *   issue 13: the same binary with status_refresh_ms = status_interval_ms,
 *   or --baseline-supervisor PATH (an older build, given no new key).
 *
 * Exit status: 0 when every run measured and every late joiner saw the
 * whole fleet, 1 otherwise, 2 on bad arguments. Targets are reported, not
 * asserted, unless --strict (then a missed target at 100 k exits 3). */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "bench_load.h"
#include "bench_util.h"
#include "fleet/subjects.h"
#include "fleet/v1/fleet.pb-c.h"
#include "feedquery.h"
#include "natsd.h"
#include "proc.h"

#define TARGET_INSTANCES 100000u
#define TARGET_FEED_BYTES_PER_S 200000.0
#define TARGET_CPU_PCT 5.0
#define STEADY_LIMIT_MS 180000 /* from start to every instance HEALTHY */
#define QUERY_TIMEOUT_MS 5000
#define SIZES 3

static const uint64_t sizes[SIZES] = { 1000, 10000, 100000 };

struct bench_opts {
    uint64_t smallest, largest, services, interval_ms, status_interval_ms, settle_s, window_s;
    bool no_baseline, strict, http;
    const char *supervisor, *baseline_supervisor, *bare;
};

/* What the subscriber counted; written by nats.c's delivery thread.
 * `fleet_subject` is <prefix>.v1.status, to tell the two kinds apart. */
struct feed_count {
    char fleet_subject[FLEET_SUBJECT_MAX];
    atomic_uint_fast64_t fleet_bytes, fleet_msgs, service_bytes, service_msgs;
};

struct run_result {
    uint64_t instances;
    double fleet_bps, service_bps, fleet_mps, service_mps, cpu_pct, rss_mb;
    double switches_ps;        /* context switches per second, every thread (voluntary + not) */
    double owner_pct;          /* of cpu_pct, the main thread's: the core, the feed, queries */
    double bare_pct;           /* bare_sub's CPU over the same window, on the same heartbeats */
    uint64_t joiner_instances; /* what a late joiner's queries listed */
    bool measured;
};

enum variant { VARIANT_FEED, VARIANT_BASELINE, VARIANT_COUNT };
static const char *const variant_names[VARIANT_COUNT] = { "feed", "baseline" };

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_scale [--smallest N] [--largest N] [--services S] [--interval-ms MS] [--status-interval-ms MS]\n"
               "                   [--settle-s S] [--window-s S] [--supervisor PATH]\n"
               "                   [--baseline-supervisor PATH] [--no-baseline] [--bare PATH] [--strict] [--http]\n"
               "  defaults: sizes 1000, 10000, 100000 (those from --smallest, default 1, to --largest,\n"
               "  default 100000) over 200\n"
               "  services, heartbeats every 5000 ms, status every 1000 ms, settle 10 s, window 20 s;\n"
               "  --http: the supervisor serves HTTP too (its board and /metrics, nobody asking);\n"
               "  --bare: the reference subscriber (default: the bare_sub built beside this bench)\n");
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--smallest", 1, 1000000, &o->smallest),
        BENCH_FLAG_NUM("--largest", 1, 1000000, &o->largest),
        BENCH_FLAG_NUM("--services", 1, 1000, &o->services),
        BENCH_FLAG_NUM("--interval-ms", 100, 60000, &o->interval_ms),
        BENCH_FLAG_NUM("--status-interval-ms", 100, 60000, &o->status_interval_ms),
        BENCH_FLAG_NUM("--settle-s", 0, 600, &o->settle_s),
        BENCH_FLAG_NUM("--window-s", 1, 3600, &o->window_s),
        BENCH_FLAG_STR("--supervisor", &o->supervisor),
        BENCH_FLAG_STR("--baseline-supervisor", &o->baseline_supervisor),
        BENCH_FLAG_STR("--bare", &o->bare),
        BENCH_FLAG_ON("--no-baseline", &o->no_baseline),
        BENCH_FLAG_ON("--strict", &o->strict),
        BENCH_FLAG_ON("--http", &o->http),
    };

    *o = (struct bench_opts){ .smallest = 1, .largest = 100000, .services = 200, .interval_ms = 5000,
                              .status_interval_ms = 1000, .settle_s = 10, .window_s = 20, .bare = BARE_SUB_PATH };
    return bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
}

static void on_feed(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct feed_count *c = closure;
    uint64_t len = (uint64_t)natsMsg_GetDataLength(msg);

    (void)nc;
    (void)sub;
    if (strcmp(natsMsg_GetSubject(msg), c->fleet_subject) == 0) {
        atomic_fetch_add(&c->fleet_bytes, len);
        atomic_fetch_add(&c->fleet_msgs, 1);
    } else {
        atomic_fetch_add(&c->service_bytes, len);
        atomic_fetch_add(&c->service_msgs, 1);
    }
    natsMsg_Destroy(msg);
}

/* Context switches of every thread of `pid`, voluntary and not, or -1. */
static int64_t process_switches(pid_t pid)
{
    char dir[64];
    struct dirent *e;
    int64_t sum = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    d = opendir(dir);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        int64_t a, b;

        if (tid <= 0)
            continue;
        a = proc_status_field(pid, tid, "voluntary_ctxt_switches");
        b = proc_status_field(pid, tid, "nonvoluntary_ctxt_switches");
        if (a >= 0 && b >= 0)
            sum += a + b; /* a thread that just ended is left out */
    }
    closedir(d);
    return sum;
}

/* The supervisor's config; `refresh_ms` 0 leaves status_refresh_ms out
 * (the default, or an older binary that does not know the key). */
static int write_config(const struct bench_opts *o, const char *path, const char *url, uint64_t per_service,
                        uint64_t refresh_ms)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "bench_scale: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "nats:\n  url: %s\nsupervisor:\n  status_interval_ms: %" PRIu64 "\n  log_level: warn\n", url,
            o->status_interval_ms);
    if (refresh_ms != 0)
        fprintf(f, "  status_refresh_ms: %" PRIu64 "\n", refresh_ms);
    fprintf(f, "detector:\n  default_interval_ms: %" PRIu64 "\nlimits:\n  max_instances_per_service: %" PRIu64
               "\nservices:\n", o->interval_ms, per_service < 256 ? 256 : per_service);
    for (uint64_t s = 1; s <= o->services; s++)
        fprintf(f, "  - name: svc-%" PRIu64 "\n    desired: %" PRIu64 "\n", s, per_service);
    return fclose(f) == 0 ? 0 : -1;
}

/* Waits until query.status says `n` instances HEALTHY (or the supervisor
 * exits, or STEADY_LIMIT_MS). */
static bool wait_steady(natsConnection *nc, struct proc *sup, uint64_t n)
{
    int64_t deadline = proc_now_ms() + STEADY_LIMIT_MS;
    uint32_t healthy = 0;

    while (proc_now_ms() < deadline && proc_wait(sup, 0) < 0) {
        Fleet__V1__FleetStatus *fs = feedquery_status(nc, QUERY_TIMEOUT_MS);

        if (fs != NULL) {
            healthy = fs->instances_healthy;
            fleet__v1__fleet_status__free_unpacked(fs, NULL);
            if (healthy == n)
                return true;
        }
        bench_sleep_ms(500);
    }
    fprintf(stderr, "bench_scale: %" PRIu32 " of %" PRIu64 " instances HEALTHY after %d s\n", healthy, n,
            STEADY_LIMIT_MS / 1000);
    return false;
}

/* A late joiner: the services from query.status, the detail of each from
 * query.service. Returns the instances listed, or 0 on a failed query. */
static uint64_t late_joiner(natsConnection *nc)
{
    Fleet__V1__FleetStatus *fs = feedquery_status(nc, QUERY_TIMEOUT_MS);
    uint64_t listed = 0;

    if (fs == NULL)
        return 0;
    for (size_t k = 0; k < fs->n_services; k++) {
        Fleet__V1__ServiceStatus *st = feedquery_service(nc, fs->services[k]->name, QUERY_TIMEOUT_MS);

        if (st == NULL) {
            listed = 0;
            break;
        }
        listed += st->n_instances;
        fleet__v1__service_status__free_unpacked(st, NULL);
    }
    fleet__v1__fleet_status__free_unpacked(fs, NULL);
    return listed;
}

struct run_env {
    const struct bench_opts *o;
    struct natsd *server;
    natsConnection *nc;
    struct feed_count *count;
};

/* One size, one variant. Returns 0 with *r measured, or -1. */
static int run_one(const struct run_env *e, const char *supervisor, uint64_t refresh_ms, uint64_t instances,
                   struct run_result *r)
{
    const struct bench_opts *o = e->o;
    uint64_t per_service = instances / o->services;
    char config[sizeof(e->server->dir) + 32], n_services[24], per[24], interval[24];
    char listen[32];
    char *sup_argv[] = { (char *)supervisor, "--config", config, "--id", "bench-scale", "--http", listen, NULL };
    char *sim_argv[] = { "fleet-sim", "--server", e->server->url, "--services", n_services,
                         "--instances-per-service", per, "--interval-ms", interval, NULL };
    uint64_t fb0, fm0, sb0, sm0;
    int64_t cpu0, cpu1, own0, own1, sw0, sw1, t0, t1, rss;
    char hb_subject[FLEET_SUBJECT_MAX];
    char *bare_argv[] = { (char *)o->bare, e->server->url, hb_subject, NULL };
    int64_t bare0, bare1;
    struct proc sup = { 0 }, sim = { 0 }, bare = { 0 };
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->instances = per_service * o->services;
    if (snprintf(config, sizeof(config), "%s/supervisor.yaml", e->server->dir) >= (int)sizeof(config))
        return -1;
    if (o->http)
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", natsd_free_port());
    else
        sup_argv[5] = NULL;
    snprintf(n_services, sizeof(n_services), "%" PRIu64, o->services);
    snprintf(per, sizeof(per), "%" PRIu64, per_service);
    snprintf(interval, sizeof(interval), "%" PRIu64, o->interval_ms);
    if (write_config(o, config, e->server->url, per_service, refresh_ms) != 0 || proc_start(&sup, sup_argv, NULL) != 0)
        return -1;
    if (!bench_supervisor_ready(e->nc, "bench-scale", &sup)) {
        char *out = proc_output(&sup);

        fprintf(stderr, "bench_scale: fleet-supervisor did not answer $SRV.PING:\n%s\n", out ? out : "");
        free(out);
        goto out_stop;
    }
    /* Before the load, so it takes all of it, as the supervisor does. */
    snprintf(hb_subject, sizeof(hb_subject), "%s.v1.hb.>", FLEET_DEFAULT_PREFIX);
    if (proc_start(&bare, bare_argv, NULL) != 0 || !proc_wait_output(&bare, "ready", 10000)) {
        fprintf(stderr, "bench_scale: %s did not subscribe\n", o->bare);
        goto out_stop;
    }
    if (proc_start(&sim, sim_argv, NULL) != 0)
        goto out_stop;
    if (!wait_steady(e->nc, &sup, r->instances))
        goto out_stop;
    bench_sleep_ms((int64_t)o->settle_s * 1000);
    fb0 = atomic_load(&e->count->fleet_bytes);
    fm0 = atomic_load(&e->count->fleet_msgs);
    sb0 = atomic_load(&e->count->service_bytes);
    sm0 = atomic_load(&e->count->service_msgs);
    cpu0 = bench_process_cpu_ns(sup.pid);
    own0 = bench_thread_cpu_ns(sup.pid, sup.pid);
    sw0 = process_switches(sup.pid);
    bare0 = bench_process_cpu_ns(bare.pid);
    t0 = bench_now_ns();
    bench_sleep_ms((int64_t)o->window_s * 1000);
    cpu1 = bench_process_cpu_ns(sup.pid);
    own1 = bench_thread_cpu_ns(sup.pid, sup.pid);
    sw1 = process_switches(sup.pid);
    bare1 = bench_process_cpu_ns(bare.pid);
    t1 = bench_now_ns();
    rss = proc_rss_kb(sup.pid);
    if (cpu0 < 0 || cpu1 < 0 || own0 < 0 || own1 < 0 || sw0 < 0 || sw1 < 0 || rss < 0 || bare0 < 0 || bare1 < 0) {
        fprintf(stderr, "bench_scale: cannot read /proc of fleet-supervisor %d\n", (int)sup.pid);
        goto out_stop;
    }
    {
        double secs = (double)(t1 - t0) / 1e9;

        r->fleet_bps = (double)(atomic_load(&e->count->fleet_bytes) - fb0) / secs;
        r->fleet_mps = (double)(atomic_load(&e->count->fleet_msgs) - fm0) / secs;
        r->service_bps = (double)(atomic_load(&e->count->service_bytes) - sb0) / secs;
        r->service_mps = (double)(atomic_load(&e->count->service_msgs) - sm0) / secs;
        r->cpu_pct = (double)(cpu1 - cpu0) * 100.0 / (double)(t1 - t0);
        r->rss_mb = (double)rss * 1024 / 1e6;
        r->switches_ps = (double)(sw1 - sw0) / secs;
        r->owner_pct = (double)(own1 - own0) * 100.0 / (double)(t1 - t0);
        r->bare_pct = (double)(bare1 - bare0) * 100.0 / (double)(t1 - t0);
    }
    r->joiner_instances = late_joiner(e->nc);
    r->measured = r->fleet_mps > 0;
    if (!r->measured)
        fprintf(stderr, "bench_scale: no FleetStatus on fleet.v1.status during the window\n");
    rc = r->measured ? 0 : -1;

out_stop:
    proc_kill(&sim);
    proc_kill(&bare);
    if (proc_signal(&sup, SIGTERM) == 0 && proc_wait(&sup, 10000) < 0)
        fprintf(stderr, "bench_scale: fleet-supervisor did not stop on SIGTERM\n");
    proc_kill(&sup);
    return rc;
}

static void report(const struct bench_opts *o, struct run_result res[SIZES][VARIANT_COUNT], bool *missed)
{
    printf("\n%-9s %9s %9s %8s %8s %8s %10s %11s %11s %11s %10s %12s\n", "variant", "instances", "RSS MB", "CPU %",
           "owner %", "bare %", "switch/s", "feed KB/s", "status KB/s", "detail KB/s", "detail/s", "late joiner");
    for (int s = 0; s < SIZES; s++) {
        for (int v = 0; v < VARIANT_COUNT; v++) {
            const struct run_result *r = &res[s][v];

            if (!r->measured)
                continue;
            printf("%-9s %9" PRIu64 " %9.1f %8.2f %8.2f %8.2f %10.0f %11.1f %11.1f %11.1f %10.1f %6" PRIu64 "/%-5" PRIu64
                   "\n", variant_names[v], r->instances, r->rss_mb, r->cpu_pct, r->owner_pct, r->bare_pct, r->switches_ps,
                   (r->fleet_bps + r->service_bps) / 1e3,
                   r->fleet_bps / 1e3, r->service_bps / 1e3, r->service_mps, r->joiner_instances, r->instances);
        }
    }
    printf("(feed = status + detail: payload bytes on fleet.v1.status and fleet.v1.status.*; CPU = utime +\n"
           " stime of fleet-supervisor over the %" PRIu64 " s window, %% of one core; owner = its main thread\n"
           " (core, feed, queries; the rest is nats.c's threads and ingest decoding); bare = bare_sub, a\n"
           " nats.c subscriber that only decodes the same heartbeats in the same window (the floor of\n"
           " taking them at all); switch/s = context switches of all the supervisor's threads;\n"
           " heartbeats every %" PRIu64 " ms, status every %" PRIu64 " ms%s)\n", o->window_s,
           o->interval_ms, o->status_interval_ms, o->http ? ", HTTP on" : "");
    for (int s = 0; s < SIZES; s++) {
        const struct run_result *r = &res[s][VARIANT_FEED];
        double feed = r->fleet_bps + r->service_bps;

        if (!r->measured || r->instances != TARGET_INSTANCES)
            continue;
        *missed = feed > TARGET_FEED_BYTES_PER_S || r->cpu_pct > TARGET_CPU_PCT;
        printf("target at 100 k: feed <= 200 KB/s: %.1f KB/s %s; CPU <= 5 %% of a core: %.2f %% %s"
               " (bare subscriber %.2f %%)\n", feed / 1e3, feed <= TARGET_FEED_BYTES_PER_S ? "met" : "NOT met",
               r->cpu_pct, r->cpu_pct <= TARGET_CPU_PCT ? "met" : "NOT met", r->bare_pct);
    }
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct natsd server = { 0 };
    struct feed_count count = { 0 };
    struct run_result res[SIZES][VARIANT_COUNT] = { 0 };
    char supervisor[512];
    natsConnection *nc = NULL;
    natsSubscription *sub_fleet = NULL, *sub_services = NULL;
    char services_subject[FLEET_SUBJECT_MAX];
    int args = parse_args(argc, argv, &o), rc = 1;
    bool missed = false;

    if (args != BENCH_RUN)
        return args;
    if (o.supervisor != NULL)
        snprintf(supervisor, sizeof(supervisor), "%s", o.supervisor);
    else if (proc_find_program("fleet-supervisor", supervisor, sizeof(supervisor)) != 0) {
        fprintf(stderr, "bench_scale: fleet-supervisor not found (set FLEET_BIN_DIR or --supervisor)\n");
        return 1;
    }
    /* "*" stands for every service: the builder formats, NATS matches. */
    (void)fleet_subject(count.fleet_subject, sizeof(count.fleet_subject), FLEET_SUBJECT_STATUS, FLEET_DEFAULT_PREFIX,
                        NULL, NULL);
    (void)fleet_subject(services_subject, sizeof(services_subject), FLEET_SUBJECT_STATUS_SERVICE,
                        FLEET_DEFAULT_PREFIX, "*", NULL);
    if (natsd_start(&server, false) != 0)
        return 1;
    if (natsConnection_ConnectTo(&nc, server.url) != NATS_OK ||
        natsConnection_Subscribe(&sub_fleet, nc, count.fleet_subject, on_feed, &count) != NATS_OK ||
        natsConnection_Subscribe(&sub_services, nc, services_subject, on_feed, &count) != NATS_OK ||
        natsSubscription_SetPendingLimits(sub_fleet, -1, -1) != NATS_OK ||
        natsSubscription_SetPendingLimits(sub_services, -1, -1) != NATS_OK) {
        fprintf(stderr, "bench_scale: cannot subscribe on %s: %s\n", server.url, nats_GetLastError(NULL));
        goto out_close;
    }
    printf("bench_scale: %" PRIu64 " services, heartbeats every %" PRIu64 " ms, status every %" PRIu64
           " ms, settle %" PRIu64 " s, window %" PRIu64 " s, supervisor %s, baseline %s, server %s\n",
           o.services, o.interval_ms, o.status_interval_ms, o.settle_s, o.window_s, supervisor,
           o.no_baseline ? "none" : o.baseline_supervisor ? o.baseline_supervisor : "status_refresh_ms = interval",
           server.url);
    fflush(stdout);
    {
        struct run_env env = { .o = &o, .server = &server, .nc = nc, .count = &count };

        for (int s = 0; s < SIZES; s++) {
            if (sizes[s] > o.largest || sizes[s] < o.smallest || sizes[s] < o.services)
                continue;
            for (int v = 0; v < VARIANT_COUNT; v++) {
                const char *bin = v == VARIANT_BASELINE && o.baseline_supervisor ? o.baseline_supervisor : supervisor;
                uint64_t refresh = v == VARIANT_BASELINE && !o.baseline_supervisor ? o.status_interval_ms : 0;

                if (v == VARIANT_BASELINE && o.no_baseline)
                    continue;
                printf("  %s at %" PRIu64 " instances\u2026\n", variant_names[v], sizes[s]);
                fflush(stdout);
                if (run_one(&env, bin, refresh, sizes[s], &res[s][v]) != 0)
                    goto out_close;
                if (res[s][v].joiner_instances != res[s][v].instances) {
                    fprintf(stderr, "bench_scale: a late joiner's queries listed %" PRIu64 " of %" PRIu64
                                    " instances (%s)\n", res[s][v].joiner_instances, res[s][v].instances,
                            variant_names[v]);
                    report(&o, res, &missed);
                    goto out_close;
                }
            }
        }
    }
    report(&o, res, &missed);
    rc = o.strict && missed ? 3 : 0;

out_close:
    natsSubscription_Destroy(sub_services);
    natsSubscription_Destroy(sub_fleet);
    natsConnection_Destroy(nc);
    natsd_stop(&server, false);
    nats_Close();
    return rc;
}
