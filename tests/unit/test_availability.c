/* Unit tests of rolling availability (supervisor/core/availability.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "availability.h"
#include "corefx.h"

#define SECOND 1000LL
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)

/* ---- helpers ---- */

static void observe_up(struct availability *a, int64_t at_ms)
{
    availability_update(a, at_ms, true, true);
}

static void observe_down(struct availability *a, int64_t at_ms)
{
    availability_update(a, at_ms, false, true);
}

static void stop_observing(struct availability *a, int64_t at_ms, bool up)
{
    availability_update(a, at_ms, up, false);
}

/* Up for `up_ms`, then down for `period_ms - up_ms`, `n` times from `from_ms`.
 * Returns the end. */
static int64_t alternate(struct availability *a, int64_t from_ms, int64_t period_ms, int64_t up_ms, int n)
{
    int64_t t = from_ms;

    for (int k = 0; k < n; k++) {
        observe_up(a, t);
        observe_down(a, t + up_ms);
        t += period_ms;
    }
    availability_update(a, t, false, true);
    return t;
}

/* ---- no observed time ---- */

static void test_fresh_is_down_and_zero(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 1000);
    assert_false(a.up);
    assert_false(a.observing);
    assert_double_near(availability_hour(&a, 1000), 0.0, 0.0);
    assert_double_near(availability_day(&a, 5 * HOUR), 0.0, 0.0);
}

static void test_no_observed_time_follows_current_state(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    stop_observing(&a, 0, true);
    assert_double_near(availability_hour(&a, 30 * MINUTE), 1.0, 0.0);
    assert_double_near(availability_day(&a, 30 * MINUTE), 1.0, 0.0);
    stop_observing(&a, 30 * MINUTE, false);
    assert_double_near(availability_hour(&a, 40 * MINUTE), 0.0, 0.0);
    assert_double_near(availability_day(&a, 40 * MINUTE), 0.0, 0.0);
}

static void test_observing_from_now_has_no_time_yet(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_down(&a, 10 * MINUTE);
    /* Observing since this instant: nothing integrated, the current state rules. */
    assert_double_near(availability_hour(&a, 10 * MINUTE), 0.0, 0.0);
    observe_up(&a, 10 * MINUTE);
    assert_double_near(availability_hour(&a, 10 * MINUTE), 1.0, 0.0);
}

/* ---- the hour ---- */

static void test_always_up_is_one(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    assert_double_near(availability_hour(&a, 45 * MINUTE), 1.0, 0.0);
    assert_double_near(availability_day(&a, 45 * MINUTE), 1.0, 0.0);
}

static void test_always_down_is_zero(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_down(&a, 0);
    assert_double_near(availability_hour(&a, 45 * MINUTE), 0.0, 0.0);
}

static void test_half_up_over_the_hour(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    observe_down(&a, 30 * MINUTE);
    /* Up 30 min then down, read at 59:59.999: 1,800,000 / 3,599,999. */
    assert_double_near(availability_hour(&a, HOUR - 1), 0.5, 1e-6);
    assert_double_near(availability_hour(&a, HOUR - 1),
                       (double)(30 * MINUTE) / (double)(HOUR - 1), 1e-12);
}

static void test_exactly_half_up_over_the_hour(void **state)
{
    struct availability a;
    int64_t end;

    (void)state;
    availability_init(&a, 0);
    /* 30 s up, 30 s down, every minute for two hours: any whole-minute
     * window is exactly half up. */
    end = alternate(&a, 0, MINUTE, 30 * SECOND, 120);
    assert_double_near(availability_hour(&a, end), 0.5, 0.0);
    assert_double_near(availability_day(&a, end), 0.5, 0.0);
}

static void test_read_between_updates_integrates_current_state(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    observe_down(&a, 10 * MINUTE);
    /* Nothing new reported: the down time keeps accruing while reading. */
    assert_double_near(availability_hour(&a, 20 * MINUTE), 0.5, 1e-12);
    assert_double_near(availability_hour(&a, 40 * MINUTE), 0.25, 1e-12);
}

static void test_not_observing_adds_nothing(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    stop_observing(&a, 10 * MINUTE, false); /* 30 min the observer cannot judge */
    observe_down(&a, 40 * MINUTE);
    /* 10 min up + 10 min down observed; the blind 30 min count neither way. */
    assert_double_near(availability_hour(&a, 50 * MINUTE), 0.5, 1e-12);
    assert_double_near(availability_day(&a, 50 * MINUTE), 0.5, 1e-12);
}

static void test_not_observing_while_up_adds_nothing(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_down(&a, 0);
    stop_observing(&a, 10 * MINUTE, true);
    observe_down(&a, 50 * MINUTE);
    assert_double_near(availability_hour(&a, 55 * MINUTE), 0.0, 0.0);
}

static void test_rollover_past_the_hour_drops_old_time(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    observe_down(&a, 10 * MINUTE);
    assert_double_near(availability_hour(&a, 20 * MINUTE), 0.5, 1e-12);
    /* At 70 min the up time (minutes 0-10) is more than an hour old. */
    assert_double_near(availability_hour(&a, 70 * MINUTE), 0.0, 0.0);
    /* The day still holds it. */
    assert_double_near(availability_day(&a, 70 * MINUTE), 10.0 / 70.0, 1e-12);
}

static void test_rollover_keeps_recent_time(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_down(&a, 0);
    observe_up(&a, 2 * HOUR);
    /* Window [1:30, 2:30): down 30 min, up 30 min. */
    assert_double_near(availability_hour(&a, 2 * HOUR + 30 * MINUTE - 1),
                       (double)(30 * MINUTE - 1) / (double)(HOUR - 1), 1e-9);
}

static void test_long_gap_clears_whole_ring(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    stop_observing(&a, 30 * MINUTE, false);
    /* Three days blind: the hour and the day forget everything. */
    observe_down(&a, 72 * HOUR);
    assert_double_near(availability_hour(&a, 72 * HOUR + 5 * MINUTE), 0.0, 0.0);
    assert_double_near(availability_day(&a, 72 * HOUR + 5 * MINUTE), 0.0, 0.0);
    observe_up(&a, 72 * HOUR + 5 * MINUTE);
    assert_double_near(availability_hour(&a, 72 * HOUR + 10 * MINUTE), 0.5, 1e-12);
}

static void test_observed_gap_longer_than_the_ring(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_down(&a, 0);
    /* One update spanning three days of down time, then up. */
    observe_up(&a, 72 * HOUR);
    /* The windows are whole buckets: at a bucket boundary the hour holds 59
     * full minutes (the new head bucket is empty), the day 95 quarters. */
    assert_double_near(availability_hour(&a, 72 * HOUR + 15 * MINUTE), 15.0 / 59.0, 1e-12);
    assert_double_near(availability_day(&a, 72 * HOUR + 15 * MINUTE), 15.0 / (95.0 * 15.0), 1e-12);
}

/* ---- the day ---- */

static void test_day_figure(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    observe_down(&a, 23 * HOUR);
    /* Read at 23:59:59.999: the last hour was all down, the day 23/24 up. */
    assert_double_near(availability_hour(&a, 24 * HOUR - 1), 0.0, 0.0);
    assert_double_near(availability_day(&a, 24 * HOUR - 1), 23.0 / 24.0, 1e-6);
}

static void test_day_rollover_drops_yesterday(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_down(&a, 0);
    observe_up(&a, 6 * HOUR);
    /* At 31 h the down hours (0-6) are more than a day old. */
    assert_double_near(availability_day(&a, 31 * HOUR), 1.0, 0.0);
    assert_double_near(availability_hour(&a, 31 * HOUR), 1.0, 0.0);
}

static void test_day_and_hour_differ(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_down(&a, 0);
    observe_up(&a, 2 * HOUR);
    /* At 4 h: day = 2 up / 4 observed, the last hour all up. */
    assert_double_near(availability_hour(&a, 4 * HOUR), 1.0, 0.0);
    assert_double_near(availability_day(&a, 4 * HOUR), 0.5, 1e-12);
}

/* ---- time alignment ---- */

static void test_start_mid_bucket(void **state)
{
    struct availability a;
    int64_t t0 = 5 * HOUR + 17 * MINUTE + 23 * SECOND + 456;

    (void)state;
    availability_init(&a, t0);
    observe_up(&a, t0);
    observe_down(&a, t0 + 20 * MINUTE);
    assert_double_near(availability_hour(&a, t0 + 40 * MINUTE), 0.5, 1e-12);
    assert_double_near(availability_day(&a, t0 + 40 * MINUTE), 0.5, 1e-12);
}

static void test_time_going_back_changes_nothing(void **state)
{
    struct availability a;

    (void)state;
    availability_init(&a, 0);
    observe_up(&a, 0);
    observe_down(&a, 10 * MINUTE);
    assert_double_near(availability_hour(&a, 20 * MINUTE), 0.5, 1e-12);
    assert_double_near(availability_hour(&a, 15 * MINUTE), 0.5, 1e-12);
    assert_int_equal(a.last_ms, 20 * MINUTE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_is_down_and_zero),
        cmocka_unit_test(test_no_observed_time_follows_current_state),
        cmocka_unit_test(test_observing_from_now_has_no_time_yet),
        cmocka_unit_test(test_always_up_is_one),
        cmocka_unit_test(test_always_down_is_zero),
        cmocka_unit_test(test_half_up_over_the_hour),
        cmocka_unit_test(test_exactly_half_up_over_the_hour),
        cmocka_unit_test(test_read_between_updates_integrates_current_state),
        cmocka_unit_test(test_not_observing_adds_nothing),
        cmocka_unit_test(test_not_observing_while_up_adds_nothing),
        cmocka_unit_test(test_rollover_past_the_hour_drops_old_time),
        cmocka_unit_test(test_rollover_keeps_recent_time),
        cmocka_unit_test(test_long_gap_clears_whole_ring),
        cmocka_unit_test(test_observed_gap_longer_than_the_ring),
        cmocka_unit_test(test_day_figure),
        cmocka_unit_test(test_day_rollover_drops_yesterday),
        cmocka_unit_test(test_day_and_hour_differ),
        cmocka_unit_test(test_start_mid_bucket),
        cmocka_unit_test(test_time_going_back_changes_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
