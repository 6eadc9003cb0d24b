/* fleetctl events against a real nats-server with JetStream: the audit
 * stream is made by store_open (as the supervisor does), the test publishes
 * Events on the feed subjects, and fleetctl reads them back. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <nats/nats.h>

#include "fleet/v1/fleet.pb-c.h"
#include "fleetfx.h"
#include "store.h"

struct env {
    struct natsd_client c;
    struct store *store;
};

static void publish_event(struct env *e, uint64_t seq, const char *service, const char *instance,
                          Fleet__V1__InstanceHealth from, Fleet__V1__InstanceHealth to,
                          Fleet__V1__Action action, const char *reason)
{
    Fleet__V1__Event ev = FLEET__V1__EVENT__INIT;
    char subject[128];
    uint8_t buf[512];
    size_t len;

    ev.feed_seq = seq;
    ev.unix_ms = (int64_t)time(NULL) * 1000;
    ev.service = (char *)service;
    ev.instance = (char *)instance;
    ev.from = from;
    ev.to = to;
    ev.action = action;
    ev.reason = (char *)reason;
    ev.term = 7;
    len = fleet__v1__event__get_packed_size(&ev);
    assert_true(len <= sizeof(buf));
    fleet__v1__event__pack(&ev, buf);
    snprintf(subject, sizeof(subject), "fleet.v1.events.%s", service);
    assert_int_equal(natsConnection_Publish(e->c.nc, subject, buf, (int)len), NATS_OK);
}

static void publish_fixture(struct env *e)
{
    publish_event(e, 1, "story-teller", "st-1", FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY,
                  FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD, FLEET__V1__ACTION__ACTION_RESTART,
                  "silent 2.1s");
    publish_event(e, 2, "vocal-synthesis", "vs-1", FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY,
                  FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_SUSPECT,
                  FLEET__V1__ACTION__ACTION_UNSPECIFIED, "phi 3.4");
    publish_event(e, 3, "story-teller", "st-1", FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD,
                  FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_FENCED, FLEET__V1__ACTION__ACTION_FENCE,
                  "crashloop");
    assert_int_equal(natsConnection_Flush(e->c.nc), NATS_OK);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    struct store_options o = { .prefix = "fleet", .supervisor_id = "test" };
    char err[256];

    if (e == NULL || natsd_client_start(&e->c, true) != 0)
        goto out_fail;
    if (store_open(e->c.nc, &o, &e->store, err, sizeof(err)) != 0 || !store_available(e->store))
        goto out_fail;
    publish_fixture(e);
    *state = e;
    return 0;

out_fail:
    fprintf(stderr, "setup failed\n");
    return -1;
}

static int teardown(void **state)
{
    struct env *e = *state;

    store_close(e->store);
    natsd_client_stop(&e->c);
    free(e);
    return 0;
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

static void test_events_text(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "-s", e->c.d.url, "events", "--since", "1h", NULL };
    char day[16];
    time_t now = time(NULL);
    struct tm tm;
    char *out;

    assert_int_equal(fleetfx_run(argv, &out), 0);
    localtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d ", &tm);
    if (count_lines(out) != 3 || strncmp(out, day, strlen(day)) != 0 ||
        strstr(out, "story-teller/st-1 HEALTHY\u2192DEAD RESTART (silent 2.1s)\n") == NULL ||
        strstr(out, "vocal-synthesis/vs-1 HEALTHY\u2192SUSPECT (phi 3.4)\n") == NULL ||
        strstr(out, "story-teller/st-1 DEAD\u2192FENCED FENCE (crashloop)\n") == NULL ||
        strstr(out, "RESTART") > strstr(out, "FENCE (crashloop)"))   /* in order */
        fail_msg("unexpected output:\n%s", out);
    free(out);
}

static void test_events_service_filter(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "events", "--service=vocal-synthesis", "--server", e->c.d.url, NULL };
    char *out;

    assert_int_equal(fleetfx_run(argv, &out), 0);
    if (count_lines(out) != 1 || strstr(out, "vocal-synthesis/vs-1 HEALTHY\u2192SUSPECT") == NULL)
        fail_msg("unexpected output:\n%s", out);
    free(out);
}

static void test_events_json(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "events", "--json", "--service", "story-teller", "-s", e->c.d.url, NULL };
    char *out, *line, *save = NULL;
    int n = 0;

    assert_int_equal(fleetfx_run(argv, &out), 0);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);

        if (j == NULL)
            fail_msg("not JSON: %s (%s)", line, err.text);
        assert_string_equal(json_string_value(json_object_get(j, "service")), "story-teller");
        assert_int_equal(json_integer_value(json_object_get(j, "feed_seq")), n == 0 ? 1 : 3);
        assert_string_equal(json_string_value(json_object_get(j, "action")), n == 0 ? "RESTART" : "FENCE");
        json_decref(j);
        n++;
    }
    assert_int_equal(n, 2);
    free(out);
}

static void test_events_since_excludes_older(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "-s", e->c.d.url, "events", "--since", "1s", NULL };
    struct timespec ts = { 1, 500000000 };
    char *out;

    nanosleep(&ts, NULL);   /* the fixture events are now older than 1 s */
    assert_int_equal(fleetfx_run(argv, &out), 0);
    if (out[0] != '\0')
        fail_msg("expected no events, got:\n%s", out);
    free(out);
}

static void test_events_follow(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "-s", e->c.d.url, "events", "--follow", "--since", "1h", NULL };
    struct proc p;
    bool clean;
    int st;

    assert_int_equal(proc_start(&p, argv, NULL), 0);
    assert_true(proc_wait_output(&p, "DEAD\u2192FENCED FENCE (crashloop)", 10000));
    publish_event(e, 4, "story-teller", "st-2", FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STARTING,
                  FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY,
                  FLEET__V1__ACTION__ACTION_UNSPECIFIED, "serving");
    assert_int_equal(natsConnection_Flush(e->c.nc), NATS_OK);
    assert_true(proc_wait_output(&p, "story-teller/st-2 STARTING\u2192HEALTHY (serving)", 10000));
    assert_int_equal(proc_signal(&p, SIGINT), 0);
    st = proc_wait(&p, 5000);
    clean = proc_output_clean(&p);
    proc_kill(&p);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(clean);
}

static void test_events_no_stream(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "-s", e->c.d.url, "events", "--stream", "NOPE", NULL };
    char want[256];
    char *out;

    assert_int_equal(fleetfx_run(argv, &out), 1);
    snprintf(want, sizeof(want),
             "no audit stream NOPE on %s: is fleet-supervisor running with JetStream?", e->c.d.url);
    if (strstr(out, want) == NULL)
        fail_msg("unexpected output:\n%s", out);
    free(out);
}

static void test_events_no_jetstream(void **state)
{
    struct natsd d = { 0 };
    char *argv[] = { "fleetctl", "-s", d.url, "events", NULL };
    char want[256];
    char *out;

    assert_int_equal(natsd_start(&d, false), 0);
    argv[2] = d.url;
    assert_int_equal(fleetfx_run(argv, &out), 1);
    snprintf(want, sizeof(want),
             "no audit stream FLEET_AUDIT on %s: is fleet-supervisor running with JetStream?", d.url);
    if (strstr(out, want) == NULL)
        fail_msg("unexpected output:\n%s", out);
    free(out);
    natsd_stop(&d, false);
}

static void test_events_usage_errors(void **state)
{
    char *bad_since[] = { "fleetctl", "events", "--since", "5x", NULL };
    char *bad_service[] = { "fleetctl", "events", "--service", "a.b", NULL };
    char *no_value[] = { "fleetctl", "events", "--since", NULL };
    char *extra[] = { "fleetctl", "events", "extra", NULL };
    char *out;

    assert_int_equal(fleetfx_run(bad_since, &out), 2);
    assert_non_null(strstr(out, "--since wants a duration"));
    free(out);
    assert_int_equal(fleetfx_run(bad_service, &out), 2);
    assert_non_null(strstr(out, "is not a service name"));
    free(out);
    assert_int_equal(fleetfx_run(no_value, &out), 2);
    free(out);
    assert_int_equal(fleetfx_run(extra, &out), 2);
    assert_non_null(strstr(out, "unexpected argument 'extra'"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_text),
        cmocka_unit_test(test_events_service_filter),
        cmocka_unit_test(test_events_json),
        cmocka_unit_test(test_events_follow),
        cmocka_unit_test(test_events_no_stream),
        cmocka_unit_test(test_events_no_jetstream),
        cmocka_unit_test(test_events_usage_errors),
        cmocka_unit_test(test_events_since_excludes_older),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
