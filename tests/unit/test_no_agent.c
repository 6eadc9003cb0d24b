/* Unit tests of no_agent services (probe: micro, supervisor/daemon/micro_probe.h)
 * in the pure core, on the virtual clock: a death the policy would repair
 * with a RESTART (or a FENCE) is escalated instead, never handed to
 * on_action, visibly (the instance's reason) and counted; operators' orders
 * for such a service are refused; the same death in a service with an agent
 * is restarted (so these tests can tell the two apart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "corefx.h"

static int setup(void **state)
{
    *state = corefx_create(COREFX_EVENTS | COREFX_STATES | COREFX_ACTIONS | COREFX_ESCALATIONS, 0);
    return 0;
}

/* "web" wanting 2, both heard at 1000, then only web-1 answers; returns
 * when web-2 is DEAD. */
static void lose_one(struct corefx *f, bool no_agent)
{
    corefx_configure(f, "web", 2)->no_agent = no_agent;
    corefx_start_normal(f);
    for (int64_t t = 1000; t <= 4000; t += 1000) {
        corefx_send_serving(f, "web", "web-1", 11, t);
        corefx_send_serving(f, "web", "web-2", 22, t);
    }
    for (int64_t t = 5000; t <= 20000; t += 1000) {
        corefx_send_serving(f, "web", "web-1", 11, t);
        corefx_run_until(f, t + 999);
        if (corefx_health_of(f, "web", "web-2") == INST_DEAD)
            return;
    }
    fail_msg("web-2 was never declared DEAD");
}

static void test_death_is_escalated_not_sent(void **state)
{
    struct corefx *f = *state;
    struct observer_counters c;
    const struct instance *i;

    lose_one(f, true);
    /* Long past any backoff, ack timeout or restart timeout. */
    for (int64_t t = f->now + 1000; t <= 120000; t += 1000) {
        corefx_send_serving(f, "web", "web-1", 11, t);
        corefx_run_until(f, t + 999);
    }
    assert_int_equal(f->rec.n_actions, 0);
    assert_int_equal(f->rec.n_escalations, 1);
    assert_string_equal(f->rec.escalations[0].instance, "web-2");
    assert_prefix(f->rec.escalations[0].reason, "no agent: RESTART escalated, not sent (dead: silent ");
    /* Announced by an event of its own: DEAD stays DEAD, no action, the reason. */
    {
        const struct corefx_event *e = NULL;

        for (size_t k = 0; k < f->rec.n_events; k++)
            if (strncmp(f->rec.events[k].reason, "no agent: ", 10) == 0) {
                assert_null(e);
                e = &f->rec.events[k];
            }
        assert_non_null(e);
        corefx_assert_event(e, "web", "web-2", INST_DEAD, INST_DEAD, f->rec.escalations[0].at_ms);
        assert_int_equal(e->action, 0);
        assert_string_equal(e->reason, f->rec.escalations[0].reason);
    }
    i = corefx_instance_of(f, "web", "web-2");
    assert_int_equal(i->health, INST_DEAD);
    assert_string_equal(i->reason, f->rec.escalations[0].reason);
    assert_int_equal(i->restarts, 0);
    assert_int_equal(i->next_action_ms, 0);
    assert_health(f, "web", "web-1", INST_HEALTHY);
    observer_counters(f->o, &c);
    assert_int_equal(c.actions, 0);
    assert_int_equal(c.escalations, 1);
    assert_int_equal(c.no_agent, 1);
}

/* The same death where an agent obeys: a RESTART goes out (the contrast). */
static void test_death_with_an_agent_is_restarted(void **state)
{
    struct corefx *f = *state;
    const struct corefx_action *a;
    struct observer_counters c;

    lose_one(f, false);
    /* The first restart after a death is immediate: sent as it died. */
    assert_true(f->rec.n_actions >= 1);
    a = &f->rec.actions[0];
    assert_string_equal(a->instance, "web-2");
    assert_int_equal(a->kind, CORE_ACT_RESTART);
    observer_counters(f->o, &c);
    assert_int_equal(c.no_agent, 0);
}

/* An instance escalated, heard again (it was only paused), is HEALTHY; a
 * second death is escalated again. */
static void test_a_new_death_after_return_is_escalated_again(void **state)
{
    struct corefx *f = *state;
    int64_t back;

    lose_one(f, true);
    corefx_run_until(f, f->now + 1000);
    assert_int_equal(f->rec.n_escalations, 1);
    back = f->now + 1000;
    for (int64_t t = back; t <= back + 5000; t += 1000) {
        corefx_send_serving(f, "web", "web-1", 11, t);
        corefx_send_serving(f, "web", "web-2", 22, t);
        corefx_run_until(f, t + 999);
    }
    assert_health(f, "web", "web-2", INST_HEALTHY);
    for (int64_t t = back + 6000; t <= back + 120000; t += 1000) {
        corefx_send_serving(f, "web", "web-1", 11, t);
        corefx_run_until(f, t + 999);
    }
    assert_health(f, "web", "web-2", INST_DEAD);
    assert_int_equal(f->rec.n_escalations, 2);
    assert_int_equal(f->rec.n_actions, 0);
}

/* Nothing is escalated while the policy would not act either (warming up). */
static void test_warm_up_holds_the_escalation(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "web", 1)->no_agent = true;
    corefx_start(f, 0);
    corefx_send_serving(f, "web", "web-1", 11, 100);
    corefx_tick(f, 900);   /* still warming up (one full interval, COREFX_INTERVAL) */
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    corefx_run_until(f, 60000);
    assert_health(f, "web", "web-1", INST_DEAD);
    /* Once NORMAL, the death is judged: escalated, once. */
    assert_int_equal(f->rec.n_escalations, 1);
    assert_int_equal(f->rec.n_actions, 0);
}

static void test_operator_orders_are_refused(void **state)
{
    struct corefx *f = *state;
    static const enum core_action_kind verbs[] = { CORE_ACT_RESTART, CORE_ACT_FENCE, CORE_ACT_DRAIN };
    char result[256];

    corefx_configure(f, "web", 1)->no_agent = true;
    corefx_start_normal(f);
    corefx_send_serving(f, "web", "web-1", 11, 1500);
    for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++) {
        struct operator_order ord = {
            .action = verbs[k], .service = "web", .instance = "web-1", .operator_name = "alice", .reason = "",
        };

        assert_int_equal(observer_operator(f->o, &ord, f->now, result, sizeof(result)), -1);
        assert_prefix(result, "web has no agent to obey a ");
        ord.instance = NULL;   /* a rolling restart of the whole service, too */
        ord.action = CORE_ACT_RESTART;
        assert_int_equal(observer_operator(f->o, &ord, f->now, result, sizeof(result)), -1);
        assert_prefix(result, "web has no agent to obey a RESTART");
    }
    assert_int_equal(f->rec.n_actions, 0);
    assert_health(f, "web", "web-1", INST_HEALTHY);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, corefx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_death_is_escalated_not_sent),
        T(test_death_with_an_agent_is_restarted),
        T(test_a_new_death_after_return_is_escalated_again),
        T(test_warm_up_holds_the_escalation),
        T(test_operator_orders_are_refused),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
