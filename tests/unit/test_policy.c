/* Unit tests of the decision policy (supervisor/core/policy.h) and of the
 * observer taking decisions with it: heartbeats, acks and virtual time in;
 * actions, escalations, events and observer states out through a recording
 * sink. Every random draw comes from a fixed seed, so runs are identical. */
#include <math.h>
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
#include "policy.h"

static int setup(void **state)
{
    *state = corefx_create(COREFX_EVENTS | COREFX_STATES | COREFX_ACTIONS | COREFX_ESCALATIONS, COREFX_SEED);
    return 0;
}

/* `inst` heartbeats SERVING every interval in [from, to], ticking between. */
static void keep_alive(struct corefx *f, const char *svc, const char *inst, uint64_t inc,
                       int64_t from_ms, int64_t to_ms)
{
    for (int64_t t = from_ms; t <= to_ms; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        corefx_send_serving(f, svc, inst, inc, t);
    }
}

/* One crash of `inst`: it exits, its RESTART comes (immediately or after
 * its backoff), is accepted, and a new incarnation reports SERVING. Returns
 * the delay from the death to the action. */
static int64_t crash_and_restart(struct corefx *f, const char *svc, const char *inst, uint64_t *inc)
{
    int64_t died = f->now + 100;
    size_t n = f->rec.n_actions;
    const struct corefx_action *a;

    corefx_send_exited(f, svc, inst, *inc, died);
    a = f->rec.n_actions > n ? corefx_last_action(f) : corefx_wait_action(f, 120000);
    assert_int_equal(a->kind, CORE_ACT_RESTART);
    assert_string_equal(a->instance, inst);
    assert_int_equal(a->incarnation, *inc);
    assert_health(f, svc, inst, INST_RESTARTING);
    observer_action_result(f->o, a->id, CORE_ACK_ACCEPTED, NULL, f->now + 10);
    (*inc)++;
    corefx_send_serving(f, svc, inst, *inc, f->now + 50);
    assert_health(f, svc, inst, INST_HEALTHY);
    return a->at_ms - died;
}

/* ---- pure policy ---- */

static void test_config_zero_takes_defaults(void **state)
{
    struct policy_config zero = { 0 }, d, r;

    (void)state;
    policy_config_default(&d);
    policy_config_resolve(&r, &zero);
    assert_int_equal(r.backoff_initial_ms, 1000);
    assert_int_equal(r.backoff_max_ms, 60000);
    assert_true(r.backoff_jitter == 0.2);
    assert_int_equal(r.stable_after_ms, 60000);
    assert_int_equal(r.max_concurrent, 0);
    assert_true(r.mass_silence_ratio == 0.25);
    assert_int_equal(r.mass_silence_min, 3);
    assert_int_equal(r.ack_timeout_ms, 2000);
    assert_int_equal(r.ack_attempts, 3);
    assert_int_equal(r.restart_timeout_ms, 30000);
    assert_int_equal(r.degraded_limit_ms, 0);
    assert_int_equal(r.rng_seed, d.rng_seed);
    /* Out-of-range ratios fall back too. */
    zero.mass_silence_ratio = 1.5;
    zero.backoff_jitter = -0.1;
    policy_config_resolve(&r, &zero);
    assert_true(r.mass_silence_ratio == 0.25);
    assert_true(r.backoff_jitter == 0.2);
}

static void test_backoff_sequence_pure(void **state)
{
    struct policy_config c, zero = { 0 };
    static const int64_t base[] = { 0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
    uint64_t rng = policy_rng_seed(COREFX_SEED), again = policy_rng_seed(COREFX_SEED);

    (void)state;
    policy_config_resolve(&c, &zero);
    for (uint32_t step = 0; step < sizeof(base) / sizeof(base[0]); step++) {
        int64_t d = policy_backoff_ms(&c, step, &rng);

        assert_int64_le(base[step] * 8 / 10, d);
        assert_int64_le(d, base[step] * 12 / 10);
        assert_int64_eq(policy_backoff_ms(&c, step, &again), d); /* same seed, same delays */
    }
    /* Step 0 draws nothing; the jitter actually varies. */
    assert_int64_eq(rng, again);
    {
        int64_t lo = INT64_MAX, hi = 0;

        for (int k = 0; k < 1000; k++) {
            int64_t d = policy_backoff_ms(&c, 1, &rng);

            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        assert_int64_le(lo, 850);
        assert_int64_le(1150, hi);
    }
}

static void test_tally_and_verdict_pure(void **state)
{
    struct policy_config c, zero = { 0 };
    struct policy_instance p;
    struct policy_verdict v;
    uint64_t rng = policy_rng_seed(1);

    (void)state;
    policy_config_resolve(&c, &zero);
    policy_instance_init(&p);
    assert_int_equal(p.timer_ms, POLICY_NEVER);
    v = policy_after_death(&p, &c, 5, 600000, 1000, &rng);
    assert_int_equal(v.kind, CORE_ACT_RESTART);
    assert_int64_eq(v.at_ms, 1000);
    for (int k = 0; k < 5; k++)
        policy_tally_add(&p, 1000 + k * 1000);
    assert_int_equal(policy_tally_count(&p, 600000, 6000), 5);
    v = policy_after_death(&p, &c, 5, 600000, 6000, &rng);
    assert_int_equal(v.kind, CORE_ACT_FENCE);
    assert_int_equal(v.restarts, 5);
    /* Out of the window they no longer count. */
    assert_int_equal(policy_tally_count(&p, 600000, 1000 + 600000), 4);
    assert_int_equal(policy_tally_count(&p, 600000, 5000 + 600000), 0);
    /* The ring keeps the newest POLICY_TALLY_MAX. */
    for (int k = 0; k < 40; k++)
        policy_tally_add(&p, 10000 + k);
    assert_int_equal(policy_tally_count(&p, 600000, 20000), POLICY_TALLY_MAX);
    assert_int_equal(policy_tally_count(&p, 10 + 1, 10039), 11); /* times 10029..10039 */
    /* A long HEALTHY spell ends the streak, a short one does not. */
    p.backoff_step = 4;
    policy_healthy_spell(&p, &c, 59999);
    assert_int_equal(p.backoff_step, 4);
    policy_healthy_spell(&p, &c, 60000);
    assert_int_equal(p.backoff_step, 0);
}

static void test_epoch_budget_and_silence_pure(void **state)
{
    struct policy_config c, zero = { 0 };
    struct policy_silence w;

    (void)state;
    policy_config_resolve(&c, &zero);
    assert_int_equal(policy_next_fence_epoch(0, 0), 1);
    assert_int_equal(policy_next_fence_epoch(7, 3), 8);
    assert_int_equal(policy_next_fence_epoch(2, 9), 10);
    assert_int_equal(policy_max_concurrent(&c, 0), 1);
    assert_int_equal(policy_max_concurrent(&c, 19), 1);
    assert_int_equal(policy_max_concurrent(&c, 100), 10);
    c.max_concurrent = 2;
    assert_int_equal(policy_max_concurrent(&c, 1000), 2);
    c.max_concurrent = 0;

    policy_silence_init(&w, 1000, 0);
    for (int k = 0; k < 30; k++)
        policy_silence_note(&w, 5000 + k * 10);
    assert_int_equal(policy_silence_count(&w, 5300), 30);
    assert_int_equal(policy_silence_count(&w, 8000), 0);   /* the window: two intervals */
    /* Counted by last heartbeats, noted in any order: one noted late lands
     * in its own bucket, one from before the window not at all. */
    policy_silence_init(&w, 1000, 0);
    policy_silence_note(&w, 10900);
    policy_silence_note(&w, 10050);
    policy_silence_note(&w, 11500);
    assert_int_equal(policy_silence_count(&w, 11500), 3);
    policy_silence_note(&w, 9000);            /* 2.5 s before the latest */
    assert_int_equal(policy_silence_count(&w, 11500), 3);
    assert_int_equal(policy_silence_count(&w, 12100), 2); /* 10050 has left the window */
    assert_false(policy_mass_silence(&c, 2, 4));   /* under the minimum */
    assert_false(policy_mass_silence(&c, 25, 100)); /* not more than 25 % */
    assert_true(policy_mass_silence(&c, 26, 100));
    assert_false(policy_mass_silence(&c, 3, 0));
}

/* ---- restarts and backoff ---- */

static void test_first_restart_immediate_with_event_and_action(void **state)
{
    struct corefx *f = *state;
    const struct corefx_event *ev;
    const struct corefx_action *a;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 7, 2000);
    corefx_send_exited(f, "alpha", "a-1", 7, 2500);
    assert_int_equal(f->rec.n_actions, 1);
    a = corefx_last_action(f);
    assert_string_equal(a->service, "alpha");
    assert_int_equal(a->kind, CORE_ACT_RESTART);
    assert_int_equal(a->attempt, 1);
    assert_int_equal(a->incarnation, 7);
    assert_int_equal(a->fence_epoch, 0);
    assert_int64_eq(a->at_ms, 2500);
    assert_string_equal(a->reason, "dead: exited");
    /* The feed: DEAD, then the decision. */
    ev = corefx_last_action_event(f);
    assert_ptr_equal(ev, &f->rec.events[f->rec.n_events - 1]);
    assert_int_equal(ev->from, INST_DEAD);
    assert_int_equal(ev->to, INST_RESTARTING);
    assert_int_equal(ev->action, CORE_ACT_RESTART);
    assert_int_equal(f->rec.events[f->rec.n_events - 2].to, INST_DEAD);
    assert_int_equal(f->rec.events[f->rec.n_events - 2].action, 0);
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
}

static void test_backoff_sequence_next_action_ms(void **state)
{
    struct corefx *f = *state;
    struct service_config *svc;
    struct policy_config c;
    uint64_t inc = 1, rng = policy_rng_seed(COREFX_SEED);

    svc = corefx_configure(f, "alpha", 1);
    svc->crashloop_max = POLICY_TALLY_MAX;
    svc->crashloop_window_ms = 1; /* no crash-loop verdict in this test */
    policy_config_resolve(&c, &f->cfg.policy);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", inc, 2000);
    for (uint32_t step = 0; step < 10; step++) {
        int64_t want = policy_backoff_ms(&c, step, &rng);
        int64_t died = f->now + 100;
        struct instance *i;
        int64_t delay;

        if (step > 0) {
            /* Before it is due, the feed shows when. */
            corefx_send_exited(f, "alpha", "a-1", inc, died);
            i = corefx_instance_of(f, "alpha", "a-1");
            assert_int64_eq(i->next_action_ms, died + want);
            assert_int64_eq(observer_next_deadline(f->o), died + want);
            corefx_run_until(f, died + want - 1);
            assert_int_equal(corefx_actions_for(f, "a-1"), step);
            assert_health(f, "alpha", "a-1", INST_DEAD);
            f->now = died - 100; /* crash_and_restart's death is the one above */
            corefx_tick(f, died + want);
            delay = corefx_last_action(f)->at_ms - died;
            assert_int_equal(corefx_actions_for(f, "a-1"), step + 1);
            assert_int64_eq(i->next_action_ms, 0);
            observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_ACCEPTED, NULL, f->now + 10);
            inc++;
            corefx_send_serving(f, "alpha", "a-1", inc, f->now + 50);
        } else {
            delay = crash_and_restart(f, "alpha", "a-1", &inc);
        }
        assert_int64_eq(delay, want);
    }
    assert_int_equal(f->rec.n_escalations, 0);
}

static void test_backoff_resets_after_stable(void **state)
{
    struct corefx *f = *state;
    uint64_t inc = 1;

    corefx_configure(f, "alpha", 1)->crashloop_max = POLICY_TALLY_MAX;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", inc, 2000);
    assert_int64_eq(crash_and_restart(f, "alpha", "a-1", &inc), 0);
    assert_true(crash_and_restart(f, "alpha", "a-1", &inc) >= 800);
    assert_true(crash_and_restart(f, "alpha", "a-1", &inc) >= 1600);
    /* 59 s healthy is not enough... */
    keep_alive(f, "alpha", "a-1", inc, f->now + COREFX_INTERVAL, f->now + 59000);
    assert_true(crash_and_restart(f, "alpha", "a-1", &inc) >= 3200);
    /* ...60 s is. */
    keep_alive(f, "alpha", "a-1", inc, f->now + COREFX_INTERVAL, f->now + 61000);
    assert_int64_eq(crash_and_restart(f, "alpha", "a-1", &inc), 0);
    assert_true(crash_and_restart(f, "alpha", "a-1", &inc) >= 800);
}

/* ---- escalation ---- */

static void test_crashloop_fences_on_sixth_death(void **state)
{
    struct corefx *f = *state;
    const struct corefx_action *a;
    const struct corefx_event *ev;
    struct hb_input hb;
    uint64_t inc = 1;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    /* It reports having obeyed fence epoch 7 (an earlier supervisor's). */
    memset(&hb, 0, sizeof(hb));
    snprintf(hb.service, sizeof(hb.service), "alpha");
    snprintf(hb.instance, sizeof(hb.instance), "a-1");
    hb.incarnation = inc;
    hb.seq = f->seq++;
    hb.arrival_ms = 2000;
    hb.state = SERVING_SERVING;
    hb.checks_ok = true;
    hb.fence_epoch = 7;
    assert_int_equal(observer_heartbeat(f->o, &hb), HB_ACCEPTED);
    for (int k = 0; k < 5; k++)
        crash_and_restart(f, "alpha", "a-1", &inc);
    assert_int_equal(f->rec.n_actions, 5);
    assert_int_equal(f->rec.n_escalations, 0);
    assert_true(f->now < 60000);

    corefx_send_exited(f, "alpha", "a-1", inc, f->now + 100);
    assert_int_equal(f->rec.n_actions, 6);
    a = corefx_last_action(f);
    assert_int_equal(a->kind, CORE_ACT_FENCE);
    assert_int_equal(a->fence_epoch, 8);
    assert_string_equal(a->reason, "crashloop: 6 restarts in 600s");
    assert_int_equal(f->rec.n_escalations, 1);
    assert_string_equal(f->rec.escalations[0].reason, "crashloop: 6 restarts in 600s");
    assert_string_equal(f->rec.escalations[0].instance, "a-1");
    ev = corefx_last_action_event(f);
    assert_int_equal(ev->action, CORE_ACT_FENCE);
    assert_int_equal(ev->from, INST_DEAD);
    assert_int_equal(ev->to, INST_FENCED);
    assert_health(f, "alpha", "a-1", INST_FENCED);

    /* Accepted: it stays FENCED, exits and silence change nothing, and it is
     * neither restarted nor forgotten. */
    observer_action_result(f->o, a->id, CORE_ACK_ACCEPTED, NULL, f->now + 10);
    corefx_send_state(f, "alpha", "a-1", inc, f->now + 500, SERVING_FENCED);
    corefx_send_exited(f, "alpha", "a-1", inc, f->now + 500);
    assert_health(f, "alpha", "a-1", INST_FENCED);
    corefx_run_until(f, f->now + 2 * COREFX_FORGET_AFTER);
    assert_health(f, "alpha", "a-1", INST_FENCED);
    assert_int_equal(f->rec.n_actions, 6);
    assert_int_equal(f->rec.n_escalations, 1);
}

static void test_crashloop_per_service_override(void **state)
{
    struct corefx *f = *state;
    struct service_config *svc;
    uint64_t inc = 1;

    svc = corefx_configure(f, "alpha", 1);
    svc->crashloop_max = 2;
    svc->crashloop_window_ms = 30000;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", inc, 2000);
    crash_and_restart(f, "alpha", "a-1", &inc);
    crash_and_restart(f, "alpha", "a-1", &inc);
    corefx_send_exited(f, "alpha", "a-1", inc, f->now + 100);
    assert_int_equal(corefx_last_action(f)->kind, CORE_ACT_FENCE);
    assert_int_equal(corefx_last_action(f)->fence_epoch, 1);
    assert_string_equal(f->rec.escalations[0].reason, "crashloop: 3 restarts in 30s");
}

static void test_crashloop_window_forgets_old_restarts(void **state)
{
    struct corefx *f = *state;
    struct service_config *svc;
    uint64_t inc = 1;

    svc = corefx_configure(f, "alpha", 1);
    svc->crashloop_max = 2;
    svc->crashloop_window_ms = 30000;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", inc, 2000);
    crash_and_restart(f, "alpha", "a-1", &inc);
    crash_and_restart(f, "alpha", "a-1", &inc);
    /* Healthy past the window: the old restarts no longer count. */
    keep_alive(f, "alpha", "a-1", inc, f->now + COREFX_INTERVAL, f->now + 31000);
    crash_and_restart(f, "alpha", "a-1", &inc);
    assert_int_equal(f->rec.n_escalations, 0);
}

/* ---- blast radius and the last serving instance ---- */

static void test_blast_radius_limits_actions_in_flight(void **state)
{
    struct corefx *f = *state;
    const char *names[5] = { "a-1", "a-2", "a-3", "a-4", "a-5" };
    uint64_t first, second;

    corefx_configure(f, "alpha", 5);
    f->cfg.policy.max_concurrent = 2;
    corefx_start_normal(f);
    for (int k = 0; k < 5; k++)
        corefx_send_serving(f, "alpha", names[k], 1, 2000 + k);
    for (int k = 0; k < 5; k++)
        corefx_send_exited(f, "alpha", names[k], 1, 3000 + k);
    assert_int_equal(f->rec.n_actions, 2);
    assert_string_equal(f->rec.actions[0].instance, "a-1");
    assert_string_equal(f->rec.actions[1].instance, "a-2");
    first = f->rec.actions[0].id;
    second = f->rec.actions[1].id;
    assert_true(first != second);
    for (int k = 2; k < 5; k++) {
        assert_health(f, "alpha", names[k], INST_DEAD);
        assert_string_equal(corefx_instance_of(f, "alpha", names[k])->reason, "held: 2 actions in flight (max 2)");
    }
    /* Accepted restarts are still in flight until the instances are back. */
    observer_action_result(f->o, first, CORE_ACK_ACCEPTED, NULL, 3100);
    observer_action_result(f->o, second, CORE_ACK_ACCEPTED, NULL, 3100);
    corefx_run_until(f, 3500);
    assert_int_equal(f->rec.n_actions, 2);
    /* a-1 is back: the oldest held one goes. */
    corefx_send_serving(f, "alpha", "a-1", 2, 3600);
    assert_int_equal(f->rec.n_actions, 3);
    assert_string_equal(corefx_last_action(f)->instance, "a-3");
    assert_string_equal(corefx_last_action(f)->reason, "dead: released (2 actions in flight (max 2))");
    /* a-3 is refused: at its ack timeout (an acceptance could still have
     * come) its slot goes to a-4. */
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_REFUSED, "wrong signer", 3700);
    corefx_run_until(f, 3600 + 2000 - 1);
    assert_int_equal(f->rec.n_actions, 3);
    corefx_run_until(f, 3600 + 2000);
    assert_int_equal(f->rec.n_actions, 4);
    assert_string_equal(corefx_last_action(f)->instance, "a-4");
    assert_string_equal(f->rec.escalations[0].instance, "a-3");
    assert_string_equal(f->rec.escalations[0].reason, "refused: RESTART: wrong signer");
    assert_health(f, "alpha", "a-3", INST_DEAD);
    /* a-2 is back: a-5 goes. Never more than two were out at once. */
    corefx_send_serving(f, "alpha", "a-2", 2, 5700);
    assert_int_equal(f->rec.n_actions, 5);
    assert_string_equal(corefx_last_action(f)->instance, "a-5");
}

static void test_default_budget_is_a_tenth(void **state)
{
    struct corefx *f = *state;
    char name[16];

    corefx_configure(f, "alpha", 30);
    corefx_start_normal(f);
    for (int k = 0; k < 30; k++) {
        snprintf(name, sizeof(name), "a-%d", k);
        corefx_send_serving(f, "alpha", name, 1, 2000 + k);
    }
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof(name), "a-%d", k);
        corefx_send_exited(f, "alpha", name, 1, 2100 + k);
    }
    assert_int_equal(f->rec.n_actions, 3); /* max(1, 30 / 10) */
}

static void test_degraded_limit_restarts_with_sibling_serving(void **state)
{
    struct corefx *f = *state;
    const struct corefx_event *ev;

    corefx_configure(f, "alpha", 2);
    f->cfg.policy.degraded_limit_ms = 5000;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    corefx_send_state(f, "alpha", "a-1", 1, 3000, SERVING_DEGRADED);
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 8000);
    for (int64_t t = 4000; t <= 7000; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        corefx_send_state(f, "alpha", "a-1", 1, t, SERVING_DEGRADED);
        corefx_send_serving(f, "alpha", "a-2", 1, t);
    }
    corefx_run_until(f, 7999);
    assert_int_equal(f->rec.n_actions, 0);
    corefx_run_until(f, 8000);
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(corefx_last_action(f)->instance, "a-1");
    assert_string_equal(corefx_last_action(f)->reason, "degraded: reports degraded");
    ev = corefx_last_action_event(f);
    assert_int_equal(ev->from, INST_DEGRADED);
    assert_int_equal(ev->to, INST_RESTARTING);
    /* The old life keeps reporting while it restarts: still RESTARTING. */
    corefx_send_state(f, "alpha", "a-1", 1, 8200, SERVING_DEGRADED);
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_ACCEPTED, NULL, 8300);
    corefx_send_exited(f, "alpha", "a-1", 1, 8400);
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
    /* The new life decides. */
    corefx_send_serving(f, "alpha", "a-1", 2, 9000);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);
    assert_int_equal(f->rec.n_actions, 1);
}

static void test_last_serving_instance_never_taken(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    f->cfg.policy.degraded_limit_ms = 5000;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_state(f, "alpha", "a-1", 1, 3000, SERVING_DEGRADED);
    for (int64_t t = 4000; t <= 12000; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        corefx_send_state(f, "alpha", "a-1", 1, t, SERVING_DEGRADED);
    }
    /* Degraded, but the only one answering: held, and it says so. */
    assert_int_equal(f->rec.n_actions, 0);
    assert_health(f, "alpha", "a-1", INST_DEGRADED);
    assert_string_equal(corefx_instance_of(f, "alpha", "a-1")->reason, "held: last serving instance of alpha");
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
    /* A sibling starts serving: now it may go. */
    corefx_send_serving(f, "alpha", "a-2", 1, 12500);
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(corefx_last_action(f)->instance, "a-1");
    assert_string_equal(corefx_last_action(f)->reason, "degraded: released (last serving instance of alpha)");
}

static void test_degraded_not_restarted_by_default(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    for (int64_t t = 2000; t <= 120000; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        corefx_send_state(f, "alpha", "a-1", 1, t, SERVING_DEGRADED);
        corefx_send_serving(f, "alpha", "a-2", 1, t);
    }
    assert_int_equal(f->rec.n_actions, 0);
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
}

static void test_degraded_plan_cancelled_when_healthy(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 2);
    f->cfg.policy.degraded_limit_ms = 5000;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    corefx_send_state(f, "alpha", "a-1", 1, 2000, SERVING_DEGRADED);
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 7000);
    corefx_run_until(f, 3000);
    corefx_send_serving(f, "alpha", "a-1", 1, 3000);
    corefx_send_serving(f, "alpha", "a-2", 1, 3000);
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
    for (int64_t t = 4000; t <= 10000; t += COREFX_INTERVAL) {
        corefx_run_until(f, t);
        corefx_send_serving(f, "alpha", "a-1", 1, t);
        corefx_send_serving(f, "alpha", "a-2", 1, t);
    }
    assert_int_equal(f->rec.n_actions, 0);
}

/* ---- self-preservation and warm-up ---- */

static void test_no_actions_while_warming_up(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start(f, 0);
    corefx_send_serving(f, "alpha", "a-1", 1, 100);
    corefx_send_exited(f, "alpha", "a-1", 1, 200);
    assert_int_equal(f->rec.n_actions, 0);
    assert_string_equal(corefx_instance_of(f, "alpha", "a-1")->reason, "held: warming up");
    corefx_run_until(f, COREFX_INTERVAL - 1);
    assert_int_equal(f->rec.n_actions, 0);
    corefx_tick(f, COREFX_INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_actions, 1);
    assert_int64_eq(corefx_last_action(f)->at_ms, COREFX_INTERVAL);
    assert_string_equal(corefx_last_action(f)->reason, "dead: released (warming up)");
}

static void test_own_disconnect_no_actions_then_warm_up(void **state)
{
    struct corefx *f = *state;
    uint64_t id;

    corefx_configure(f, "alpha", 2);
    f->cfg.policy.max_concurrent = 2;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    /* A restart in flight when the link drops is not retried while down. */
    corefx_send_exited(f, "alpha", "a-2", 1, 2100);
    assert_int_equal(f->rec.n_actions, 1);
    id = corefx_last_action(f)->id;
    observer_link(f->o, false, 2200);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    assert_string_equal(observer_state_reason(f->o), "own NATS link down");
    for (int64_t t = 2200; t <= 30000; t += 500)
        corefx_tick(f, t);
    assert_int_equal(f->rec.n_actions, 1);
    observer_link(f->o, true, 30000);
    f->now = 30000;
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    /* In the warm-up: a death is held, the ack timeout waits. */
    corefx_send_exited(f, "alpha", "a-1", 1, 30200);
    assert_string_equal(corefx_instance_of(f, "alpha", "a-1")->reason, "held: warming up");
    corefx_run_until(f, 30999);
    assert_int_equal(f->rec.n_actions, 1);
    corefx_run_until(f, 31000);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_actions, 2);
    assert_string_equal(corefx_last_action(f)->instance, "a-1");
    /* a-2's unacknowledged restart is sent again, in NORMAL only: its ack
     * timeout, due while blind, was re-armed by one timeout at the first
     * tick of the warm-up. */
    corefx_run_until(f, 32500);
    assert_int_equal(f->rec.n_actions, 3);
    assert_string_equal(corefx_last_action(f)->instance, "a-2");
    assert_int_equal(corefx_last_action(f)->attempt, 2);
    assert_true(corefx_last_action(f)->id != id);
}

#define FLEET 100
#define SILENCED 30
#define GONE 2

static void fleet_round(struct corefx *f, int64_t t, int first_alive, int last_alive_excl, int also_from)
{
    char name[16];

    for (int k = 0; k < FLEET; k++) {
        if (!((k >= first_alive && k < last_alive_excl) || k >= also_from))
            continue;
        snprintf(name, sizeof(name), "i-%02d", k);
        corefx_run_until(f, t + 5 * k);
        corefx_send_serving(f, "fleet", name, 1, t + 5 * k);
    }
    corefx_run_until(f, t + COREFX_INTERVAL - 1);
}

static void test_mass_silence_self_preservation(void **state)
{
    struct corefx *f = *state;
    size_t dead_events = 0, first_attempts = 0;
    int64_t t;
    char name[16];

    corefx_configure(f, "fleet", FLEET);
    corefx_start_normal(f);
    for (t = 2000; t < 10000; t += COREFX_INTERVAL)
        fleet_round(f, t, 0, FLEET, FLEET);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    /* 30 % go silent at once (their host's network, or ours). */
    for (; t < 20000; t += COREFX_INTERVAL)
        fleet_round(f, t, 0, 0, SILENCED);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    assert_prefix(observer_state_reason(f->o), "mass silence: ");
    assert_non_null(strstr(observer_state_reason(f->o), " of 100 healthy instances silent within 1.0s"));
    assert_int_equal(f->rec.states[f->rec.n_states - 1].to, OBSERVER_SELF_PRESERVATION);
    /* Deaths are still declared on the feed, but nothing is done. */
    for (size_t k = 0; k < f->rec.n_events; k++)
        dead_events += f->rec.events[k].to == INST_DEAD;
    assert_int_equal(dead_events, SILENCED);
    assert_int_equal(f->rec.n_actions, 0);
    assert_prefix(corefx_instance_of(f, "fleet", "i-00")->reason, "held: self-preservation");
    /* All but two come back: warm-up, then NORMAL, then only those two. */
    for (; t < 25000; t += COREFX_INTERVAL)
        fleet_round(f, t, 0, SILENCED - GONE, SILENCED);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.states[f->rec.n_states - 2].to, OBSERVER_WARMING_UP);
    assert_prefix(f->rec.states[f->rec.n_states - 2].reason, "heartbeats back: ");
    for (size_t k = 0; k < f->rec.n_actions; k++)
        first_attempts += f->rec.actions[k].attempt == 1;
    assert_int_equal(first_attempts, GONE);
    for (int k = 0; k < GONE; k++) {
        snprintf(name, sizeof(name), "i-%02d", SILENCED - GONE + k);
        assert_string_equal(f->rec.actions[k].instance, name);
    }
}

/* Three of four instances stopped at the same moment (SIGSTOP) are found
 * silent far apart: by phase (their last heartbeats were up to an interval
 * apart) and by rhythm (j-2 once took 2 s between heartbeats, so its late
 * threshold is ~2.2 s where the steady ones' is 1.6 s). They stopped
 * together: a mass silence, seen before the first is DEAD, nothing
 * restarted. Counted by when each was found (1.5 s from first to last),
 * the three never fall within one interval and each is restarted. */
static void test_silences_beginning_together_are_one_mass_silence(void **state)
{
    static const char *const names[] = { "s-0", "s-1", "j-2", "live" };
    static const int64_t phase[] = { 0, 900, 850, 400 };   /* ms into each second */
    struct corefx *f = *state;
    int64_t stop = 0;

    corefx_configure(f, "fleet", 4);
    corefx_start_normal(f);
    for (int64_t t = 2000; t < 40000; t += COREFX_INTERVAL) {
        int64_t at[4];
        bool sent[4] = { false };

        for (int k = 0; k < 4; k++)
            at[k] = t + phase[k];
        for (int n = 0; n < 4; n++) {   /* this round's heartbeats in time order */
            int k = -1;

            for (int j = 0; j < 4; j++)
                if (!sent[j] && (k < 0 || at[j] < at[k]))
                    k = j;
            sent[k] = true;
            if ((stop != 0 && k < 3 && at[k] >= stop) || (k == 2 && t == 10000))
                continue;   /* stopped; or j-2 skipping one: a 2 s gap in its history */
            corefx_run_until(f, at[k]);
            corefx_send_serving(f, "fleet", names[k], 1, at[k]);
        }
        if (stop == 0 && t >= 20000)
            stop = t + COREFX_INTERVAL + 950;   /* all three stop here, at once */
    }
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    assert_prefix(observer_state_reason(f->o), "mass silence: 3 of 4 healthy instances");
    assert_int_equal(f->rec.n_actions, 0);
}

/* A mass silence that does not end is no longer a blip: after
 * self_preservation_max_ms the supervisor acts again, within the blast
 * radius, and says how long it held. */
static void test_self_preservation_is_bounded(void **state)
{
    struct corefx *f = *state;
    struct observer_counters c;
    size_t first_attempts = 0;
    int64_t t, began = 0;

    f->cfg.policy.self_preservation_max_ms = 20000;
    corefx_configure(f, "fleet", FLEET);
    corefx_start_normal(f);
    for (t = 2000; t < 10000; t += COREFX_INTERVAL)
        fleet_round(f, t, 0, FLEET, FLEET);
    for (; t < 25000; t += COREFX_INTERVAL) {
        fleet_round(f, t, 0, 0, SILENCED);
        if (began == 0 && observer_state(f->o) == OBSERVER_SELF_PRESERVATION)
            began = f->now;
    }
    assert_true(began > 0);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    assert_prefix(corefx_instance_of(f, "fleet", "i-00")->reason, "held: self-preservation: mass silence for ");
    assert_int_equal(f->rec.n_actions, 0);
    for (; t < began + 20000 + 3 * COREFX_INTERVAL; t += COREFX_INTERVAL)
        fleet_round(f, t, 0, 0, SILENCED);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_prefix(observer_state_reason(f->o), "self-preservation ended after 20s");
    observer_counters(f->o, &c);
    assert_int_equal(c.self_preservation_expired, 1);
    for (size_t k = 0; k < f->rec.n_actions; k++)
        first_attempts += f->rec.actions[k].attempt == 1;
    assert_int_equal(first_attempts, 10);   /* the blast radius: 10 % of 100, none acked */
}

static void test_few_silent_is_no_mass_silence(void **state)
{
    struct corefx *f = *state;
    size_t first_attempts = 0;
    int64_t t;

    corefx_configure(f, "fleet", FLEET);
    corefx_start_normal(f);
    for (t = 2000; t < 6000; t += COREFX_INTERVAL)
        fleet_round(f, t, 0, FLEET, FLEET);
    for (; t < 12000; t += COREFX_INTERVAL)
        fleet_round(f, t, 0, 0, 20);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    for (size_t k = 0; k < f->rec.n_actions; k++)
        first_attempts += f->rec.actions[k].attempt == 1;
    assert_int_equal(first_attempts, 10); /* the budget: 10 % of 100, none acked */
}

/* ---- dependencies ---- */

static void test_dependency_missing_holds_then_releases(void **state)
{
    struct corefx *f = *state;
    struct service_config *app;

    corefx_configure(f, "knowledge-base", 1);
    app = corefx_configure(f, "app", 1);
    corefx_depends_on(f, app, "knowledge-base");
    corefx_start_normal(f);
    corefx_send_serving(f, "app", "app-1", 1, 2000);
    corefx_send_exited(f, "app", "app-1", 1, 2500);
    assert_int_equal(f->rec.n_actions, 0);
    assert_string_equal(corefx_instance_of(f, "app", "app-1")->reason, "held: depends on knowledge-base (MISSING)");
    corefx_run_until(f, 20000);
    assert_int_equal(f->rec.n_actions, 0);
    corefx_send_serving(f, "knowledge-base", "kb-1", 1, 20000);
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(corefx_last_action(f)->instance, "app-1");
    assert_string_equal(corefx_last_action(f)->reason, "dead: released (depends on knowledge-base (MISSING))");
}

static void test_dependency_unavailable_holds(void **state)
{
    struct corefx *f = *state;
    struct service_config *kb, *app;

    kb = corefx_configure(f, "knowledge-base", 1);
    kb->restart_disabled = true;
    app = corefx_configure(f, "app", 1);
    corefx_depends_on(f, app, "knowledge-base");
    corefx_depends_on(f, app, "elsewhere"); /* not judged here: never holds */
    corefx_start_normal(f);
    corefx_send_serving(f, "knowledge-base", "kb-1", 1, 2000);
    corefx_send_serving(f, "app", "app-1", 1, 2000);
    corefx_send_exited(f, "knowledge-base", "kb-1", 1, 2100);
    corefx_send_exited(f, "app", "app-1", 1, 2200);
    assert_int_equal(f->rec.n_actions, 0); /* kb: restarts disabled */
    assert_string_equal(corefx_instance_of(f, "app", "app-1")->reason,
                        "held: depends on knowledge-base (UNAVAILABLE)");
    /* Several deaths while it is down are the dependency's, not a crash loop. */
    corefx_send_serving(f, "knowledge-base", "kb-1", 2, 5000);
    assert_int_equal(f->rec.n_actions, 1);
    assert_int_equal(corefx_last_action(f)->kind, CORE_ACT_RESTART);
}

/* ---- acknowledgements ---- */

static void test_unacknowledged_retried_then_escalated(void **state)
{
    struct corefx *f = *state;
    uint64_t ids[3];

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    ids[0] = corefx_last_action(f)->id;
    corefx_run_until(f, 4499);
    assert_int_equal(f->rec.n_actions, 1);
    corefx_run_until(f, 4500);
    assert_int_equal(f->rec.n_actions, 2);
    assert_int_equal(corefx_last_action(f)->attempt, 2);
    assert_int_equal(corefx_last_action(f)->kind, CORE_ACT_RESTART);
    assert_string_equal(corefx_last_action(f)->reason, "dead: exited");
    ids[1] = corefx_last_action(f)->id;
    assert_int_equal(corefx_last_action_event(f)->action, CORE_ACT_RESTART);
    assert_string_equal(corefx_last_action_event(f)->reason, "RESTART sent again (attempt 2 of 3): unacknowledged");
    /* A late answer to the first attempt is ignored. */
    observer_action_result(f->o, ids[0], CORE_ACK_ACCEPTED, NULL, 5000);
    corefx_run_until(f, 6500);
    assert_int_equal(f->rec.n_actions, 3);
    ids[2] = corefx_last_action(f)->id;
    assert_true(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    assert_int_equal(f->rec.n_escalations, 0);
    corefx_run_until(f, 8500);
    assert_int_equal(f->rec.n_actions, 3);
    assert_int_equal(f->rec.n_escalations, 1);
    assert_string_equal(f->rec.escalations[0].reason, "unacknowledged: RESTART not acknowledged after 3 attempts");
    assert_health(f, "alpha", "a-1", INST_DEAD);
    /* Left alone until it is heard from again... */
    corefx_run_until(f, 60000);
    assert_int_equal(f->rec.n_actions, 3);
    /* ...then the policy looks after it once more. */
    corefx_send_serving(f, "alpha", "a-1", 2, 60000);
    corefx_send_exited(f, "alpha", "a-1", 2, 60500);
    corefx_wait_action(f, 2000);
    assert_int_equal(f->rec.n_actions, 4);
}

static void test_unknown_action_result_ignored(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    observer_action_result(f->o, 12345, CORE_ACK_REFUSED, "what?", 2100);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    observer_action_result(f->o, corefx_last_action(f)->id + 1, CORE_ACK_REFUSED, NULL, 2600);
    assert_int_equal(f->rec.n_escalations, 0);
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
}

/* ---- restarting ---- */

static void test_restart_new_incarnation_healthy(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_ACCEPTED, NULL, 2600);
    /* Not silence-judged while restarting: no SUSPECT/DEAD however long. */
    corefx_run_until(f, 20000);
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
    corefx_send_serving(f, "alpha", "a-1", 2, 20000);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);
    assert_int_equal(f->rec.events[f->rec.n_events - 1].from, INST_RESTARTING);
    assert_int_equal(corefx_instance_of(f, "alpha", "a-1")->restarts, 1);
    keep_alive(f, "alpha", "a-1", 2, 21000, 100000);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);
    assert_int_equal(f->rec.n_actions, 1);
}

static void test_restart_timeout_dead_and_backoff_continues(void **state)
{
    struct corefx *f = *state;
    struct policy_config c;
    uint64_t rng = policy_rng_seed(COREFX_SEED);
    int64_t want;
    struct instance *i;

    corefx_configure(f, "alpha", 1);
    policy_config_resolve(&c, &f->cfg.policy);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_ACCEPTED, NULL, 2600);
    corefx_run_until(f, 2600 + 30000 - 1);
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
    corefx_run_until(f, 2600 + 30000);
    assert_health(f, "alpha", "a-1", INST_DEAD);
    i = corefx_instance_of(f, "alpha", "a-1");
    assert_string_equal(f->rec.events[f->rec.n_events - 1].reason, "restart timed out after 30.0s");
    /* Counted as a failed restart: the next is backed off. */
    want = policy_backoff_ms(&c, 1, &rng);
    assert_int64_eq(i->next_action_ms, 32600 + want);
    assert_int_equal(f->rec.n_actions, 1);
    corefx_run_until(f, 32600 + want);
    assert_int_equal(f->rec.n_actions, 2);
    assert_string_equal(corefx_last_action(f)->reason, "dead: restart timed out after 30.0s");
}

/* ---- what is never acted on ---- */

static void test_restart_disabled_and_unexpected_only_observed(void **state)
{
    struct corefx *f = *state;
    struct service_config *svc;

    svc = corefx_configure(f, "alpha", 1);
    svc->restart_disabled = true;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "ghost", "g-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    corefx_send_exited(f, "ghost", "g-1", 1, 2500);
    corefx_run_until(f, 60000);
    assert_int_equal(f->rec.n_actions, 0);
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
}

static void test_no_on_action_observes_only(void **state)
{
    struct corefx *f = *state;
    struct observer_sink sink = { .ctx = f, .on_event = corefx_record_event };

    corefx_configure(f, "alpha", 1);
    assert_int_equal(observer_create(&f->cfg, &sink, 0, &f->o), 0);
    corefx_tick(f, COREFX_INTERVAL);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    corefx_run_until(f, 60000);
    assert_health(f, "alpha", "a-1", INST_DEAD);
    assert_string_equal(corefx_instance_of(f, "alpha", "a-1")->reason, "exited");
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
}

static void test_stopped_on_purpose_not_restarted_and_recovery_cancels(void **state)
{
    struct corefx *f = *state;
    uint64_t inc = 1;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", inc, 2000);
    crash_and_restart(f, "alpha", "a-1", &inc);
    /* Dies again: a backed-off restart is planned... */
    corefx_send_exited(f, "alpha", "a-1", inc, f->now + 100);
    assert_true(corefx_instance_of(f, "alpha", "a-1")->next_action_ms > f->now);
    /* ...and dropped when something else brought it back first. */
    corefx_send_serving(f, "alpha", "a-1", inc + 1, f->now + 200);
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
    corefx_send_state(f, "alpha", "a-1", inc + 1, f->now + 300, SERVING_STOPPING);
    corefx_run_until(f, f->now + 60000);
    assert_int_equal(f->rec.n_actions, 1);
}

static void test_forgetting_frees_the_slot(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 2);
    f->cfg.policy.max_concurrent = 1;
    f->cfg.policy.ack_attempts = 1;
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2100);
    corefx_send_exited(f, "alpha", "a-2", 1, 2100);
    assert_int_equal(f->rec.n_actions, 1);
    /* a-1 unacknowledged: gave up, slot free, a-2 goes; both forgotten later. */
    corefx_run_until(f, 4100);
    assert_int_equal(f->rec.n_escalations, 1);
    assert_int_equal(f->rec.n_actions, 2);
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_REFUSED, "no", 4200);
    corefx_run_until(f, 2100 + COREFX_FORGET_AFTER + 1);
    assert_null(corefx_instance_of(f, "alpha", "a-1"));
    assert_null(corefx_instance_of(f, "alpha", "a-2"));
    assert_int_equal(observer_next_deadline(f->o), NO_DEADLINE);
}

/* ---- maintenance (observer_set_maintenance) ---- */

static const char *reason_of(const struct corefx *f, const char *svc, const char *inst)
{
    struct instance *i = corefx_instance_of(f, svc, inst);

    assert_non_null(i);
    return i->reason;
}

static void test_maintenance_holds_a_dead_instance_until_lifted(void **state)
{
    struct corefx *f = *state;
    const struct corefx_action *a;

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, "kernel upgrade", 2100), 0);
    keep_alive(f, "alpha", "a-2", 1, 3000, 3000);
    corefx_send_exited(f, "alpha", "a-1", 1, 3100);
    assert_health(f, "alpha", "a-1", INST_DEAD);
    assert_string_equal(reason_of(f, "alpha", "a-1"), "held: maintenance: kernel upgrade");
    assert_int_equal(f->rec.n_actions, 0);
    keep_alive(f, "alpha", "a-2", 1, 4000, 60000);
    assert_int_equal(f->rec.n_actions, 0);
    assert_health(f, "alpha", "a-1", INST_DEAD);
    assert_string_equal(reason_of(f, "alpha", "a-1"), "held: maintenance: kernel upgrade");
    assert_int64_eq(corefx_instance_of(f, "alpha", "a-1")->next_action_ms, 0);
    /* The same flag again changes nothing; lifting it: judged afresh, the
     * first restart of a streak goes at once. */
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, "kernel upgrade", 60100), 0);
    assert_int_equal(f->rec.n_actions, 0);
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, NULL, 60200), 0);
    assert_int_equal(f->rec.n_actions, 1);
    a = corefx_last_action(f);
    assert_string_equal(a->instance, "a-1");
    assert_int_equal(a->kind, CORE_ACT_RESTART);
    assert_int64_eq(a->at_ms, 60200);
    assert_non_null(strstr(a->reason, "maintenance"));
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
    assert_int_equal(observer_maintenance_count(f->o), 0);
    /* Lifting what is not set is a no-op. */
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, NULL, 60300), 0);
}

static void test_maintenance_instance_level_and_service_level(void **state)
{
    struct corefx *f = *state;
    const char *svc, *inst, *why;

    corefx_configure(f, "alpha", 3);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    corefx_send_serving(f, "alpha", "a-3", 1, 2000);
    assert_int_equal(observer_set_maintenance(f->o, "alpha", "a-1", "disk swap", 2100), 0);
    /* Names not known yet are kept for when they appear. */
    assert_int_equal(observer_set_maintenance(f->o, "nosuch", NULL, "", 2100), 0);
    assert_int_equal(observer_maintenance_count(f->o), 2);
    observer_maintenance_at(f->o, 0, &svc, &inst, &why);
    assert_string_equal(svc, "alpha");
    assert_string_equal(inst, "a-1");
    assert_string_equal(why, "disk swap");
    observer_maintenance_at(f->o, 1, &svc, &inst, &why);
    assert_string_equal(svc, "nosuch");
    assert_null(inst);
    assert_string_equal(why, "");

    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    corefx_send_exited(f, "alpha", "a-2", 1, 2500);
    /* Only a-2 is restarted; a-1 is held with its own reason. */
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(corefx_last_action(f)->instance, "a-2");
    assert_string_equal(reason_of(f, "alpha", "a-1"), "held: maintenance: disk swap");
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_ACCEPTED, NULL, 2600);
    corefx_send_serving(f, "alpha", "a-2", 2, 2700);

    /* The whole service too: lifting the instance's flag leaves a-1 held by
     * the service's, under its reason. */
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, "", 2800), 0);
    assert_int_equal(observer_set_maintenance(f->o, "alpha", "a-1", NULL, 2900), 0);
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(reason_of(f, "alpha", "a-1"), "held: maintenance");
    corefx_send_exited(f, "alpha", "a-3", 1, 3000);
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(reason_of(f, "alpha", "a-3"), "held: maintenance");
    /* Lifted: both dead instances restarted (a budget of one in flight
     * takes them one after the other). */
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, NULL, 3100), 0);
    assert_true(f->rec.n_actions >= 2);
    {
        const char *first = f->rec.actions[1].instance;
        bool first_is_a1 = strcmp(first, "a-1") == 0;

        assert_true(first_is_a1 || strcmp(first, "a-3") == 0);
        observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_ACCEPTED, NULL, 3200);
        corefx_send_serving(f, "alpha", first_is_a1 ? "a-1" : "a-3", 2, 3300);
        if (f->rec.n_actions == 2)
            corefx_wait_action(f, 10000);
        assert_string_equal(corefx_last_action(f)->instance, first_is_a1 ? "a-3" : "a-1");
    }
}

static void test_maintenance_keeps_actions_in_flight_and_holds_plans(void **state)
{
    struct corefx *f = *state;
    struct instance *i;
    const struct corefx_action *a;
    int64_t lifted;

    f->cfg.policy.restart_timeout_ms = 5000;
    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    assert_int_equal(f->rec.n_actions, 1);
    /* Set while the restart is out: it is not recalled... */
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, "hands off", 2550), 0);
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_ACCEPTED, NULL, 2600);
    assert_health(f, "alpha", "a-1", INST_RESTARTING);
    /* ...and when it comes back and dies again, nothing is planned. */
    corefx_send_serving(f, "alpha", "a-1", 2, 2700);
    corefx_send_exited(f, "alpha", "a-1", 2, 2800);
    assert_int_equal(f->rec.n_actions, 1);
    assert_string_equal(reason_of(f, "alpha", "a-1"), "held: maintenance: hands off");
    keep_alive(f, "alpha", "a-2", 1, 3000, 30000);
    assert_int_equal(f->rec.n_actions, 1);

    /* Lifted: judged afresh, the second restart of the streak waits for its
     * backoff (shown as the next action), then goes. */
    lifted = f->now + 10;
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, NULL, lifted), 0);
    i = corefx_instance_of(f, "alpha", "a-1");
    assert_int_equal(f->rec.n_actions, 1);
    assert_true(i->next_action_ms > lifted);
    a = corefx_wait_action(f, 10000);
    assert_int_equal(a->kind, CORE_ACT_RESTART);
    assert_true(a->at_ms > lifted);

    /* A planned restart under backoff is held when a flag comes. */
    observer_action_result(f->o, a->id, CORE_ACK_ACCEPTED, NULL, f->now + 10);
    corefx_send_serving(f, "alpha", "a-1", 3, f->now + 20);
    corefx_send_exited(f, "alpha", "a-1", 3, f->now + 30);
    assert_true(i->next_action_ms > f->now);
    assert_int_equal(observer_set_maintenance(f->o, "alpha", "a-1", "x", f->now + 40), 0);
    assert_int64_eq(i->next_action_ms, 0);
    assert_string_equal(i->reason, "held: maintenance: x");
    corefx_run_until(f, f->now + 120000);
    assert_int_equal(corefx_actions_for(f, "a-1"), 2);
    assert_string_equal(i->reason, "held: maintenance: x");
}

static void test_maintenance_rejects_bad_arguments(void **state)
{
    struct corefx *f = *state;
    char long_reason[FLEET_KEPT_REASON_MAX + 2];
    char long_name[FLEET_NAME_MAX + 2];

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    memset(long_reason, 'r', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, long_reason, 2000), -1);
    assert_int_equal(observer_set_maintenance(f->o, long_name, NULL, "x", 2000), -1);
    assert_int_equal(observer_set_maintenance(f->o, "alpha", "", "x", 2000), -1);
    assert_int_equal(observer_set_maintenance(f->o, "", NULL, "x", 2000), -1);
    assert_int_equal(observer_maintenance_count(f->o), 0);
    long_reason[FLEET_KEPT_REASON_MAX] = '\0';
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, long_reason, 2000), 0);
}

/* A standby keeps the flags; gaining leadership, a dead instance under one
 * is held, not restarted, once warm. */
static void test_maintenance_survives_leadership_change(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    observer_set_leader(f->o, false, 0, 1500);
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, "patching", 1600), 0);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 2500);
    observer_set_leader(f->o, true, 7, 2600);
    keep_alive(f, "alpha", "a-2", 1, 3000, 20000);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_actions, 0);
    assert_string_equal(reason_of(f, "alpha", "a-1"), "held: maintenance: patching");
    assert_int_equal(observer_set_maintenance(f->o, "alpha", NULL, NULL, 20100), 0);
    assert_int_equal(f->rec.n_actions, 1);
}

/* ---- answers to Controls, replacement, announced stops (issue 9) ---- */

/* A refusal and an acceptance for the same attempt: the acceptance wins,
 * whatever came first (a sibling can forge refusals on our inbox). */
static void test_an_acceptance_wins_over_a_refusal(void **state)
{
    struct corefx *f = *state;
    uint64_t id;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 3000);
    id = corefx_last_action(f)->id;
    observer_action_result(f->o, id, CORE_ACK_REFUSED, "wrong_incarnation", 3001);
    observer_action_result(f->o, id, CORE_ACK_NO_RESPONDERS, "no responders", 3002);
    observer_action_result(f->o, id, CORE_ACK_ACCEPTED, NULL, 3003);
    corefx_run_until(f, 9000);
    assert_int_equal(f->rec.n_escalations, 0);
    assert_int_equal(f->rec.n_actions, 1);
    assert_int_equal(corefx_instance_of(f, "alpha", "a-1")->policy.phase, POLICY_RESTARTING);
    corefx_send_serving(f, "alpha", "a-1", 2, 9100);
    assert_health(f, "alpha", "a-1", INST_HEALTHY);
}

/* A refusal for good escalates at the attempt's ack timeout, once. */
static void test_a_refusal_gives_up_at_the_ack_timeout(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 3000);
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_REFUSED, "wrong_incarnation", 3010);
    corefx_run_until(f, 4999);
    assert_int_equal(f->rec.n_escalations, 0);
    corefx_run_until(f, 5000);
    assert_int_equal(f->rec.n_escalations, 1);
    assert_string_equal(f->rec.escalations[0].reason, "refused: RESTART: wrong_incarnation");
    assert_health(f, "alpha", "a-1", INST_DEAD);
    corefx_run_until(f, 60000);
    assert_int_equal(f->rec.n_escalations, 1);
    assert_int_equal(f->rec.n_actions, 1);
}

/* A refusal a new attempt can cure is sent again; after every attempt the
 * last refusal is the reason. */
static void test_a_retryable_refusal_is_sent_again(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 3000);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(f->rec.n_actions, (size_t)k + 1);
        observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_RETRYABLE, "stale_term", f->now + 5);
        corefx_run_until(f, 3000 + (int64_t)(k + 1) * 2000);
    }
    assert_int_equal(f->rec.n_actions, 3);
    assert_int_equal(f->rec.n_escalations, 1);
    assert_string_equal(f->rec.escalations[0].reason, "refused: RESTART: stale_term");
}

/* Nobody listens (the whole task died): sent ack_attempts times, then one
 * escalation that says so. */
static void test_no_responders_is_unreachable_and_escalates_once(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 3000);
    for (int k = 0; k < 3; k++) {
        observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_NO_RESPONDERS, "no responders", f->now + 1);
        corefx_run_until(f, 3000 + (int64_t)(k + 1) * 2000);
    }
    assert_int_equal(f->rec.n_actions, 3);
    assert_int_equal(f->rec.n_escalations, 1);
    assert_prefix(f->rec.escalations[0].reason, "unreachable: nobody listens for a-1's control");
    corefx_run_until(f, 120000);
    assert_int_equal(f->rec.n_escalations, 1);
}

/* A dead instance of a service that has its desired count without it
 * (ECS started a replacement task) is not restarted: STOPPED, replaced. */
static void test_a_surplus_death_is_a_replacement(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2001);
    corefx_send_serving(f, "alpha", "a-3", 1, 2002);
    corefx_send_exited(f, "alpha", "a-1", 1, 3000);
    assert_int_equal(f->rec.n_actions, 0);
    assert_health(f, "alpha", "a-1", INST_STOPPED);
    assert_prefix(corefx_instance_of(f, "alpha", "a-1")->reason, "replaced: alpha has 2 of 2 healthy");
    assert_int_equal(f->rec.n_escalations, 0);
}

/* No responders for a dead instance, and meanwhile its replacement came up:
 * replaced, not escalated. */
static void test_a_replacement_arriving_meanwhile_ends_it(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_exited(f, "alpha", "a-1", 1, 3000);
    observer_action_result(f->o, corefx_last_action(f)->id, CORE_ACK_NO_RESPONDERS, "no responders", 3001);
    corefx_send_serving(f, "alpha", "a-new", 1, 3500);   /* ECS's new task */
    corefx_run_until(f, 5000);
    assert_int_equal(f->rec.n_escalations, 0);
    assert_int_equal(f->rec.n_actions, 1);
    assert_health(f, "alpha", "a-1", INST_STOPPED);
    assert_prefix(corefx_instance_of(f, "alpha", "a-1")->reason, "replaced:");
}

/* ECS stops a task: SIGTERM to the agent, which says STOPPING and reports
 * its child's exit. A stop the instance announced is not a death. */
static void test_an_announced_stop_is_not_a_death(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_state(f, "alpha", "a-1", 1, 3000, SERVING_STOPPING);
    corefx_send_exited(f, "alpha", "a-1", 1, 3100);
    corefx_run_until(f, 60000);
    assert_health(f, "alpha", "a-1", INST_STOPPED);
    assert_int_equal(f->rec.n_actions, 0);
    assert_int_equal(f->rec.n_escalations, 0);
    /* A new life that dies is a death again. */
    corefx_send_serving(f, "alpha", "a-1", 2, 60100);
    corefx_send_exited(f, "alpha", "a-1", 2, 61000);
    assert_int_equal(f->rec.n_actions, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, corefx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_self_preservation_is_bounded),
        T(test_an_acceptance_wins_over_a_refusal),
        T(test_a_refusal_gives_up_at_the_ack_timeout),
        T(test_a_retryable_refusal_is_sent_again),
        T(test_no_responders_is_unreachable_and_escalates_once),
        T(test_a_surplus_death_is_a_replacement),
        T(test_a_replacement_arriving_meanwhile_ends_it),
        T(test_an_announced_stop_is_not_a_death),
        T(test_config_zero_takes_defaults),
        T(test_backoff_sequence_pure),
        T(test_tally_and_verdict_pure),
        T(test_epoch_budget_and_silence_pure),
        T(test_first_restart_immediate_with_event_and_action),
        T(test_backoff_sequence_next_action_ms),
        T(test_backoff_resets_after_stable),
        T(test_crashloop_fences_on_sixth_death),
        T(test_crashloop_per_service_override),
        T(test_crashloop_window_forgets_old_restarts),
        T(test_blast_radius_limits_actions_in_flight),
        T(test_default_budget_is_a_tenth),
        T(test_degraded_limit_restarts_with_sibling_serving),
        T(test_last_serving_instance_never_taken),
        T(test_degraded_not_restarted_by_default),
        T(test_degraded_plan_cancelled_when_healthy),
        T(test_no_actions_while_warming_up),
        T(test_own_disconnect_no_actions_then_warm_up),
        T(test_mass_silence_self_preservation),
        T(test_silences_beginning_together_are_one_mass_silence),
        T(test_few_silent_is_no_mass_silence),
        T(test_dependency_missing_holds_then_releases),
        T(test_dependency_unavailable_holds),
        T(test_unacknowledged_retried_then_escalated),
        T(test_unknown_action_result_ignored),
        T(test_restart_new_incarnation_healthy),
        T(test_restart_timeout_dead_and_backoff_continues),
        T(test_restart_disabled_and_unexpected_only_observed),
        T(test_no_on_action_observes_only),
        T(test_stopped_on_purpose_not_restarted_and_recovery_cancels),
        T(test_forgetting_frees_the_slot),
        T(test_maintenance_holds_a_dead_instance_until_lifted),
        T(test_maintenance_instance_level_and_service_level),
        T(test_maintenance_keeps_actions_in_flight_and_holds_plans),
        T(test_maintenance_rejects_bad_arguments),
        T(test_maintenance_survives_leadership_change),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
