/* The deploy gate's judgement on a virtual clock: messages built on the
 * stack, time passed in; no NATS, no sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/ctl/duration.h"
#include "../../supervisor/ctl/gate.h"

#define T0 1000000
#define SVC "story-teller"

enum {
    HEALTHY = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY,
    STARTING = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STARTING,
    DEAD = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD,
    FENCED = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_FENCED,
};

/* One instance as a status lists it. */
struct inst {
    const char *name;
    const char *version;
    int health;
    uint64_t incarnation;
    uint32_t restarts;
    const char *reason;
};

/* Feeds a ServiceStatus of SVC with `desired` and the n instances. */
static void status(struct gate *g, uint32_t desired, const struct inst *in, size_t n, int64_t now)
{
    Fleet__V1__ServiceStatus st = FLEET__V1__SERVICE_STATUS__INIT;
    Fleet__V1__InstanceStatus is[8], *ptrs[8];

    assert_true(n <= 8);
    for (size_t k = 0; k < n; k++) {
        fleet__v1__instance_status__init(&is[k]);
        is[k].instance = (char *)in[k].name;
        is[k].version = (char *)in[k].version;
        is[k].health = in[k].health;
        is[k].incarnation = in[k].incarnation;
        is[k].restarts = in[k].restarts;
        is[k].reason = (char *)(in[k].reason ? in[k].reason : "");
        is[k].last_seen_unix_ms = now;
        ptrs[k] = &is[k];
    }
    st.name = SVC;
    st.desired = desired;
    st.health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_DEGRADED;
    st.expected = 1;
    st.n_instances = n;
    st.instances = ptrs;
    assert_int_equal(gate_status(g, &st, now), FLEET_OK);
}

static void event(struct gate *g, const char *instance, int from, int to, const char *reason, int64_t now)
{
    Fleet__V1__Event ev = FLEET__V1__EVENT__INIT;

    ev.service = SVC;
    ev.instance = (char *)instance;
    ev.from = from;
    ev.to = to;
    ev.reason = (char *)reason;
    ev.unix_ms = now;
    assert_int_equal(gate_event(g, &ev, now), FLEET_OK);
}

static struct gate *gate_for(const char *version, int64_t max_failures, int64_t bake_ms)
{
    struct gate_opts o = {
        .version = version, .min_healthy_ms = 10000, .timeout_ms = 300000,
        .max_failures = max_failures, .bake_ms = bake_ms,
    };
    struct gate *g = gate_create(&o, T0);

    assert_non_null(g);
    assert_int_equal(gate_add_service(g, SVC), FLEET_OK);
    return g;
}

static struct gate_service_view view(const struct gate *g)
{
    struct gate_service_view v;

    gate_service(g, 0, &v);
    return v;
}

static void test_ready_after_min_healthy_time(void **state)
{
    struct gate *g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 0);
    struct inst in[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL }, { "a-2", "1.5.0", HEALTHY, 12, 0, NULL } };
    char line[256];

    (void)state;
    status(g, 2, in, 2, T0);
    assert_int_equal(gate_update(g, T0), GATE_WAITING);
    assert_int_equal(gate_next_deadline(g), T0 + 10000);
    gate_progress(g, T0 + 4000, line, sizeof(line));
    assert_string_equal(line, SVC " 2/2 on 1.5.0 healthy, 6s of min-healthy-time left");
    assert_int_equal(gate_update(g, T0 + 9999), GATE_WAITING);
    assert_int_equal(gate_update(g, T0 + 10000), GATE_READY);
    assert_string_equal(gate_reason(g), "ready: " SVC " 2/2 on 1.5.0 healthy for 10s");
    gate_destroy(g);
}

static void test_old_version_not_counted(void **state)
{
    struct gate *g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 0);
    struct inst old[] = { { "a-1", "1.4.0", HEALTHY, 11, 0, NULL }, { "a-2", "1.4.0", HEALTHY, 12, 0, NULL } };
    struct inst dead_old[] = { { "a-1", "1.4.0", DEAD, 11, 0, NULL }, { "a-2", "1.4.0", DEAD, 12, 0, NULL } };
    char line[256];

    (void)state;
    status(g, 2, old, 2, T0);
    status(g, 2, dead_old, 2, T0 + 1000);   /* old deaths: not the new version's failures */
    status(g, 2, old, 2, T0 + 2000);
    assert_int_equal(gate_update(g, T0 + 60000), GATE_WAITING);
    assert_int_equal(view(g).failures, 0);
    gate_progress(g, T0 + 60000, line, sizeof(line));
    assert_string_equal(line, SVC " 0/2 on 1.5.0 healthy (2 on other versions)");
    gate_destroy(g);
}

static void test_timeout(void **state)
{
    struct gate *g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 0);
    struct inst in[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL }, { "a-2", "1.4.0", HEALTHY, 12, 0, NULL } };

    (void)state;
    status(g, 2, in, 2, T0);
    assert_int_equal(gate_update(g, T0 + 299999), GATE_WAITING);
    assert_int_equal(gate_update(g, T0 + 300000), GATE_TIMED_OUT);
    assert_string_equal(gate_reason(g), "timed out after 5m: " SVC " 1/2 on 1.5.0 healthy (1 on other versions)");
    /* Final: later news changes nothing. */
    status(g, 1, in, 1, T0 + 300001);
    assert_int_equal(gate_update(g, T0 + 300001), GATE_TIMED_OUT);
    gate_destroy(g);
}

static void test_healthy_break_resets_clock(void **state)
{
    struct gate *g = gate_for(NULL, GATE_MAX_FAILURES_AUTO, 0);
    struct inst ok[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };
    struct inst sus[] = { { "a-1", "1.5.0", FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_SUSPECT, 11, 0, NULL } };

    (void)state;
    status(g, 1, ok, 1, T0);
    assert_int_equal(gate_update(g, T0 + 8000), GATE_WAITING);
    status(g, 1, sus, 1, T0 + 8000);          /* a break */
    status(g, 1, ok, 1, T0 + 9000);
    assert_int_equal(gate_update(g, T0 + 10000), GATE_WAITING);   /* 10 s since the start, not since 9 s */
    assert_int_equal(gate_update(g, T0 + 18999), GATE_WAITING);
    assert_int_equal(gate_update(g, T0 + 19000), GATE_READY);
    assert_int_equal(view(g).failures, 0);   /* SUSPECT is no death */
    gate_destroy(g);
}

static void test_death_counted_once(void **state)
{
    struct gate *g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 0);
    struct inst ok[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };
    struct inst dead[] = { { "a-1", "1.5.0", DEAD, 11, 0, "exited with code 1" } };
    struct inst back[] = { { "a-1", "1.5.0", HEALTHY, 21, 1, NULL } };

    (void)state;
    status(g, 1, ok, 1, T0);
    event(g, "a-1", HEALTHY, DEAD, "exited with code 1", T0 + 100);
    status(g, 1, dead, 1, T0 + 200);          /* the same death, again */
    status(g, 1, dead, 1, T0 + 400);
    status(g, 1, ok, 1, T0 + 150);            /* a stale status from before it, arriving late */
    status(g, 1, dead, 1, T0 + 500);
    status(g, 1, back, 1, T0 + 1000);         /* its restart: the same death */
    event(g, "a-1", HEALTHY, DEAD, "exited", T0 + 900); /* a late event of the old life */
    assert_int_equal(gate_update(g, T0 + 1000), GATE_WAITING);
    assert_int_equal(view(g).failures, 1);
    gate_destroy(g);
}

static void test_missed_deaths_from_restarts(void **state)
{
    struct gate *g = gate_for("1.5.0", 10, 0);
    struct inst ok[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };
    struct inst jump[] = { { "a-1", "1.5.0", HEALTHY, 14, 3, NULL } };
    struct inst newinc[] = { { "a-1", "1.5.0", HEALTHY, 15, 3, NULL } };

    (void)state;
    status(g, 1, ok, 1, T0);
    status(g, 1, jump, 1, T0 + 1000);         /* three lives came and went unseen */
    assert_int_equal(gate_update(g, T0 + 1000), GATE_WAITING);
    assert_int_equal(view(g).failures, 3);
    status(g, 1, newinc, 1, T0 + 2000);       /* a new incarnation, restarts not risen */
    assert_int_equal(gate_update(g, T0 + 2000), GATE_WAITING);
    assert_int_equal(view(g).failures, 4);
    gate_destroy(g);
}

/* An operator's restart (Event.operator set) ends a life without a death;
 * the supervisor's own restart after a death does not hide the death. */
static void test_operator_restart_is_no_death(void **state)
{
    struct gate *g = gate_for("1.5.0", 0, 0);
    struct inst ok[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };
    struct inst next[] = { { "a-1", "1.5.0", HEALTHY, 12, 1, NULL } };
    struct inst again[] = { { "a-1", "1.5.0", HEALTHY, 13, 2, NULL } };
    Fleet__V1__Event ev = FLEET__V1__EVENT__INIT;

    (void)state;
    status(g, 1, ok, 1, T0);
    ev.service = SVC;
    ev.instance = "a-1";
    ev.from = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY;
    ev.to = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_RESTARTING;
    ev.action = FLEET__V1__ACTION__ACTION_RESTART;
    ev.reason = "RESTART by alice: roll";
    ev.operator_ = "alice";
    ev.unix_ms = T0 + 10;
    assert_int_equal(gate_event(g, &ev, T0 + 10), FLEET_OK);
    status(g, 1, next, 1, T0 + 1000);
    assert_int_equal(gate_update(g, T0 + 1000), GATE_WAITING);
    assert_int_equal(view(g).failures, 0);
    /* The next new life, with no operator's restart before it, was a death. */
    status(g, 1, again, 1, T0 + 2000);
    assert_int_equal(gate_update(g, T0 + 2000), GATE_FAILED);
    gate_destroy(g);
}

static void test_default_max_failures(void **state)
{
    struct gate *g = gate_for(NULL, GATE_MAX_FAILURES_AUTO, 0);
    struct inst one[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };
    struct inst many[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };

    (void)state;
    status(g, 2, one, 1, T0);
    assert_int_equal(gate_update(g, T0), GATE_WAITING);
    assert_int_equal(view(g).max_failures, 3);    /* max(3, ceil(2/2)) */
    assert_int_equal(view(g).required, 2);        /* desired, from the feed */
    status(g, 9, one, 1, T0 + 1);                 /* desired 9: ceil(9/2) = 5 */
    assert_int_equal(gate_update(g, T0 + 1), GATE_WAITING);
    assert_int_equal(view(g).max_failures, 5);
    assert_int_equal(view(g).required, 9);
    /* 5 deaths are tolerated, the 6th fails. */
    for (uint32_t k = 1; k <= 6; k++) {
        many[0].incarnation = 11 + k;
        many[0].restarts = k;
        status(g, 9, many, 1, T0 + 1 + k);
        assert_int_equal(gate_update(g, T0 + 1 + k), k <= 5 ? GATE_WAITING : GATE_FAILED);
    }
    assert_string_equal(gate_reason(g), "failed: " SVC ": 6 deaths, more than the 5 tolerated (last: a-1, restarted)");
    gate_destroy(g);
}

static void test_max_failures_zero(void **state)
{
    struct gate *g = gate_for("1.5.0", 0, 0);
    struct inst ok[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };

    (void)state;
    status(g, 1, ok, 1, T0);
    assert_int_equal(gate_update(g, T0), GATE_WAITING);
    event(g, "a-1", HEALTHY, DEAD, "killed by signal 9", T0 + 10);
    assert_int_equal(gate_update(g, T0 + 10), GATE_FAILED);
    assert_string_equal(gate_reason(g), "failed: " SVC "/a-1 on 1.5.0 died (killed by signal 9) and --max-failures is 0");
    gate_destroy(g);
}

static void test_fenced_fails_fast(void **state)
{
    struct gate *g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 0);
    struct inst in[] = { { "a-1", "1.4.0", FENCED, 11, 0, "crashloop" },
                         { "a-3", "1.5.0", STARTING, 12, 0, NULL } };

    (void)state;
    status(g, 2, in, 2, T0);
    assert_int_equal(gate_update(g, T0), GATE_WAITING);   /* an old version's fence is not ours */
    in[1].health = FENCED;
    in[1].reason = "crashloop: 5 restarts in 12s";
    status(g, 2, in, 2, T0 + 12000);
    assert_int_equal(gate_update(g, T0 + 12000), GATE_FAILED);
    assert_string_equal(gate_reason(g), "failed: " SVC "/a-3 on 1.5.0 fenced (crashloop: 5 restarts in 12s)");
    assert_int_equal(gate_next_deadline(g), INT64_MAX);
    gate_destroy(g);
}

static void test_bake(void **state)
{
    struct gate *g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 60000);
    struct inst ok[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };

    (void)state;
    status(g, 1, ok, 1, T0);
    assert_int_equal(gate_update(g, T0 + 10000), GATE_BAKING);
    assert_int_equal(gate_next_deadline(g), T0 + 70000);
    assert_int_equal(gate_update(g, T0 + 69999), GATE_BAKING);
    assert_int_equal(gate_update(g, T0 + 70000), GATE_READY);
    assert_string_equal(gate_reason(g), "ready: " SVC " 1/1 on 1.5.0 healthy for 10s, then baked 1m without a death");
    gate_destroy(g);

    g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 60000);
    status(g, 1, ok, 1, T0);
    assert_int_equal(gate_update(g, T0 + 10000), GATE_BAKING);
    event(g, "a-1", HEALTHY, DEAD, "exited with code 1", T0 + 22000);   /* one death, well under 3 */
    assert_int_equal(gate_update(g, T0 + 22000), GATE_FAILED);
    assert_string_equal(gate_reason(g), "failed: " SVC "/a-1 on 1.5.0 died during the bake, 12s after ready "
                                        "(exited with code 1)");
    gate_destroy(g);
}

static void test_generation_on_change_only(void **state)
{
    struct gate *g = gate_for("1.5.0", GATE_MAX_FAILURES_AUTO, 0);
    struct inst in[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL }, { "a-2", "1.5.0", STARTING, 12, 0, NULL } };
    uint64_t gen;

    (void)state;
    status(g, 2, in, 2, T0);
    gate_update(g, T0);
    gen = gate_generation(g);
    for (int k = 1; k < 5; k++) {             /* status ticks with nothing new */
        status(g, 2, in, 2, T0 + k * 200);
        gate_update(g, T0 + k * 200);
    }
    assert_int_equal(gate_generation(g), gen);
    in[1].health = HEALTHY;
    status(g, 2, in, 2, T0 + 1000);
    gate_update(g, T0 + 1000);
    assert_int_equal(gate_generation(g), gen + 1);
    gate_destroy(g);
}

static void test_fleet_wording(void **state)
{
    struct gate_opts o = { .min_healthy_ms = 10000, .timeout_ms = 300000,
                           .max_failures = GATE_MAX_FAILURES_AUTO, .fleet = true };
    struct gate *g = gate_create(&o, T0);
    struct inst ok[] = { { "a-1", "1.5.0", HEALTHY, 11, 0, NULL } };

    (void)state;
    assert_int_equal(gate_add_service(g, SVC), FLEET_OK);
    status(g, 1, ok, 1, T0);
    assert_int_equal(gate_update(g, T0 + 10000), GATE_READY);
    assert_string_equal(gate_reason(g), "ready: 1/1 services healthy for 10s");
    gate_destroy(g);
}

static void test_duration(void **state)
{
    int64_t ms;
    char b[DURATION_TEXT_MAX];

    (void)state;
    assert_int_equal(duration_parse("1m30s", INT64_MAX, &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(duration_parse("500ms", INT64_MAX, &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(duration_parse("0", INT64_MAX, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(duration_parse("10", INT64_MAX, &ms), -1);
    assert_int_equal(duration_parse("2h", 3600000, &ms), -1);
    assert_int_equal(duration_parse("", INT64_MAX, &ms), -1);
    assert_string_equal(duration_format(90000, b, sizeof(b)), "1m30s");
    assert_string_equal(duration_format(300000, b, sizeof(b)), "5m");
    assert_string_equal(duration_format(1500, b, sizeof(b)), "1.5s");
    assert_string_equal(duration_format(750, b, sizeof(b)), "750ms");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_after_min_healthy_time),
        cmocka_unit_test(test_old_version_not_counted),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_healthy_break_resets_clock),
        cmocka_unit_test(test_death_counted_once),
        cmocka_unit_test(test_missed_deaths_from_restarts),
        cmocka_unit_test(test_operator_restart_is_no_death),
        cmocka_unit_test(test_default_max_failures),
        cmocka_unit_test(test_max_failures_zero),
        cmocka_unit_test(test_fenced_fails_fast),
        cmocka_unit_test(test_bake),
        cmocka_unit_test(test_generation_on_change_only),
        cmocka_unit_test(test_fleet_wording),
        cmocka_unit_test(test_duration),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
