/* Unit tests of the observing engine (supervisor/core/observer.h): heartbeats
 * and virtual time in, instance/service health, observer state and events out
 * through a recording sink. */
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
#include "servers.h"

static int setup(void **state)
{
    *state = corefx_create(COREFX_EVENTS | COREFX_STATES, 0);
    return 0;
}

/* Counts per health and instance totals agree with the instances themselves. */
static void assert_counts_consistent(const struct corefx *f)
{
    const struct registry *r = observer_registry(f->o);
    size_t total = 0;

    for (size_t k = 0; k < registry_service_count(r); k++) {
        const struct service *s = registry_service_at(r, k);
        uint32_t count[INST_HEALTH_COUNT] = { 0 };
        uint32_t n = 0;

        for (const struct instance *i = s->first; i != NULL; i = i->next) {
            count[i->health]++;
            n++;
        }
        assert_int_equal(s->n_instances, n);
        for (int h = 0; h < INST_HEALTH_COUNT; h++)
            if (count[h] != s->count[h])
                fail_msg("service %s: count[%s] = %u, instances say %u", s->name,
                         health_inst_name((enum inst_health)h), s->count[h], count[h]);
        total += n;
    }
    assert_int_equal(registry_instance_count(r), total);
}

/* The deadlines a fresh detector (the prior) gives a heartbeat at `at_ms`. */
static int64_t prior_suspect_at(const struct corefx *f, int64_t at_ms)
{
    struct detector d;

    detector_reset(&d, COREFX_INTERVAL, at_ms);
    return detector_suspect_at(&d, &f->cfg.detector);
}

static int64_t prior_dead_at(const struct corefx *f, int64_t at_ms)
{
    struct detector d;

    detector_reset(&d, COREFX_INTERVAL, at_ms);
    return detector_dead_at(&d, &f->cfg.detector);
}

/* ---- creation and warm-up ---- */

static void test_create_warming_up_with_missing_services(void **state)
{
    struct corefx *f = *state;
    struct observer_summary sum;

    corefx_configure(f, "alpha", 2);
    corefx_configure(f, "beta", 1);
    corefx_start(f, 0);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(registry_service_count(observer_registry(f->o)), 2);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_MISSING);
    assert_int_equal(corefx_svc_health_of(f, "beta"), SVC_MISSING);
    assert_true(corefx_service_of(f, "alpha")->expected);
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 2);
    assert_int_equal(sum.services_available, 0);
    assert_int_equal(sum.instances_expected, 3);
    assert_int_equal(sum.instances_healthy, 0);
    assert_double_near(sum.availability, 0.0, 0.0);
    assert_int_equal(f->rec.n_events, 0);
}

static void test_create_rejects_bad_config(void **state)
{
    struct corefx *f = *state;
    struct observer *o = (struct observer *)(uintptr_t)0x1;
    struct observer_config cfg = f->cfg;

    memset(&cfg.detector, 0, sizeof(cfg.detector)); /* not prepared */
    assert_int_equal(observer_create(&cfg, NULL, 0, &o), -1);
    assert_ptr_equal(o, (struct observer *)(uintptr_t)0x1);
    cfg = f->cfg;
    cfg.default_interval_ms = 0;
    assert_int_equal(observer_create(&cfg, NULL, 0, &o), -1);
    assert_ptr_equal(o, (struct observer *)(uintptr_t)0x1);
    observer_destroy(NULL);
}

static void test_no_sink_is_fine(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb = corefx_heartbeat("ghost", "g-1", 1, 1, 10);

    assert_int_equal(observer_create(&f->cfg, NULL, 0, &f->o), 0);
    assert_int_equal(observer_heartbeat(f->o, &hb), HB_ACCEPTED);
    observer_tick(f->o, 1000);
    observer_tick(f->o, 5000);
    assert_int_equal(corefx_health_of(f, "ghost", "g-1"), INST_DEAD);
}

static void test_warming_up_to_normal_after_one_interval(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start(f, 500);
    assert_int_equal(observer_next_deadline(f->o), 500 + COREFX_INTERVAL);
    corefx_tick(f, 500 + COREFX_INTERVAL - 1);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.n_states, 0);
    corefx_tick(f, 500 + COREFX_INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_states, 1);
    assert_int_equal(f->rec.states[0].from, OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.states[0].to, OBSERVER_NORMAL);
    assert_string_equal(f->rec.states[0].reason, "warm-up complete");
    assert_int_equal(observer_next_deadline(f->o), NO_DEADLINE);
}

static void test_warm_up_lasts_the_longest_promised_interval(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb = corefx_heartbeat("alpha", "a-1", 1, 1, 100);

    corefx_configure(f, "alpha", 1);
    corefx_start(f, 0);
    hb.interval_ms = 5000;
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_int_equal(observer_next_deadline(f->o), 5000);
    corefx_tick(f, 1000);
    corefx_tick(f, 4999);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    corefx_tick(f, 5000);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
}

/* ---- heartbeats and silence ---- */

static void test_heartbeat_makes_healthy(void **state)
{
    struct corefx *f = *state;
    struct observer_counters c;
    struct instance *i;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 1200);
    i = corefx_instance_of(f, "alpha", "a-1");
    assert_non_null(i);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(i->last_seen_ms, 1200);
    assert_int_equal(i->incarnation, 1);
    assert_string_equal(i->version, "1.0.0");
    assert_int_equal(f->rec.n_events, 1);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_UNSPECIFIED, INST_HEALTHY, 1200);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_AVAILABLE);
    assert_true(corefx_service_of(f, "alpha")->ever_seen);
    /* Further heartbeats on time change nothing visible. */
    corefx_send_serving(f, "alpha", "a-1", 1, 2200);
    corefx_send_serving(f, "alpha", "a-1", 1, 3200);
    assert_int_equal(f->rec.n_events, 1);
    observer_counters(f->o, &c);
    assert_int_equal(c.heartbeats, 3);
    assert_int_equal(c.stale, 0);
    assert_int_equal(c.transitions, 1);
    assert_counts_consistent(f);
}

static void test_silence_suspect_then_dead_at_detector_times(void **state)
{
    struct corefx *f = *state;
    int64_t suspect_at, dead_at;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    suspect_at = prior_suspect_at(f, 2000);
    dead_at = prior_dead_at(f, 2000);
    assert_int_equal(suspect_at, 2000 + 1765);
    /* A sender this young is judged as if it may pause (detector.h). */
    assert_int_equal(dead_at, 2000 + (int64_t)(DETECTOR_PAUSE_FLOOR * COREFX_INTERVAL));

    assert_int_equal(observer_next_deadline(f->o), suspect_at);
    corefx_tick(f, suspect_at - 1);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_double_near(observer_phi(f->o, corefx_instance_of(f, "alpha", "a-1"), 2000), 0.0, 0.0);
    assert_in_range((uint64_t)(observer_phi(f->o, corefx_instance_of(f, "alpha", "a-1"), suspect_at) * 100),
                    300, 305);
    corefx_tick(f, suspect_at);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_SUSPECT);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_HEALTHY, INST_SUSPECT, suspect_at);
    assert_prefix(corefx_last_event(f)->reason, "late 1.8s (phi 3.");
    /* A suspect instance still counts against its service... */
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_UNAVAILABLE);

    assert_int_equal(observer_next_deadline(f->o), dead_at);
    corefx_tick(f, dead_at - 1);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_SUSPECT);
    corefx_tick(f, dead_at);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_SUSPECT, INST_DEAD, dead_at);
    assert_prefix(corefx_last_event(f)->reason, "silent 3.6s (phi ");
    assert_string_equal(corefx_instance_of(f, "alpha", "a-1")->reason, corefx_last_event(f)->reason);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_UNAVAILABLE);
    /* Dead: next judged when it is to be forgotten. */
    assert_int_equal(observer_next_deadline(f->o), 2000 + COREFX_FORGET_AFTER);
    assert_int_equal(f->rec.n_events, 3);
    assert_counts_consistent(f);
}

static void test_late_tick_goes_straight_to_dead(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_tick(f, 2000 + 4000);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEAD, 6000);
}

static void test_suspect_instance_recovers_on_heartbeat(void **state)
{
    struct corefx *f = *state;
    int64_t suspect_at;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    suspect_at = prior_suspect_at(f, 2000);
    corefx_tick(f, suspect_at);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_SUSPECT);
    corefx_send_serving(f, "alpha", "a-1", 1, suspect_at + 100);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_SUSPECT, INST_HEALTHY, suspect_at + 100);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_AVAILABLE);
}

static void test_dead_instance_resumes_healthy(void **state)
{
    struct corefx *f = *state;
    int64_t back = 20000;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_run_until(f, 10000);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
    corefx_send_serving(f, "alpha", "a-1", 1, back);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_DEAD, INST_HEALTHY, back);
    assert_int_equal(corefx_instance_of(f, "alpha", "a-1")->restarts, 0);
    /* The 18 s gap is no sample: the detector starts again from the prior. */
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, back));
    assert_int_equal(corefx_instance_of(f, "alpha", "a-1")->detector.samples, 0);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_AVAILABLE);
}

static void test_new_incarnation_counts_restart(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct instance *i;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    hb = corefx_heartbeat("alpha", "a-1", 111, 50, 2000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    hb = corefx_heartbeat("alpha", "a-1", 222, 1, 3000); /* seq starts over */
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    i = corefx_instance_of(f, "alpha", "a-1");
    assert_int_equal(i->incarnation, 222);
    assert_int_equal(i->prev_incarnation, 111);
    assert_int_equal(i->seq, 1);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->detector.samples, 0);
    hb = corefx_heartbeat("alpha", "a-1", 333, 1, 4000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_int_equal(i->restarts, 2);
    assert_int_equal(i->health, INST_HEALTHY);
}

static void test_stale_seq_refused_changes_nothing(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct instance before, *i;
    struct observer_counters c;
    size_t events;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    hb = corefx_heartbeat("alpha", "a-1", 7, 10, 2000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    i = corefx_instance_of(f, "alpha", "a-1");
    before = *i;
    events = f->rec.n_events;

    hb = corefx_heartbeat("alpha", "a-1", 7, 10, 2500);   /* same seq */
    assert_int_equal(corefx_send(f, &hb), HB_STALE);
    hb = corefx_heartbeat("alpha", "a-1", 7, 3, 2600);    /* older seq, saying something else */
    hb.state = SERVING_STOPPING;
    snprintf(hb.version, sizeof(hb.version), "2.0.0");
    assert_int_equal(corefx_send(f, &hb), HB_STALE);

    assert_memory_equal(i, &before, sizeof(before));
    assert_int_equal(f->rec.n_events, events);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2000));
    observer_counters(f->o, &c);
    assert_int_equal(c.heartbeats, 1);
    assert_int_equal(c.stale, 2);
}

static void test_previous_incarnation_refused(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct instance before, *i;
    size_t events;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    hb = corefx_heartbeat("alpha", "a-1", 1, 5, 2000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    hb = corefx_heartbeat("alpha", "a-1", 2, 1, 2100);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    i = corefx_instance_of(f, "alpha", "a-1");
    before = *i;
    events = f->rec.n_events;
    /* A late heartbeat of the life before, even with a higher seq. */
    hb = corefx_heartbeat("alpha", "a-1", 1, 6, 2200);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    assert_int_equal(corefx_send(f, &hb), HB_STALE);
    assert_memory_equal(i, &before, sizeof(before));
    assert_int_equal(f->rec.n_events, events);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->health, INST_HEALTHY);
}

static void test_exit_report_dead_immediately_with_code(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    hb = corefx_heartbeat("alpha", "a-1", 1, f->seq++, 2300);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    hb.exit_code = 3;
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEAD, 2300);
    assert_string_equal(corefx_last_event(f)->reason, "exited with code 3");
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_UNAVAILABLE);
    assert_double_near(observer_phi(f->o, corefx_instance_of(f, "alpha", "a-1"), 9000), 0.0, 0.0);
}

static void test_exit_report_killed_by_signal(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    hb = corefx_heartbeat("alpha", "a-1", 1, f->seq++, 2300);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    hb.exit_code = 0;
    hb.exit_signal = 9;
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEAD, 2300);
    assert_string_equal(corefx_last_event(f)->reason, "killed by signal 9");
}

static void test_exit_without_exit_info(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_state(f, "alpha", "a-1", 1, 2300, SERVING_EXITED);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
    assert_string_equal(corefx_last_event(f)->reason, "exited");
}

static void test_stopping_is_stopped_and_never_dead(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_state(f, "alpha", "a-1", 1, 2500, SERVING_STOPPING);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_STOPPED);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_HEALTHY, INST_STOPPED, 2500);
    assert_string_equal(corefx_last_event(f)->reason, "stopping on purpose");
    assert_int_equal(observer_next_deadline(f->o), 2500 + COREFX_FORGET_AFTER);
    corefx_run_until(f, 2500 + COREFX_FORGET_AFTER - 1);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_STOPPED);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 0);
    assert_int_equal(f->rec.n_events, 2);
    assert_double_near(observer_phi(f->o, corefx_instance_of(f, "alpha", "a-1"), f->now), 0.0, 0.0);
}

static void test_stopped_instance_serving_again(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_state(f, "alpha", "a-1", 1, 2000, SERVING_STOPPING);
    corefx_run_until(f, 30000);
    corefx_send_serving(f, "alpha", "a-1", 1, 30000);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_STOPPED, INST_HEALTHY, 30000);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 30000));
}

static void test_failing_check_is_degraded(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    hb = corefx_heartbeat("alpha", "a-1", 1, f->seq++, 3000);
    hb.checks_ok = false;
    snprintf(hb.failed_check, sizeof(hb.failed_check), "db: timeout");
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEGRADED);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEGRADED, 3000);
    assert_string_equal(corefx_last_event(f)->reason, "db: timeout");
    /* All its instances degraded: the service still answers. */
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_DEGRADED);
    corefx_send_state(f, "alpha", "a-1", 1, 4000, SERVING_DEGRADED);
    assert_string_equal(corefx_instance_of(f, "alpha", "a-1")->reason, "reports degraded");
    corefx_send_serving(f, "alpha", "a-1", 1, 5000);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_AVAILABLE);
}

static void test_unspecified_state_counts_as_serving(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_state(f, "alpha", "a-1", 1, 2000, SERVING_UNSPECIFIED);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
}

static void test_zero_interval_uses_default(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb = corefx_heartbeat("alpha", "a-1", 1, 1, 2000);

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    hb.interval_ms = 0;
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_int_equal(corefx_instance_of(f, "alpha", "a-1")->detector.interval_ms, COREFX_INTERVAL);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2000));
}

/* ---- services ---- */

static void test_missing_service_stays_missing(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_configure(f, "beta", 2);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_run_until(f, 60000);
    assert_int_equal(corefx_svc_health_of(f, "beta"), SVC_MISSING);
    assert_false(corefx_service_of(f, "beta")->ever_seen);
}

static void test_unexpected_service_appears(void **state)
{
    struct corefx *f = *state;
    struct observer_summary sum;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "ghost", "g-1", 1, 2000);
    assert_int_equal(f->rec.n_events, 2);
    /* First the service-level event, then the instance's. */
    corefx_assert_event(&f->rec.events[0], "ghost", "", INST_UNSPECIFIED, INST_UNSPECIFIED, 2000);
    assert_string_equal(f->rec.events[0].reason, "unexpected service: not in the config");
    corefx_assert_event(&f->rec.events[1], "ghost", "g-1", INST_UNSPECIFIED, INST_HEALTHY, 2000);
    assert_int_equal(corefx_svc_health_of(f, "ghost"), SVC_UNEXPECTED);
    assert_false(corefx_service_of(f, "ghost")->expected);
    /* A second instance raises no second service event. */
    corefx_send_serving(f, "ghost", "g-2", 1, 2100);
    assert_int_equal(f->rec.n_events, 3);
    /* Not counted in the figures. */
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 1);
    assert_int_equal(sum.services_available, 0);
    assert_int_equal(sum.instances_expected, 1);
}

static void test_version_drift_and_end(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct service *s;

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    assert_int_equal(f->rec.n_events, 2); /* two instance events, no drift */
    s = corefx_service_of(f, "alpha");
    assert_int_equal(s->n_versions, 1);
    assert_false(s->version_drift);

    hb = corefx_heartbeat("alpha", "a-2", 2, 1, 3000); /* restarted on a new version */
    snprintf(hb.version, sizeof(hb.version), "1.1.0");
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_true(s->version_drift);
    assert_int_equal(s->n_versions, 2);
    corefx_assert_event(corefx_last_event(f), "alpha", "", INST_UNSPECIFIED, INST_UNSPECIFIED, 3000);
    assert_prefix(corefx_last_event(f)->reason, "version drift:");
    assert_non_null(strstr(corefx_last_event(f)->reason, " 1.0.0"));
    assert_non_null(strstr(corefx_last_event(f)->reason, " 1.1.0"));

    corefx_send_serving(f, "alpha", "a-1", 1, 3500); /* same version again: no new event */
    assert_prefix(corefx_last_event(f)->reason, "version drift:");

    hb = corefx_heartbeat("alpha", "a-1", 2, 1, 4000);
    snprintf(hb.version, sizeof(hb.version), "1.1.0");
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_false(s->version_drift);
    assert_int_equal(s->n_versions, 1);
    corefx_assert_event(corefx_last_event(f), "alpha", "", INST_UNSPECIFIED, INST_UNSPECIFIED, 4000);
    assert_string_equal(corefx_last_event(f)->reason, "version drift ended: 1.1.0");
}

static void test_summary_figures(void **state)
{
    struct corefx *f = *state;
    struct observer_summary sum;

    corefx_configure(f, "alpha", 2);  /* three healthy: counted as two */
    corefx_configure(f, "beta", 2);   /* one healthy: DEGRADED */
    corefx_configure(f, "gamma", 0);  /* scaled to zero: AVAILABLE */
    corefx_configure(f, "delta", 1);  /* never seen: MISSING */
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 2000);
    corefx_send_serving(f, "alpha", "a-3", 1, 2000);
    corefx_send_serving(f, "beta", "b-1", 1, 2000);
    corefx_send_serving(f, "ghost", "g-1", 1, 2000); /* unexpected: not counted */
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_AVAILABLE);
    assert_int_equal(corefx_svc_health_of(f, "beta"), SVC_DEGRADED);
    assert_int_equal(corefx_svc_health_of(f, "gamma"), SVC_AVAILABLE);
    assert_int_equal(corefx_svc_health_of(f, "delta"), SVC_MISSING);
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 4);
    assert_int_equal(sum.services_available, 2);
    assert_int_equal(sum.instances_expected, 5);
    assert_int_equal(sum.instances_healthy, 3);
    assert_double_near(sum.availability, 0.5, 1e-12);
}

static void test_summary_nothing_expected_is_fully_available(void **state)
{
    struct corefx *f = *state;
    struct observer_summary sum;

    corefx_start_normal(f);
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 0);
    assert_double_near(sum.availability, 1.0, 0.0);
}

static void test_service_availability_counts_normal_time_only(void **state)
{
    struct corefx *f = *state;
    double hour, day;
    struct service *s;
    int64_t down_at;

    corefx_configure(f, "alpha", 1);
    corefx_start(f, 0);
    corefx_send_serving(f, "alpha", "a-1", 1, 100);
    corefx_run_until(f, 1000); /* warm-up: the down time before is not counted */
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    for (int64_t t = 1500; t <= 600000; t += 1000) {
        corefx_run_until(f, t - 1);
        corefx_send_serving(f, "alpha", "a-1", 1, t);
    }
    assert_int_equal(f->rec.n_states, 1); /* no stall on the way */
    s = corefx_service_of(f, "alpha");
    observer_service_availability(f->o, s, 600000, &hour, &day);
    assert_double_near(hour, 1.0, 0.0);
    assert_double_near(day, 1.0, 0.0);
    /* It hangs: up from NORMAL (1 s) until it is SUSPECT (no healthy
     * instance left), then down as long again. */
    corefx_run_until(f, 610000);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
    assert_int_equal(f->rec.events[f->rec.n_events - 2].to, INST_SUSPECT);
    down_at = f->rec.events[f->rec.n_events - 2].at_ms;
    corefx_run_until(f, down_at + (down_at - 1000));
    observer_service_availability(f->o, s, down_at + (down_at - 1000), &hour, &day);
    assert_double_near(hour, 0.5, 1e-12);
    assert_double_near(day, 0.5, 1e-12);
}

/* ---- self-preservation, stalls ---- */

/* Three instances heartbeating every second from `from_ms` to `to_ms`. */
static void heartbeat_trio(struct corefx *f, int64_t from_ms, int64_t to_ms, bool with_third)
{
    for (int64_t t = from_ms; t <= to_ms; t += COREFX_INTERVAL) {
        corefx_send_serving(f, "alpha", "a-1", 1, t);
        corefx_send_serving(f, "alpha", "a-2", 1, t + 10);
        if (with_third)
            corefx_send_serving(f, "alpha", "a-3", 1, t + 20);
        corefx_run_until(f, t + COREFX_INTERVAL - 1);
    }
}

static void test_self_preservation_declares_nobody(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 3);
    corefx_start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    assert_int_equal(f->rec.n_events, 3);

    observer_link(f->o, false, 21000);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    assert_int_equal(f->rec.n_states, 1);
    assert_int_equal(f->rec.states[0].from, OBSERVER_NORMAL);
    assert_int_equal(f->rec.states[0].to, OBSERVER_SELF_PRESERVATION);
    assert_string_equal(f->rec.states[0].reason, "own NATS link down");
    observer_link(f->o, false, 21500); /* said once */
    assert_int_equal(f->rec.n_states, 1);
    /* A minute of silence with the daemon ticking away. */
    for (int64_t t = 21000; t <= 81000; t += 250)
        corefx_tick(f, t);
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 0);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
}

static void test_self_preservation_then_resume(void **state)
{
    struct corefx *f = *state;
    int64_t back = 81000;

    corefx_configure(f, "alpha", 3);
    corefx_start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    observer_link(f->o, false, 21000);
    for (int64_t t = 21000; t < back; t += 500)
        corefx_tick(f, t);

    observer_link(f->o, true, back);
    f->now = back;
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.states[f->rec.n_states - 1].from, OBSERVER_SELF_PRESERVATION);
    assert_int_equal(f->rec.states[f->rec.n_states - 1].to, OBSERVER_WARMING_UP);
    /* Two resume within the first interval; the third is gone for good. */
    heartbeat_trio(f, back + 300, back + 30000, false);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_int_equal(corefx_health_of(f, "alpha", "a-2"), INST_HEALTHY);
    assert_int_equal(corefx_health_of(f, "alpha", "a-3"), INST_DEAD);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 1);
    assert_string_equal(corefx_last_event(f)->instance, "a-3");
    /* Judged from the link's return, not from its last heartbeat at 20 s,
     * and by what the detector knew of it (young: the young floor). */
    assert_int64_le(back + 1000, corefx_last_event(f)->at_ms);
    assert_int64_le(corefx_last_event(f)->at_ms, back + (int64_t)(DETECTOR_PAUSE_FLOOR * COREFX_INTERVAL));
    assert_counts_consistent(f);
}

/* With a link grace, clients get that long to reconnect after our own link
 * returns: warm-up lasts until then and silence is counted from then. */
static void test_link_grace_after_link_returns(void **state)
{
    struct corefx *f = *state;
    const int64_t grace = 10000, back = 81000;
    int64_t dead_at = 0;

    corefx_configure(f, "alpha", 3);
    f->cfg.link_grace_ms = grace;
    corefx_start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    observer_link(f->o, false, 21000);
    for (int64_t t = 21000; t < back; t += 500)
        corefx_tick(f, t);
    observer_link(f->o, true, back);
    f->now = back;
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(observer_next_deadline(f->o), back + grace);
    /* The two reconnect late in the grace period; the third never does. */
    heartbeat_trio(f, back + 8000, back + 40000, false);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_int_equal(corefx_health_of(f, "alpha", "a-2"), INST_HEALTHY);
    assert_int_equal(corefx_health_of(f, "alpha", "a-3"), INST_DEAD);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 1);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (f->rec.events[k].to == INST_DEAD)
            dead_at = f->rec.events[k].at_ms;
    assert_int64_le(back + grace + 1000, dead_at);
    assert_int64_le(dead_at, back + grace + (int64_t)(DETECTOR_PAUSE_FLOOR * COREFX_INTERVAL));
    for (size_t k = 0; k < f->rec.n_states; k++)
        if (f->rec.states[k].to == OBSERVER_NORMAL && f->rec.states[k].from == OBSERVER_WARMING_UP)
            assert_string_equal(f->rec.states[k].reason, "warm-up complete");
    assert_counts_consistent(f);
}

static void test_first_link_up_with_nobody_seen_no_grace(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    f->cfg.link_grace_ms = 30000;
    corefx_start(f, 0);
    observer_link(f->o, false, 0);
    observer_link(f->o, true, 2000);
    assert_int_equal(observer_next_deadline(f->o), 2000 + COREFX_INTERVAL);
    corefx_tick(f, 2000 + COREFX_INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
}

/* While its link is down the observer has nothing to do on a timer: its next
 * deadline must not be in the past, or a daemon polling on it spins. */
static void test_self_preservation_next_deadline_not_in_past(void **state)
{
    /* EXPOSES BUG: observer_next_deadline() (observer.c, observer_next_deadline)
     * returns the registry's earliest deadline even while the link is down,
     * though observer_tick() then returns at once and never moves it: after
     * the first deadline passes it stays in the past for the whole outage. */
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    observer_link(f->o, false, 2100);
    corefx_tick(f, 10000);
    assert_int64_lt(10000, observer_next_deadline(f->o));
}

static void test_link_flap_in_warm_up(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start(f, 0);
    observer_link(f->o, false, 500);
    corefx_tick(f, 1000);
    corefx_tick(f, 5000);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    observer_link(f->o, true, 6000);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(observer_next_deadline(f->o), 6000 + COREFX_INTERVAL);
    corefx_tick(f, 6000 + COREFX_INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_states, 3);
}

static void test_stall_gives_everyone_grace(void **state)
{
    struct corefx *f = *state;
    int64_t resumed;

    corefx_configure(f, "alpha", 3);
    corefx_start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    f->rec.n_states = 0;
    /* The supervisor froze for 10 s: no tick, no heartbeat taken. */
    corefx_tick(f, 30999);
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 0);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.n_states, 1);
    assert_prefix(f->rec.states[0].reason, "observer stalled 10.");
    /* The queued heartbeats arrive and all is well again. */
    resumed = 31005;
    heartbeat_trio(f, resumed, resumed + 10000, true);
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 0);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
}

static void test_tick_gap_within_stall_is_no_stall(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_tick(f, COREFX_INTERVAL + COREFX_STALL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_states, 0);
}

/* ---- forgetting ---- */

static void test_forget_dead_instance(void **state)
{
    struct corefx *f = *state;
    size_t events;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_run_until(f, 2000 + COREFX_FORGET_AFTER - 1);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
    events = f->rec.n_events;
    corefx_tick(f, 2000 + COREFX_FORGET_AFTER);
    assert_null(corefx_instance_of(f, "alpha", "a-1"));
    assert_int_equal(f->rec.n_events, events + 1);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_DEAD, INST_UNSPECIFIED, 2000 + COREFX_FORGET_AFTER);
    assert_string_equal(corefx_last_event(f)->reason, "forgotten after 600s silent");
    /* The configured service stays, seen once, now with nobody. */
    assert_non_null(corefx_service_of(f, "alpha"));
    assert_int_equal(corefx_service_of(f, "alpha")->n_instances, 0);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_UNAVAILABLE);
    assert_int_equal(observer_next_deadline(f->o), NO_DEADLINE);
    assert_counts_consistent(f);
}

static void test_forget_stopped_instance(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_state(f, "alpha", "a-1", 1, 2000, SERVING_STOPPING);
    corefx_run_until(f, 2000 + COREFX_FORGET_AFTER);
    assert_null(corefx_instance_of(f, "alpha", "a-1"));
    corefx_assert_event(corefx_last_event(f), "alpha", "a-1", INST_STOPPED, INST_UNSPECIFIED, 2000 + COREFX_FORGET_AFTER);
}

static void test_forget_removes_empty_unexpected_service(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "ghost", "g-1", 1, 2000);
    corefx_send_serving(f, "ghost", "g-2", 1, 2000);
    corefx_send_state(f, "ghost", "g-2", 1, 3000, SERVING_STOPPING);
    corefx_run_until(f, 2000 + COREFX_FORGET_AFTER);
    /* g-1 forgotten, g-2 (last seen at 3 s) not yet: the service stays. */
    assert_null(corefx_instance_of(f, "ghost", "g-1"));
    assert_non_null(corefx_service_of(f, "ghost"));
    corefx_run_until(f, 3000 + COREFX_FORGET_AFTER);
    assert_null(corefx_service_of(f, "ghost"));
    assert_int_equal(registry_service_count(observer_registry(f->o)), 1);
    assert_counts_consistent(f);
}

static void test_forget_ends_version_drift(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    hb = corefx_heartbeat("alpha", "a-2", 1, 1, 2000);
    snprintf(hb.version, sizeof(hb.version), "2.0.0");
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_true(corefx_service_of(f, "alpha")->version_drift);
    /* a-1 keeps going; a-2 dies and is forgotten. */
    for (int64_t t = 3000; t <= 2000 + COREFX_FORGET_AFTER; t += COREFX_INTERVAL) {
        corefx_send_serving(f, "alpha", "a-1", 1, t);
        corefx_run_until(f, t + COREFX_INTERVAL - 1);
    }
    assert_null(corefx_instance_of(f, "alpha", "a-2"));
    assert_false(corefx_service_of(f, "alpha")->version_drift);
    assert_string_equal(corefx_last_event(f)->reason, "version drift ended: 1.0.0");
}

/* ---- reconfiguration ---- */

static void test_reconfigure_adds_removes_keeps_history(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct instance *i;

    corefx_configure(f, "alpha", 1);
    corefx_configure(f, "beta", 1);
    corefx_start_normal(f);
    hb = corefx_heartbeat("alpha", "a-1", 1, 1, 2000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    hb = corefx_heartbeat("alpha", "a-1", 2, 1, 2500);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    i = corefx_instance_of(f, "alpha", "a-1");

    /* alpha resized to 3, beta dropped, gamma new. */
    f->n_services = 0;
    corefx_configure(f, "alpha", 3);
    corefx_configure(f, "gamma", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 3000), 0);
    assert_null(corefx_service_of(f, "beta"));
    assert_int_equal(corefx_svc_health_of(f, "gamma"), SVC_MISSING);
    assert_ptr_equal(corefx_instance_of(f, "alpha", "a-1"), i);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->incarnation, 2);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(corefx_service_of(f, "alpha")->desired, 3);
    assert_int_equal(corefx_svc_health_of(f, "alpha"), SVC_DEGRADED);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2500));
    assert_counts_consistent(f);
}

static void test_reconfigure_unexpected_becomes_expected_and_back(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "ghost", "g-1", 1, 2000);
    assert_int_equal(corefx_svc_health_of(f, "ghost"), SVC_UNEXPECTED);
    corefx_configure(f, "ghost", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 2100), 0);
    assert_true(corefx_service_of(f, "ghost")->expected);
    assert_int_equal(corefx_svc_health_of(f, "ghost"), SVC_AVAILABLE);
    /* Dropped from the config while it has an instance: kept, unexpected. */
    f->n_services = 0;
    corefx_configure(f, "alpha", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 2200), 0);
    assert_non_null(corefx_service_of(f, "ghost"));
    assert_false(corefx_service_of(f, "ghost")->expected);
    assert_int_equal(corefx_svc_health_of(f, "ghost"), SVC_UNEXPECTED);
    assert_non_null(corefx_instance_of(f, "ghost", "g-1"));
}

static void test_reconfigure_dropped_service_goes_when_forgotten(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_configure(f, "beta", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "beta", "b-1", 1, 2000);
    corefx_send_state(f, "beta", "b-1", 1, 2500, SERVING_STOPPING);
    f->n_services = 0;
    corefx_configure(f, "alpha", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 3000), 0);
    assert_int_equal(corefx_svc_health_of(f, "beta"), SVC_UNEXPECTED);
    corefx_run_until(f, 2500 + COREFX_FORGET_AFTER);
    assert_null(corefx_service_of(f, "beta"));
    corefx_assert_event(corefx_last_event(f), "beta", "b-1", INST_STOPPED, INST_UNSPECIFIED, 2500 + COREFX_FORGET_AFTER);
}

static void test_reconfigure_rejects_bad_config(void **state)
{
    struct corefx *f = *state;
    struct observer_config bad;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    bad = f->cfg;
    bad.default_interval_ms = 0;
    assert_int_equal(observer_reconfigure(f->o, &bad, 2000), -1);
    bad = f->cfg;
    bad.detector.z_dead = bad.detector.z_suspect;
    assert_int_equal(observer_reconfigure(f->o, &bad, 2000), -1);
    assert_non_null(corefx_service_of(f, "alpha"));
    assert_int_equal(corefx_service_of(f, "alpha")->desired, 1);
}

static void test_reconfigure_new_thresholds_reschedule(void **state)
{
    struct corefx *f = *state;
    struct detector d;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    f->cfg.detector.phi_suspect = 1.0;
    assert_int_equal(detector_params_prepare(&f->cfg.detector), 0);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 2100), 0);
    detector_reset(&d, COREFX_INTERVAL, 2000);
    assert_int_equal(observer_next_deadline(f->o), detector_suspect_at(&d, &f->cfg.detector));
}

/* ---- deadlines ---- */

static void test_next_deadline_is_the_earliest(void **state)
{
    struct corefx *f = *state;
    int64_t first;

    corefx_configure(f, "alpha", 3);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, 2000);
    corefx_send_serving(f, "alpha", "a-2", 1, 1500);
    corefx_send_serving(f, "alpha", "a-3", 1, 2500);
    first = prior_suspect_at(f, 1500);
    assert_int_equal(observer_next_deadline(f->o), first);
    corefx_tick(f, first - 1);
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 0);
    corefx_tick(f, first);
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 1);
    corefx_assert_event(corefx_last_event(f), "alpha", "a-2", INST_HEALTHY, INST_SUSPECT, first);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2000));
}

static void test_no_instances_no_deadline(void **state)
{
    struct corefx *f = *state;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    assert_int_equal(observer_next_deadline(f->o), NO_DEADLINE);
}

/* Heartbeats that stay within their thresholds while their spread grows
 * until phi alone would wait past the silence ceiling; then the process
 * hangs. DEAD must come at the ceiling (5 intervals after the last). */
static void test_silence_ceiling_honoured(void **state)
{
    /* EXPOSES BUG: observer.c reschedule() schedules a watched, non-SUSPECT
     * instance at detector_suspect_at() only. When the spread is wide,
     * suspect_at is later than detector_dead_at() (capped by the silence
     * ceiling), so the instance is first judged at suspect_at and declared
     * DEAD then, not at the ceiling. Expected: deadline min(suspect_at,
     * dead_at), DEAD at last + 5 x interval. */
    struct corefx *f = *state;
    struct instance *i;
    int64_t t = 2000, dead_at = 0;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "alpha", "a-1", 1, t);
    i = corefx_instance_of(f, "alpha", "a-1");
    for (int k = 0; k < 400; k++) {
        int64_t want = (k % 2) ? 500 : 3500;
        int64_t limit = detector_suspect_at(&i->detector, &f->cfg.detector) - t - 1;
        int64_t dead_limit = detector_dead_at(&i->detector, &f->cfg.detector) - t - 1;

        if (limit > dead_limit)
            limit = dead_limit;
        t += want < limit ? want : limit;
        corefx_run_until(f, t - 1);
        corefx_send_serving(f, "alpha", "a-1", 1, t);
    }
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 0);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_HEALTHY);
    /* The premise: phi would cross later than the ceiling. */
    assert_int_equal(detector_dead_at(&i->detector, &f->cfg.detector), t + 5 * COREFX_INTERVAL);
    assert_int64_lt(t + 5 * COREFX_INTERVAL, detector_suspect_at(&i->detector, &f->cfg.detector));

    corefx_run_until(f, t + 20 * COREFX_INTERVAL);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (f->rec.events[k].to == INST_DEAD)
            dead_at = f->rec.events[k].at_ms;
    assert_int64_eq(dead_at - t, 5 * COREFX_INTERVAL);
}

/* ---- a simulated cadence ---- */

static void test_jitter_no_false_dead_then_hang_caught(void **state)
{
    struct corefx *f = *state;
    const char *names[5] = { "a-1", "a-2", "a-3", "a-4", "a-5" };
    int64_t next[5], last[5];
    uint64_t rng = 0x5EED;

    corefx_configure(f, "alpha", 5);
    corefx_start_normal(f);
    for (int k = 0; k < 5; k++)
        next[k] = 2000 + k * 137;
    /* 20,000 heartbeats each, gaps uniform in [700, 1300] ms. */
    for (int n = 0; n < 5 * 20000; n++) {
        int k = 0;

        for (int j = 1; j < 5; j++)
            if (next[j] < next[k])
                k = j;
        corefx_run_until(f, next[k] - 1);
        corefx_send_serving(f, "alpha", names[k], 1, next[k]);
        last[k] = next[k];
        next[k] += 700 + (int64_t)(policy_rng_next(&rng) % 601);
    }
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_int_equal(f->rec.n_events, 5);
    /* Now a-3 hangs while the others go on: DEAD within 3 s of its last. */
    for (int64_t t = f->now + 1; t < last[2] + 5000; t += COREFX_INTERVAL) {
        for (int k = 0; k < 5; k++)
            if (k != 2)
                corefx_send_serving(f, "alpha", names[k], 1, t + k);
        corefx_run_until(f, t + COREFX_INTERVAL - 1);
    }
    assert_int_equal(corefx_events_to(f, INST_DEAD), 1);
    assert_int_equal(corefx_health_of(f, "alpha", "a-3"), INST_DEAD);
    assert_string_equal(corefx_last_event(f)->instance, "a-3");
    assert_int64_le(corefx_last_event(f)->at_ms - last[2], 3000);
    assert_counts_consistent(f);
}

/* ---- shared fate: silence attributed to a NATS server ---- */

#define SERVER_GRACE 10000

/* Six instances, two per server; we are connected to "NA". */
static const char *const fate_names[6] = { "w-a1", "w-a2", "w-b1", "w-b2", "w-c1", "w-c2" };
static const char *const fate_servers[6] = { "NA", "NA", "NB", "NB", "NCLONGSERVERIDXYZ", "NCLONGSERVERIDXYZ" };

static void send_via(struct corefx *f, const char *instance, const char *server, int64_t at_ms)
{
    struct hb_input hb = corefx_heartbeat("web", instance, 1, f->seq++, at_ms);

    snprintf(hb.nats_server, sizeof(hb.nats_server), "%s", server);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
}

/* Every instance `live` says, each second from `from` to `to`, through its
 * server in `servers`, ticking in between. */
static void fate_round(struct corefx *f, const bool live[6], const char *const servers[6], int64_t from,
                       int64_t to)
{
    for (int64_t t = from; t < to; t += COREFX_INTERVAL) {
        for (int k = 0; k < 6; k++)
            if (live[k])
                send_via(f, fate_names[k], servers[k], t + k);
        corefx_run_until(f, t + COREFX_INTERVAL - 1);
    }
}

static void start_fate(struct corefx *f)
{
    static const bool all[6] = { true, true, true, true, true, true };

    f->cfg.server_grace_ms = SERVER_GRACE;
    corefx_configure(f, "web", 6);
    corefx_start_normal(f);
    observer_set_own_server(f->o, "NA");
    fate_round(f, all, fate_servers, 2000, 12000);
    assert_int_equal(corefx_events_to(f, INST_SUSPECT), 0);
    f->rec.n_events = 0;
}

static void test_a_dead_server_holds_its_instances_not_dead(void **state)
{
    static const bool c_gone[6] = { true, true, true, true, false, false };
    static const bool all[6] = { true, true, true, true, true, true };
    static const char *const moved[6] = { "NA", "NA", "NB", "NB", "NB", "NA" };
    struct corefx *f = *state;
    bool held_seen = false;

    start_fate(f);
    /* NC dies: its two instances fall silent together for 5 s. */
    fate_round(f, c_gone, fate_servers, 12000, 17000);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_int_equal(corefx_health_of(f, "web", "w-c1"), INST_SUSPECT);
    assert_int_equal(corefx_health_of(f, "web", "w-c2"), INST_SUSPECT);
    assert_string_equal(corefx_instance_of(f, "web", "w-c1")->reason,
                        "held: NATS server NCLONGSERVER\u2026 unreachable (2 instances)");
    for (size_t k = 0; k < f->rec.n_events; k++)
        held_seen |= strncmp(f->rec.events[k].reason, "held: NATS server", 17) == 0;
    assert_true(held_seen); /* the hold is on the event stream too */
    /* They reconnect elsewhere: healthy again, nobody was ever dead. */
    fate_round(f, all, moved, 17000, 20000);
    assert_int_equal(corefx_health_of(f, "web", "w-c1"), INST_HEALTHY);
    assert_int_equal(corefx_health_of(f, "web", "w-c2"), INST_HEALTHY);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_counts_consistent(f);
}

static void test_a_server_hold_ends_after_the_grace(void **state)
{
    static const bool c_gone[6] = { true, true, true, true, false, false };
    struct corefx *f = *state;
    int64_t dead_at = 0;

    start_fate(f);
    fate_round(f, c_gone, fate_servers, 12000, 40000);
    assert_int_equal(corefx_health_of(f, "web", "w-c1"), INST_DEAD);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (f->rec.events[k].to == INST_DEAD && dead_at == 0)
            dead_at = f->rec.events[k].at_ms;
    /* NC last carried a heartbeat at 11005 (w-c2's): held until then + grace. */
    assert_int64_le(11005 + SERVER_GRACE, dead_at);
    assert_int64_le(dead_at, 11005 + SERVER_GRACE + COREFX_INTERVAL);
}

/* A server that still carries a sibling's heartbeats is alive: the silent
 * instance on it is dead on the detector's schedule. */
static void test_silence_on_a_live_server_is_the_instance_s(void **state)
{
    static const bool c1_gone[6] = { true, true, true, true, false, true };
    struct corefx *f = *state;

    start_fate(f);
    fate_round(f, c1_gone, fate_servers, 12000, 16000);
    assert_int_equal(corefx_health_of(f, "web", "w-c1"), INST_DEAD);
    assert_int64_le(corefx_last_event(f)->at_ms, prior_dead_at(f, 11004) + COREFX_INTERVAL);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 1);
}

/* Our own server answers us: an instance silent on it is dead, however
 * few share it (a single-server fleet judges as before). */
static void test_silence_on_our_own_server_is_the_instance_s(void **state)
{
    static const bool a_gone[6] = { false, false, true, true, true, true };
    struct corefx *f = *state;

    start_fate(f);
    fate_round(f, a_gone, fate_servers, 12000, 16000);
    assert_int_equal(corefx_health_of(f, "web", "w-a1"), INST_DEAD);
    assert_int_equal(corefx_health_of(f, "web", "w-a2"), INST_DEAD);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 2);
}

/* Our own server frozen: our link still looks up (its pings have not
 * failed yet) but nothing reaches us: everyone's silence is held, ours to
 * explain, not theirs. */
static void test_our_own_frozen_server_proves_nothing(void **state)
{
    static const bool none[6] = { false, false, false, false, false, false };
    struct corefx *f = *state;

    start_fate(f);
    fate_round(f, none, fate_servers, 12000, 15000);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    assert_int_equal(corefx_health_of(f, "web", "w-a1"), INST_SUSPECT);
    assert_prefix(corefx_instance_of(f, "web", "w-a1")->reason, "held: NATS server NA unreachable");
}

static void test_unknown_server_is_never_held(void **state)
{
    struct corefx *f = *state;

    f->cfg.server_grace_ms = SERVER_GRACE;
    corefx_configure(f, "web", 1);
    corefx_start_normal(f);
    corefx_send_serving(f, "web", "w-1", 1, 2000); /* no nats_server: an older client */
    corefx_run_until(f, 8000);
    assert_int_equal(corefx_health_of(f, "web", "w-1"), INST_DEAD);
}

/* The table of servers is bounded; past it heartbeats carry no attribution
 * and slots come back when their instances leave. */
static void test_server_table_is_bounded(void **state)
{
    struct server_table *t = calloc(1, sizeof(*t));
    char id[32];
    uint8_t slot[SERVERS_MAX + 1];
    int64_t until;

    (void)state;
    assert_non_null(t);
    servers_init(t);
    for (int k = 0; k < SERVERS_MAX; k++) {
        snprintf(id, sizeof(id), "N%d", k);
        slot[k] = servers_intern(t, id);
        assert_true(slot[k] != SERVER_NONE);
        servers_move(t, SERVER_NONE, slot[k]);
    }
    assert_int_equal(servers_intern(t, "Nextra"), SERVER_NONE);
    assert_int_equal(servers_intern(t, "N7"), slot[7]);
    assert_int_equal(servers_intern(t, ""), SERVER_NONE);
    assert_false(servers_explain_silence(t, SERVER_NONE, &(struct servers_own){ .id = "" }, 0, 1000, 10000, 5000,
                                         &until));
    servers_move(t, slot[7], SERVER_NONE); /* its last instance left */
    assert_true(servers_intern(t, "Nextra") != SERVER_NONE);
    free(t);
}

/* ---- bounded by configuration, not by what arrives (issue 9) ---- */

static void test_unexpected_services_are_bounded(void **state)
{
    struct corefx *f = *state;
    struct observer_counters c;
    char name[32];

    f->cfg.max_unexpected_services = 3;
    f->cfg.max_instances_per_unexpected = 2;
    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    for (int k = 0; k < 5; k++) {
        struct hb_input hb;

        snprintf(name, sizeof(name), "ghost-%d", k);
        hb = corefx_heartbeat(name, "g-1", 1, f->seq++, 2000 + k);
        assert_int_equal(corefx_send(f, &hb), k < 3 ? HB_ACCEPTED : HB_LIMIT_SERVICES);
    }
    for (int k = 2; k <= 4; k++) {
        struct hb_input hb;

        snprintf(name, sizeof(name), "g-%d", k);
        hb = corefx_heartbeat("ghost-0", name, 1, f->seq++, 3000 + k);
        assert_int_equal(corefx_send(f, &hb), k <= 2 ? HB_ACCEPTED : HB_LIMIT_INSTANCES);
    }
    observer_counters(f->o, &c);
    assert_int_equal(c.limit_services, 2);
    assert_int_equal(c.limit_instances, 2);
    assert_int_equal(registry_service_count(observer_registry(f->o)), 4);   /* alpha and three ghosts */
    /* A forgotten ghost makes room. */
    corefx_run_until(f, 3010 + COREFX_FORGET_AFTER + 10000);
    {
        struct hb_input hb = corefx_heartbeat("ghost-9", "g-1", 1, f->seq++, f->now + 1);

        assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    }
}

static void test_instances_per_service_are_bounded_with_room_for_desired(void **state)
{
    struct corefx *f = *state;
    char name[32];
    int accepted = 0;

    f->cfg.max_instances_per_service = 4;
    corefx_configure(f, "alpha", 1);
    corefx_configure(f, "beta", 3);   /* 2 x desired = 6 above the limit of 4 */
    corefx_start_normal(f);
    for (int k = 0; k < 10; k++) {
        struct hb_input a, b;

        snprintf(name, sizeof(name), "i-%d", k);
        a = corefx_heartbeat("alpha", name, 1, f->seq++, 2000 + k);
        b = corefx_heartbeat("beta", name, 1, f->seq++, 2000 + k);
        accepted += corefx_send(f, &a) == HB_ACCEPTED;
        accepted += (corefx_send(f, &b) == HB_ACCEPTED) * 100;
    }
    assert_int_equal(accepted, 4 + 6 * 100);
}

/* A ghost promising ten minutes stretches neither the warm-up nor the
 * mass-silence window; a configured service's promise is clamped. */
static void test_promised_intervals_are_clamped_and_ghosts_time_nothing(void **state)
{
    struct corefx *f = *state;
    struct hb_input ghost = corefx_heartbeat("ghost", "g-1", 1, 1, 100);
    struct hb_input slow = corefx_heartbeat("alpha", "a-1", 1, 2, 110);

    f->cfg.max_interval_ms = 3000;
    corefx_configure(f, "alpha", 1);
    corefx_start(f, 0);
    ghost.interval_ms = 600000;
    assert_int_equal(corefx_send(f, &ghost), HB_ACCEPTED);
    corefx_tick(f, COREFX_INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);   /* the ghost did not stretch it */
    slow.interval_ms = 600000;
    assert_int_equal(corefx_send(f, &slow), HB_ACCEPTED);
    assert_int_equal(corefx_instance_of(f, "alpha", "a-1")->detector.interval_ms, 3000);
    /* The silence ceiling follows the clamp: DEAD within 5 x 3 s, not 50 min. */
    corefx_run_until(f, 110 + 5 * 3000 + 10);
    assert_int_equal(corefx_health_of(f, "alpha", "a-1"), INST_DEAD);
}

/* Ghosts going silent together are not a mass silence of the fleet. */
static void test_ghosts_do_not_count_toward_mass_silence(void **state)
{
    struct corefx *f = *state;
    char name[32];

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    for (int64_t t = 2000; t < 6000; t += COREFX_INTERVAL) {
        corefx_send_serving(f, "alpha", "a-1", 1, t);
        corefx_send_serving(f, "alpha", "a-2", 1, t + 1);
        for (int k = 0; k < 4; k++) {
            struct hb_input hb;

            snprintf(name, sizeof(name), "ghost-%d", k);
            hb = corefx_heartbeat(name, "g-1", 1, f->seq++, t + 2 + k);
            assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
        }
        corefx_run_until(f, t + COREFX_INTERVAL - 1);
    }
    /* The four ghosts vanish at once; alpha goes on. */
    for (int64_t t = 6000; t < 12000; t += COREFX_INTERVAL) {
        corefx_send_serving(f, "alpha", "a-1", 1, t);
        corefx_send_serving(f, "alpha", "a-2", 1, t + 1);
        corefx_run_until(f, t + COREFX_INTERVAL - 1);
    }
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    for (size_t k = 0; k < f->rec.n_states; k++)
        assert_true(f->rec.states[k].to != OBSERVER_SELF_PRESERVATION);
}

/* ---- proven lives (DESIGN.md §7) ---- */

static struct hb_input proven(const char *instance, uint64_t incarnation, uint64_t seq, int64_t at_ms)
{
    struct hb_input hb = corefx_heartbeat("alpha", instance, incarnation, seq, at_ms);

    hb.proven = true;
    return hb;
}

/* Once a life has proven a heartbeat, what others send in its name (the
 * highest seq, an exit report, a stop) changes nothing and is counted. */
static void test_keyed_life_refuses_unproven(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct instance before, *i;
    struct observer_counters c;
    size_t events;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    hb = proven("a-1", 7, 1, 2000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    i = corefx_instance_of(f, "alpha", "a-1");
    assert_true(i->keyed);
    before = *i;
    events = f->rec.n_events;
    hb = corefx_heartbeat("alpha", "a-1", 7, UINT64_MAX, 2100);
    assert_int_equal(corefx_send(f, &hb), HB_UNPROVEN);
    hb = corefx_heartbeat("alpha", "a-1", 7, 2, 2200);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    hb.exit_code = 1;
    assert_int_equal(corefx_send(f, &hb), HB_UNPROVEN);
    hb = corefx_heartbeat("alpha", "a-1", 99, 1, 2300);    /* another life, unproven */
    assert_int_equal(corefx_send(f, &hb), HB_UNPROVEN);
    assert_memory_equal(i, &before, sizeof(before));
    assert_int_equal(f->rec.n_events, events);
    /* The real life goes on at its own seq. */
    hb = proven("a-1", 7, 2, 3000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_int_equal(i->seq, 2);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(i->restarts, 0);
    observer_counters(f->o, &c);
    assert_int_equal(c.unproven, 3);
}

/* A sender that does not prove keeps the old rules (the weaker guarantee):
 * its lives replace each other. */
static void test_unproven_sender_keeps_working(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    hb = corefx_heartbeat("alpha", "a-1", 7, 1, 2000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_false(corefx_instance_of(f, "alpha", "a-1")->keyed);
    hb = corefx_heartbeat("alpha", "a-1", 8, 1, 2500);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    assert_int_equal(corefx_instance_of(f, "alpha", "a-1")->restarts, 1);
    /* Its first proven heartbeat keys the life from then on. */
    hb = proven("a-1", 8, 2, 3000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    hb = corefx_heartbeat("alpha", "a-1", 8, 3, 3500);
    assert_int_equal(corefx_send(f, &hb), HB_UNPROVEN);
}

/* A second proven life while the first keeps heartbeating: noted, reported
 * once as a conflict, never judged; its exit reports kill nothing. */
static void test_two_live_lives_are_a_conflict_not_an_action(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct instance *i;
    struct observer_counters c;
    size_t conflicts = 0;

    corefx_configure(f, "alpha", 1);
    corefx_start_normal(f);
    for (int k = 0; k < 5; k++) {
        int64_t t = 2000 + k * COREFX_INTERVAL;

        hb = proven("a-1", 7, (uint64_t)k + 1, t);
        assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
        hb = proven("a-1", 66, (uint64_t)k + 1, t + 100);
        if (k == 3) {
            hb.state = SERVING_EXITED;
            hb.has_exit = true;
            hb.exit_signal = 9;
        }
        assert_int_equal(corefx_send(f, &hb), HB_CONTENDER);
        corefx_run_until(f, t + COREFX_INTERVAL - 1);
    }
    i = corefx_instance_of(f, "alpha", "a-1");
    assert_int_equal(i->incarnation, 7);
    assert_int_equal(i->restarts, 0);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(corefx_events_to(f, INST_DEAD), 0);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (strstr(f->rec.events[k].reason, "conflict: incarnation 0000000000000042") != NULL) {
            conflicts++;
            assert_int_equal(f->rec.events[k].from, INST_HEALTHY);
            assert_int_equal(f->rec.events[k].to, INST_HEALTHY);
        }
    assert_int_equal(conflicts, 1);
    observer_counters(f->o, &c);
    assert_int_equal(c.contender, 5);
    assert_int_equal(c.conflicts, 1);
}

/* A new proven life takes the name once the old one is over: it announced
 * its stop, or it fell silent when the new one appeared (a restart in
 * place whose exit report was lost). */
static void test_new_life_after_the_old_one_ends(void **state)
{
    struct corefx *f = *state;
    struct hb_input hb;
    struct instance *i;

    corefx_configure(f, "alpha", 2);
    corefx_start_normal(f);
    hb = proven("a-1", 7, 1, 2000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    hb = proven("a-1", 7, 2, 2500);
    hb.state = SERVING_STOPPING;
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    hb = proven("a-1", 8, 1, 2600);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    i = corefx_instance_of(f, "alpha", "a-1");
    assert_int_equal(i->incarnation, 8);
    assert_int_equal(i->restarts, 1);
    assert_true(i->keyed);

    hb = proven("a-2", 20, 1, 3000);
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    corefx_run_until(f, 3500);
    hb = proven("a-2", 21, 1, 3500);       /* a-2 restarted in place, silently */
    assert_int_equal(corefx_send(f, &hb), HB_CONTENDER);
    corefx_run_until(f, 4500);
    hb = proven("a-2", 21, 2, 4500);       /* old life heard last at 3000: 1.5 intervals */
    assert_int_equal(corefx_send(f, &hb), HB_CONTENDER);
    corefx_run_until(f, 5000);
    hb = proven("a-2", 21, 3, 5000);       /* two intervals of silence: the old life is over */
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
    i = corefx_instance_of(f, "alpha", "a-2");
    assert_int_equal(i->incarnation, 21);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->health, INST_HEALTHY);
    /* The old life's heartbeats are now stale. */
    hb = proven("a-2", 20, 9, 5100);
    assert_int_equal(corefx_send(f, &hb), HB_STALE);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, corefx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_warming_up_with_missing_services),
        T(test_create_rejects_bad_config),
        T(test_no_sink_is_fine),
        T(test_warming_up_to_normal_after_one_interval),
        T(test_warm_up_lasts_the_longest_promised_interval),
        T(test_heartbeat_makes_healthy),
        T(test_silence_suspect_then_dead_at_detector_times),
        T(test_late_tick_goes_straight_to_dead),
        T(test_suspect_instance_recovers_on_heartbeat),
        T(test_dead_instance_resumes_healthy),
        T(test_new_incarnation_counts_restart),
        T(test_stale_seq_refused_changes_nothing),
        T(test_previous_incarnation_refused),
        T(test_exit_report_dead_immediately_with_code),
        T(test_exit_report_killed_by_signal),
        T(test_exit_without_exit_info),
        T(test_stopping_is_stopped_and_never_dead),
        T(test_stopped_instance_serving_again),
        T(test_failing_check_is_degraded),
        T(test_unspecified_state_counts_as_serving),
        T(test_zero_interval_uses_default),
        T(test_missing_service_stays_missing),
        T(test_unexpected_service_appears),
        T(test_version_drift_and_end),
        T(test_summary_figures),
        T(test_summary_nothing_expected_is_fully_available),
        T(test_service_availability_counts_normal_time_only),
        T(test_self_preservation_declares_nobody),
        T(test_self_preservation_then_resume),
        T(test_link_grace_after_link_returns),
        T(test_first_link_up_with_nobody_seen_no_grace),
        T(test_self_preservation_next_deadline_not_in_past),
        T(test_link_flap_in_warm_up),
        T(test_stall_gives_everyone_grace),
        T(test_tick_gap_within_stall_is_no_stall),
        T(test_forget_dead_instance),
        T(test_forget_stopped_instance),
        T(test_forget_removes_empty_unexpected_service),
        T(test_forget_ends_version_drift),
        T(test_reconfigure_adds_removes_keeps_history),
        T(test_reconfigure_unexpected_becomes_expected_and_back),
        T(test_reconfigure_dropped_service_goes_when_forgotten),
        T(test_reconfigure_rejects_bad_config),
        T(test_reconfigure_new_thresholds_reschedule),
        T(test_next_deadline_is_the_earliest),
        T(test_no_instances_no_deadline),
        T(test_silence_ceiling_honoured),
        T(test_jitter_no_false_dead_then_hang_caught),
        T(test_a_dead_server_holds_its_instances_not_dead),
        T(test_a_server_hold_ends_after_the_grace),
        T(test_silence_on_a_live_server_is_the_instance_s),
        T(test_silence_on_our_own_server_is_the_instance_s),
        T(test_our_own_frozen_server_proves_nothing),
        T(test_unexpected_services_are_bounded),
        T(test_instances_per_service_are_bounded_with_room_for_desired),
        T(test_promised_intervals_are_clamped_and_ghosts_time_nothing),
        T(test_ghosts_do_not_count_toward_mass_silence),
        T(test_unknown_server_is_never_held),
        T(test_keyed_life_refuses_unproven),
        T(test_unproven_sender_keeps_working),
        T(test_two_live_lives_are_a_conflict_not_an_action),
        T(test_new_life_after_the_old_one_ends),
        cmocka_unit_test(test_server_table_is_bounded),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
