/* fleetctl against a real nats-server, with the test itself playing the
 * supervisor: a plain nats.c responder on fleet.v1.query.status and
 * publishes on the feed subjects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>
#include <nats/nats.h>

#include "fleet/v1/fleet.pb-c.h"
#include "fleetfx.h"

struct env {
    struct natsd_client c;
};

/* A small fleet: story-teller degraded with one dead instance, vocal-synthesis
 * missing. Returns a malloc'd packed FleetStatus; *len is its size. */
static uint8_t *pack_status(uint64_t feed_seq, size_t *len)
{
    Fleet__V1__FleetStatus st = FLEET__V1__FLEET_STATUS__INIT;
    Fleet__V1__ServiceStatus story = FLEET__V1__SERVICE_STATUS__INIT;
    Fleet__V1__ServiceStatus vocal = FLEET__V1__SERVICE_STATUS__INIT;
    Fleet__V1__InstanceStatus dead = FLEET__V1__INSTANCE_STATUS__INIT;
    Fleet__V1__ServiceStatus *services[] = { &story, &vocal };
    Fleet__V1__InstanceStatus *instances[] = { &dead };
    char *versions[] = { "1.4.2", "1.3.9" };
    uint8_t *buf;

    dead.instance = "story-teller-1";
    dead.health = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD;
    dead.reason = "silent 2.1s";
    dead.phi = 9.0;
    story.name = "story-teller";
    story.desired = 2;
    story.healthy = 1;
    story.health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_DEGRADED;
    story.n_instances = 1;
    story.instances = instances;
    story.n_versions = 2;
    story.versions = versions;
    story.availability_1h = 0.75;
    story.availability_24h = 0.98;
    story.expected = 1;
    vocal.name = "vocal-synthesis";
    vocal.desired = 1;
    vocal.health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_MISSING;
    vocal.expected = 1;
    st.feed_seq = feed_seq;
    st.term = 3;
    st.n_services = 2;
    st.services = services;
    st.services_expected = 2;
    st.services_available = 0;
    st.availability = 0.0;
    st.observer = FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_NORMAL;
    st.instances_expected = 3;
    st.instances_healthy = 1;
    st.supervisor_id = "test-supervisor";

    *len = fleet__v1__fleet_status__get_packed_size(&st);
    buf = malloc(*len);
    assert_non_null(buf);
    fleet__v1__fleet_status__pack(&st, buf);
    return buf;
}

/* nats.c thread: answers every query with the same fleet. */
static void on_query(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    size_t len;
    uint8_t *buf = pack_status(5, &len);

    natsConnection_Publish(nc, natsMsg_GetReply(msg), buf, (int)len);
    free(buf);
    natsMsg_Destroy(msg);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (e == NULL || natsd_client_start(&e->c, false) != 0) {
        free(e);
        return -1;
    }
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    natsd_client_stop(&e->c);
    free(e);
    return 0;
}

static natsSubscription *start_responder(struct env *e)
{
    natsSubscription *sub = NULL;

    assert_int_equal(natsConnection_Subscribe(&sub, e->c.nc, "fleet.v1.query.status", on_query, NULL), NATS_OK);
    assert_int_equal(natsConnection_Flush(e->c.nc), NATS_OK);
    return sub;
}

static void stop_responder(natsSubscription *sub)
{
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
}

static void test_status_table(void **state)
{
    struct env *e = *state;
    natsSubscription *sub = start_responder(e);
    char *argv[] = { "fleetctl", "--server", e->c.d.url, "status", NULL };
    char *out;

    assert_int_equal(fleetfx_run(argv, &out), 0);
    if (strstr(out, "fleet 0/2 available (0.0%)  instances 1/3 healthy  observer NORMAL  term 3  "
                    "supervisor test-supervisor  feed_seq 5") == NULL)
        fail_msg("unexpected header in:\n%s", out);
    assert_non_null(strstr(out, "1.4.2,1.3.9 DRIFT"));
    assert_non_null(strstr(out, "story-teller-1"));
    assert_non_null(strstr(out, "silent 2.1s"));
    assert_non_null(strstr(out, "MISSING"));
    assert_null(strstr(out, "\033[")); /* not a tty: no colour */
    free(out);
    stop_responder(sub);
}

static void test_status_json(void **state)
{
    struct env *e = *state;
    natsSubscription *sub = start_responder(e);
    char *argv[] = { "fleetctl", "status", "--json", "-s", e->c.d.url, NULL };
    json_error_t err;
    json_t *j;
    char *out;

    assert_int_equal(fleetfx_run(argv, &out), 0);
    j = json_loads(out, 0, &err);
    if (j == NULL)
        fail_msg("not one JSON object (%s):\n%s", err.text, out);
    assert_string_equal(json_string_value(json_object_get(j, "observer")), "NORMAL");
    assert_int_equal(json_integer_value(json_object_get(j, "feed_seq")), 5);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "services"), 0), "health")), "DEGRADED");
    json_decref(j);
    free(out);
    stop_responder(sub);
}

static void test_status_no_supervisor(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "-s", e->c.d.url, "--timeout-ms", "500", "status", NULL };
    char *out;
    char want[256];

    assert_int_equal(fleetfx_run(argv, &out), 1);
    snprintf(want, sizeof(want), "no supervisor answered on fleet.v1.query.status within 500 ms: "
                                 "is fleet-supervisor running and connected to %s?", e->c.d.url);
    if (strstr(out, want) == NULL)
        fail_msg("missing \"%s\" in:\n%s", want, out);
    free(out);
}

static void test_no_server(void **state)
{
    char url[64];
    char *argv[] = { "fleetctl", "-s", url, "status", NULL };
    char *out;

    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", natsd_free_port());
    assert_int_equal(fleetfx_run(argv, &out), 1);
    assert_non_null(strstr(out, "cannot connect to"));
    free(out);
}

static void test_usage_errors(void **state)
{
    char *bad_flag[] = { "fleetctl", "--bogus", "status", NULL };
    char *bad_cmd[] = { "fleetctl", "frobnicate", NULL };
    char *no_cmd[] = { "fleetctl", NULL };
    char *bad_timeout[] = { "fleetctl", "status", "--timeout-ms", "soon", NULL };
    char *out;

    assert_int_equal(fleetfx_run(bad_flag, &out), 2);
    assert_non_null(strstr(out, "unknown flag '--bogus'"));
    free(out);
    assert_int_equal(fleetfx_run(bad_cmd, &out), 2);
    assert_non_null(strstr(out, "unknown command 'frobnicate'"));
    free(out);
    assert_int_equal(fleetfx_run(no_cmd, &out), 2);
    free(out);
    assert_int_equal(fleetfx_run(bad_timeout, &out), 2);
    assert_non_null(strstr(out, "--timeout-ms"));
    free(out);
}

static void publish_event(struct env *e, uint64_t feed_seq)
{
    Fleet__V1__Event ev = FLEET__V1__EVENT__INIT;
    uint8_t buf[256];
    size_t len;

    ev.feed_seq = feed_seq;
    ev.unix_ms = 1700000463000LL;
    ev.service = "story-teller";
    ev.instance = "story-teller-1";
    ev.from = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY;
    ev.to = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD;
    ev.reason = "silent 2.1s";
    ev.term = 3;
    assert_true(fleet__v1__event__get_packed_size(&ev) <= sizeof(buf));
    len = fleet__v1__event__pack(&ev, buf);
    assert_int_equal(natsConnection_Publish(e->c.nc, "fleet.v1.events.story-teller", buf, (int)len), NATS_OK);
}

static void publish_status(struct env *e, uint64_t feed_seq)
{
    size_t len;
    uint8_t *buf = pack_status(feed_seq, &len);

    assert_int_equal(natsConnection_Publish(e->c.nc, "fleet.v1.status", buf, (int)len), NATS_OK);
    free(buf);
}

static void test_watch_json(void **state)
{
    struct env *e = *state;
    natsSubscription *sub = start_responder(e);
    char *argv[] = { "fleetctl", "-s", e->c.d.url, "--json", "watch", NULL };
    struct proc p;
    char *out, *line, *save = NULL;
    int st, statuses = 0, events = 0;

    assert_int_equal(proc_start(&p, argv, NULL), 0);
    /* The initial query's answer: by then fleetctl is subscribed. */
    assert_true(proc_wait_output(&p, "\"feed_seq\":5,", 5000));
    publish_event(e, 6);
    publish_status(e, 7);
    publish_event(e, 9); /* 8 never comes: a gap, which JSON leaves to the reader */
    assert_int_equal(natsConnection_Flush(e->c.nc), NATS_OK);
    assert_true(proc_wait_output(&p, "\"feed_seq\":9,", 5000));
    assert_int_equal(proc_signal(&p, SIGTERM), 0);
    st = proc_wait(&p, 5000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    out = proc_output(&p);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);

        if (j == NULL)
            fail_msg("not a JSON line: %s", line);
        if (json_object_get(j, "status") != NULL) {
            statuses++;
            assert_string_equal(json_string_value(json_object_get(json_object_get(j, "status"), "observer")),
                                "NORMAL");
        } else {
            json_t *ev = json_object_get(j, "event");

            assert_non_null(ev);
            events++;
            assert_string_equal(json_string_value(json_object_get(ev, "to")), "DEAD");
            assert_string_equal(json_string_value(json_object_get(ev, "service")), "story-teller");
        }
        json_decref(j);
    }
    assert_int_equal(statuses, 2);
    assert_int_equal(events, 2);
    free(out);
    proc_kill(&p);
    stop_responder(sub);
}

/* Plain-text watch on a pipe: tables separated by a blank line, the gap
 * shown, and the waiting note when the supervisor is silent. Status and
 * events arrive on different subscriptions, so in any order: whatever it is,
 * the table for 23 has seen 20 and 23 and owes 21 and 22. */
static void test_watch_text(void **state)
{
    struct env *e = *state;
    char *argv[] = { "fleetctl", "-s", e->c.d.url, "--timeout-ms", "300", "watch", NULL };
    struct proc p;
    char want[128];
    int st;

    assert_int_equal(proc_start(&p, argv, NULL), 0);
    snprintf(want, sizeof(want), "waiting for fleet-supervisor on %s", e->c.d.url);
    assert_true(proc_wait_output(&p, want, 6000));
    publish_status(e, 20);
    publish_status(e, 23);
    publish_event(e, 24);
    assert_int_equal(natsConnection_Flush(e->c.nc), NATS_OK);
    assert_true(proc_wait_output(&p, "(feed gap: 2 missed)", 5000));
    assert_true(proc_wait_output(&p, "story-teller/story-teller-1 HEALTHY\u2192DEAD (silent 2.1s)", 5000));
    assert_true(proc_wait_output(&p, "feed_seq 20", 100));
    assert_int_equal(proc_signal(&p, SIGINT), 0);
    st = proc_wait(&p, 5000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    proc_kill(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_status_no_supervisor),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_watch_json),
        cmocka_unit_test(test_watch_text),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
