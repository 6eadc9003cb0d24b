/* fleet-supervisor end to end: a real nats-server, the real binary, real
 * libfleet heartbeat senders, and a feed subscriber decoding what it says. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "feedwatch.h"
#include "fleet/heartbeat.h"
#include "natsd.h"
#include "proc.h"

#define INTERVAL_MS 100
#define WAIT_MS 8000

enum { IH_HEALTHY = 2, IH_SUSPECT = 4, IH_DEAD = 5 };
enum { SH_AVAILABLE = 1, SH_DEGRADED = 2, SH_UNAVAILABLE = 3, SH_MISSING = 4, SH_UNEXPECTED = 5 };
enum { OBS_WARMING_UP = 1, OBS_NORMAL = 2, OBS_SELF_PRESERVATION = 3 };

struct sender {
    const char *service;
    const char *instance;
    const char *version;
    fleet_hb *hb;
};

struct fixture {
    struct natsd natsd;
    struct proc supervisor;
    struct feedwatch *watch;
    char config_path[64];
    struct sender senders[4];
};

static const char config_text[] =
    "nats:\n"
    "  url: %s\n"
    "supervisor:\n"
    "  status_interval_ms: 200\n"
    "detector:\n"
    "  default_interval_ms: %d\n"
    "services:\n"
    "  - name: alpha\n"
    "    desired: 2\n"
    "  - name: beta\n"
    "    desired: 1\n"
    "  - name: gamma\n"
    "    desired: 1\n"
    "%s";

static void write_file(const char *path, const char *fmt, ...)
{
    va_list ap;
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static void write_config(struct fixture *fx, const char *extra_services)
{
    write_file(fx->config_path, config_text, fx->natsd.url, INTERVAL_MS, extra_services);
}

static fleet_hb *start_sender(const char *url, const char *service, const char *instance, const char *version)
{
    fleet_hb_opts *o = NULL;
    fleet_hb *hb = NULL;

    assert_int_equal(fleet_hb_opts_create(&o), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_url(o, url), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_service(o, service), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_instance(o, instance), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_interval_ms(o, INTERVAL_MS), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_version(o, version), FLEET_OK);
    assert_int_equal(fleet_hb_create(o, &hb), FLEET_OK);
    fleet_hb_set_state(hb, FLEET_STATE_SERVING);
    fleet_hb_opts_destroy(o);
    return hb;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char *argv[] = { "fleet-supervisor", "--config", fx->config_path, NULL };
    const struct sender senders[] = {
        { "alpha", "alpha-1", "1.0.0", NULL },
        { "alpha", "alpha-2", "2.0.0", NULL }, /* version drift on purpose */
        { "beta", "beta-1", "1.0.0", NULL },
        { "ghost", "ghost-1", "0.1.0", NULL }, /* not in the config */
    };

    assert_non_null(fx);
    assert_int_equal(natsd_start(&fx->natsd, true), 0);
    snprintf(fx->config_path, sizeof(fx->config_path), "/tmp/fleet-test-sup-%d.yaml", (int)getpid());
    write_config(fx, "");
    assert_int_equal(proc_start(&fx->supervisor, argv, NULL), 0);
    assert_true(proc_wait_output(&fx->supervisor, "fleet-supervisor started", WAIT_MS));
    fx->watch = feedwatch_start(fx->natsd.url);
    assert_non_null(fx->watch);
    memcpy(fx->senders, senders, sizeof(senders));
    for (size_t k = 0; k < 4; k++)
        fx->senders[k].hb = start_sender(fx->natsd.url, senders[k].service, senders[k].instance,
                                         senders[k].version);
    assert_true(feedwatch_wait_observer(fx->watch, OBS_NORMAL, WAIT_MS));
    assert_true(feedwatch_wait_service(fx->watch, "alpha", SH_AVAILABLE, WAIT_MS));
    assert_true(feedwatch_wait_service(fx->watch, "beta", SH_AVAILABLE, WAIT_MS));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    bool clean;

    for (size_t k = 0; k < 4; k++)
        fleet_hb_destroy(fx->senders[k].hb);
    feedwatch_stop(fx->watch);
    if (getenv("FLEET_TEST_VERBOSE") != NULL) {
        char *out = proc_output(&fx->supervisor);

        fprintf(stderr, "--- supervisor output ---\n%s\n", out);
        free(out);
    }
    /* A graceful stop lets LeakSanitizer speak too. */
    if (proc_signal(&fx->supervisor, SIGTERM) == 0)
        proc_wait(&fx->supervisor, WAIT_MS);
    clean = proc_output_clean(&fx->supervisor);
    proc_kill(&fx->supervisor);
    natsd_stop(&fx->natsd, false);
    unlink(fx->config_path);
    free(fx);
    assert_true(clean);
    return 0;
}

static struct sender *sender_named(struct fixture *fx, const char *instance)
{
    for (size_t k = 0; k < 4; k++)
        if (strcmp(fx->senders[k].instance, instance) == 0)
            return &fx->senders[k];
    fail_msg("no sender %s", instance);
    return NULL;
}

/* ---- heartbeats in, feed out ---- */

static void heartbeats_make_the_fleet_available(void **state)
{
    struct fixture *fx = *state;
    Fleet__V1__FleetStatus *fs;
    const Fleet__V1__ServiceStatus *alpha = NULL;

    assert_true(feedwatch_wait_instance(fx->watch, "alpha", "alpha-1", IH_HEALTHY, WAIT_MS));
    assert_true(feedwatch_wait_instance(fx->watch, "alpha", "alpha-2", IH_HEALTHY, WAIT_MS));
    assert_true(feedwatch_wait_service(fx->watch, "gamma", SH_MISSING, WAIT_MS));
    assert_true(feedwatch_wait_service(fx->watch, "ghost", SH_UNEXPECTED, WAIT_MS));
    fs = feedwatch_latest(fx->watch);
    assert_non_null(fs);
    assert_int_equal(fs->services_expected, 3);
    assert_int_equal(fs->services_available, 2);
    assert_true(fs->availability > 0.666 && fs->availability < 0.667);
    assert_int_equal(fs->instances_expected, 4);
    assert_int_equal(fs->instances_healthy, 3);
    assert_int_equal(fs->observer, OBS_NORMAL);
    assert_true(fs->supervisor_id[0] != '\0');
    for (size_t k = 0; k < fs->n_services; k++)
        if (strcmp(fs->services[k]->name, "alpha") == 0)
            alpha = fs->services[k];
    assert_non_null(alpha);
    assert_int_equal(alpha->healthy, 2);
    assert_int_equal(alpha->n_versions, 2); /* version drift is on the feed */
    assert_true(alpha->expected);
    fleet__v1__fleet_status__free_unpacked(fs, NULL);
    assert_false(feedwatch_seq_regressed(fx->watch));
    /* A start says what it waits for and never claims blindness it did not
     * have: no "own NATS link down" before the first connection's report
     * was taken, no "another supervisor leads" when none does. */
    {
        char *out = proc_output(&fx->supervisor);

        assert_non_null(out);
        if (strstr(out, "SELF_PRESERVATION") != NULL || strstr(out, "another supervisor leads") != NULL)
            fail_msg("a clean start passed through a false state:\n%s", out);
        assert_non_null(strstr(out, "standby: waiting for the leader lease"));
        free(out);
    }
}

static void a_silent_instance_is_declared_dead_within_the_bound(void **state)
{
    struct fixture *fx = *state;
    struct sender *beta = sender_named(fx, "beta-1");
    int64_t stopped, dead_at;

    fleet_hb_destroy(beta->hb);
    beta->hb = NULL;
    stopped = proc_now_ms();
    dead_at = feedwatch_wait_event(fx->watch, "beta", "beta-1", IH_DEAD, WAIT_MS);
    assert_true(dead_at > 0);
    /* Hard ceiling: 5 intervals of silence after the last heartbeat (which
     * came at most one interval before the stop), plus the feed's path. */
    assert_in_range(dead_at - stopped, 0, 6 * INTERVAL_MS + 400);
    assert_true(feedwatch_wait_service(fx->watch, "beta", SH_UNAVAILABLE, WAIT_MS));
    /* Nobody else was harmed. */
    assert_int_equal(feedwatch_count_events(fx->watch, "alpha", "", IH_DEAD), 0);
    assert_false(feedwatch_seq_regressed(fx->watch));
}

/* ---- bad input ---- */

static json_t *srv_stats(struct fixture *fx)
{
    int len = 0;
    char *text = feedwatch_request(fx->watch, "$SRV.STATS.fleet-supervisor", "", 0, &len, 2000);
    json_t *doc;

    assert_non_null(text);
    doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    return doc;
}

static json_int_t refused(json_t *stats, const char *reason)
{
    json_t *ep = json_array_get(json_object_get(stats, "endpoints"), 0);

    return json_integer_value(json_object_get(json_object_get(json_object_get(ep, "data"), "refused"), reason));
}

static json_int_t refused_total(struct fixture *fx)
{
    json_t *stats = srv_stats(fx);
    json_t *ep = json_array_get(json_object_get(stats, "endpoints"), 0);
    json_int_t n = json_integer_value(json_object_get(ep, "num_errors"));

    json_decref(stats);
    return n;
}

static void publish_raw(struct fixture *fx, const char *subject, const void *data, int len)
{
    assert_int_equal(natsConnection_Publish(feedwatch_conn(fx->watch), subject, data, len), NATS_OK);
}

static void bad_input_is_counted_and_dropped(void **state)
{
    struct fixture *fx = *state;
    Fleet__V1__Heartbeat hb = FLEET__V1__HEARTBEAT__INIT;
    char long_version[100];
    uint8_t packed[512], garbage[256];
    size_t n;
    uint64_t statuses_before;
    int events_before;
    char *huge;
    json_t *stats;
    unsigned seed = 42;

    events_before = feedwatch_total_events(fx->watch);
    statuses_before = feedwatch_statuses(fx->watch);

    /* Malformed: bytes that can never parse (an endless varint), then a
     * truncated heartbeat cut inside a string. */
    memset(garbage, 0xff, sizeof(garbage));
    publish_raw(fx, "fleet.v1.hb.alpha.alpha-1", garbage, sizeof(garbage));
    memset(long_version, 'v', sizeof(long_version) - 1);
    long_version[sizeof(long_version) - 1] = '\0';
    hb.service = "alpha";
    hb.instance = "alpha-1";
    hb.incarnation = 7;
    hb.seq = 1000000;
    hb.version = long_version;
    n = fleet__v1__heartbeat__pack(&hb, packed);
    publish_raw(fx, "fleet.v1.hb.alpha.alpha-1", packed, (int)(n - 40));
    /* Too large: ~1 MB, under the server's limit, over the supervisor's. */
    huge = malloc(1000 * 1000);
    assert_non_null(huge);
    for (size_t k = 0; k < 1000 * 1000; k++)
        huge[k] = (char)rand_r(&seed);
    publish_raw(fx, "fleet.v1.hb.alpha.alpha-1", huge, 1000 * 1000);
    free(huge);
    /* A body that disagrees with its subject (would hijack beta's slot). */
    hb.version = "1.0.0";
    hb.service = "beta";
    hb.instance = "beta-1";
    n = fleet__v1__heartbeat__pack(&hb, packed);
    publish_raw(fx, "fleet.v1.hb.alpha.alpha-1", packed, (int)n);
    /* Subjects with too few and too many tokens, and a bad name. */
    publish_raw(fx, "fleet.v1.hb.alpha", packed, (int)n);
    publish_raw(fx, "fleet.v1.hb.alpha.alpha-1.extra", packed, (int)n);
    publish_raw(fx, "fleet.v1.hb.al$pha.alpha-1", packed, (int)n);
    natsConnection_Flush(feedwatch_conn(fx->watch));

    for (int64_t deadline = proc_now_ms() + WAIT_MS; refused_total(fx) < 7 && proc_now_ms() < deadline;)
        nats_Sleep(20);
    stats = srv_stats(fx);
    assert_int_equal(refused(stats, "malformed"), 2);
    assert_int_equal(refused(stats, "too_large"), 1);
    assert_int_equal(refused(stats, "subject_mismatch"), 1);
    assert_int_equal(refused(stats, "bad_subject"), 2);
    assert_int_equal(refused(stats, "bad_name"), 1);
    json_decref(stats);

    /* The feed goes on, and nothing changed state. */
    assert_true(feedwatch_wait_statuses(fx->watch, statuses_before + 3, WAIT_MS));
    assert_int_equal(feedwatch_total_events(fx->watch), events_before);
    assert_int_equal(feedwatch_instance_health(fx->watch, "alpha", "alpha-1"), IH_HEALTHY);
    assert_int_equal(feedwatch_instance_health(fx->watch, "beta", "beta-1"), IH_HEALTHY);
    assert_int_equal(feedwatch_service_health(fx->watch, "al$pha"), 0);
}

/* ---- queries ---- */

static void queries_are_answered(void **state)
{
    struct fixture *fx = *state;
    Fleet__V1__FleetStatus *fs;
    Fleet__V1__ServiceStatus *ss;
    json_t *doc;
    char *text;
    int len = 0;

    text = feedwatch_request(fx->watch, "fleet.v1.query.status", "", 0, &len, 2000);
    assert_non_null(text);
    fs = fleet__v1__fleet_status__unpack(NULL, (size_t)len, (const uint8_t *)text);
    free(text);
    assert_non_null(fs);
    assert_int_equal(fs->services_expected, 3);
    assert_true(fs->supervisor_id[0] != '\0');
    assert_true(fs->feed_seq > 0);
    fleet__v1__fleet_status__free_unpacked(fs, NULL);

    text = feedwatch_request(fx->watch, "fleet.v1.query.service", "alpha", 5, &len, 2000);
    assert_non_null(text);
    ss = fleet__v1__service_status__unpack(NULL, (size_t)len, (const uint8_t *)text);
    free(text);
    assert_non_null(ss);
    assert_string_equal(ss->name, "alpha");
    assert_int_equal(ss->n_instances, 2);
    assert_int_equal(ss->health, SH_AVAILABLE);
    fleet__v1__service_status__free_unpacked(ss, NULL);

    text = feedwatch_request(fx->watch, "fleet.v1.query.service", "nope", 4, &len, 2000);
    assert_non_null(text);
    ss = fleet__v1__service_status__unpack(NULL, (size_t)len, (const uint8_t *)text);
    free(text);
    assert_non_null(ss);
    assert_string_equal(ss->name, "nope");
    assert_int_equal(ss->health, 0); /* unknown, not "down" */
    fleet__v1__service_status__free_unpacked(ss, NULL);

    text = feedwatch_request(fx->watch, "$SRV.PING", "", 0, &len, 2000);
    assert_non_null(text);
    doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "io.nats.micro.v1.ping_response");
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "fleet-supervisor");
    json_decref(doc);

    text = feedwatch_request(fx->watch, "$SRV.INFO.fleet-supervisor", "", 0, &len, 2000);
    assert_non_null(text);
    doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "io.nats.micro.v1.info_response");
    assert_int_equal(json_array_size(json_object_get(doc, "endpoints")), 4);   /* + admin */
    json_decref(doc);
}

/* ---- the supervisor's own link ---- */

static void a_nats_restart_declares_nobody_dead(void **state)
{
    struct fixture *fx = *state;
    int64_t outage_started;

    natsd_stop(&fx->natsd, true);
    outage_started = proc_now_ms();
    feedwatch_reset_observer_states_seen(fx->watch);
    /* The outage itself: far longer than the 5-interval dead bound. */
    while (proc_now_ms() - outage_started < 20 * INTERVAL_MS)
        nats_Sleep(50);
    assert_int_equal(natsd_restart(&fx->natsd), 0);

    assert_true(proc_wait_output(&fx->supervisor, "SELF_PRESERVATION", WAIT_MS));
    /* Back: a grace period (WARMING_UP) for everyone, then NORMAL again. */
    assert_true(feedwatch_wait_observer_seen(fx->watch, OBS_WARMING_UP, 15000));
    feedwatch_reset_observer_states_seen(fx->watch);
    assert_true(feedwatch_wait_observer_seen(fx->watch, OBS_NORMAL, 15000));
    assert_true(feedwatch_wait_instance(fx->watch, "alpha", "alpha-1", IH_HEALTHY, WAIT_MS));
    assert_true(feedwatch_wait_instance(fx->watch, "beta", "beta-1", IH_HEALTHY, WAIT_MS));
    /* Two status periods more in NORMAL, still nobody dead or suspect. */
    assert_true(feedwatch_wait_statuses(fx->watch, feedwatch_statuses(fx->watch) + 2, WAIT_MS));
    assert_int_equal(feedwatch_count_events(fx->watch, "alpha", "", IH_DEAD), 0);
    assert_int_equal(feedwatch_count_events(fx->watch, "beta", "", IH_DEAD), 0);
    assert_int_equal(feedwatch_count_events(fx->watch, "alpha", "", IH_SUSPECT), 0);
    assert_int_equal(feedwatch_count_events(fx->watch, "beta", "", IH_SUSPECT), 0);
    assert_int_equal(feedwatch_service_health(fx->watch, "alpha"), SH_AVAILABLE);
}

/* ---- signals ---- */

static void sighup_with_a_broken_config_keeps_the_old_one(void **state)
{
    struct fixture *fx = *state;

    write_file(fx->config_path, "services:\n  - name: \"bad name!\"\n    desired: 1\n");
    assert_int_equal(proc_signal(&fx->supervisor, SIGHUP), 0);
    assert_true(proc_wait_output(&fx->supervisor, "config reload refused", WAIT_MS));
    assert_true(feedwatch_wait_statuses(fx->watch, feedwatch_statuses(fx->watch) + 2, WAIT_MS));
    assert_int_equal(feedwatch_service_health(fx->watch, "gamma"), SH_MISSING);
    assert_int_equal(feedwatch_service_health(fx->watch, "alpha"), SH_AVAILABLE);

    /* A good file is taken: the new service appears, missing. */
    write_config(fx, "  - name: delta\n    desired: 1\n");
    assert_int_equal(proc_signal(&fx->supervisor, SIGHUP), 0);
    assert_true(proc_wait_output(&fx->supervisor, "config reloaded", WAIT_MS));
    assert_true(feedwatch_wait_service(fx->watch, "delta", SH_MISSING, WAIT_MS));
    assert_int_equal(feedwatch_service_health(fx->watch, "alpha"), SH_AVAILABLE);
}

static void sigterm_drains_and_exits_zero(void **state)
{
    struct fixture *fx = *state;
    int status;

    assert_int_equal(proc_signal(&fx->supervisor, SIGTERM), 0);
    status = proc_wait(&fx->supervisor, WAIT_MS);
    assert_true(status >= 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- configuration errors (no fixture) ---- */

static int run_check_config(const char *yaml, char **output)
{
    char path[64];
    char *argv[] = { "fleet-supervisor", "--check-config", "--config", path, NULL };
    int status;

    snprintf(path, sizeof(path), "/tmp/fleet-test-check-%d.yaml", (int)getpid());
    write_file(path, "%s", yaml);
    status = proc_run(argv, WAIT_MS, output, NULL);
    unlink(path);
    assert_true(status >= 0 && WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void a_bad_config_exits_2_naming_the_key(void **state)
{
    char *out = NULL;

    (void)state;
    assert_int_equal(run_check_config("services:\n  - name: story-teller\n    desired: 50000\n", &out), 2);
    assert_non_null(strstr(out, "services[0].desired"));
    free(out);
    assert_int_equal(run_check_config("services:\n  - name: story-teller\n    desird: 2\n", &out), 2);
    assert_non_null(strstr(out, "desird"));
    free(out);
    assert_int_equal(run_check_config("nats:\n  url: nats://127.0.0.1:4222\nservices:\n  - name: story-teller\n"
                                      "    desired: 2\n  - name: state-manager\n    desired: 1\n"
                                      "    depends_on: [knowledge-base]\n  - name: knowledge-base\n",
                                      &out),
                     0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(heartbeats_make_the_fleet_available, setup, teardown),
        cmocka_unit_test_setup_teardown(a_silent_instance_is_declared_dead_within_the_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_input_is_counted_and_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(queries_are_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(a_nats_restart_declares_nobody_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_with_a_broken_config_keeps_the_old_one, setup, teardown),
        cmocka_unit_test_setup_teardown(sigterm_drains_and_exits_zero, setup, teardown),
        cmocka_unit_test(a_bad_config_exits_2_naming_the_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
