/* Unit tests of the instance state machine and service health
 * (supervisor/core/health.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health.h"

/* ---- helpers ---- */

static bool is_heartbeat_event(enum inst_event ev)
{
    return ev <= EV_HB_FENCED;
}

/* The health a heartbeat event announces, whatever came before. */
static enum inst_health health_announced_by(enum inst_event ev)
{
    switch (ev) {
    case EV_HB_STARTING: return INST_STARTING;
    case EV_HB_SERVING: return INST_HEALTHY;
    case EV_HB_DEGRADED: return INST_DEGRADED;
    case EV_HB_DRAINING: return INST_DRAINING;
    case EV_HB_STOPPING: return INST_STOPPED;
    case EV_HB_FENCED: return INST_FENCED;
    default: return INST_UNSPECIFIED;
    }
}

/* The rules of DESIGN.md §5 written independently of the table: a heartbeat
 * says what the instance is doing; an exit is death from anywhere but a stop
 * the instance announced (its shutdown's exit reports follow); silence
 * escalates only what is watched (late → SUSPECT, silent → DEAD), never an
 * instance that stopped on purpose, is already dead or is not yet known; a
 * restarting instance is expected to be late, but not silent. */
static enum inst_health expected_next(enum inst_health from, enum inst_event ev)
{
    bool untouched_by_silence = from == INST_UNSPECIFIED || from == INST_STOPPED || from == INST_DEAD;

    if (is_heartbeat_event(ev))
        return health_announced_by(ev);
    if (ev == EV_HB_EXITED)
        return from == INST_STOPPED ? INST_STOPPED : INST_DEAD;
    if (untouched_by_silence)
        return from;
    if (ev == EV_LATE)
        return from == INST_RESTARTING ? INST_RESTARTING : INST_SUSPECT;
    return INST_DEAD; /* EV_SILENT */
}

static void assert_next(enum inst_health from, enum inst_event ev, enum inst_health to)
{
    enum inst_health got = health_next(from, ev);

    if (got != to)
        fail_msg("health_next(%s, event %d) = %s, expected %s", health_inst_name(from), (int)ev,
                 health_inst_name(got), health_inst_name(to));
}

/* ---- the transition table ---- */

static void test_every_row_and_event_follows_the_rules(void **state)
{
    (void)state;
    for (int from = 0; from < INST_HEALTH_COUNT; from++)
        for (int ev = 0; ev < INST_EVENT_COUNT; ev++)
            assert_next((enum inst_health)from, (enum inst_event)ev,
                        expected_next((enum inst_health)from, (enum inst_event)ev));
}

static void test_late_escalates_watched_to_suspect(void **state)
{
    (void)state;
    assert_next(INST_STARTING, EV_LATE, INST_SUSPECT);
    assert_next(INST_HEALTHY, EV_LATE, INST_SUSPECT);
    assert_next(INST_DEGRADED, EV_LATE, INST_SUSPECT);
    assert_next(INST_FENCED, EV_LATE, INST_SUSPECT);
    assert_next(INST_DRAINING, EV_LATE, INST_SUSPECT);
    assert_next(INST_SUSPECT, EV_LATE, INST_SUSPECT);
}

static void test_late_leaves_unwatched_alone(void **state)
{
    (void)state;
    assert_next(INST_STOPPED, EV_LATE, INST_STOPPED);
    assert_next(INST_DEAD, EV_LATE, INST_DEAD);
    assert_next(INST_UNSPECIFIED, EV_LATE, INST_UNSPECIFIED);
    assert_next(INST_RESTARTING, EV_LATE, INST_RESTARTING);
}

static void test_silent_escalates_to_dead(void **state)
{
    (void)state;
    assert_next(INST_SUSPECT, EV_SILENT, INST_DEAD);
    assert_next(INST_HEALTHY, EV_SILENT, INST_DEAD); /* a late tick skips SUSPECT */
    assert_next(INST_STARTING, EV_SILENT, INST_DEAD);
    assert_next(INST_DEGRADED, EV_SILENT, INST_DEAD);
    assert_next(INST_FENCED, EV_SILENT, INST_DEAD);
    assert_next(INST_DRAINING, EV_SILENT, INST_DEAD);
    assert_next(INST_RESTARTING, EV_SILENT, INST_DEAD);
    assert_next(INST_DEAD, EV_SILENT, INST_DEAD);
}

static void test_silent_never_kills_stopped_or_unknown(void **state)
{
    (void)state;
    assert_next(INST_STOPPED, EV_SILENT, INST_STOPPED);
    assert_next(INST_UNSPECIFIED, EV_SILENT, INST_UNSPECIFIED);
}

static void test_serving_heartbeat_revives_from_anything(void **state)
{
    (void)state;
    for (int from = 0; from < INST_HEALTH_COUNT; from++)
        assert_next((enum inst_health)from, EV_HB_SERVING, INST_HEALTHY);
    assert_next(INST_DEAD, EV_HB_SERVING, INST_HEALTHY);
    assert_next(INST_SUSPECT, EV_HB_SERVING, INST_HEALTHY);
    assert_next(INST_STOPPED, EV_HB_SERVING, INST_HEALTHY);
}

static void test_exited_is_dead_from_any_but_a_stop(void **state)
{
    (void)state;
    for (int from = 0; from < INST_HEALTH_COUNT; from++)
        assert_next((enum inst_health)from, EV_HB_EXITED, from == INST_STOPPED ? INST_STOPPED : INST_DEAD);
}

static void test_stopping_is_stopped_from_any(void **state)
{
    (void)state;
    for (int from = 0; from < INST_HEALTH_COUNT; from++)
        assert_next((enum inst_health)from, EV_HB_STOPPING, INST_STOPPED);
}

static void test_other_heartbeats_announce_their_state(void **state)
{
    (void)state;
    assert_next(INST_HEALTHY, EV_HB_DEGRADED, INST_DEGRADED);
    assert_next(INST_DEGRADED, EV_HB_SERVING, INST_HEALTHY);
    assert_next(INST_HEALTHY, EV_HB_DRAINING, INST_DRAINING);
    assert_next(INST_HEALTHY, EV_HB_FENCED, INST_FENCED);
    assert_next(INST_FENCED, EV_HB_STARTING, INST_STARTING);
    assert_next(INST_UNSPECIFIED, EV_HB_STARTING, INST_STARTING);
    assert_next(INST_DEAD, EV_HB_STARTING, INST_STARTING);
}

static void test_out_of_range_input_changes_nothing(void **state)
{
    (void)state;
    assert_next(INST_HEALTHY, (enum inst_event)INST_EVENT_COUNT, INST_HEALTHY);
    assert_next(INST_HEALTHY, (enum inst_event)-1, INST_HEALTHY);
    assert_int_equal(health_next((enum inst_health)INST_HEALTH_COUNT, EV_HB_SERVING), INST_HEALTH_COUNT);
}

/* ---- heartbeat to event ---- */

static void test_event_of_heartbeat_by_state(void **state)
{
    (void)state;
    assert_int_equal(health_event_of_heartbeat(SERVING_STARTING, true), EV_HB_STARTING);
    assert_int_equal(health_event_of_heartbeat(SERVING_SERVING, true), EV_HB_SERVING);
    assert_int_equal(health_event_of_heartbeat(SERVING_DEGRADED, true), EV_HB_DEGRADED);
    assert_int_equal(health_event_of_heartbeat(SERVING_DRAINING, true), EV_HB_DRAINING);
    assert_int_equal(health_event_of_heartbeat(SERVING_STOPPING, true), EV_HB_STOPPING);
    assert_int_equal(health_event_of_heartbeat(SERVING_FENCED, true), EV_HB_FENCED);
    assert_int_equal(health_event_of_heartbeat(SERVING_EXITED, true), EV_HB_EXITED);
}

static void test_event_of_heartbeat_failing_check_is_degraded(void **state)
{
    (void)state;
    assert_int_equal(health_event_of_heartbeat(SERVING_SERVING, false), EV_HB_DEGRADED);
    assert_int_equal(health_event_of_heartbeat(SERVING_UNSPECIFIED, false), EV_HB_DEGRADED);
    assert_int_equal(health_event_of_heartbeat(SERVING_DEGRADED, false), EV_HB_DEGRADED);
}

static void test_event_of_heartbeat_failing_check_keeps_lifecycle_states(void **state)
{
    (void)state;
    /* A lifecycle state says more than a check does. */
    assert_int_equal(health_event_of_heartbeat(SERVING_STARTING, false), EV_HB_STARTING);
    assert_int_equal(health_event_of_heartbeat(SERVING_DRAINING, false), EV_HB_DRAINING);
    assert_int_equal(health_event_of_heartbeat(SERVING_STOPPING, false), EV_HB_STOPPING);
    assert_int_equal(health_event_of_heartbeat(SERVING_FENCED, false), EV_HB_FENCED);
    assert_int_equal(health_event_of_heartbeat(SERVING_EXITED, false), EV_HB_EXITED);
}

static void test_event_of_heartbeat_unspecified_counts_as_serving(void **state)
{
    (void)state;
    assert_int_equal(health_event_of_heartbeat(SERVING_UNSPECIFIED, true), EV_HB_SERVING);
    assert_next(INST_UNSPECIFIED, health_event_of_heartbeat(SERVING_UNSPECIFIED, true), INST_HEALTHY);
}

/* ---- watched ---- */

static void test_is_watched(void **state)
{
    (void)state;
    assert_false(health_is_watched(INST_UNSPECIFIED));
    assert_true(health_is_watched(INST_STARTING));
    assert_true(health_is_watched(INST_HEALTHY));
    assert_true(health_is_watched(INST_DEGRADED));
    assert_true(health_is_watched(INST_SUSPECT));
    assert_false(health_is_watched(INST_DEAD));
    assert_true(health_is_watched(INST_RESTARTING));
    assert_true(health_is_watched(INST_FENCED));
    assert_true(health_is_watched(INST_DRAINING));
    assert_false(health_is_watched(INST_STOPPED));
}

/* Whatever is watched can be escalated to DEAD by silence; whatever is not
 * stays put: the table and the predicate agree. */
static void test_watched_agrees_with_table(void **state)
{
    (void)state;
    for (int h = 0; h < INST_HEALTH_COUNT; h++) {
        bool dies_of_silence = health_next((enum inst_health)h, EV_SILENT) == INST_DEAD && h != INST_DEAD;

        if (dies_of_silence != health_is_watched((enum inst_health)h))
            fail_msg("%s: watched %d but silence gives %s", health_inst_name((enum inst_health)h),
                     (int)health_is_watched((enum inst_health)h),
                     health_inst_name(health_next((enum inst_health)h, EV_SILENT)));
    }
}

/* ---- service health ---- */

static void test_service_unexpected_wins(void **state)
{
    (void)state;
    assert_int_equal(health_of_service(false, true, 3, 0, 3), SVC_UNEXPECTED);
    assert_int_equal(health_of_service(false, false, 0, 0, 0), SVC_UNEXPECTED);
}

static void test_service_desired_zero_is_available(void **state)
{
    (void)state;
    assert_int_equal(health_of_service(true, false, 0, 0, 0), SVC_AVAILABLE);
    assert_int_equal(health_of_service(true, true, 0, 0, 0), SVC_AVAILABLE);
    assert_int_equal(health_of_service(true, true, 2, 0, 0), SVC_AVAILABLE);
}

static void test_service_never_seen_is_missing(void **state)
{
    (void)state;
    assert_int_equal(health_of_service(true, false, 0, 0, 2), SVC_MISSING);
}

static void test_service_enough_healthy_is_available(void **state)
{
    (void)state;
    assert_int_equal(health_of_service(true, true, 2, 0, 2), SVC_AVAILABLE);
    assert_int_equal(health_of_service(true, true, 3, 1, 2), SVC_AVAILABLE);
}

static void test_service_partial_is_degraded(void **state)
{
    (void)state;
    assert_int_equal(health_of_service(true, true, 1, 0, 2), SVC_DEGRADED);
    assert_int_equal(health_of_service(true, true, 1, 1, 3), SVC_DEGRADED);
}

static void test_service_all_degraded_is_degraded(void **state)
{
    (void)state;
    assert_int_equal(health_of_service(true, true, 0, 2, 2), SVC_DEGRADED);
    assert_int_equal(health_of_service(true, true, 0, 1, 3), SVC_DEGRADED);
}

static void test_service_none_healthy_is_unavailable(void **state)
{
    (void)state;
    assert_int_equal(health_of_service(true, true, 0, 0, 1), SVC_UNAVAILABLE);
    assert_int_equal(health_of_service(true, true, 0, 0, 45), SVC_UNAVAILABLE);
}

/* ---- names ---- */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(health_inst_name(INST_UNSPECIFIED), "UNSPECIFIED");
    assert_string_equal(health_inst_name(INST_HEALTHY), "HEALTHY");
    assert_string_equal(health_inst_name(INST_SUSPECT), "SUSPECT");
    assert_string_equal(health_inst_name(INST_DEAD), "DEAD");
    assert_string_equal(health_inst_name(INST_STOPPED), "STOPPED");
    assert_string_equal(health_inst_name((enum inst_health)INST_HEALTH_COUNT), "?");
    assert_string_equal(health_svc_name(SVC_AVAILABLE), "AVAILABLE");
    assert_string_equal(health_svc_name(SVC_MISSING), "MISSING");
    assert_string_equal(health_svc_name(SVC_UNEXPECTED), "UNEXPECTED");
    assert_string_equal(health_svc_name((enum svc_health)6), "?");
    assert_string_equal(health_observer_name(OBSERVER_WARMING_UP), "WARMING_UP");
    assert_string_equal(health_observer_name(OBSERVER_SELF_PRESERVATION), "SELF_PRESERVATION");
    assert_string_equal(health_observer_name(OBSERVER_STANDBY), "STANDBY");
    assert_string_equal(health_observer_name((enum observer_state)5), "?");
}

static void test_every_name_is_set(void **state)
{
    (void)state;
    for (int h = 0; h < INST_HEALTH_COUNT; h++)
        assert_string_not_equal(health_inst_name((enum inst_health)h), "?");
    for (int h = 0; h <= SVC_UNEXPECTED; h++)
        assert_string_not_equal(health_svc_name((enum svc_health)h), "?");
    for (int s = 0; s <= OBSERVER_STANDBY; s++)
        assert_string_not_equal(health_observer_name((enum observer_state)s), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_and_event_follows_the_rules),
        cmocka_unit_test(test_late_escalates_watched_to_suspect),
        cmocka_unit_test(test_late_leaves_unwatched_alone),
        cmocka_unit_test(test_silent_escalates_to_dead),
        cmocka_unit_test(test_silent_never_kills_stopped_or_unknown),
        cmocka_unit_test(test_serving_heartbeat_revives_from_anything),
        cmocka_unit_test(test_exited_is_dead_from_any_but_a_stop),
        cmocka_unit_test(test_stopping_is_stopped_from_any),
        cmocka_unit_test(test_other_heartbeats_announce_their_state),
        cmocka_unit_test(test_out_of_range_input_changes_nothing),
        cmocka_unit_test(test_event_of_heartbeat_by_state),
        cmocka_unit_test(test_event_of_heartbeat_failing_check_is_degraded),
        cmocka_unit_test(test_event_of_heartbeat_failing_check_keeps_lifecycle_states),
        cmocka_unit_test(test_event_of_heartbeat_unspecified_counts_as_serving),
        cmocka_unit_test(test_is_watched),
        cmocka_unit_test(test_watched_agrees_with_table),
        cmocka_unit_test(test_service_unexpected_wins),
        cmocka_unit_test(test_service_desired_zero_is_available),
        cmocka_unit_test(test_service_never_seen_is_missing),
        cmocka_unit_test(test_service_enough_healthy_is_available),
        cmocka_unit_test(test_service_partial_is_degraded),
        cmocka_unit_test(test_service_all_degraded_is_degraded),
        cmocka_unit_test(test_service_none_healthy_is_unavailable),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_every_name_is_set),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
