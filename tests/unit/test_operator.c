/* Operators' orders in the core (observer.h, observer_operator): immediate,
 * not counted as deaths, allowed where the policy's own actions are held,
 * guarded against taking a service's last serving instance, refused with a
 * reason that says what to do; and rolling restarts, one batch at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corefx.h"
#include "observer.h"

static int setup(void **state)
{
    *state = corefx_create(COREFX_EVENTS | COREFX_STATES | COREFX_ACTIONS | COREFX_ESCALATIONS, COREFX_SEED);
    return 0;
}

/* A fleet of `n` instances of "alpha" (a-1 .. a-n, incarnation 1 each),
 * heartbeating until NORMAL. */
struct fleet {
    size_t n;
    uint64_t inc[8];
    char name[8][16];
};

static void fleet_start(struct corefx *f, struct fleet *fl, size_t n, uint32_t desired)
{
    fl->n = n;
    corefx_configure(f, "alpha", desired);
    corefx_start(f, 0);
    for (size_t k = 0; k < n; k++) {
        fl->inc[k] = 1;
        snprintf(fl->name[k], sizeof(fl->name[k]), "a-%zu", k + 1);
        corefx_send_serving(f, "alpha", fl->name[k], 1, 10);
    }
    for (int64_t t = COREFX_INTERVAL; t <= 3 * COREFX_INTERVAL; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        for (size_t k = 0; k < n; k++)
            corefx_send_serving(f, "alpha", fl->name[k], fl->inc[k], t);
    }
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
}

/* Every instance heartbeats each interval until `until_ms`; `skip` (may be
 * NULL) stays silent. */
static void fleet_pulse(struct corefx *f, const struct fleet *fl, int64_t until_ms, const char *skip)
{
    for (int64_t t = f->now + COREFX_INTERVAL; t <= until_ms; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        for (size_t k = 0; k < fl->n; k++)
            if (skip == NULL || strcmp(skip, fl->name[k]) != 0)
                corefx_send_serving(f, "alpha", fl->name[k], fl->inc[k], t);
    }
}

static int order(struct corefx *f, enum core_action_kind action, const char *instance, bool force,
                 char *result, size_t n)
{
    struct operator_order ord = {
        .action = action, .service = "alpha", .instance = instance, .operator_name = "alice",
        .reason = "deploy 1.5.0", .force = force, .min_healthy_ms = 3000,
    };

    return observer_operator(f->o, &ord, f->now, result, n);
}

/* The order's action was sent just now: accept it. */
static const struct corefx_action *accept_last(struct corefx *f, enum core_action_kind kind, const char *instance)
{
    const struct corefx_action *a = corefx_last_action(f);

    assert_int_equal(a->kind, kind);
    assert_string_equal(a->instance, instance);
    observer_action_result(f->o, a->id, CORE_ACK_ACCEPTED, NULL, f->now + 5);
    return a;
}

static void test_restart_is_immediate_and_named(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    const struct corefx_event *ev;
    char result[256];

    fleet_start(f, &fl, 2, 2);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", false, result, sizeof(result)), 0);
    assert_string_equal(result, "RESTART of alpha/a-1 sent");
    assert_int_equal(f->rec.n_actions, 1);
    assert_int_equal(corefx_last_action(f)->incarnation, 1);
    assert_string_equal(corefx_last_action(f)->reason, "RESTART by alice: deploy 1.5.0");
    ev = corefx_last_action_event(f);
    assert_int_equal(ev->action, CORE_ACT_RESTART);
    assert_int_equal(ev->from, INST_HEALTHY);
    assert_int_equal(ev->to, INST_RESTARTING);
    assert_string_equal(ev->operator_name, "alice");
    assert_string_equal(ev->reason, "RESTART by alice: deploy 1.5.0");
    accept_last(f, CORE_ACT_RESTART, "a-1");
    fl.inc[0] = 2;
    corefx_send_serving(f, "alpha", "a-1", 2, f->now + 50);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);
    /* Events after the order are the supervisor's own again. */
    assert_string_equal(corefx_last_event(f)->operator_name, "");
    assert_int_equal(f->rec.n_escalations, 0);
}

/* Ten operator restarts in a minute are not a crash loop, and leave no
 * backoff: the next real death is restarted at once. */
static void test_restarts_are_not_deaths(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    fleet_start(f, &fl, 2, 2);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", false, result, sizeof(result)), 0);
        accept_last(f, CORE_ACT_RESTART, "a-1");
        fl.inc[0]++;
        fleet_pulse(f, &fl, f->now + 2 * COREFX_INTERVAL, NULL);
        assert_health(f, "alpha", "a-1", INST_HEALTHY);
    }
    assert_int_equal(f->rec.n_actions, 10);
    corefx_send_exited(f, "alpha", "a-1", fl.inc[0], f->now + 100);
    assert_int_equal(f->rec.n_actions, 11);
    assert_int_equal(corefx_last_action(f)->kind, CORE_ACT_RESTART);
    assert_prefix(corefx_last_action(f)->reason, "dead: ");
    assert_int_equal(f->rec.n_escalations, 0);
}

static void test_last_serving_instance_needs_force(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    fleet_start(f, &fl, 1, 1);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", false, result, sizeof(result)), -1);
    assert_string_equal(result, "alpha/a-1 is the last serving instance of alpha: restarting it takes "
                                "alpha down; add --force to do it anyway");
    assert_int_equal(f->rec.n_actions, 0);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", true, result, sizeof(result)), 0);
    assert_int_equal(f->rec.n_actions, 1);
}

/* During a mass silence the supervisor holds its own restarts, but a
 * person's order goes. */
static void test_order_acts_in_self_preservation(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    fleet_start(f, &fl, 4, 4);
    /* Three of four go silent at once: a mass silence. */
    for (int64_t t = f->now + COREFX_INTERVAL, end = f->now + 8 * COREFX_INTERVAL; t <= end; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        corefx_send_serving(f, "alpha", "a-4", 1, t);
    }
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    assert_int_equal(f->rec.n_actions, 0);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-2", false, result, sizeof(result)), 0);
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(corefx_last_action(f)->instance, "a-2");
}

static void test_refusals_say_why(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    struct operator_order ord = { .action = CORE_ACT_RESTART, .service = "beta", .instance = "b-1",
                                  .operator_name = "alice", .reason = "" };
    char result[256];

    fleet_start(f, &fl, 2, 2);
    assert_int_equal(observer_operator(f->o, &ord, f->now, result, sizeof(result)), -1);
    assert_string_equal(result, "no service beta is known to the supervisor");
    ord.service = "alpha";
    assert_int_equal(observer_operator(f->o, &ord, f->now, result, sizeof(result)), -1);
    assert_string_equal(result, "no instance alpha/b-1 is known to the supervisor");
    ord.action = CORE_ACT_FENCE;
    ord.instance = NULL;
    assert_int_equal(observer_operator(f->o, &ord, f->now, result, sizeof(result)), -1);
    assert_string_equal(result, "FENCE needs an instance: SERVICE/INSTANCE");
    assert_int_equal(order(f, CORE_ACT_UNFENCE, "a-1", false, result, sizeof(result)), -1);
    assert_string_equal(result, "alpha/a-1 is not fenced");

    /* One action at a time per instance. */
    assert_int_equal(order(f, CORE_ACT_DRAIN, "a-1", false, result, sizeof(result)), 0);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", false, result, sizeof(result)), -1);
    assert_string_equal(result, "busy: a DRAIN of alpha/a-1 is in flight; try again when it is done");

    /* A stopped instance has no process to act on. */
    corefx_send_state(f, "alpha", "a-2", 1, f->now + 10, SERVING_STOPPING);
    assert_health(f, "alpha", "a-2", INST_STOPPED);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-2", false, result, sizeof(result)), -1);
    assert_prefix(result, "alpha/a-2 is stopped (");

    /* A standby has no say. */
    observer_set_leader(f->o, false, 0, f->now);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-2", false, result, sizeof(result)), -1);
    assert_string_equal(result, "this supervisor does not lead: ask the leader");
    assert_int_equal(f->rec.n_actions, 1);
}

static void test_observer_without_key_cannot_act(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    f->sink.on_action = NULL;
    fleet_start(f, &fl, 2, 2);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", false, result, sizeof(result)), -1);
    assert_prefix(result, "this supervisor cannot act: it has no signing key");
}

/* A crash loop is fenced; the operator's UNFENCE goes with an epoch above
 * the fence's, lifts the fence once the instance shows it, and starts the
 * tally afresh: the next death is restarted, not fenced again. */
static void test_unfence_lifts_and_resets_the_tally(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    const struct corefx_action *a;
    struct hb_input hb;
    uint64_t fence_epoch;
    char result[256];

    fleet_start(f, &fl, 1, 1);
    for (int k = 0; k < 6; k++) {
        corefx_send_exited(f, "alpha", "a-1", fl.inc[0], f->now + 100);
        a = f->rec.n_actions > (size_t)k ? corefx_last_action(f) : corefx_wait_action(f, 120000);
        observer_action_result(f->o, a->id, CORE_ACK_ACCEPTED, NULL, f->now + 5);
        if (a->kind == CORE_ACT_FENCE)
            break;
        fl.inc[0]++;
        fleet_pulse(f, &fl, f->now + 2 * COREFX_INTERVAL, NULL);
    }
    assert_int_equal(corefx_last_action(f)->kind, CORE_ACT_FENCE);
    fence_epoch = corefx_last_action(f)->fence_epoch;
    assert_health(f, "alpha", "a-1", INST_FENCED);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", false, result, sizeof(result)), -1);
    assert_prefix(result, "alpha/a-1 is fenced (epoch ");
    assert_int_equal(order(f, CORE_ACT_FENCE, "a-1", false, result, sizeof(result)), -1);
    assert_prefix(result, "alpha/a-1 is already fenced");

    assert_int_equal(order(f, CORE_ACT_UNFENCE, "a-1", false, result, sizeof(result)), 0);
    a = accept_last(f, CORE_ACT_UNFENCE, "a-1");
    assert_true(a->fence_epoch > fence_epoch);
    assert_string_equal(corefx_last_action_event(f)->operator_name, "alice");
    assert_health(f, "alpha", "a-1", INST_FENCED);   /* until the instance shows the epoch */
    fl.inc[0]++;
    hb = corefx_heartbeat("alpha", "a-1", fl.inc[0], f->seq++, f->now + 100);
    hb.fence_epoch = a->fence_epoch;
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);

    corefx_send_exited(f, "alpha", "a-1", fl.inc[0], f->now + 100);
    a = corefx_last_action(f);
    assert_int_equal(a->kind, CORE_ACT_RESTART);
    assert_prefix(a->reason, "dead: ");
}

/* An order nobody acknowledges is given up without escalation, and says
 * nothing about the instance's life: SUSPECT, then whatever it reports. */
static void test_unacknowledged_order_is_not_a_death(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    const struct corefx_event *ev;
    char result[256];

    fleet_start(f, &fl, 2, 2);
    assert_int_equal(order(f, CORE_ACT_RESTART, "a-1", false, result, sizeof(result)), 0);
    /* The old life goes on heartbeating: its answers are lost. */
    for (int64_t t = f->now + 500; corefx_health_of(f, "alpha", "a-1") == INST_RESTARTING; t += 500) {
        assert_true(t < 120000);
        corefx_run_until(f, t);
        corefx_send_serving(f, "alpha", "a-1", 1, t);
        corefx_send_serving(f, "alpha", "a-2", 1, t);
    }
    ev = NULL;
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (f->rec.events[k].from == INST_RESTARTING)
            ev = &f->rec.events[k];
    assert_non_null(ev);
    assert_int_equal(ev->to, INST_SUSPECT);
    assert_prefix(ev->reason, "unacknowledged: RESTART not acknowledged after ");
    assert_int_equal(f->rec.n_escalations, 0);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
}

static void test_drain_and_resume(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    fleet_start(f, &fl, 2, 2);
    assert_int_equal(order(f, CORE_ACT_DRAIN, "a-2", false, result, sizeof(result)), 0);
    accept_last(f, CORE_ACT_DRAIN, "a-2");
    corefx_send_state(f, "alpha", "a-2", 1, f->now + 50, SERVING_DRAINING);
    assert_health(f, "alpha", "a-2", INST_DRAINING);
    assert_int_equal(order(f, CORE_ACT_RESUME, "a-2", false, result, sizeof(result)), 0);
    accept_last(f, CORE_ACT_RESUME, "a-2");
    corefx_send_serving(f, "alpha", "a-2", 1, f->now + 50);
    assert_health(f, "alpha", "a-2", INST_HEALTHY);
    assert_int_equal(f->rec.n_actions, 2);
}

/* ---- rolling restarts ---- */

/* Restarted instances come back as the agent would: the RESTART is
 * accepted and a new life heartbeats from then on. Checks after every tick
 * that at least `min_healthy` instances are HEALTHY. */
static void roll(struct corefx *f, struct fleet *fl, int64_t until_ms, uint32_t min_healthy, const char *dead)
{
    size_t seen = 0;   /* every action of the test is the roll's */

    for (int64_t t = f->now + 250; t <= until_ms; t += 250) {
        corefx_run_until(f, t);
        while (seen < f->rec.n_actions) {
            const struct corefx_action *a = &f->rec.actions[seen++];

            assert_int_equal(a->kind, CORE_ACT_RESTART);
            observer_action_result(f->o, a->id, CORE_ACK_ACCEPTED, NULL, t);
            for (size_t k = 0; k < fl->n; k++)
                if (strcmp(fl->name[k], a->instance) == 0 && (dead == NULL || strcmp(dead, a->instance) != 0))
                    fl->inc[k]++;
        }
        if (t % COREFX_INTERVAL == 0)
            for (size_t k = 0; k < fl->n; k++)
                if (dead == NULL || strcmp(dead, fl->name[k]) != 0 || fl->inc[k] == 1)
                    corefx_send_serving(f, "alpha", fl->name[k], fl->inc[k], t);
        assert_true(corefx_service_of(f, "alpha")->count[INST_HEALTHY] >= min_healthy);
    }
}

static size_t events_with_prefix(const struct corefx *f, const char *prefix)
{
    size_t n = 0;

    for (size_t k = 0; k < f->rec.n_events; k++)
        n += strncmp(f->rec.events[k].reason, prefix, strlen(prefix)) == 0;
    return n;
}

static void test_rolling_restart_one_at_a_time(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];
    int64_t started;

    fleet_start(f, &fl, 3, 3);
    started = f->now;
    assert_int_equal(order(f, CORE_ACT_RESTART, NULL, false, result, sizeof(result)), 0);
    assert_string_equal(result, "rolling restart of alpha: 3 instances, 1 at a time, each healthy 3s before the next");
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(f->rec.actions[0].instance, "a-1");
    roll(f, &fl, started + 60000, 2, NULL);
    assert_int_equal(f->rec.n_actions, 3);
    assert_string_equal(f->rec.actions[1].instance, "a-2");
    assert_string_equal(f->rec.actions[2].instance, "a-3");
    /* Each next restart only after the previous was healthy 3 s. */
    assert_true(f->rec.actions[1].at_ms - f->rec.actions[0].at_ms >= 3000);
    assert_true(f->rec.actions[2].at_ms - f->rec.actions[1].at_ms >= 3000);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(fl.inc[k], 2);
    assert_int_equal(events_with_prefix(f, "rolling restart by alice: done: 3 instances of alpha restarted"), 1);
    assert_int_equal(events_with_prefix(f, "rolling restart by alice: 2 of 3 restarted and healthy again"), 1);
    assert_int_equal(f->rec.n_escalations, 0);
    /* Done: a new one may start. */
    assert_int_equal(order(f, CORE_ACT_RESTART, NULL, false, result, sizeof(result)), 0);
}

static void test_rolling_restart_one_per_service(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    fleet_start(f, &fl, 3, 3);
    assert_int_equal(order(f, CORE_ACT_RESTART, NULL, false, result, sizeof(result)), 0);
    assert_int_equal(order(f, CORE_ACT_RESTART, NULL, false, result, sizeof(result)), -1);
    assert_string_equal(result, "a rolling restart of alpha is under way (1 of 3 started); wait for it");
}

static void test_rolling_restart_stops_when_one_does_not_come_back(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    fleet_start(f, &fl, 3, 3);
    assert_int_equal(order(f, CORE_ACT_RESTART, NULL, false, result, sizeof(result)), 0);
    roll(f, &fl, f->now + 120000, 1, "a-1");
    assert_int_equal(f->rec.n_actions, 1 + (size_t)(corefx_actions_for(f, "a-1") - 1));
    assert_int_equal(corefx_actions_for(f, "a-2"), 0);
    assert_int_equal(corefx_actions_for(f, "a-3"), 0);
    assert_int_equal(events_with_prefix(f, "rolling restart by alice: stopped: alpha/a-1 did not come back healthy"),
                     1);
}

static void test_rolling_restart_ends_with_leadership(void **state)
{
    struct corefx *f = *state;
    struct fleet fl;
    char result[256];

    fleet_start(f, &fl, 3, 3);
    assert_int_equal(order(f, CORE_ACT_RESTART, NULL, false, result, sizeof(result)), 0);
    observer_set_leader(f->o, false, 0, f->now);
    assert_int_equal(events_with_prefix(f, "rolling restart by alice: stopped: this supervisor no longer leads"), 1);
    roll(f, &fl, f->now + 30000, 0, NULL);
    assert_int_equal(f->rec.n_actions, 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, corefx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_restart_is_immediate_and_named),
        T(test_restarts_are_not_deaths),
        T(test_last_serving_instance_needs_force),
        T(test_order_acts_in_self_preservation),
        T(test_refusals_say_why),
        T(test_observer_without_key_cannot_act),
        T(test_unfence_lifts_and_resets_the_tally),
        T(test_unacknowledged_order_is_not_a_death),
        T(test_drain_and_resume),
        T(test_rolling_restart_one_at_a_time),
        T(test_rolling_restart_one_per_service),
        T(test_rolling_restart_stops_when_one_does_not_come_back),
        T(test_rolling_restart_ends_with_leadership),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
