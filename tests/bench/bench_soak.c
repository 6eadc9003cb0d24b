/* bench_soak: DESIGN.md §11's soak, on real processes over a real
 * nats-server with JetStream on loopback:
 *
 *   - fleet-supervisor with a signing key, default detector and policy
 *     (restarts on), supervising services x instances (default 100 x 10);
 *   - fleet-sim sending those instances' heartbeats every interval (default
 *     1 s) with +-jitter (default 30 %), obeying signed control (--trust):
 *     a RESTART revives an instance and is logged ("restarted");
 *   - one nats-server restart in the middle of the run: stopped by PID
 *     (SIGTERM), started again on the same port with the same JetStream
 *     store directory;
 *   - a few real crashes (--crashes, default 2: one in the first half, one
 *     in the second), the control sample: each must be seen DEAD, restarted
 *     through a signed RESTART and revived by the sim, or the run could not
 *     have seen a false action either.
 *
 * Verdict (exit 1 on any of these):
 *   - a false DEAD: an Event `to = DEAD` for an instance that had not
 *     crashed (or before its crash);
 *   - a false restart: a RESTART/FENCE Event or Control, an Event to
 *     RESTARTING/FENCED, or a "restarted" line of the sim, for an instance
 *     that had not crashed (or before its crash); a FENCE of any instance;
 *   - a crash not seen DEAD and restarted (the control sample failed);
 *   - the fleet not back to every instance healthy and the observer NORMAL
 *     after the NATS restart, or at the end;
 *   - the supervisor's RSS grew: end > start x 1.2 + --rss-slack-kb (see
 *     rss_flat for why that bound); --no-rss-check reports it only.
 * Events are taken from the supervisor's JetStream audit stream after the
 * run (it holds every event, also those published while this process was
 * reconnecting), checked against the live subscription's count; Controls
 * from a live subscription to the control subjects; restarts carried out
 * from the sim's log.
 *
 * Exit status: 0 no false action and RSS flat, 1 a false action, a failed
 * check or a setup failure (printed), 2 bad arguments. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <nats/nats.h>

#include "bench_util.h"
#include "fleet/nkey.h"
#include "fleet/subjects.h"
#include "natsd.h"
#include "proc.h"
#include "soak_verdict.h"
#include "soak_watch.h"

#define PATH_MAX_LEN 320
#define START_WAIT_MS 15000      /* a program's start line */
#define STEADY_WAIT_MS 60000     /* first sight of the whole fleet healthy */
#define SETTLE_WAIT_MS 30000     /* at the end: every instance healthy, observer NORMAL */
#define STOP_WAIT_MS 10000
#define SAMPLE_MS 1000           /* RSS and progress sampling */
/* How long nats-server stays down: longer than the detector's hard ceiling
 * of silence (5 intervals of 1 s), so every instance looks dead by silence
 * alone when the supervisor is back, as after a real server restart. */
#define NATS_DOWN_MS_DEFAULT 6000
/* RSS bound: end <= start x RSS_GROWTH_MAX + slack (see rss_flat). */
#define RSS_GROWTH_MAX 1.2
#define RSS_SLACK_KB_DEFAULT 2048

struct soak_opts {
    uint64_t duration_s, services, per_service, interval_ms, jitter, restart_at_s, down_ms, crashes, rss_slack_kb;
    bool no_rss_check;
    const char *sim_arg;      /* one more fleet-sim argument the verdict is not told of, or NULL */
};

/* ---- the supervisor's RSS ---- */

/* The bound on RSS growth over the run. Steady state is what `start` is
 * sampled in (every instance known, the observer NORMAL), so the fleet's
 * own tables are in it; what may still come is allocator slack (glibc
 * arenas keep freed pages of the reconnect burst, nats.c's buffers grow
 * to the largest message seen) and it does not scale with time. 20 % plus
 * a small absolute slack (default 2 MiB) absorbs that on a small heap,
 * while a leak of one 16-byte allocation per heartbeat (1,000 hb/s: 9.6 MB
 * in 10 minutes, ~1 MB a minute) or of one per instance per NATS restart
 * shows above it. */
static bool rss_flat(int64_t start_kb, int64_t end_kb, uint64_t slack_kb)
{
    return (double)end_kb <= (double)start_kb * RSS_GROWTH_MAX + (double)slack_kb;
}

/* ---- the programs ---- */

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL || fputs(text, f) == EOF)
        rc = -1;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "bench_soak: cannot write %s\n", path);
    return rc;
}

/* `fleetctl keygen --out seed_path`; the public key into pub. Returns 0 or -1. */
static int make_key(const char *seed_path, char *pub, size_t n)
{
    char *argv[] = { "fleetctl", "keygen", "--out", (char *)seed_path, NULL };
    char *out = NULL;
    int st = proc_run(argv, START_WAIT_MS, &out, NULL), rc = -1;

    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && out != NULL && out[0] == 'U') {
        out[strcspn(out, "\r\n")] = '\0';
        snprintf(pub, n, "%s", out);
        rc = 0;
    } else {
        fprintf(stderr, "bench_soak: fleetctl keygen failed:\n%s\n", out != NULL ? out : "");
    }
    free(out);
    return rc;
}

/* The supervisor's config: the key, default detector and policy, the fleet.
 * Returns a malloc'd text (caller frees) or NULL. */
static char *soak_config(const struct soak_opts *o, const char *url, const char *seed_path)
{
    size_t cap = 256 + strlen(url) + strlen(seed_path) + o->services * 64, used;
    char *text = malloc(cap);

    if (text == NULL)
        return NULL;
    used = (size_t)snprintf(text, cap, "nats:\n  url: %s\ncontrol:\n  signing_key_file: %s\nservices:\n", url,
                            seed_path);
    for (uint64_t s = 1; s <= o->services && used < cap; s++)
        used += (size_t)snprintf(text + used, cap - used, "  - name: svc-%" PRIu64 "\n    desired: %" PRIu64 "\n",
                                 s, o->per_service);
    if (used >= cap) {
        free(text);
        return NULL;
    }
    return text;
}

static int start_waiting(struct proc *p, char **argv, const char *needle)
{
    if (proc_start(p, argv, NULL) != 0)
        return -1;
    if (!proc_wait_output(p, needle, START_WAIT_MS)) {
        char *out = proc_output(p);

        fprintf(stderr, "bench_soak: %s did not print \"%s\" within %d ms:\n%s\n", argv[0], needle, START_WAIT_MS,
                out != NULL ? out : "");
        free(out);
        return -1;
    }
    return 0;
}

/* SIGTERM, then the wait; returns whether it exited 0 by itself. */
static bool stop_proc(struct proc *p, const char *what)
{
    int st;

    if (p->pid == 0)
        return true;
    (void)proc_signal(p, SIGTERM);
    st = proc_wait(p, STOP_WAIT_MS);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_soak: %s did not stop cleanly (wait status %d)\n", what, st);
        return false;
    }
    return true;
}

/* ---- the run ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_soak [--duration-s N] [--services S] [--instances-per-service M]\n"
            "                  [--interval-ms I] [--jitter PCT] [--nats-restart-at-s T]\n"
            "                  [--nats-down-ms D] [--crashes C] [--rss-slack-kb K] [--no-rss-check]\n"
            "                  [--sim-arg ARG]\n"
            "  fleet-supervisor (signing key, restarts on) and fleet-sim, S x M instances\n"
            "  (default 100 x 10) at I ms (default 1000) +-PCT %% (default 30), for N s\n"
            "  (default 600) from the sim's start; nats-server stopped at T s (default N/2) and\n"
            "  started again D ms later (default %d);\n"
            "  C real crashes as the control sample (default 2; 0..%d). Fails on any false\n"
            "  DEAD or restart, a missed crash, or RSS end > start x %.1f + K KiB (default %d;\n"
            "  --no-rss-check: report only, for sanitizer builds). --sim-arg gives fleet-sim\n"
            "  one more argument the verdict does not know of: --sim-arg --hang=svc-3-1@12\n"
            "  must be reported as a false DEAD (the checker's own test).\n",
            NATS_DOWN_MS_DEFAULT, SOAK_MAX_CRASHES, RSS_GROWTH_MAX, RSS_SLACK_KB_DEFAULT);
}

static int parse_args(int argc, char **argv, struct soak_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--duration-s", 20, 86400, &o->duration_s),
        BENCH_FLAG_NUM("--services", 1, 1000, &o->services),
        BENCH_FLAG_NUM("--instances-per-service", 1, 256, &o->per_service),
        BENCH_FLAG_NUM("--interval-ms", 100, 10000, &o->interval_ms),
        BENCH_FLAG_NUM("--jitter", 0, 50, &o->jitter),
        BENCH_FLAG_NUM("--nats-restart-at-s", 0, 86400, &o->restart_at_s),
        BENCH_FLAG_NUM("--nats-down-ms", 0, 120000, &o->down_ms),
        BENCH_FLAG_NUM("--crashes", 0, SOAK_MAX_CRASHES, &o->crashes),
        BENCH_FLAG_NUM("--rss-slack-kb", 0, 1 << 20, &o->rss_slack_kb),
        BENCH_FLAG_ON("--no-rss-check", &o->no_rss_check),
        BENCH_FLAG_STR("--sim-arg", &o->sim_arg),
    };
    int args;

    *o = (struct soak_opts){ .duration_s = 600, .services = 100, .per_service = 10, .interval_ms = 1000,
                             .jitter = 30, .down_ms = NATS_DOWN_MS_DEFAULT, .crashes = 2,
                             .rss_slack_kb = RSS_SLACK_KB_DEFAULT };
    args = bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
    if (args != BENCH_RUN)
        return args;
    if (o->restart_at_s == 0)
        o->restart_at_s = o->duration_s / 2;
    if (o->restart_at_s * 1000 + o->down_ms + 10000 > o->duration_s * 1000) {
        fprintf(stderr, "--nats-restart-at-s %" PRIu64 ": must leave 10 s of the run after the server is back\n",
                o->restart_at_s);
        return 2;
    }
    if (o->crashes > 0 && (o->restart_at_s < 16 || o->duration_s < o->restart_at_s + (o->down_ms + 999) / 1000 + 18)) {
        fprintf(stderr, "--crashes: no room for them (the restart at >= 16 s, the run >= 18 s past the server's "
                        "return)\n");
        return 2;
    }
    if (o->crashes > o->services) {
        fprintf(stderr, "--crashes %" PRIu64 ": at most one per service (%" PRIu64 ")\n", o->crashes, o->services);
        return 2;
    }
    return BENCH_RUN;
}

/* Crash k of n: instance 1 of service k+1, spread evenly over two windows
 * clear of start-up, of the NATS restart (and its grace period) and of the
 * end: [5, T - 10] s before the restart, [back + 10, N - 8] s after it,
 * half in each. Returns the time in s from the sim's start. */
static uint64_t crash_window(uint64_t lo, uint64_t hi, uint64_t k, uint64_t n)
{
    return lo + (hi - lo) * (k + 1) / (n + 1);
}

static uint64_t crash_at_s(const struct soak_opts *o, uint64_t k)
{
    uint64_t before = (o->crashes + 1) / 2, back_s = o->restart_at_s + (o->down_ms + 999) / 1000;

    if (k < before)
        return crash_window(5, o->restart_at_s - 10, k, before);
    return crash_window(back_s + 10, o->duration_s - 8, k - before, o->crashes - before);
}

/* The sim's command line, into argv (room for 32 + 2 x SOAK_MAX_CRASHES entries). */
static void sim_argv(const struct soak_opts *o, const char *url, const char *pub, char (*num)[32],
                     char (*crash)[FLEET_NAME_MAX + 24], char **argv)
{
    size_t n = 0;

    snprintf(num[0], sizeof(num[0]), "%" PRIu64, o->services);
    snprintf(num[1], sizeof(num[1]), "%" PRIu64, o->per_service);
    snprintf(num[2], sizeof(num[2]), "%" PRIu64, o->interval_ms);
    snprintf(num[3], sizeof(num[3]), "%" PRIu64, o->jitter);
    argv[n++] = "fleet-sim";
    argv[n++] = "--server";
    argv[n++] = (char *)url;
    argv[n++] = "--services";
    argv[n++] = num[0];
    argv[n++] = "--instances-per-service";
    argv[n++] = num[1];
    argv[n++] = "--interval-ms";
    argv[n++] = num[2];
    argv[n++] = "--jitter";
    argv[n++] = num[3];
    argv[n++] = "--trust";
    argv[n++] = (char *)pub;
    for (uint64_t k = 0; k < o->crashes; k++) {
        snprintf(crash[k], sizeof(crash[k]), "svc-%" PRIu64 "-1@%" PRIu64, k + 1, crash_at_s(o, k));
        argv[n++] = "--crash";
        argv[n++] = crash[k];
    }
    if (o->sim_arg != NULL)
        argv[n++] = (char *)o->sim_arg;
    argv[n] = NULL;
}

struct rss {
    int64_t start_kb, end_kb, max_kb;
    int64_t back_kb;          /* when the fleet was steady again after the NATS restart; 0 before */
    int64_t start_at_ms;      /* since the sim's start */
};

static void rss_sample(struct rss *m, pid_t pid)
{
    int64_t kb = proc_rss_kb(pid);

    if (kb > m->max_kb)
        m->max_kb = kb;
    if (kb > 0)
        m->end_kb = kb;
}

/* The restart in the middle: stopped by PID, held down for --nats-down-ms,
 * started again on the same port and store. */
struct nats_restart {
    int64_t stop_ms, up_ms, down_ms;  /* since the sim's start; down_ms = up - stop */
    int64_t recovered_ms;             /* back to steady, since up; -1 not (yet) */
    uint64_t statuses_at_up;
    int phase;                        /* 0 before, 1 down, 2 up again */
};

/* Moves the restart along (times in ms since t0, the sim's start).
 * Returns 0, or -1 when the server does not come back. */
static int restart_step(const struct soak_opts *o, struct natsd *server, struct soak_recorder *rec,
                        struct nats_restart *nr, int64_t t0)
{
    int64_t now = proc_now_ms() - t0;

    if (nr->phase == 0 && now >= (int64_t)o->restart_at_s * 1000) {
        nr->stop_ms = now;
        natsd_stop(server, true);
        nr->phase = 1;
        printf("nats-server stopped at t=%.1f s (SIGTERM to pid, store kept)\n", (double)now / 1000);
    } else if (nr->phase == 1 && now >= nr->stop_ms + (int64_t)o->down_ms) {
        if (natsd_restart(server) != 0) {
            fprintf(stderr, "bench_soak: nats-server did not come back on port %d\n", server->port);
            return -1;
        }
        nr->statuses_at_up = soak_rec_statuses(rec);
        nr->phase = 2;
        nr->up_ms = proc_now_ms() - t0;   /* accepting again */
        nr->down_ms = nr->up_ms - nr->stop_ms;
        printf("nats-server started again at t=%.1f s: down %" PRId64 " ms (same port %d, same store)\n",
               (double)nr->up_ms / 1000, nr->down_ms, server->port);
    }
    return 0;
}

static void progress(struct soak_recorder *rec, const struct rss *m, int64_t at_ms)
{
    pthread_mutex_lock(&rec->lock);
    printf("  t=%4" PRId64 " s  rss %6" PRId64 " KiB  healthy %u/%u  observer %d  events %zu  controls %zu\n",
           at_ms / 1000, m->end_kb, rec->healthy, rec->expected, rec->observer, rec->events.n, rec->controls.n);
    pthread_mutex_unlock(&rec->lock);
    fflush(stdout);
}

/* Runs from the sim's start (t0) to the end of the run: samples RSS,
 * restarts NATS at its time, watches the recovery. Returns 0 or -1. */
static int soak(const struct soak_opts *o, struct natsd *server, struct soak_recorder *rec, const struct proc *sup,
                int64_t t0, struct rss *m, struct nats_restart *nr)
{
    const uint32_t total = (uint32_t)(o->services * o->per_service);
    const int64_t end = t0 + (int64_t)o->duration_s * 1000;
    const int64_t progress_every = o->duration_s >= 300 ? 30000 : 10000;
    int64_t next_progress = t0 + progress_every;

    while (!soak_rec_steady(rec, total, 0)) {
        if (proc_now_ms() - t0 > STEADY_WAIT_MS) {
            fprintf(stderr, "bench_soak: the fleet was not all healthy with the observer NORMAL within %d ms\n",
                    STEADY_WAIT_MS);
            return -1;
        }
        bench_sleep_ms(50);
    }
    m->start_at_ms = proc_now_ms() - t0;
    m->start_kb = m->max_kb = proc_rss_kb(sup->pid);
    m->end_kb = m->start_kb;
    printf("steady at t=%.1f s: %u instances healthy, observer NORMAL, supervisor RSS %" PRId64 " KiB\n",
           (double)m->start_at_ms / 1000, total, m->start_kb);
    for (int64_t now = proc_now_ms(); now < end; now = proc_now_ms()) {
        int64_t wake = now + SAMPLE_MS;

        if (restart_step(o, server, rec, nr, t0) != 0)
            return -1;
        if (nr->phase == 2 && nr->recovered_ms < 0 && soak_rec_steady(rec, total, nr->statuses_at_up))
            nr->recovered_ms = now - t0 - nr->up_ms;
        rss_sample(m, sup->pid);
        if (nr->recovered_ms >= 0 && m->back_kb == 0)
            m->back_kb = m->end_kb;
        if (now >= next_progress) {
            progress(rec, m, now - t0);
            next_progress += progress_every;
        }
        if (nr->phase == 1 && wake > t0 + nr->stop_ms + (int64_t)o->down_ms)
            wake = t0 + nr->stop_ms + (int64_t)o->down_ms;
        if (nr->phase == 2 && nr->recovered_ms < 0)
            wake = now + 50;   /* the recovery time, to 50 ms */
        bench_sleep_ms((wake < end ? wake : end) - now);
    }
    return 0;
}

/* At the end: waits for every instance healthy (the last crash revived)
 * with the observer NORMAL. Returns whether it came. */
static bool settle(struct soak_recorder *rec, uint32_t total)
{
    uint64_t after = soak_rec_statuses(rec);
    int64_t deadline = proc_now_ms() + SETTLE_WAIT_MS;

    while (proc_now_ms() < deadline) {
        if (soak_rec_steady(rec, total, after))
            return true;
        bench_sleep_ms(50);
    }
    return false;
}

static void report(const struct soak_opts *o, const struct soak_tally *t, const struct rss *m,
                   const struct nats_restart *nr, const struct soak_recorder *rec, uint64_t audit_msgs,
                   size_t live_events, const struct soak_story *st, bool settled, bool rss_ok)
{
    printf("\n== soak report\n");
    printf("fleet: %" PRIu64 " instances (%" PRIu64 " services x %" PRIu64 ") at %" PRIu64 " ms +-%" PRIu64
           " %%, %" PRIu64 " s, supervisor with a signing key, restarts on\n",
           o->services * o->per_service, o->services, o->per_service, o->interval_ms, o->jitter, o->duration_s);
    printf("nats-server restart: stopped at t=%.1f s, down %" PRId64 " ms; fleet steady again %s",
           (double)nr->stop_ms / 1000, nr->down_ms, nr->recovered_ms >= 0 ? "after " : "NEVER");
    if (nr->recovered_ms >= 0)
        printf("%.1f s (every instance healthy, observer NORMAL)", (double)nr->recovered_ms / 1000);
    printf("\nreconnects: sim %u, this recorder %u; messages the recorder could not decode or keep: %" PRIu64
           "%s\n", st->reconnects, rec->reconnects, rec->lost, rec->lost ? " (FAILED: a false action may hide there)" : "");
    printf("%-44s %10s\n", "figure", "value");
    printf("%-44s %10" PRIu64 "   (live subscription: %zu)\n", "events in the audit stream", audit_msgs, live_events);
    printf("%-44s %10" PRIu64 "\n", "SUSPECT events (no action on them)", t->suspect);
    printf("  SUSPECT events by %" PRId64 " s of the run:", t->bucket_ms / 1000);
    for (int b = 0; b < SOAK_BUCKETS && (int64_t)b * t->bucket_ms < (int64_t)o->duration_s * 1000; b++)
        printf(" %" PRIu64, t->suspect_at[b]);
    printf("\n");
    printf("%-44s %10" PRIu64 "   (%zu real crashes)\n", "DEAD events", t->dead, st->n_crashed);
    printf("%-44s %10" PRIu64 "\n", "restart events", t->restart_events);
    printf("%-44s %10" PRIu64 "\n", "fence events", t->fence_events);
    printf("%-44s %10" PRIu64 "\n", "Controls sent", t->controls);
    printf("%-44s %10" PRIu64 "\n", "restarts carried out (fleet-sim)", t->sim_restarts);
    printf("%-44s %10" PRIu64 "   target 0: %s\n", "FALSE DEADs", t->false_dead, t->false_dead ? "NOT met" : "met");
    printf("%-44s %10" PRIu64 "   target 0: %s\n", "FALSE restarts/fences (events)", t->false_restart,
           t->false_restart ? "NOT met" : "met");
    printf("%-44s %10" PRIu64 "   target 0: %s\n", "FALSE Controls", t->false_controls,
           t->false_controls ? "NOT met" : "met");
    printf("%-44s %10" PRIu64 "   target 0: %s\n", "FALSE restarts carried out (fleet-sim)", t->false_sim_restarts,
           t->false_sim_restarts ? "NOT met" : "met");
    printf("%-44s %6" PRIu64 "/%-3zu   %s\n", "crashes caught (DEAD, RESTART, revived)", t->crashes_caught,
           st->n_crashed, t->crashes_caught == st->n_crashed ? "all" : "MISSED some");
    printf("%-44s %10s\n", "fleet steady at the end", settled ? "yes" : "NO");
    printf("%-44s %10" PRId64 "   (sampled at t=%.1f s, steady)\n", "supervisor RSS start (KiB)", m->start_kb,
           (double)m->start_at_ms / 1000);
    printf("%-44s %10" PRId64 "\n", "supervisor RSS end (KiB)", m->end_kb);
    printf("%-44s %10" PRId64 "\n", "supervisor RSS max (KiB)", m->max_kb);
    printf("%-44s %10" PRId64 "   (end - that: %+" PRId64 " KiB)\n", "supervisor RSS when back after the restart",
           m->back_kb, m->end_kb - m->back_kb);
    printf("%-44s %+9.1f%%   bound end <= start x %.1f + %" PRIu64 " KiB: %s\n", "RSS end vs start",
           m->start_kb > 0 ? 100.0 * (double)(m->end_kb - m->start_kb) / (double)m->start_kb : 0.0, RSS_GROWTH_MAX,
           o->rss_slack_kb, rss_ok ? "flat" : (o->no_rss_check ? "GREW (not checked)" : "GREW"));
}

int main(int argc, char **argv)
{
    struct soak_opts o;
    struct natsd server = { 0 };
    struct soak_recorder rec;
    struct proc sup = { 0 }, sim = { 0 };
    struct rss m = { 0 };
    struct nats_restart nr = { .recovered_ms = -1 };
    struct soak_story story = { .restarted = { .size = sizeof(struct soak_control) } };
    struct soak_list audit = { .size = sizeof(struct soak_event) };
    struct soak_tally t = { 0 };
    struct soak_trace tr = { .last = "" };
    char seed_path[PATH_MAX_LEN], config_path[PATH_MAX_LEN], pub[FLEET_NKEY_PUBLIC_LEN + 1];
    char num[4][32], crash[SOAK_MAX_CRASHES][FLEET_NAME_MAX + 24], *sim_args[32 + 2 * SOAK_MAX_CRASHES];
    char *config = NULL, *sup_out = NULL, *sim_out = NULL;
    char *sup_args[] = { "fleet-supervisor", "--config", config_path, NULL };
    bool recording = false, settled = false, rss_ok, clean = true;
    uint64_t audit_msgs = 0;
    size_t live_events;
    int64_t t0;
    int rc = 1, args = parse_args(argc, argv, &o);

    if (args != BENCH_RUN)
        return args;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (natsd_start(&server, true) != 0)
        return 1;
    snprintf(seed_path, sizeof(seed_path), "%s/soak.seed", server.dir);
    snprintf(config_path, sizeof(config_path), "%s/soak.yaml", server.dir);
    if (make_key(seed_path, pub, sizeof(pub)) != 0 || (config = soak_config(&o, server.url, seed_path)) == NULL ||
        write_file(config_path, config) != 0)
        goto out;
    recording = true;
    if (soak_rec_start(&rec, server.url) != 0 || start_waiting(&sup, sup_args, "fleet-supervisor started") != 0)
        goto out;
    sim_argv(&o, server.url, pub, num, crash, sim_args);
    printf("soak: %" PRIu64 " instances for %" PRIu64 " s, nats-server restart at %" PRIu64 " s, %" PRIu64
           " real crashes at",
           o.services * o.per_service, o.duration_s, o.restart_at_s, o.crashes);
    for (uint64_t k = 0; k < o.crashes; k++)
        printf(" %" PRIu64 " s", crash_at_s(&o, k));
    printf("\n");
    t0 = proc_now_ms();
    story.start_ms = soak_wall_ms();
    if (start_waiting(&sim, sim_args, "\"start\"") != 0)
        goto out;
    if (soak(&o, &server, &rec, &sup, t0, &m, &nr) != 0)
        goto out;
    settled = settle(&rec, (uint32_t)(o.services * o.per_service));
    rss_sample(&m, sup.pid);
    /* The supervisor first: the sim's own stop is not a fleet-wide death. */
    clean &= stop_proc(&sup, "fleet-supervisor");
    clean &= stop_proc(&sim, "fleet-sim");
    if (soak_read_audit(rec.nc, &audit, &audit_msgs) != 0)
        goto out;
    sup_out = proc_output(&sup);
    sim_out = proc_output(&sim);
    clean &= proc_output_clean(&sup) && proc_output_clean(&sim);
    soak_each_json_line(sim_out, soak_sim_line, &story);
    printf("\nsupervisor trace (observer, leadership, NATS link, JetStream):\n");
    soak_each_json_line(sup_out, soak_supervisor_line, &tr);
    soak_trace_flush(&tr);
    printf("\nfalse actions and missed crashes (none is the target):\n");
    pthread_mutex_lock(&rec.lock);    /* the recorder is still subscribed */
    t.bucket_ms = (int64_t)(o.duration_s * 1000 + SOAK_BUCKETS - 1) / SOAK_BUCKETS;
    soak_judge(&audit, &rec.controls, &story, &t);
    live_events = rec.events.n;
    rss_ok = rss_flat(m.start_kb, m.end_kb, o.rss_slack_kb);
    report(&o, &t, &m, &nr, &rec, audit_msgs, live_events, &story, settled, rss_ok);
    if (live_events > audit.n)
        printf("the audit stream holds fewer events than the live subscription saw: FAILED\n");
    rc = t.false_dead || t.false_restart || t.false_controls || t.false_sim_restarts ||
         t.crashes_caught != story.n_crashed || story.n_crashed != o.crashes || nr.recovered_ms < 0 || !settled ||
         live_events > audit.n || rec.lost > 0 || (!rss_ok && !o.no_rss_check) || !clean;
    pthread_mutex_unlock(&rec.lock);
    printf("verdict: %s\n", rc == 0 ? "PASS" : "FAIL");
out:
    if (rc != 0 && sup_out == NULL && sup.pid != 0) {
        char *text = proc_output(&sup);

        fprintf(stderr, "--- fleet-supervisor output (tail) ---\n%s\n",
                text != NULL && strlen(text) > 8000 ? text + strlen(text) - 8000 : (text ? text : ""));
        free(text);
    }
    proc_kill(&sup);
    proc_kill(&sim);
    if (recording)
        soak_rec_stop(&rec);
    natsd_stop(&server, false);
    nats_CloseAndWait(0);
    if (recording)
        soak_rec_free(&rec);
    free(config);
    free(sup_out);
    free(sim_out);
    free(audit.v);
    free(story.restarted.v);
    return rc;
}
