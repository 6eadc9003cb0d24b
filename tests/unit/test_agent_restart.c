/* fleet-agent's local restart rule (supervisor/agent/localrestart.c): the
 * backoff's sequence and when a supervisor counts as absent. Pure
 * arithmetic on the lives given; no clock is read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The agent is a program, not a library: its one file under test is
 * compiled into this test (its "agent.h" is found next to it). */
#include "../../supervisor/agent/localrestart.c"

#define SHORT_LIFE_MS 300       /* a crash loop's life */
#define STABLE_LIFE_MS 1000     /* runsv's threshold: no crash loop */

/* A delay of `base` ms ± 20 %. */
static void assert_jittered(int64_t delay, int64_t base)
{
    assert_in_range(delay, base - base / 5, base + base / 5);
}

static void test_first_death_at_once(void **state)
{
    struct backoff b = { 0 };

    (void)state;
    assert_int_equal(backoff_next_ms(&b, 5), 0);            /* even a short first life */
}

static void test_crash_loop_backs_off(void **state)
{
    struct backoff b = { 0 };
    int64_t base = 1000;

    (void)state;
    assert_int_equal(backoff_next_ms(&b, SHORT_LIFE_MS), 0);
    for (int k = 0; k < 12; k++) {
        assert_jittered(backoff_next_ms(&b, SHORT_LIFE_MS), base);
        base = base * 2 > 60000 ? 60000 : base * 2;         /* 1, 2, 4 ... 60 s */
    }
    assert_jittered(backoff_next_ms(&b, 0), 60000);          /* capped */
}

static void test_stable_life_ends_the_series(void **state)
{
    struct backoff b = { 0 };

    (void)state;
    assert_int_equal(backoff_next_ms(&b, SHORT_LIFE_MS), 0);
    assert_jittered(backoff_next_ms(&b, SHORT_LIFE_MS), 1000);
    assert_jittered(backoff_next_ms(&b, SHORT_LIFE_MS), 2000);
    /* Like runsv and s6: a child that lived 1 s is restarted at once. */
    assert_int_equal(backoff_next_ms(&b, STABLE_LIFE_MS), 0);
    assert_jittered(backoff_next_ms(&b, SHORT_LIFE_MS), 1000);
    assert_int_equal(backoff_next_ms(&b, 3600000), 0);
}

static void test_presence(void **state)
{
    struct presence p;

    (void)state;
    presence_init(&p);
    /* None heard since start: absent already, no timeout to wait out. */
    assert_true(presence_absent_at(&p, 30000) == INT64_MIN);
    presence_seen(&p, 5000);
    assert_int_equal(presence_absent_at(&p, 30000), 35000);
    presence_seen(&p, 4000);                                 /* an older sighting moves nothing */
    assert_int_equal(presence_absent_at(&p, 30000), 35000);
    presence_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_death_at_once),
        cmocka_unit_test(test_crash_loop_backs_off),
        cmocka_unit_test(test_stable_life_ends_the_series),
        cmocka_unit_test(test_presence),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
