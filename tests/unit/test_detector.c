/* Unit tests of the phi accrual failure detector (supervisor/core/detector.h).
 *
 * Everything runs on a virtual clock: times are plain integers. */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "corefx.h"
#include "detector.h"

/* phi at the mean of the distribution: -log10(0.5). */
#define PHI_AT_MEAN 0.30103
/* How far above its threshold phi may be at the first millisecond that
 * crosses it (the crossing is rounded up to a whole millisecond). */
#define PHI_TOLERANCE 0.05

/* ---- helpers ---- */

static struct detector_params default_params(void)
{
    struct detector_params p;

    detector_params_default(&p);
    return p;
}

/* The default parameters, for detector_observe (its pause rule reads them). */
static const struct detector_params *defaults(void)
{
    static struct detector_params p;
    static bool ready;

    if (!ready) {
        detector_params_default(&p);
        ready = true;
    }
    return &p;
}

static struct detector fresh_detector(uint32_t interval_ms, int64_t now_ms)
{
    struct detector d;

    detector_reset(&d, interval_ms, now_ms);
    return d;
}

/* Feeds `n` heartbeats exactly `gap_ms` apart; returns the last arrival. */
static int64_t feed_regular(struct detector *d, uint32_t interval_ms, int64_t from_ms,
                            uint32_t gap_ms, int n)
{
    int64_t t = from_ms;

    for (int k = 0; k < n; k++) {
        t += gap_ms;
        detector_observe(d, defaults(), interval_ms, t);
    }
    return t;
}

/* The time at which phi reaches `z` standard scores, as the detector rounds it. */
static int64_t expected_crossing(int64_t last_ms, double mean_ms, double sd_ms, double z)
{
    return last_ms + (int64_t)ceil(mean_ms + z * sd_ms);
}

/* Asserts phi has just crossed `threshold` at `at_ms` and not one ms before. */
static void assert_crossing(const struct detector *d, const struct detector_params *p,
                            int64_t at_ms, double threshold)
{
    double phi_at = detector_phi(d, p, at_ms);
    double phi_before = detector_phi(d, p, at_ms - 1);

    assert_double_ge(phi_at, threshold);
    assert_double_near(phi_at, threshold, PHI_TOLERANCE);
    assert_double_lt(phi_before, threshold);
}

/* ---- parameters ---- */

static void test_params_default_values(void **state)
{
    struct detector_params p = default_params();

    (void)state;
    assert_double_near(p.phi_suspect, 3.0, 0.0);
    assert_double_near(p.phi_dead, 8.0, 0.0);
    assert_int_equal(p.min_std_dev_ms, 20);
    assert_double_near(p.min_std_dev_ratio, 0.15, 0.0);
    assert_int_equal(p.silence_ceiling, 5);
    /* The logistic approximation puts phi 3 near z 3.06 and phi 8 near z 5.23. */
    assert_double_near(p.z_suspect, 3.0589, 0.001);
    assert_double_near(p.z_dead, 5.2260, 0.001);
}

static void assert_prepare_refuses(double phi_suspect, double phi_dead)
{
    struct detector_params p = default_params();
    double z_suspect = p.z_suspect, z_dead = p.z_dead;

    p.phi_suspect = phi_suspect;
    p.phi_dead = phi_dead;
    assert_int_equal(detector_params_prepare(&p), -1);
    /* The derived values are the old ones. */
    assert_double_near(p.z_suspect, z_suspect, 0.0);
    assert_double_near(p.z_dead, z_dead, 0.0);
}

static void test_params_prepare_rejects_bad_thresholds(void **state)
{
    (void)state;
    assert_prepare_refuses(0.0, 8.0);     /* suspect must be > 0 */
    assert_prepare_refuses(-1.0, 8.0);
    assert_prepare_refuses(8.0, 8.0);     /* suspect < dead */
    assert_prepare_refuses(9.0, 8.0);
    assert_prepare_refuses(3.0, 30.5);    /* dead <= 30 */
    assert_prepare_refuses(NAN, 8.0);
    assert_prepare_refuses(3.0, NAN);
    {
        struct detector_params p = default_params();

        p.min_std_dev_ratio = 1.5;    /* a fraction of the interval: [0, 1] */
        assert_int_equal(detector_params_prepare(&p), -1);
        p.min_std_dev_ratio = -0.1;
        assert_int_equal(detector_params_prepare(&p), -1);
    }
}

static void test_params_prepare_accepts_and_derives(void **state)
{
    struct detector_params p = default_params();
    double z_suspect_default = p.z_suspect;

    (void)state;
    p.phi_suspect = 1.0;
    p.phi_dead = 30.0; /* the upper bound is inclusive */
    assert_int_equal(detector_params_prepare(&p), 0);
    assert_double_lt(p.z_suspect, z_suspect_default);
    assert_double_lt(p.z_suspect, p.z_dead);

    /* The z values are where phi reaches the thresholds: check on a detector
     * whose deviation is exactly 100 ms (interval 400: prior deviation 100). */
    {
        struct detector d = fresh_detector(400, 0);

        assert_crossing(&d, &p, detector_suspect_at(&d, &p), p.phi_suspect);
    }
}

/* ---- phi itself ---- */

static void test_phi_zero_at_arrival_and_before(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 10000);

    (void)state;
    assert_double_near(detector_phi(&d, &p, 10000), 0.0, 0.0);
    assert_double_near(detector_phi(&d, &p, 9000), 0.0, 0.0);
}

static void test_phi_small_while_on_time(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);

    (void)state;
    /* Up to the expected arrival phi stays at or below its value at the mean,
     * an order of magnitude under the suspect threshold. */
    for (int64_t t = 1; t <= 1000; t++)
        assert_double_lt(detector_phi(&d, &p, t), PHI_AT_MEAN + 1e-6);
    assert_double_near(detector_phi(&d, &p, 1000), PHI_AT_MEAN, 1e-4);
}

static void test_phi_rises_monotonically_with_silence(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    double previous = 0.0;

    (void)state;
    for (int64_t t = 1; t <= 20000; t++) {
        double phi = detector_phi(&d, &p, t);

        assert_double_ge(phi, previous);
        previous = phi;
    }
    assert_double_lt(p.phi_dead, previous);
    /* Strictly rising through the range that matters. */
    for (int64_t t = 1000; t < 2500; t += 100)
        assert_double_lt(detector_phi(&d, &p, t), detector_phi(&d, &p, t + 100));
}

/* ---- the prior ---- */

static void test_prior_before_any_sample(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 5000);

    (void)state;
    assert_int_equal(d.last_ms, 5000);
    assert_int_equal(d.samples, 0);
    assert_int_equal(d.interval_ms, 1000);
    assert_double_near(d.mean_ms, 1000.0, 0.0);
    assert_double_near(sqrt(d.var_ms2), 250.0, 1e-3);
    /* SUSPECT consistent with mean 1000 and deviation 250; DEAD at the young
     * floor (it has not shown yet that it never pauses), past phi's 2307. */
    assert_int_equal(detector_suspect_at(&d, &p), expected_crossing(5000, 1000, 250, p.z_suspect));
    assert_int_equal(detector_suspect_at(&d, &p), 5000 + 1765);
    assert_int64_lt(expected_crossing(5000, 1000, 250, p.z_dead), detector_dead_at(&d, &p));
    assert_int_equal(detector_dead_at(&d, &p), 5000 + (int64_t)(DETECTOR_PAUSE_FLOOR * 1000));
}

static void test_reset_restarts_from_prior(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    int64_t last = feed_regular(&d, 1000, 0, 1300, 50);

    (void)state;
    assert_int_equal(d.samples, 50);
    detector_reset(&d, 1000, last + 7);
    assert_int_equal(d.samples, 0);
    assert_int_equal(d.last_ms, last + 7);
    assert_int_equal(detector_suspect_at(&d, &p), expected_crossing(last + 7, 1000, 250, p.z_suspect));
}

/* ---- crossings ---- */

/* A young sender: SUSPECT where phi crosses; DEAD held to the young floor,
 * where phi is already past the dead threshold. */
static void test_thresholds_at_crossings_prior(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);

    (void)state;
    assert_crossing(&d, &p, detector_suspect_at(&d, &p), p.phi_suspect);
    assert_int_equal(detector_dead_at(&d, &p), (int64_t)(DETECTOR_PAUSE_FLOOR * 1000));
    assert_double_ge(detector_phi(&d, &p, detector_dead_at(&d, &p)), p.phi_dead);
}

static void test_thresholds_at_crossings_after_samples(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(2000, 0);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    int64_t t = 0;

    (void)state;
    for (int k = 0; k < 500; k++) {
        t += corefx_rng_between(&rng, 1500, 2500);
        detector_observe(&d, defaults(), 2000, t);
    }
    assert_int64_lt(detector_dead_at(&d, &p), t + 5 * 2000); /* not the ceiling */
    assert_crossing(&d, &p, detector_suspect_at(&d, &p), p.phi_suspect);
    assert_crossing(&d, &p, detector_dead_at(&d, &p), p.phi_dead);
}

static void test_thresholds_at_crossings_custom_params(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);

    (void)state;
    p.phi_suspect = 2.0;
    p.phi_dead = 12.0;
    assert_int_equal(detector_params_prepare(&p), 0);
    assert_crossing(&d, &p, detector_suspect_at(&d, &p), 2.0);
    assert_int_equal(detector_dead_at(&d, &p), (int64_t)(DETECTOR_PAUSE_FLOOR * 1000)); /* young */
    assert_double_ge(detector_phi(&d, &p, detector_dead_at(&d, &p)), 12.0);
    /* Once it has shown its rhythm, phi's crossing decides. */
    feed_regular(&d, 1000, 0, 1000, DETECTOR_LEARN_SAMPLES);
    assert_crossing(&d, &p, detector_dead_at(&d, &p), 12.0);
}

/* ---- deviation floor ---- */

static void test_deviation_floor_absolute(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(200, 0);
    int64_t last = feed_regular(&d, 200, 0, 200, 1000);

    (void)state;
    /* Perfectly regular: the measured deviation all but vanishes... */
    assert_double_lt(sqrt(d.var_ms2), 1.0);
    assert_double_near(d.mean_ms, 200.0, 1e-3);
    /* ...but the floor, 15 % of the promised 200 (30 ms, above the 20 ms
     * absolute minimum), holds the deadlines... */
    assert_int_equal(detector_suspect_at(&d, &p), expected_crossing(last, 200, 30, p.z_suspect));
    assert_int_equal(detector_dead_at(&d, &p), expected_crossing(last, 200, 30, p.z_dead));
    /* ...and a steady sender is DEAD within 2 intervals of its last beat
     * (issue 13's target), not for one slightly late beat. */
    assert_int64_le(detector_dead_at(&d, &p) - last, 2 * 200);
    assert_int64_lt(200 + 50, detector_suspect_at(&d, &p) - last);
}

static void test_deviation_floor_absolute_minimum(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(50, 0);
    int64_t last = feed_regular(&d, 50, 0, 50, 1000);

    (void)state;
    /* 15 % of 50 ms is 7.5 ms: the 20 ms absolute minimum holds instead. */
    assert_int_equal(detector_dead_at(&d, &p), expected_crossing(last, 50, 20, p.z_dead));
}

static void test_deviation_floor_relative(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(5000, 0);
    int64_t last = feed_regular(&d, 5000, 0, 5000, 1000);

    (void)state;
    assert_double_lt(sqrt(d.var_ms2), 1.0);
    /* 15 % of the promised interval (750 ms) is above the 20 ms minimum. */
    assert_int_equal(detector_suspect_at(&d, &p), expected_crossing(last, 5000, 750, p.z_suspect));
    assert_int_equal(detector_dead_at(&d, &p), expected_crossing(last, 5000, 750, p.z_dead));
}

static void test_deviation_floor_at_one_second(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    int64_t last = feed_regular(&d, 1000, 0, 1000, 1000);

    (void)state;
    /* Not mean + epsilon: three floor deviations (150 ms) past the mean. */
    assert_int_equal(detector_suspect_at(&d, &p) - last, 1459);
    assert_int_equal(detector_dead_at(&d, &p) - last, 1784);
}

static void test_deviation_floor_configurable(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    int64_t last = feed_regular(&d, 1000, 0, 1000, 1000);

    (void)state;
    p.min_std_dev_ms = 300;
    assert_int_equal(detector_suspect_at(&d, &p), expected_crossing(last, 1000, 300, p.z_suspect));
    p.min_std_dev_ms = 10;
    p.min_std_dev_ratio = 0.2;
    assert_int_equal(detector_suspect_at(&d, &p), expected_crossing(last, 1000, 200, p.z_suspect));
}

/* ---- silence ceiling ---- */

static void test_silence_ceiling_caps_dead_at_high_variance(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    int64_t t = 0;

    (void)state;
    /* Wildly irregular arrivals: by phi alone death would come very late. */
    for (int k = 0; k < 200; k++) {
        t += (k % 2) ? 200 : 3000;
        detector_observe(&d, defaults(), 1000, t);
    }
    assert_int_equal(detector_dead_at(&d, &p), t + 5 * 1000);
    /* phi there is still under the dead threshold: the ceiling decided. The
     * suspect crossing is phi's alone and here even falls after the ceiling
     * (callers must watch min(suspect_at, dead_at)). */
    assert_int64_lt(detector_dead_at(&d, &p), detector_suspect_at(&d, &p));
    assert_double_lt(detector_phi(&d, &p, t + 5000), p.phi_dead);
}

static void test_silence_ceiling_configurable(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 700);

    (void)state;
    p.silence_ceiling = 2;
    assert_int_equal(detector_dead_at(&d, &p), 700 + 2000);
    p.silence_ceiling = 3;   /* under the young floor (3.6 intervals): the ceiling caps it */
    assert_int_equal(detector_dead_at(&d, &p), 700 + 3000);
    p.silence_ceiling = 4;
    assert_int_equal(detector_dead_at(&d, &p), 700 + (int64_t)(DETECTOR_PAUSE_FLOOR * 1000));
}

static void test_silence_ceiling_scales_with_interval(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(60000, 0);
    int64_t t = 0;

    (void)state;
    for (int k = 0; k < 100; k++) {
        t += (k % 2) ? 5000 : 200000;
        detector_observe(&d, defaults(), 60000, t);
    }
    assert_int_equal(detector_dead_at(&d, &p), t + 5 * 60000);
}

/* ---- observe ---- */

static void test_observe_takes_samples(void **state)
{
    struct detector d = fresh_detector(1000, 0);

    (void)state;
    detector_observe(&d, defaults(), 1000, 1100);
    assert_int_equal(d.samples, 1);
    assert_int_equal(d.last_ms, 1100);
    /* EWMA 1/32 towards the 1100 ms gap. */
    assert_double_near(d.mean_ms, 1000.0 + 100.0 / 32.0, 1e-3);
}

static void test_observe_follows_a_changed_cadence(void **state)
{
    struct detector d = fresh_detector(1000, 0);

    (void)state;
    feed_regular(&d, 1000, 0, 1500, 500);
    assert_double_near(d.mean_ms, 1500.0, 1.0);
    assert_int_equal(d.samples, 500);
}

static void test_interval_change_reseeds(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    int64_t last = feed_regular(&d, 1000, 0, 1000, 100);

    (void)state;
    detector_observe(&d, defaults(), 2000, last + 900);
    assert_int_equal(d.interval_ms, 2000);
    assert_int_equal(d.last_ms, last + 900);
    assert_int_equal(d.samples, 0);
    assert_double_near(d.mean_ms, 2000.0, 0.0);
    assert_double_near(sqrt(d.var_ms2), 500.0, 1e-3);
    assert_int_equal(detector_suspect_at(&d, &p), expected_crossing(last + 900, 2000, 500, p.z_suspect));
    /* Young again on the new promise. */
    assert_int_equal(detector_dead_at(&d, &p), last + 900 + (int64_t)(DETECTOR_PAUSE_FLOOR * 2000));
}

static void test_earlier_arrival_ignored(void **state)
{
    struct detector d = fresh_detector(1000, 0);
    struct detector before;

    (void)state;
    feed_regular(&d, 1000, 0, 1000, 10);
    before = d;
    detector_observe(&d, defaults(), 1000, d.last_ms - 1);
    assert_memory_equal(&d, &before, sizeof(d));
}

static void test_same_time_arrival_counts_as_zero_gap(void **state)
{
    struct detector d = fresh_detector(1000, 0);

    (void)state;
    detector_observe(&d, defaults(), 1000, 0);
    assert_int_equal(d.samples, 1);
    assert_int_equal(d.last_ms, 0);
    assert_double_lt(d.mean_ms, 1000.0);
}

/* ---- rebase ---- */

static void test_rebase_moves_forward_without_sample(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    int64_t last = feed_regular(&d, 1000, 0, 1000, 20);
    float mean = d.mean_ms, var = d.var_ms2;
    int64_t suspect_in = detector_suspect_at(&d, &p) - last;

    (void)state;
    detector_rebase(&d, last + 60000);
    assert_int_equal(d.last_ms, last + 60000);
    assert_int_equal(d.samples, 20);
    assert_double_near(d.mean_ms, mean, 0.0);
    assert_double_near(d.var_ms2, var, 0.0);
    assert_int_equal(detector_suspect_at(&d, &p), last + 60000 + suspect_in);
    assert_double_near(detector_phi(&d, &p, last + 60000), 0.0, 0.0);
}

static void test_rebase_never_moves_back(void **state)
{
    struct detector d = fresh_detector(1000, 5000);

    (void)state;
    detector_rebase(&d, 4000);
    assert_int_equal(d.last_ms, 5000);
}

/* ---- simulated cadences ---- */

/* Heartbeats every interval ± 30 % (each gap uniform in [0.7, 1.3] ×
 * interval). Before each arrival the detector has not reached its dead
 * deadline, and once past its young gaps a hang would be declared within
 * 2.5 intervals (issue 13's target for jittery senders). */
static void test_jitter_30pct_no_false_dead(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    uint64_t rng = 0x2545F4914F6CDD1DULL;
    int64_t t = 0;
    int false_dead = 0;
    int64_t worst_dead_in = 0;

    (void)state;
    for (int k = 0; k < 100000; k++) {
        int64_t next = t + corefx_rng_between(&rng, 700, 1300);
        int64_t dead_in = detector_dead_at(&d, &p) - d.last_ms;

        if (next >= detector_dead_at(&d, &p))
            false_dead++;
        if (k >= (int)DETECTOR_LEARN_SAMPLES && dead_in > worst_dead_in)
            worst_dead_in = dead_in;
        detector_observe(&d, defaults(), 1000, next);
        t = next;
    }
    assert_int_equal(false_dead, 0);
    assert_in_range(worst_dead_in, 1300, 2500);
}

/* The same with the jitter on the schedule (arrival k × interval ± 30 %),
 * so gaps range over [0.4, 1.6] × interval. */
static void test_jitter_30pct_on_schedule_no_false_dead(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    uint64_t rng = 0xD1B54A32D192ED03ULL;
    int false_dead = 0;

    (void)state;
    for (int64_t k = 1; k <= 100000; k++) {
        int64_t arrival = k * 1000 + corefx_rng_between(&rng, -300, 300);

        if (arrival >= detector_dead_at(&d, &p))
            false_dead++;
        detector_observe(&d, defaults(), 1000, arrival);
    }
    assert_int_equal(false_dead, 0);
}

static void test_hang_detected_dead_within_3s(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 0);
    uint64_t rng = 42;
    int64_t t = 0;

    (void)state;
    for (int k = 0; k < 1000; k++) {
        t += corefx_rng_between(&rng, 700, 1300);
        detector_observe(&d, defaults(), 1000, t);
    }
    /* The process hangs after the heartbeat at t. */
    assert_in_range(detector_dead_at(&d, &p) - t, 1300, 3000);
    assert_double_ge(detector_phi(&d, &p, t + 3000), p.phi_dead);
}

/* A sender that hangs before showing its rhythm: DEAD at the young floor. */
static void test_hang_detected_from_prior_at_young_floor(void **state)
{
    struct detector_params p = default_params();
    struct detector d = fresh_detector(1000, 123);

    (void)state;
    assert_int_equal(detector_dead_at(&d, &p) - 123, (int64_t)(DETECTOR_PAUSE_FLOOR * 1000));
    feed_regular(&d, 1000, 123, 1000, DETECTOR_LEARN_SAMPLES - 1);
    assert_int_equal(detector_dead_at(&d, &p) - d.last_ms, (int64_t)(DETECTOR_PAUSE_FLOOR * 1000));
    feed_regular(&d, 1000, d.last_ms, 1000, 1);
    assert_int64_lt(detector_dead_at(&d, &p) - d.last_ms, 2000);
}

/* ---- pause memory ---- */

/* A steady sender past its young gaps (200 ms promised). */
static struct detector steady_200(int64_t *last)
{
    struct detector d = fresh_detector(200, 0);

    *last = feed_regular(&d, 200, 0, 200, 2 * DETECTOR_LEARN_SAMPLES);
    return d;
}

static void test_pause_holds_dead_past_the_floor(void **state)
{
    struct detector_params p = default_params();
    int64_t last;
    struct detector d = steady_200(&last);

    (void)state;
    assert_int64_le(detector_dead_at(&d, &p) - last, 400);
    /* One pause of 2.5 intervals (a gap of 500 ms): no longer judged fast. */
    last += 500;
    detector_observe(&d, defaults(), 200, last);
    last = feed_regular(&d, 200, last, 200, 10);
    assert_int_equal(detector_dead_at(&d, &p) - last, (int64_t)(DETECTOR_PAUSE_FLOOR * 200));
    /* SUSPECT not before that pause x (1 + margin) either: 560 ms. */
    assert_int_equal(detector_suspect_at(&d, &p) - last, 560);
    /* A longer pause (4 intervals) moves DEAD past itself by the margin... */
    last += 800;
    detector_observe(&d, defaults(), 200, last);
    last = feed_regular(&d, 200, last, 200, 10);
    assert_int_equal(detector_dead_at(&d, &p) - last, (int64_t)ceil((1.0 + DETECTOR_PAUSE_MARGIN) * 800.0));
    /* ...and the silence ceiling caps it all (5 intervals). */
    last += 950;
    detector_observe(&d, defaults(), 200, last);
    assert_int_equal(detector_dead_at(&d, &p) - last, 5 * 200);
}

static void test_pause_forgotten_after_the_window(void **state)
{
    struct detector_params p = default_params();
    int64_t last;
    struct detector d = steady_200(&last);

    (void)state;
    last += 600;
    detector_observe(&d, defaults(), 200, last);
    /* Remembered for at least 3/4 of the window... */
    last = feed_regular(&d, 200, last, 200, DETECTOR_PAUSE_WINDOW * 3 / 4 - 1);
    assert_int64_lt(3 * 200, detector_dead_at(&d, &p) - last);
    /* ...forgotten after the whole window: steady again. */
    last = feed_regular(&d, 200, last, 200, DETECTOR_PAUSE_WINDOW / 4 + 1);
    assert_int64_le(detector_dead_at(&d, &p) - last, 400);
}

/* Pauses every 100 gaps, each shorter than the one before: the memory rolls
 * from block to block and never forgets that this sender pauses. */
static void test_pause_memory_never_lapses_for_a_pausy_sender(void **state)
{
    struct detector_params p = default_params();
    int64_t last;
    struct detector d = steady_200(&last);

    (void)state;
    for (int k = 0; k < 40; k++) {
        last += 700 - 4 * k;
        detector_observe(&d, defaults(), 200, last);
        for (int g = 0; g < 100; g++) {
            last += 200;
            detector_observe(&d, defaults(), 200, last);
            assert_int64_le((int64_t)(DETECTOR_PAUSE_FLOOR * 200), detector_dead_at(&d, &p) - last);
            assert_int64_le((int64_t)(1.12 * (700 - 4 * k)), detector_dead_at(&d, &p) - last);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_default_values),
        cmocka_unit_test(test_params_prepare_rejects_bad_thresholds),
        cmocka_unit_test(test_params_prepare_accepts_and_derives),
        cmocka_unit_test(test_phi_zero_at_arrival_and_before),
        cmocka_unit_test(test_phi_small_while_on_time),
        cmocka_unit_test(test_phi_rises_monotonically_with_silence),
        cmocka_unit_test(test_prior_before_any_sample),
        cmocka_unit_test(test_reset_restarts_from_prior),
        cmocka_unit_test(test_thresholds_at_crossings_prior),
        cmocka_unit_test(test_thresholds_at_crossings_after_samples),
        cmocka_unit_test(test_thresholds_at_crossings_custom_params),
        cmocka_unit_test(test_deviation_floor_absolute),
        cmocka_unit_test(test_deviation_floor_absolute_minimum),
        cmocka_unit_test(test_deviation_floor_relative),
        cmocka_unit_test(test_deviation_floor_at_one_second),
        cmocka_unit_test(test_deviation_floor_configurable),
        cmocka_unit_test(test_silence_ceiling_caps_dead_at_high_variance),
        cmocka_unit_test(test_silence_ceiling_configurable),
        cmocka_unit_test(test_silence_ceiling_scales_with_interval),
        cmocka_unit_test(test_observe_takes_samples),
        cmocka_unit_test(test_observe_follows_a_changed_cadence),
        cmocka_unit_test(test_interval_change_reseeds),
        cmocka_unit_test(test_earlier_arrival_ignored),
        cmocka_unit_test(test_same_time_arrival_counts_as_zero_gap),
        cmocka_unit_test(test_rebase_moves_forward_without_sample),
        cmocka_unit_test(test_rebase_never_moves_back),
        cmocka_unit_test(test_jitter_30pct_no_false_dead),
        cmocka_unit_test(test_jitter_30pct_on_schedule_no_false_dead),
        cmocka_unit_test(test_hang_detected_dead_within_3s),
        cmocka_unit_test(test_hang_detected_from_prior_at_young_floor),
        cmocka_unit_test(test_pause_holds_dead_past_the_floor),
        cmocka_unit_test(test_pause_forgotten_after_the_window),
        cmocka_unit_test(test_pause_memory_never_lapses_for_a_pausy_sender),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
