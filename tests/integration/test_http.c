/* The HTTP surface end to end: a real nats-server, the real fleet-supervisor
 * with --http on a free loopback port, real agents, libcurl as the client,
 * promtool and a real Prometheus server judging /metrics. Every wait is on a
 * condition with a generous bound. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "fleetfx.h"

#define WAIT_MS 20000
#define SLOW_CLIENTS 1000
#define SLOW_STREAMS 20
/* Debian's prometheus package (scripts/deps.sh --test). */
#define PROMETHEUS "/usr/bin/prometheus"

enum { SH_AVAILABLE = 1 };

struct body {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    char *grown = realloc(b->data, b->len + size * n + 1);

    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* One request; returns the status (0: no answer) and the body (free it)
 * and headers when asked. */
static long request(const char *url, const char *method, const char *header, char **body, char **headers)
{
    struct body b = { .data = calloc(1, 1) }, h = { .data = calloc(1, 1) };
    struct curl_slist *list = header != NULL ? curl_slist_append(NULL, header) : NULL;
    CURL *c = curl_easy_init();
    long status = 0;

    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    if (method != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (list != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(list);
    if (body != NULL)
        *body = b.data;
    else
        free(b.data);
    if (headers != NULL)
        *headers = h.data;
    else
        free(h.data);
    return status;
}

struct http_fx {
    struct fleetfx fx;
    struct proc sup;
    struct proc agents[3];
    int port;
    char base[64];
};

static void start(struct http_fx *h, bool jetstream)
{
    static const char services[] = "  - name: web\n    desired: 2\n  - name: db\n    desired: 1\n";
    char extra[128];
    const char *cfg;

    assert_int_equal(fleetfx_start(&h->fx, jetstream), 0);
    h->port = natsd_free_port();
    snprintf(h->base, sizeof(h->base), "http://127.0.0.1:%d", h->port);
    snprintf(extra, sizeof(extra), "http:\n  listen: 127.0.0.1:%d\n", h->port);
    cfg = fleetfx_config(&h->fx, "http", "  backoff_initial_ms: 200\n", extra, services);
    fleetfx_supervisor(&h->fx, &h->sup, cfg);
}

static int setup_js(void **state)
{
    struct http_fx *h = calloc(1, sizeof(*h));
    struct rlimit rl;

    assert_non_null(h);
    /* Room for a thousand clients here and in the supervisor (inherited). */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    start(h, true);
    fleetfx_agent(&h->fx, &h->agents[0], "web", "web-1", "exec sleep 600");
    fleetfx_agent(&h->fx, &h->agents[1], "web", "web-2", "exec sleep 600");
    fleetfx_agent(&h->fx, &h->agents[2], "db", "db-1", "exec sleep 600");
    *state = h;
    return 0;
}

static int setup_no_js(void **state)
{
    struct http_fx *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    start(h, false);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct http_fx *h = *state;
    bool clean = true;

    for (int k = 0; k < 3; k++)
        if (h->agents[k].pid > 0)
            clean &= fleetfx_stop_proc(&h->agents[k]);
    clean &= fleetfx_stop_proc(&h->sup);
    fleetfx_stop(&h->fx);
    free(h);
    assert_true(clean);
    return 0;
}

static long get(struct http_fx *h, const char *path, char **body)
{
    char url[256];

    snprintf(url, sizeof(url), "%s%s", h->base, path);
    return request(url, NULL, NULL, body, NULL);
}

/* Polls `path` until it answers `status` (the bound is generous). */
static bool wait_status(struct http_fx *h, const char *path, long status)
{
    for (int k = 0; k < WAIT_MS / 100; k++) {
        if (get(h, path, NULL) == status)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

/* The value of a series line "name{labels} value" or "name value". */
static bool series(const char *text, const char *name_and_labels, double *out)
{
    size_t n = strlen(name_and_labels);

    for (const char *p = text; (p = strstr(p, name_and_labels)) != NULL; p += n) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            *out = strtod(p + n + 1, NULL);
            return true;
        }
    }
    return false;
}

static void promtool_passes(const char *metrics)
{
    char path[128], cmd[256];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/fleet-test-http-%d.prom", (int)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(metrics, f);
    fclose(f);
    assert_int_equal(system("command -v promtool >/dev/null"), 0); /* scripts/deps.sh --test installs it */
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
    assert_int_equal(system(cmd), 0);
    unlink(path);
}

/* /metrics and the feed agree: the fleet figures of one metrics render
 * equal a FleetStatus of the same second (both come from one owner thread;
 * they are taken again until an interval's pair lines up). */
static bool figures_match(struct http_fx *h)
{
    for (int tries = 0; tries < 50; tries++) {
        Fleet__V1__FleetStatus *st = feedwatch_latest(h->fx.watch);
        char *m = NULL;
        double expected, available, healthy_web, healthy_db;
        bool same = false;

        if (st != NULL && get(h, "/metrics", &m) == 200 &&
            series(m, "fleet_services_expected", &expected) && series(m, "fleet_services_available", &available) &&
            series(m, "fleet_instances{service=\"web\",health=\"healthy\"}", &healthy_web) &&
            series(m, "fleet_instances{service=\"db\",health=\"healthy\"}", &healthy_db)) {
            same = expected == st->services_expected && available == st->services_available;
            for (size_t k = 0; k < st->n_services; k++) {
                if (strcmp(st->services[k]->name, "web") == 0)
                    same &= healthy_web == st->services[k]->healthy;
                if (strcmp(st->services[k]->name, "db") == 0)
                    same &= healthy_db == st->services[k]->healthy;
            }
        }
        free(m);
        if (st != NULL)
            fleet__v1__fleet_status__free_unpacked(st, NULL);
        if (same)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

static void endpoints_answer_and_metrics_match_the_feed(void **state)
{
    struct http_fx *h = *state;
    char *body = NULL, *headers = NULL, url[256], big[65536 + 16];
    long status;

    assert_true(wait_status(h, "/healthz", 200));
    assert_true(wait_status(h, "/readyz", 200));
    assert_int_equal(get(h, "/readyz", &body), 200);
    assert_non_null(strstr(body, "\"ready\":true"));
    free(body);
    assert_true(feedwatch_wait_service(h->fx.watch, "web", SH_AVAILABLE, WAIT_MS));
    assert_true(feedwatch_wait_service(h->fx.watch, "db", SH_AVAILABLE, WAIT_MS));
    assert_true(figures_match(h));

    snprintf(url, sizeof(url), "%s/metrics", h->base);
    assert_int_equal(request(url, NULL, NULL, &body, &headers), 200);
    assert_non_null(strstr(headers, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    promtool_passes(body);
    /* Families the issue names, by the labels it names. */
    assert_non_null(strstr(body, "fleet_admin_commands_total{verb=\"restart\",result=\"done\"} 0\n"));
    assert_non_null(strstr(body, "fleet_instances{service=\"web\",health=\"healthy\"} 2\n"));
    assert_non_null(strstr(body, "fleet_observer_state{state=\""));
    assert_non_null(strstr(body, "fleet_detection_seconds_bucket{le=\"+Inf\"}"));
    assert_non_null(strstr(body, "process_resident_memory_bytes "));
    free(body);
    free(headers);

    /* Bad input. */
    assert_int_equal(get(h, "/no/such/path", NULL), 404);
    snprintf(url, sizeof(url), "%s/metrics", h->base);
    assert_int_equal(request(url, "POST", NULL, NULL, &headers), 405);
    assert_non_null(strstr(headers, "Allow: GET, HEAD"));
    free(headers);
    assert_int_equal(request(url, "DELETE", NULL, NULL, NULL), 405);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', 65536);
    big[7 + 65536] = '\0';
    status = request(url, NULL, big, NULL, NULL);
    assert_true(status == 0 || (status >= 400 && status < 500)); /* refused: 431, or the connection closed */
    assert_int_equal(get(h, "/healthz", NULL), 200);             /* and the server still answers */

    /* The status in protobuf's canonical JSON (webview.c), and the page. */
    {
        char *doc = NULL;
        const char *obs;
        json_t *j;

        /* The document follows the board, refreshed each status interval:
         * the warm-up's end may reach it an interval after the feed. */
        for (int tries = 0;; tries++) {
            assert_int_equal(get(h, "/api/status", &doc), 200);
            j = json_loads(doc, 0, NULL);
            free(doc);
            assert_non_null(j);
            obs = json_string_value(json_object_get(j, "observer"));
            if ((obs != NULL && strcmp(obs, "OBSERVER_STATE_NORMAL") == 0) || tries == 50)
                break;
            json_decref(j);
            usleep(100 * 1000);
        }
        assert_int_equal(json_array_size(json_object_get(j, "services")), 2);
        assert_string_equal(json_string_value(json_object_get(j, "observer")), "OBSERVER_STATE_NORMAL");
        assert_true(json_is_string(json_object_get(j, "generatedUnixMs")));   /* 64-bit: a string */
        assert_true(json_is_integer(json_object_get(j, "servicesExpected")));
        json_decref(j);
        assert_int_equal(get(h, "/", &doc), 200);
        assert_non_null(strstr(doc, "data-available"));
        free(doc);
    }
}

static void prometheus_scrapes_the_supervisor(void **state)
{
    struct http_fx *h = *state;
    char dir[128], conf[160], listen[64], arg_conf[192], arg_dir[192], arg_listen[96], url[256];
    char *argv[] = { PROMETHEUS, arg_conf, arg_dir, arg_listen, NULL };
    struct proc prom = { 0 };
    bool seen = false;
    FILE *f;
    int port = natsd_free_port();

    assert_int_equal(access(PROMETHEUS, X_OK), 0);
    assert_true(feedwatch_wait_service(h->fx.watch, "web", SH_AVAILABLE, WAIT_MS));
    assert_true(feedwatch_wait_service(h->fx.watch, "db", SH_AVAILABLE, WAIT_MS));
    snprintf(dir, sizeof(dir), "%s/prometheus", h->fx.dir);
    snprintf(conf, sizeof(conf), "%s/prometheus.yml", h->fx.dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
               "  - job_name: fleet-supervisor\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
            h->port);
    fclose(f);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(arg_conf, sizeof(arg_conf), "--config.file=%s", conf);
    snprintf(arg_dir, sizeof(arg_dir), "--storage.tsdb.path=%s", dir);
    snprintf(arg_listen, sizeof(arg_listen), "--web.listen-address=%s", listen);
    assert_int_equal(proc_start(&prom, argv, NULL), 0);
    snprintf(url, sizeof(url), "http://%s/api/v1/query?query=fleet_services_available", listen);
    for (int k = 0; k < 600 && !seen; k++) { /* up to a minute: Prometheus starts, then scrapes each second */
        char *body = NULL;

        if (request(url, NULL, NULL, &body, NULL) == 200) {
            json_t *j = json_loads(body, 0, NULL);
            json_t *value = json_array_get(json_object_get(json_array_get(
                json_object_get(json_object_get(j, "data"), "result"), 0), "value"), 1);

            seen = json_is_string(value) && strcmp(json_string_value(value), "2") == 0;
            json_decref(j);
        }
        free(body);
        if (!seen)
            usleep(100 * 1000);
    }
    proc_signal(&prom, SIGTERM);
    if (proc_wait(&prom, 10000) < 0)
        proc_kill(&prom);
    assert_true(seen);
}

/* A socket that connects and sends part of a request, or asks for the
 * event stream and then never reads. */
static int slow_client(int port, bool stream)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    const char *text = stream ? "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /metr";
    int rcvbuf = 1024;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || write(fd, text, strlen(text)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void slow_clients_do_not_stall_the_feed(void **state)
{
    struct http_fx *h = *state;
    int fds[SLOW_CLIENTS + SLOW_STREAMS], n = 0;
    uint64_t statuses;

    assert_true(wait_status(h, "/healthz", 200));
    assert_true(feedwatch_wait_service(h->fx.watch, "web", SH_AVAILABLE, WAIT_MS));
    for (int k = 0; k < SLOW_CLIENTS + SLOW_STREAMS; k++) {
        int fd = slow_client(h->port, k >= SLOW_CLIENTS);

        if (fd >= 0)
            fds[n++] = fd;
    }
    assert_int_equal(n, SLOW_CLIENTS + SLOW_STREAMS);
    feedwatch_gap_reset(h->fx.watch);
    statuses = feedwatch_statuses(h->fx.watch);
    /* The fixture publishes a status every 200 ms: ten go by at that pace. */
    assert_true(feedwatch_wait_statuses(h->fx.watch, statuses + 10, WAIT_MS));
    assert_int_equal(get(h, "/healthz", NULL), 200);
    assert_true(figures_match(h));
    print_message("feed's longest gap with %d slow clients: %lld ms\n", n,
                  (long long)feedwatch_max_gap_ms(h->fx.watch));
    assert_true(feedwatch_max_gap_ms(h->fx.watch) < 1500);
    for (int k = 0; k < n; k++)
        close(fds[k]);
}

static void without_jetstream_not_ready_with_a_reason(void **state)
{
    struct http_fx *h = *state;
    char *body = NULL;
    json_t *j;

    assert_true(wait_status(h, "/healthz", 200));
    assert_int_equal(get(h, "/readyz", &body), 503);
    j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "ready")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "JetStream"));
    json_decref(j);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(endpoints_answer_and_metrics_match_the_feed, setup_js, teardown),
        cmocka_unit_test_setup_teardown(prometheus_scrapes_the_supervisor, setup_js, teardown),
        cmocka_unit_test_setup_teardown(slow_clients_do_not_stall_the_feed, setup_js, teardown),
        cmocka_unit_test_setup_teardown(without_jetstream_not_ready_with_a_reason, setup_no_js, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
