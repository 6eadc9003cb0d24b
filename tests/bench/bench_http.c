/* bench_http: latency of the HTTP surface (issue 12: every endpoint answers
 * within its own time budget while the supervisor ingests at full rate),
 * and what serving it costs the ingest.
 *
 * One nats-server on loopback with JetStream (so /readyz can say "leading")
 * and its monitoring port; fleet-supervisor with --http 127.0.0.1:<free
 * port> and a config of the studio's 45 services (fleet-sim's shape, 68
 * instances) plus the flood's services. A keeper thread in this process
 * sends the 68 instances' heartbeats every second throughout, as their
 * agents would; the flood is bench_ingest's load (bench_load.h), published
 * as fast as one nats.c connection can.
 *
 * libcurl clients, one thread each, a pause of --pause-ms between requests:
 * GET /healthz, /readyz, /metrics and /api/status on one kept-alive
 * connection per endpoint (latency = curl_easy_perform, request to last
 * byte); /api/events on a new connection per sample (time to the first
 * byte of the body: the stream's opening frame), closed at once.
 *
 * Supervisor 1, clients polling: an idle phase of --idle-ms (the keeper
 * only: the baseline), then the flood (a sample counts for the phase in
 * which it started and ended). Supervisor 2, fresh, no client: the same
 * idle wait and the same flood. Ingest rate as bench_ingest's B side
 * ($SRV.STATS polled); drops = heartbeats published (flood + keeper, the
 * keeper paused around both readings) - accepted, with stale, refused,
 * nats.c drops and the server's slow_consumers shown beside.
 *
 * Budgets are reported on p99, never asserted. Exit status: 0 when every
 * phase ran, 1 when the bench could not measure, 2 on bad arguments. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <nats/nats.h>

#include "bench_load.h"
#include "bench_util.h"
#include "fleet/v1/fleet.pb-c.h"
#include "fleet_shape.h"
#include "natsd.h"
#include "proc.h"

#define SERVER_MAX_PENDING "1073741824" /* as bench_ingest: the server never cuts a slow reader */
#define KEEPER_PERIOD_MS 1000
#define KEEPER_SETTLE_MS 300            /* after pausing the keeper, before a reading */
#define WARM_MS 2000                    /* the fleet heard and its status published before timing */
#define REQUEST_LIMIT_MS 5000
#define SAMPLES_MAX 200000

struct bench_opts {
    uint64_t messages, services, per_service, idle_ms, pause_ms;
    const char *supervisor;
};

/* The measured endpoints and their budgets (p99, ms). */
enum { EP_HEALTHZ, EP_READYZ, EP_METRICS, EP_STATUS, EP_EVENTS, EP_COUNT };
static const struct endpoint {
    const char *path;
    bool stream;      /* time to first body byte, a new connection per sample */
    const char *budget;
    double budget_ms;
} endpoints[EP_COUNT] = {
    [EP_HEALTHZ] = { "/healthz", false, "p99 <= 10", 10 },
    [EP_READYZ] = { "/readyz", false, "p99 <= 10", 10 },
    [EP_METRICS] = { "/metrics", false, "p99 <= 50", 50 },
    [EP_STATUS] = { "/api/status", false, "p99 <= 50", 50 },
    [EP_EVENTS] = { "/api/events", true, "p99 <= 50", 50 },
};

enum phase { PHASE_OFF = -1, PHASE_IDLE, PHASE_INGEST, PHASE_COUNT };

/* One client thread. `series`, `errors`, `bytes` and `status` are its own
 * until pthread_join. */
struct client {
    const struct endpoint *ep;
    char url[128];
    const atomic_int *phase;
    const atomic_bool *stop;
    uint64_t pause_ms;
    struct bench_series series[PHASE_COUNT];
    uint64_t errors;          /* no answer, or not 200 */
    size_t bytes, last_bytes; /* body of the request under way / of the last one */
    long status;              /* of the last answer */
    int64_t start_ns, first_byte_ns;
    pthread_t thread;
};

/* The 68 instances' 1 s heartbeats; `sent` and `paused` are shared. */
struct keeper {
    natsConnection *nc;
    const struct shape_service *shape;
    size_t n_services, n_instances;
    atomic_uint_fast64_t sent;
    atomic_bool paused, stop;
    pthread_t thread;
};

struct bench {
    struct bench_opts opt;
    struct natsd server;
    int monitor_port, http_port;
    struct bench_load load;
    natsConnection *pub, *ctl;
    char supervisor_path[512];
    struct keeper keeper;
};

/* One supervisor's flood. */
struct ingest_result {
    double rate, publish_rate;
    uint64_t published, accepted, stale, refused, sc_dropped;
    int64_t server_slow;
    double cpu_ns_per_hb;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_http [--messages M] [--services S] [--instances-per-service N]\n"
               "                  [--idle-ms MS] [--pause-ms MS] [--supervisor PATH]\n"
               "  defaults: 2000000 messages over 20 x 500 flood instances beside the 45-service\n"
               "  fleet, 10000 ms idle, 10 ms between a client's requests\n");
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--messages", 1, 50000000, &o->messages),
        BENCH_FLAG_NUM("--services", 1, 1000, &o->services),
        BENCH_FLAG_NUM("--instances-per-service", 1, 10000, &o->per_service),
        BENCH_FLAG_NUM("--idle-ms", 100, 600000, &o->idle_ms),
        BENCH_FLAG_NUM("--pause-ms", 0, 10000, &o->pause_ms),
        BENCH_FLAG_STR("--supervisor", &o->supervisor),
    };

    *o = (struct bench_opts){ .messages = 2000000, .services = 20, .per_service = 500, .idle_ms = 10000,
                              .pause_ms = 10 };
    return bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
}

/* ---- the keeper: the studio fleet's own heartbeats ---- */

static void *keeper_run(void *arg)
{
    struct keeper *k = arg;
    char instance[FLEET_NAME_MAX + 1], subject[BENCH_SUBJECT_MAX];
    Fleet__V1__Heartbeat hb = FLEET__V1__HEARTBEAT__INIT;
    uint8_t buf[256];
    uint64_t seq = 0;

    hb.interval_ms = KEEPER_PERIOD_MS;
    hb.state = FLEET__V1__SERVING_STATE__SERVING_STATE_SERVING;
    hb.version = "1.4.2";
    hb.host = "bench-host";
    hb.instance = instance;
    while (!atomic_load(&k->stop)) {
        int64_t next = bench_now_ns() / 1000000 + KEEPER_PERIOD_MS;
        size_t g = 0;

        if (!atomic_load(&k->paused)) {
            seq++;
            for (size_t s = 0; s < k->n_services; s++) {
                for (unsigned i = 1; i <= k->shape[s].instances; i++, g++) {
                    size_t len;

                    snprintf(instance, sizeof(instance), "%s-%u", k->shape[s].name, i);
                    snprintf(subject, sizeof(subject), "fleet.v1.hb.%s.%s", k->shape[s].name, instance);
                    hb.service = (char *)k->shape[s].name;
                    hb.incarnation = 0x51ed270b27a4c3d5u * (g + 1);
                    hb.seq = seq;
                    hb.pid = (uint32_t)(100 + g);
                    len = fleet__v1__heartbeat__pack(&hb, buf);
                    if (natsConnection_Publish(k->nc, subject, buf, (int)len) == NATS_OK)
                        atomic_fetch_add(&k->sent, 1);
                }
            }
        }
        while (!atomic_load(&k->stop) && bench_now_ns() / 1000000 < next)
            bench_sleep_ms(20);
    }
    return NULL;
}

/* Pauses the keeper and lets what it sent reach the supervisor; returns
 * how many it has sent. */
static uint64_t keeper_hold(struct keeper *k)
{
    atomic_store(&k->paused, true);
    natsConnection_Flush(k->nc);
    bench_sleep_ms(KEEPER_SETTLE_MS);
    return atomic_load(&k->sent);
}

/* ---- the HTTP clients ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct client *c = arg;

    (void)p;
    if (c->ep->stream) {
        if (c->first_byte_ns == 0)
            c->first_byte_ns = bench_now_ns();
        return 0; /* the first byte is all we wait for: end the transfer */
    }
    c->bytes += size * n;
    return size * n;
}

static void *client_run(void *arg)
{
    struct client *c = arg;
    CURL *h = curl_easy_init();

    if (h == NULL) {
        c->errors++;
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)REQUEST_LIMIT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (c->ep->stream) { /* a stream holds its connection: a new one per sample */
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    }
    while (!atomic_load(c->stop)) {
        int phase = atomic_load(c->phase);
        CURLcode rc;
        int64_t end;

        if (phase == PHASE_OFF) {
            bench_sleep_ms(5);
            continue;
        }
        c->bytes = 0;
        c->first_byte_ns = 0;
        c->status = 0;
        c->start_ns = bench_now_ns();
        rc = curl_easy_perform(h);
        end = c->ep->stream ? c->first_byte_ns : bench_now_ns();
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
        if ((c->ep->stream ? rc != CURLE_WRITE_ERROR || end == 0 : rc != CURLE_OK) || c->status != 200)
            c->errors++;
        else if (atomic_load(c->phase) == phase)
            bench_series_add(&c->series[phase], end - c->start_ns);
        c->last_bytes = c->bytes;
        bench_sleep_ms((int64_t)c->pause_ms);
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* ---- the supervisor ---- */

static int write_config(const struct bench *bn, const char *path)
{
    char name[FLEET_NAME_MAX + 1];
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "bench_http: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "nats:\n  url: %s\nsupervisor:\n  status_interval_ms: 1000\n  log_level: warn\n"
               "detector:\n  default_interval_ms: %u\nservices:\n",
            bn->server.url, BENCH_INTERVAL_MS);
    for (size_t s = 0; s < bn->keeper.n_services; s++)
        fprintf(f, "  - name: %s\n    desired: %u\n", bn->keeper.shape[s].name, bn->keeper.shape[s].instances);
    for (size_t s = 0; s < bn->opt.services; s++) {
        bench_service_name(s, name);
        fprintf(f, "  - name: %s\n    desired: %" PRIu64 "\n", name, bn->opt.per_service);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* Accepted, stale and refused of `id` after holding the keeper; *sent is
 * what the keeper had sent. Returns 0 or -1. */
static int reading(struct bench *bn, const char *id, struct bench_stats_sample *s, uint64_t *sent)
{
    *sent = keeper_hold(&bn->keeper);
    return bench_supervisor_stats(bn->ctl, id, s);
}

/* Starts supervisor number `n` (its clients polling when `clients` is set:
 * `phase` moves idle -> ingest -> off), waits --idle-ms, floods it. Returns
 * 0 with *r, or -1 when it could not measure. */
static int run_supervisor(struct bench *bn, int n, atomic_int *phase, bool clients, struct ingest_result *r)
{
    char config[300], id[32], listen[32];
    char *argv[] = { bn->supervisor_path, "--config", config, "--id", id, "--http", listen, NULL };
    struct bench_poller poll = { .nc = bn->ctl, .id = id };
    struct bench_stats_sample before, after;
    uint64_t sent0, sent1;
    int64_t slow0, slow1, cpu0, cpu1;
    struct proc sup = { 0 };
    pthread_t poll_thread;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    snprintf(config, sizeof(config), "%s/supervisor.yaml", bn->server.dir);
    snprintf(id, sizeof(id), "bench-http-%d", n);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", bn->http_port);
    if (write_config(bn, config) != 0 || proc_start(&sup, argv, NULL) != 0)
        return -1;
    if (!bench_supervisor_ready(bn->ctl, id, &sup)) {
        char *out = proc_output(&sup);

        fprintf(stderr, "bench_http: fleet-supervisor did not answer $SRV.PING:\n%s\n", out ? out : "");
        free(out);
        goto out_stop_supervisor;
    }
    atomic_store(&bn->keeper.paused, false);
    bench_sleep_ms(WARM_MS);
    if (clients)
        atomic_store(phase, PHASE_IDLE);
    bench_sleep_ms((int64_t)bn->opt.idle_ms);
    if (reading(bn, id, &before, &sent0) != 0 || bench_varz_int(bn->monitor_port, "slow_consumers", &slow0) != 0)
        goto out_stop_supervisor;
    atomic_store(&bn->keeper.paused, false);
    if (clients)
        atomic_store(phase, PHASE_INGEST);
    poll.base = before.accepted;
    poll.target = before.accepted + before.stale + before.refused + bn->load.n_msgs;
    cpu0 = bench_process_cpu_ns(sup.pid);
    if (pthread_create(&poll_thread, NULL, bench_poll_stats, &poll) != 0) {
        fprintf(stderr, "bench_http: cannot start the stats poller\n");
        goto out_stop_supervisor;
    }
    rc = bench_load_publish(bn->pub, &bn->load, &r->publish_rate);
    pthread_join(poll_thread, NULL);
    cpu1 = bench_process_cpu_ns(sup.pid);
    atomic_store(phase, PHASE_OFF);
    if (rc != 0 || reading(bn, id, &after, &sent1) != 0 ||
        bench_varz_int(bn->monitor_port, "slow_consumers", &slow1) != 0) {
        rc = -1;
        goto out_stop_supervisor;
    }
    r->rate = bench_poller_rate(&poll);
    r->published = bn->load.n_msgs + (sent1 - sent0);
    r->accepted = after.accepted - before.accepted;
    r->stale = after.stale - before.stale;
    r->refused = after.refused - before.refused;
    r->sc_dropped = after.sc_dropped - before.sc_dropped;
    r->server_slow = slow1 - slow0;
    if (cpu0 >= 0 && cpu1 >= cpu0 && r->accepted > 0)
        r->cpu_ns_per_hb = (double)(cpu1 - cpu0) / (double)r->accepted;
out_stop_supervisor:
    atomic_store(phase, PHASE_OFF);
    atomic_store(&bn->keeper.paused, true);
    if (proc_signal(&sup, SIGTERM) == 0 && proc_wait(&sup, 5000) < 0)
        fprintf(stderr, "bench_http: fleet-supervisor ignored SIGTERM for 5 s\n");
    proc_kill(&sup);
    return rc;
}

/* ---- report ---- */

static void print_ingest(const char *what, const struct ingest_result *r)
{
    printf("%-22s %12.0f %10" PRIu64 " %10" PRIu64 " %7" PRId64 " %12.0f %9.0f  stale=%" PRIu64 " refused=%" PRIu64
           " client_dropped=%" PRIu64 " server_slow=%" PRId64 "\n",
           what, r->rate, r->published, r->accepted, (int64_t)(r->published - r->accepted), r->publish_rate,
           r->cpu_ns_per_hb, r->stale, r->refused, r->sc_dropped, r->server_slow);
}

static void report(struct client *c, const struct ingest_result *polled, const struct ingest_result *quiet)
{
    static const char *phase_name[PHASE_COUNT] = { "idle", "full ingest" };
    const struct bench_table t = { .num_width = 8, .target_width = 10 };
    char figure[64];

    printf("\nlatency: request to last byte on one kept-alive connection per endpoint; /api/events:\n"
           "time to the first body byte, a new connection per sample\n");
    bench_table_header(&t);
    for (int p = 0; p < PHASE_COUNT; p++) {
        for (int e = 0; e < EP_COUNT; e++) {
            snprintf(figure, sizeof(figure), "%s%s, %s", endpoints[e].path, endpoints[e].stream ? " TTFB" : "",
                     phase_name[p]);
            bench_series_row(&t, figure, &c[e].series[p], endpoints[e].budget, endpoints[e].budget_ms);
        }
    }
    printf("bodies: /metrics %zu B, /api/status %zu B; errors (no answer or not 200):", c[EP_METRICS].last_bytes,
           c[EP_STATUS].last_bytes);
    for (int e = 0; e < EP_COUNT; e++)
        printf(" %s %" PRIu64, endpoints[e].path, c[e].errors);
    printf("\n\nsupervisor             rate (hb/s)  published   accepted   drops    publish/s cpu ns/hb\n");
    print_ingest("with HTTP clients", polled);
    print_ingest("without HTTP clients", quiet);
    printf("ingest with / without HTTP clients: %.3f\n", quiet->rate > 0 ? polled->rate / quiet->rate : 0);
}

/* ---- main ---- */

static int bench_open(struct bench *bn)
{
    natsStatus s;

    if (bn->opt.supervisor != NULL)
        snprintf(bn->supervisor_path, sizeof(bn->supervisor_path), "%s", bn->opt.supervisor);
    else if (proc_find_program("fleet-supervisor", bn->supervisor_path, sizeof(bn->supervisor_path)) != 0) {
        fprintf(stderr, "bench_http: fleet-supervisor not found: set FLEET_BIN_DIR or pass --supervisor PATH\n");
        return -1;
    }
    bn->monitor_port = natsd_free_port();
    bn->http_port = natsd_free_port();
    if (bn->monitor_port <= 0 || bn->http_port <= 0)
        return -1;
    snprintf(bn->server.extra_conf, sizeof(bn->server.extra_conf),
             "max_pending: %s\nwrite_deadline: \"60s\"\nhttp: 127.0.0.1:%d\n", SERVER_MAX_PENDING, bn->monitor_port);
    if (natsd_start(&bn->server, true) != 0)
        return -1;
    s = natsConnection_ConnectTo(&bn->pub, bn->server.url);
    if (s == NATS_OK)
        s = natsConnection_ConnectTo(&bn->ctl, bn->server.url);
    if (s == NATS_OK)
        s = natsConnection_ConnectTo(&bn->keeper.nc, bn->server.url);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_http: cannot connect to %s: %s\n", bn->server.url, natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

/* Undoes bench_open, whatever part of it succeeded. */
static void bench_close(struct bench *bn)
{
    natsConnection_Destroy(bn->keeper.nc);
    natsConnection_Destroy(bn->ctl);
    natsConnection_Destroy(bn->pub);
    natsd_stop(&bn->server, false);
}

int main(int argc, char **argv)
{
    struct bench bn = { 0 };
    struct client clients[EP_COUNT] = { 0 };
    struct ingest_result polled, quiet;
    atomic_int phase = PHASE_OFF;
    atomic_bool stop = false;
    int args = parse_args(argc, argv, &bn.opt), rc = 1, started = 0;
    bool keeper_started = false;

    if (args != BENCH_RUN)
        return args;
    signal(SIGPIPE, SIG_IGN);
    bn.keeper.shape = fleet_shape_default(&bn.keeper.n_services);
    for (size_t s = 0; s < bn.keeper.n_services; s++)
        bn.keeper.n_instances += bn.keeper.shape[s].instances;
    atomic_init(&bn.keeper.paused, true);
    if (bench_load_build(bn.opt.messages, bn.opt.services, bn.opt.per_service, NULL, &bn.load) != 0)
        return 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || nats_Open(-1) != NATS_OK) {
        fprintf(stderr, "bench_http: curl_global_init or nats_Open failed\n");
        goto out_free_load;
    }
    if (bench_open(&bn) != 0)
        goto out_close_bench;
    if (pthread_create(&bn.keeper.thread, NULL, keeper_run, &bn.keeper) != 0)
        goto out_close_bench;
    keeper_started = true;
    for (; started < EP_COUNT; started++) {
        struct client *c = &clients[started];

        c->ep = &endpoints[started];
        c->phase = &phase;
        c->stop = &stop;
        c->pause_ms = bn.opt.pause_ms;
        snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d%s", bn.http_port, c->ep->path);
        if (bench_series_init(&c->series[PHASE_IDLE], SAMPLES_MAX, "bench_http") != 0 ||
            bench_series_init(&c->series[PHASE_INGEST], SAMPLES_MAX, "bench_http") != 0 ||
            pthread_create(&c->thread, NULL, client_run, c) != 0)
            goto out_stop_threads;
    }
    printf("bench_http: 45 services / %zu instances at 1 s + flood of %zu heartbeats (%zu..%zu B) over %zu "
           "instances (%" PRIu64 " x %" PRIu64 "), idle %" PRIu64 " ms, pause %" PRIu64 " ms, server %s, http :%d\n",
           bn.keeper.n_instances, bn.load.n_msgs, bn.load.min_len, bn.load.max_len, bn.load.n_instances,
           bn.opt.services, bn.opt.per_service, bn.opt.idle_ms, bn.opt.pause_ms, bn.server.url, bn.http_port);
    fflush(stdout);
    if (run_supervisor(&bn, 1, &phase, true, &polled) != 0 || run_supervisor(&bn, 2, &phase, false, &quiet) != 0)
        goto out_stop_threads;
    rc = 0;
out_stop_threads:
    atomic_store(&stop, true);
    for (int k = 0; k < started; k++)
        pthread_join(clients[k].thread, NULL);
    if (rc == 0)
        report(clients, &polled, &quiet);
    for (int k = 0; k < EP_COUNT; k++) {
        bench_series_free(&clients[k].series[PHASE_IDLE]);
        bench_series_free(&clients[k].series[PHASE_INGEST]);
    }
    if (keeper_started) {
        atomic_store(&bn.keeper.stop, true);
        pthread_join(bn.keeper.thread, NULL);
    }
out_close_bench:
    bench_close(&bn);
    nats_Close();
    curl_global_cleanup();
out_free_load:
    bench_load_fini(&bn.load);
    return rc;
}
