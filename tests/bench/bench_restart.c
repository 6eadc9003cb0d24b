/* Restart race: how soon a SIGKILLed child runs again, fleet-agent against
 * runit's runsv and s6's s6-supervise, with a bare fork/exec loop as the
 * floor (issue 13 §3, DESIGN.md §11).
 *
 * Contenders, all started by the bench on private service directories in a
 * scratch folder and stopped by PID at the end:
 *   bare        a process of the bench's own that forks and execs the child,
 *               waits for it and does it again: nothing but fork/exec/wait
 *   runsv       runsv <dir>, ./run a symlink to the child
 *   s6          s6-supervise <dir> with readiness notification
 *               (notification-fd 3: the child writes a newline on it)
 *   agent       fleet-agent alone (its own prefix: no supervisor is heard),
 *               restarting the child locally
 *   agent+sup   fleet-agent under a real fleet-supervisor holding a signing
 *               key, on a real nats-server with JetStream (its lease and
 *               the RESTART's durable write): kill -> EXITED heartbeat ->
 *               signed RESTART -> the agent starts the child
 * The child (restart_child.c) stamps CLOCK_MONOTONIC as its first
 * instruction and writes the stamp to the contender's FIFO.
 *
 * One kill: wait until the contender's child has been up longer than
 * --up-ms, read the clock, SIGKILL it, wait for the next stamp on its FIFO:
 * latency = that stamp - the kill. Rounds of --kills kills per contender,
 * the contenders taking turns, the first of each turn rotating, so no
 * contender always follows the same one. Before measuring, one unmeasured
 * kill per contender proves each path works (and lets the supervisor settle).
 *
 * For the supervised path the bench also listens on the instance's heartbeat
 * and control subjects, so its kills are split into hand-offs as seen on
 * the wire: kill -> EXITED heartbeat, -> signed RESTART, -> the new child.
 *
 * Output: p50/p99/max per contender (and p50 per round), the targets of the
 * supervised path, and the idle VmRSS of runsv, s6-supervise, both
 * fleet-agents and fleet-supervisor. Exits 1 only when it could not measure
 * (a contender did not restart within --timeout-ms, a program missing), never
 * on a missed target unless --strict is given. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bench_util.h"
#include "fleet/subjects.h"
#include "fleet/v1/fleet.pb-c.h"
#include "natsd.h"
#include "proc.h"
#include "restart_stamp.h"

#define PATH_LEN 512
#define ENV_LEN (PATH_LEN + 32)
#define START_WAIT_MS 15000      /* a contender's first child, the supervisor's start */
#define WARMUP_WAIT_MS 30000     /* the unmeasured kill: the slowest path settles */
#define STOP_WAIT_MS 5000
#define SUPERVISED_SERVICE "restart"
#define SUPERVISED_INSTANCE "sup-1"
/* The supervisor's policy: restart at once after a stable life (the bench's
 * children live > --up-ms, longer than this). */
#define SUPERVISED_STABLE_MS 1000
#define TARGET_P50_MS 2.5
#define TARGET_P99_MS 4.0

enum contender_kind { C_BARE, C_RUNSV, C_S6, C_AGENT, C_AGENT_SUP, C_COUNT };

static const char *const contender_name[C_COUNT] = {
    [C_BARE] = "bare fork/exec loop",
    [C_RUNSV] = "runsv",
    [C_S6] = "s6-supervise + readiness",
    [C_AGENT] = "fleet-agent alone",
    [C_AGENT_SUP] = "fleet-agent + supervisor",
};

struct contender {
    enum contender_kind kind;
    char dir[PATH_LEN];          /* its service directory */
    char fifo[PATH_LEN];
    char stamp_env[ENV_LEN];     /* BENCH_STAMP_FIFO=<fifo> */
    int fd;                      /* the FIFO, read end (O_RDWR: never EOF) */
    struct proc proc;            /* runsv, s6-supervise, fleet-agent or the bare loop */
    pid_t child;                 /* the latest stamped child */
    int64_t child_since_ns;
    struct bench_series all;
    struct bench_series *round;  /* [rounds] */
};

/* What the bench hears of the supervised instance (nats.c's thread writes,
 * the main thread reads). */
struct wire {
    pthread_mutex_t lock;
    int64_t exited_ns;           /* latest EXITED heartbeat's arrival */
    int64_t control_ns;          /* latest Control's arrival */
};

struct bench_opts {
    uint64_t rounds, kills, up_ms, timeout_ms;
    uint64_t fleet_services, fleet_per_service; /* fleet-sim's load on the supervisor; 0: none */
    bool strict;
};

struct bench {
    struct bench_opts opt;
    char dir[64];                /* scratch folder */
    char child_path[PATH_LEN];
    char url_env[96];
    char pub[128];               /* the supervisor's public key */
    struct natsd server;
    struct proc supervisor;
    struct proc sim;             /* fleet-sim, with --fleet-services */
    struct contender c[C_COUNT];
    natsConnection *nc;
    natsSubscription *hb_sub, *ctl_sub;
    struct wire wire;
    struct bench_series to_exited, to_control, to_child; /* the supervised path's hand-offs */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_restart [--rounds N] [--kills N] [--up-ms MS] [--timeout-ms MS] [--strict]\n"
            "                     [--fleet-services N --fleet-per-service M]\n"
            "  SIGKILL a child up longer than --up-ms (default 2000), time until its replacement's\n"
            "  first instruction; --rounds (default 3) x --kills (default 50) per contender:\n"
            "  bare fork/exec loop, runsv, s6-supervise + readiness, fleet-agent alone,\n"
            "  fleet-agent + fleet-supervisor (signed RESTART). --timeout-ms (default 10000):\n"
            "  longest wait for one restart. --strict: exit 3 when the supervised path misses\n"
            "  p50 <= %.1f ms or p99 <= %.1f ms. --fleet-services N: the supervisor also\n"
            "  tracks fleet-sim's N x M instances (svc-<i>, 1 s interval) throughout.\n",
            TARGET_P50_MS, TARGET_P99_MS);
}

/* ---- files ---- */

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "bench_restart: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fputs(text, f) < 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "bench_restart: cannot write %s\n", path);
    return rc;
}

static void remove_tree(const char *dir)
{
    char *argv[] = { "/bin/rm", "-rf", (char *)dir, NULL };

    if (dir[0] != '\0')
        (void)proc_run(argv, STOP_WAIT_MS, NULL, NULL);
}

/* ---- stamps ---- */

/* Waits until a stamp from another pid than `old` arrives on c's FIFO, up to
 * `timeout_ms`. Returns 0 with c->child/child_since_ns updated, or -1. */
static int wait_stamp(struct contender *c, pid_t old, int64_t timeout_ms)
{
    int64_t deadline = bench_now_ns() + timeout_ms * 1000000;

    for (;;) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        struct restart_stamp st;
        int64_t left_ms = (deadline - bench_now_ns()) / 1000000;
        ssize_t n;

        if (left_ms < 0)
            return -1;
        if (poll(&pfd, 1, (int)left_ms + 1) < 0 && errno != EINTR)
            return -1;
        n = read(c->fd, &st, sizeof(st));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n != (ssize_t)sizeof(st)) {
            fprintf(stderr, "bench_restart: %s: short stamp (%zd bytes)\n", contender_name[c->kind], n);
            return -1;
        }
        if ((pid_t)st.pid == old)
            continue;            /* cannot happen: a pid stamps once */
        c->child = (pid_t)st.pid;
        c->child_since_ns = st.ns;
        return 0;
    }
}

/* ---- the supervised path on the wire ---- */

static void on_hb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct wire *w = closure;
    int64_t now = bench_now_ns();
    Fleet__V1__Heartbeat *hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                           (const uint8_t *)natsMsg_GetData(msg));

    (void)nc;
    (void)sub;
    if (hb != NULL && hb->state == FLEET__V1__SERVING_STATE__SERVING_STATE_EXITED) {
        pthread_mutex_lock(&w->lock);
        if (w->exited_ns == 0)
            w->exited_ns = now;      /* the first EXITED after the kill */
        pthread_mutex_unlock(&w->lock);
    }
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
    natsMsg_Destroy(msg);
}

static void on_control(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct wire *w = closure;
    int64_t now = bench_now_ns();

    (void)nc;
    (void)sub;
    pthread_mutex_lock(&w->lock);
    if (w->control_ns == 0)
        w->control_ns = now;
    pthread_mutex_unlock(&w->lock);
    natsMsg_Destroy(msg);
}

static int wire_listen(struct bench *b)
{
    char hb[FLEET_SUBJECT_MAX], ctl[FLEET_SUBJECT_MAX];
    natsStatus s;

    pthread_mutex_init(&b->wire.lock, NULL);
    (void)fleet_subject(hb, sizeof(hb), FLEET_SUBJECT_HB, "fleet", SUPERVISED_SERVICE, SUPERVISED_INSTANCE);
    (void)fleet_subject(ctl, sizeof(ctl), FLEET_SUBJECT_CTL, "fleet", SUPERVISED_SERVICE, SUPERVISED_INSTANCE);
    s = natsConnection_ConnectTo(&b->nc, b->server.url);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&b->hb_sub, b->nc, hb, on_hb, &b->wire);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&b->ctl_sub, b->nc, ctl, on_control, &b->wire);
    if (s == NATS_OK)
        s = natsConnection_Flush(b->nc);
    if (s != NATS_OK)
        fprintf(stderr, "bench_restart: cannot listen on %s and %s: %s\n", hb, ctl, natsStatus_GetText(s));
    return s == NATS_OK ? 0 : -1;
}

static void wire_reset(struct wire *w)
{
    pthread_mutex_lock(&w->lock);
    w->exited_ns = w->control_ns = 0;
    pthread_mutex_unlock(&w->lock);
}

/* After a supervised kill: the hand-offs, when both were heard in order. */
static void wire_split(struct bench *b, int64_t kill_ns, int64_t child_ns)
{
    int64_t exited, control;

    /* The Control's arrival races the stamp's read by a hair: wait for it
     * briefly (it was sent before the child started). */
    for (int k = 0; k < 100; k++) {
        pthread_mutex_lock(&b->wire.lock);
        exited = b->wire.exited_ns;
        control = b->wire.control_ns;
        pthread_mutex_unlock(&b->wire.lock);
        if (exited != 0 && control != 0)
            break;
        bench_sleep_ms(1);
    }
    if (exited < kill_ns || control < exited)
        return;
    bench_series_add(&b->to_exited, exited - kill_ns);
    bench_series_add(&b->to_control, control - exited);
    bench_series_add(&b->to_child, child_ns - control);
}

/* ---- contenders ---- */

/* The floor: fork, exec the child, wait, again, until SIGKILLed. Runs in a
 * process forked from the (single-threaded) bench. */
static void bare_loop(const char *child_path, char *const envp[])
{
    char *argv[] = { (char *)child_path, NULL };

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) {
        pid_t p = fork();

        if (p == 0) {
            execve(child_path, argv, envp);
            _exit(127);
        }
        if (p < 0)
            _exit(1);
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}

static int start_bare(struct bench *b, struct contender *c)
{
    char *envp[] = { c->stamp_env, NULL };
    pid_t p = fork();

    if (p < 0)
        return -1;
    if (p == 0)
        bare_loop(b->child_path, envp);
    c->proc.pid = p;
    return 0;
}

/* runsv / s6-supervise on c->dir, whose ./run is the child itself. */
static int start_service_dir(struct bench *b, struct contender *c)
{
    char run[PATH_LEN + 8], path[PATH_LEN + 32];
    char ready_env[] = RESTART_READY_ENV "=3";
    char *runsv_argv[] = { "/usr/bin/runsv", c->dir, NULL };
    char *s6_argv[] = { "/usr/bin/s6-supervise", c->dir, NULL };
    char *envp[] = { c->stamp_env, c->kind == C_S6 ? ready_env : NULL, NULL };
    char **argv = c->kind == C_S6 ? s6_argv : runsv_argv;

    if (access(argv[0], X_OK) != 0) {
        fprintf(stderr, "bench_restart: %s is missing (scripts/deps.sh --bench installs runit and s6)\n", argv[0]);
        return -1;
    }
    snprintf(run, sizeof(run), "%s/run", c->dir);
    if (symlink(b->child_path, run) != 0) {
        fprintf(stderr, "bench_restart: symlink %s: %s\n", run, strerror(errno));
        return -1;
    }
    if (c->kind == C_S6) {
        snprintf(path, sizeof(path), "%s/notification-fd", c->dir);
        if (write_text(path, "3\n") != 0)
            return -1;
    }
    return proc_start(&c->proc, argv, envp);
}

static int start_agent(struct bench *b, struct contender *c)
{
    bool supervised = c->kind == C_AGENT_SUP;
    char *argv[] = { "fleet-agent", "--service", supervised ? SUPERVISED_SERVICE : "restart-alone",
                     "--instance", supervised ? SUPERVISED_INSTANCE : "alone-1",
                     /* alone: a prefix no supervisor speaks on, so none is ever heard */
                     "--prefix", supervised ? "fleet" : "benchalone",
                     "--trust", b->pub, "--grace-ms", "1000", "--", b->child_path, NULL };
    char *envp[] = { b->url_env, c->stamp_env, NULL };

    return proc_start(&c->proc, argv, envp);
}

/* fleet-sim: the supervisor's background load, every instance at 1 s. */
static int start_sim(struct bench *b)
{
    char services[24], per[24];
    char *argv[] = { "fleet-sim", "--services", services, "--instances-per-service", per, NULL };
    char *envp[] = { b->url_env, NULL };

    snprintf(services, sizeof(services), "%" PRIu64, b->opt.fleet_services);
    snprintf(per, sizeof(per), "%" PRIu64, b->opt.fleet_per_service);
    return proc_start(&b->sim, argv, envp);
}

static int start_supervisor(struct bench *b)
{
    char seed[PATH_LEN], config_path[PATH_LEN], config[16384];
    char *keygen[] = { "fleetctl", "keygen", "--out", seed, NULL };
    size_t used;
    char *argv[] = { "fleet-supervisor", "--config", config_path, NULL };
    char *out = NULL;
    int st;

    snprintf(seed, sizeof(seed), "%s/supervisor.seed", b->dir);
    snprintf(config_path, sizeof(config_path), "%s/supervisor.yaml", b->dir);
    st = proc_run(keygen, START_WAIT_MS, &out, NULL);
    if (st != 0 || out == NULL || sscanf(out, "%127s", b->pub) != 1) {
        fprintf(stderr, "bench_restart: fleetctl keygen failed:\n%s\n", out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    used = (size_t)snprintf(config, sizeof(config),
                            "nats:\n  url: %s\n"
                            "control:\n  signing_key_file: %s\n"
                            "policy:\n  backoff_initial_ms: 100\n  backoff_max_ms: 1000\n  stable_after_ms: %d\n"
                            "services:\n  - name: " SUPERVISED_SERVICE "\n    desired: 1\n    crashloop_max: 16\n"
                            "    crashloop_window_s: 1\n",
                            b->server.url, seed, SUPERVISED_STABLE_MS);
    /* fleet-sim's services, so its heartbeats are tracked, not refused */
    for (uint64_t k = 0; k < b->opt.fleet_services && used < sizeof(config); k++)
        used += (size_t)snprintf(config + used, sizeof(config) - used, "  - name: svc-%" PRIu64 "\n    desired: %" PRIu64 "\n",
                                 k, b->opt.fleet_per_service);
    if (used >= sizeof(config)) {
        fprintf(stderr, "bench_restart: the supervisor's config does not fit %zu bytes\n", sizeof(config));
        return -1;
    }
    if (write_text(config_path, config) != 0 || proc_start(&b->supervisor, argv, NULL) != 0)
        return -1;
    if (!proc_wait_output(&b->supervisor, "fleet-supervisor started", START_WAIT_MS)) {
        fprintf(stderr, "bench_restart: fleet-supervisor did not start within %d ms\n", START_WAIT_MS);
        return -1;
    }
    return b->opt.fleet_services > 0 ? start_sim(b) : 0;
}

static int contender_start(struct bench *b, struct contender *c)
{
    int rc;

    snprintf(c->dir, sizeof(c->dir), "%s/svc-%d", b->dir, (int)c->kind);
    snprintf(c->fifo, sizeof(c->fifo), "%s/stamp-%d.fifo", b->dir, (int)c->kind);
    snprintf(c->stamp_env, sizeof(c->stamp_env), RESTART_STAMP_ENV "=%s", c->fifo);
    if (mkdir(c->dir, 0755) != 0 || mkfifo(c->fifo, 0600) != 0) {
        fprintf(stderr, "bench_restart: cannot make %s: %s\n", c->dir, strerror(errno));
        return -1;
    }
    c->fd = open(c->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (c->fd < 0) {
        fprintf(stderr, "bench_restart: open %s: %s\n", c->fifo, strerror(errno));
        return -1;
    }
    switch (c->kind) {
    case C_BARE: rc = start_bare(b, c); break;
    case C_RUNSV:
    case C_S6: rc = start_service_dir(b, c); break;
    default: rc = start_agent(b, c); break;
    }
    if (rc != 0)
        return -1;
    if (wait_stamp(c, 0, START_WAIT_MS) != 0) {
        fprintf(stderr, "bench_restart: %s started no child within %d ms\n", contender_name[c->kind], START_WAIT_MS);
        return -1;
    }
    return 0;
}

/* Writes `cmd` to <dir>/supervise/control (runsv's and s6-supervise's
 * command FIFO: "d" down, "x" exit). Returns 0 or -1. */
static int service_control(const struct contender *c, const char *cmd)
{
    char path[PATH_LEN + 32];
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/supervise/control", c->dir);
    fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = write(fd, cmd, strlen(cmd));
    close(fd);
    return n == (ssize_t)strlen(cmd) ? 0 : -1;
}

/* Stops the contender by its pid (runsv and s6-supervise told to take the
 * service down and exit first), then its last child if anything is left. */
static void contender_stop(struct contender *c)
{
    if (c->proc.pid > 0) {
        if (c->kind == C_RUNSV || c->kind == C_S6)
            (void)service_control(c, "dx");
        else if (c->kind != C_BARE)
            (void)proc_signal(&c->proc, SIGTERM);
        if (c->kind != C_BARE)
            (void)proc_wait(&c->proc, STOP_WAIT_MS);
        proc_kill(&c->proc);         /* still running: SIGKILL; the log goes either way */
    }
    /* Down or orphaned (the bare loop's): ours, never killed by us before. */
    if (c->child > 0 && kill(c->child, 0) == 0 && kill(c->child, SIGKILL) == 0)
        c->child = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* ---- the race ---- */

/* One kill of c's child. Returns 0 with *latency_ns, or -1 (no restart
 * within `timeout_ms`). */
static int kill_one(struct bench *b, struct contender *c, int64_t timeout_ms, int64_t *latency_ns)
{
    int64_t up_ns = (int64_t)b->opt.up_ms * 1000000, kill_ns;
    pid_t old = c->child;

    while (bench_now_ns() - c->child_since_ns <= up_ns)
        bench_sleep_ms((up_ns - (bench_now_ns() - c->child_since_ns)) / 1000000 + 1);
    if (c->kind == C_AGENT_SUP)
        wire_reset(&b->wire);
    kill_ns = bench_now_ns();
    if (kill(old, SIGKILL) != 0) {
        fprintf(stderr, "bench_restart: %s: kill(%d): %s\n", contender_name[c->kind], (int)old, strerror(errno));
        return -1;
    }
    if (wait_stamp(c, old, timeout_ms) != 0) {
        fprintf(stderr, "bench_restart: %s: no new child within %" PRId64 " ms of the kill\n",
                contender_name[c->kind], timeout_ms);
        return -1;
    }
    *latency_ns = c->child_since_ns - kill_ns;
    return 0;
}

static int run_race(struct bench *b)
{
    int64_t lat;

    for (int k = 0; k < C_COUNT; k++)
        if (kill_one(b, &b->c[k], WARMUP_WAIT_MS, &lat) != 0)
            return -1;
    for (uint64_t r = 0; r < b->opt.rounds; r++) {
        for (uint64_t i = 0; i < b->opt.kills; i++) {
            for (int j = 0; j < C_COUNT; j++) {
                struct contender *c = &b->c[(i + r + (uint64_t)j) % C_COUNT];

                if (kill_one(b, c, (int64_t)b->opt.timeout_ms, &lat) != 0)
                    return -1;
                if (c->kind == C_AGENT_SUP)
                    wire_split(b, c->child_since_ns - lat, c->child_since_ns);
                bench_series_add(&c->all, lat);
                bench_series_add(&c->round[r], lat);
            }
        }
        fprintf(stderr, "bench_restart: round %" PRIu64 "/%" PRIu64 " done\n", r + 1, b->opt.rounds);
    }
    return 0;
}

/* ---- report ---- */

static void print_rss(const char *who, pid_t pid)
{
    int64_t kib = pid > 0 ? proc_rss_kb(pid) : -1;

    if (kib < 0)
        printf("  %-28s    -\n", who);
    else
        printf("  %-28s %6.1f MB (%" PRId64 " KiB)\n", who, (double)kib / 1024.0, kib);
}

static bool report(struct bench *b)
{
    struct bench_table t = { .num_width = 9, .target_width = 10 };
    struct contender *sup = &b->c[C_AGENT_SUP];
    bool met;

    printf("restart race: SIGKILL a child up > %" PRIu64 " ms -> its replacement's first instruction, "
           "%" PRIu64 " rounds x %" PRIu64 " kills per contender, turns rotating",
           b->opt.up_ms, b->opt.rounds, b->opt.kills);
    if (b->opt.fleet_services > 0)
        printf("; the supervisor also tracks %" PRIu64 " fleet-sim instances at 1 s",
               b->opt.fleet_services * b->opt.fleet_per_service);
    printf("\n");
    bench_table_header(&t);
    for (int k = 0; k < C_COUNT; k++) {
        struct contender *c = &b->c[k];

        if (k == C_AGENT_SUP)
            bench_series_row(&t, contender_name[k], &c->all, "p99 <= 4", TARGET_P99_MS);
        else
            bench_series_row(&t, contender_name[k], &c->all, NULL, 0);
    }
    printf("the supervised path's hand-offs, as heard on the wire by the bench:\n");
    bench_series_row(&t, "  kill -> EXITED heartbeat", &b->to_exited, NULL, 0);
    bench_series_row(&t, "  EXITED -> signed RESTART", &b->to_control, NULL, 0);
    bench_series_row(&t, "  RESTART -> child's first instr.", &b->to_child, NULL, 0);
    printf("p50 per round (ms):\n");
    for (int k = 0; k < C_COUNT; k++) {
        printf("  %-28s", contender_name[k]);
        for (uint64_t r = 0; r < b->opt.rounds; r++) {
            bench_series_sort(&b->c[k].round[r]);
            if (b->c[k].round[r].n > 0)
                printf(" %8.3f", bench_series_pct_ms(&b->c[k].round[r], 0.50));
        }
        printf("\n");
    }
    met = sup->all.n > 0 && bench_series_pct_ms(&sup->all, 0.50) <= TARGET_P50_MS &&
          bench_series_pct_ms(&sup->all, 0.99) <= TARGET_P99_MS;
    if (sup->all.n > 0)
        printf("supervised path: p50 %.3f ms (target <= %.1f), p99 %.3f ms (target <= %.1f): %s\n",
               bench_series_pct_ms(&sup->all, 0.50), TARGET_P50_MS, bench_series_pct_ms(&sup->all, 0.99),
               TARGET_P99_MS, met ? "met" : "NOT met");
    return met;
}

/* Idle: every child long up, nothing killed for a while. */
static void report_rss(struct bench *b)
{
    printf("idle VmRSS (target fleet-agent <= 4 MB):\n");
    print_rss("runsv", b->c[C_RUNSV].proc.pid);
    print_rss("s6-supervise", b->c[C_S6].proc.pid);
    print_rss("fleet-agent alone", b->c[C_AGENT].proc.pid);
    print_rss("fleet-agent (supervised)", b->c[C_AGENT_SUP].proc.pid);
    print_rss("fleet-supervisor", b->supervisor.pid);
}

int main(int argc, char **argv)
{
    static struct bench b = {
        .opt = { .rounds = 3, .kills = 50, .up_ms = 2000, .timeout_ms = 10000, .fleet_per_service = 100 },
    };
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--rounds", 1, 100, &b.opt.rounds),
        BENCH_FLAG_NUM("--kills", 1, 100000, &b.opt.kills),
        BENCH_FLAG_NUM("--up-ms", 0, 600000, &b.opt.up_ms),
        BENCH_FLAG_NUM("--timeout-ms", 1, 600000, &b.opt.timeout_ms),
        BENCH_FLAG_NUM("--fleet-services", 0, 200, &b.opt.fleet_services),
        BENCH_FLAG_NUM("--fleet-per-service", 1, 10000, &b.opt.fleet_per_service),
        BENCH_FLAG_ON("--strict", &b.opt.strict),
    };
    int rc = bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
    bool met = false, measured = false;

    if (rc != BENCH_RUN)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    for (int k = 0; k < C_COUNT; k++) {
        b.c[k].kind = (enum contender_kind)k;
        b.c[k].fd = -1;
        b.c[k].round = calloc(b.opt.rounds, sizeof(*b.c[k].round));
        if (b.c[k].round == NULL || bench_series_init(&b.c[k].all, b.opt.rounds * b.opt.kills, "bench_restart") != 0)
            return 1;
        for (uint64_t r = 0; r < b.opt.rounds; r++)
            if (bench_series_init(&b.c[k].round[r], b.opt.kills, "bench_restart") != 0)
                return 1;
    }
    if (bench_series_init(&b.to_exited, b.opt.rounds * b.opt.kills, "bench_restart") != 0 ||
        bench_series_init(&b.to_control, b.opt.rounds * b.opt.kills, "bench_restart") != 0 ||
        bench_series_init(&b.to_child, b.opt.rounds * b.opt.kills, "bench_restart") != 0)
        return 1;
    snprintf(b.child_path, sizeof(b.child_path), "%s", RESTART_CHILD_PATH); /* CMake's */
    snprintf(b.dir, sizeof(b.dir), "/tmp/bench-restart-XXXXXX");
    if (mkdtemp(b.dir) == NULL) {
        b.dir[0] = '\0';
        fprintf(stderr, "bench_restart: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    /* The bare loop forks first, while the bench is one thread and small. */
    if (contender_start(&b, &b.c[C_BARE]) != 0 || natsd_start(&b.server, true) != 0)
        goto out;
    snprintf(b.url_env, sizeof(b.url_env), "NATS_URL=%s", b.server.url);
    if (start_supervisor(&b) != 0 || wire_listen(&b) != 0)
        goto out;
    for (int k = C_BARE + 1; k < C_COUNT; k++)
        if (contender_start(&b, &b.c[k]) != 0)
            goto out;
    if (run_race(&b) != 0)
        goto out;
    measured = true;
    /* Idle: the last kills are > --up-ms old for all but the last turn;
     * give every contender one idle second more. */
    bench_sleep_ms(1000);
    met = report(&b);
    report_rss(&b);
out:
    if (!measured && b.supervisor.pid > 0) {
        char *text = proc_output(&b.supervisor);

        fprintf(stderr, "--- fleet-supervisor output (tail) ---\n%s\n",
                text ? text + (strlen(text) > 4000 ? strlen(text) - 4000 : 0) : "");
        free(text);
        for (int k = C_AGENT; k < C_COUNT; k++) {
            text = b.c[k].proc.pid > 0 ? proc_output(&b.c[k].proc) : NULL;
            if (text != NULL)
                fprintf(stderr, "--- %s output (tail) ---\n%s\n", contender_name[k],
                        text + (strlen(text) > 4000 ? strlen(text) - 4000 : 0));
            free(text);
        }
    }
    for (int k = C_COUNT - 1; k >= 0; k--)
        contender_stop(&b.c[k]);
    if (b.sim.pid > 0) {
        (void)proc_signal(&b.sim, SIGTERM);
        (void)proc_wait(&b.sim, STOP_WAIT_MS);
    }
    proc_kill(&b.sim);
    if (b.supervisor.pid > 0) {
        (void)proc_signal(&b.supervisor, SIGTERM);
        (void)proc_wait(&b.supervisor, STOP_WAIT_MS);
    }
    proc_kill(&b.supervisor);
    natsSubscription_Destroy(b.hb_sub);
    natsSubscription_Destroy(b.ctl_sub);
    natsConnection_Destroy(b.nc);
    natsd_stop(&b.server, false);
    nats_Close();
    remove_tree(b.dir);
    for (int k = 0; k < C_COUNT; k++) {
        for (uint64_t r = 0; b.c[k].round != NULL && r < b.opt.rounds; r++)
            bench_series_free(&b.c[k].round[r]);
        free(b.c[k].round);
        bench_series_free(&b.c[k].all);
    }
    bench_series_free(&b.to_exited);
    bench_series_free(&b.to_control);
    bench_series_free(&b.to_child);
    if (!measured)
        return 1;
    return b.opt.strict && !met ? 3 : 0;
}
