#include "detector.h"

#include <math.h>
#include <stdbool.h>

/* EWMA weight of a new sample: an effective memory of ~32 heartbeats, long
 * enough for a stable deviation, short enough to follow a changed cadence. */
#define EWMA_ALPHA (1.0f / 32.0f)

/* P(X > y) for a standard normal, by the logistic approximation Akka uses. */
static double upper_tail(double y)
{
    double e = exp(-y * (1.5976 + 0.070566 * y * y));

    return y > 0 ? e / (1.0 + e) : 1.0 - 1.0 / (1.0 + e);
}

static double phi_of_z(double z)
{
    double tail = upper_tail(z);

    if (tail < 1e-300)
        return 300.0;
    return -log10(tail);
}

/* phi_of_z is increasing in z: bisection finds the z where it reaches phi. */
static double z_of_phi(double phi)
{
    double lo = -10.0, hi = 40.0;

    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);

        if (phi_of_z(mid) < phi)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

void detector_params_default(struct detector_params *p)
{
    p->phi_suspect = DETECTOR_DEFAULT_PHI_SUSPECT;
    p->phi_dead = DETECTOR_DEFAULT_PHI_DEAD;
    p->min_std_dev_ms = DETECTOR_DEFAULT_MIN_STD_DEV_MS;
    p->min_std_dev_ratio = DETECTOR_DEFAULT_MIN_STD_DEV_RATIO;
    p->silence_ceiling = DETECTOR_DEFAULT_SILENCE_CEILING;
    detector_params_prepare(p);
}

int detector_params_prepare(struct detector_params *p)
{
    if (!(p->phi_suspect > 0 && p->phi_suspect < p->phi_dead && p->phi_dead <= 30))
        return -1;
    if (!(p->min_std_dev_ratio >= 0 && p->min_std_dev_ratio <= 1))
        return -1;
    p->z_suspect = z_of_phi(p->phi_suspect);
    p->z_dead = z_of_phi(p->phi_dead);
    return 0;
}

void detector_reset(struct detector *d, uint32_t interval_ms, int64_t now_ms)
{
    float prior_dev = (float)interval_ms / 4.0f;

    d->last_ms = now_ms;
    d->mean_ms = (float)interval_ms;
    d->var_ms2 = prior_dev * prior_dev;
    d->interval_ms = interval_ms;
    d->samples = 0;
    d->block_gaps = 0;
    d->block = 0;
    for (unsigned k = 0; k < DETECTOR_PAUSE_BLOCKS; k++)
        d->pause_block_ms[k] = 0;
}

static double std_dev(const struct detector *d, const struct detector_params *p)
{
    double sd = sqrt((double)d->var_ms2);
    double floor_abs = (double)p->min_std_dev_ms;
    double floor_rel = p->min_std_dev_ratio * (double)d->interval_ms;

    if (sd < floor_abs)
        sd = floor_abs;
    if (sd < floor_rel)
        sd = floor_rel;
    return sd;
}

/* Gaps per block of the pause memory: the window is DETECTOR_PAUSE_WINDOW
 * gaps or DETECTOR_PAUSE_MEMORY_MS, whichever is longer (pauses recur on
 * the clock, whatever the interval). */
static uint32_t block_len(const struct detector *d)
{
    uint32_t by_gaps = DETECTOR_PAUSE_WINDOW / DETECTOR_PAUSE_BLOCKS;
    uint32_t by_time = DETECTOR_PAUSE_MEMORY_MS / DETECTOR_PAUSE_BLOCKS / (d->interval_ms ? d->interval_ms : 1);

    if (by_time > UINT16_MAX)
        by_time = UINT16_MAX;
    return by_time > by_gaps ? by_time : by_gaps;
}

/* Rolls the pause memory by one gap, keeping `gap` when it is a pause. */
static void remember_gap(struct detector *d, float gap, bool pause)
{
    if (d->block_gaps >= block_len(d)) {
        d->block = (uint16_t)((d->block + 1) % DETECTOR_PAUSE_BLOCKS);
        d->pause_block_ms[d->block] = 0;
        d->block_gaps = 0;
    }
    d->block_gaps++;
    if (pause && gap > d->pause_block_ms[d->block])
        d->pause_block_ms[d->block] = gap;
}

/* The longest pause remembered, 0 = none. */
static float longest_pause(const struct detector *d)
{
    float longest = 0;

    for (unsigned k = 0; k < DETECTOR_PAUSE_BLOCKS; k++)
        if (d->pause_block_ms[k] > longest)
            longest = d->pause_block_ms[k];
    return longest;
}

void detector_observe(struct detector *d, const struct detector_params *p, uint32_t interval_ms,
                      int64_t now_ms)
{
    float gap, delta;
    bool pause;

    if (interval_ms != d->interval_ms) {
        detector_reset(d, interval_ms, now_ms);
        return;
    }
    if (now_ms < d->last_ms)
        return;
    gap = (float)(now_ms - d->last_ms);
    /* Halfway from SUSPECT to DEAD by the rhythm known so far, and alive
     * after all: a pause. */
    pause = (double)gap >= (double)d->mean_ms + 0.5 * (p->z_suspect + p->z_dead) * std_dev(d, p);
    remember_gap(d, gap, pause);
    delta = gap - d->mean_ms;
    d->mean_ms += EWMA_ALPHA * delta;
    d->var_ms2 = (1.0f - EWMA_ALPHA) * (d->var_ms2 + EWMA_ALPHA * delta * delta);
    d->last_ms = now_ms;
    if (d->samples < UINT32_MAX)
        d->samples++;
}


double detector_phi(const struct detector *d, const struct detector_params *p, int64_t now_ms)
{
    double elapsed = (double)(now_ms - d->last_ms);

    if (elapsed <= 0)
        return 0.0;
    return phi_of_z((elapsed - (double)d->mean_ms) / std_dev(d, p));
}

static int64_t crossing(const struct detector *d, const struct detector_params *p, double z)
{
    return d->last_ms + (int64_t)ceil((double)d->mean_ms + z * std_dev(d, p));
}

/* Whether the sender may pause: it paused recently, or it is too young to
 * have shown that it does not. */
static bool may_pause(const struct detector *d, float longest)
{
    uint32_t learn = DETECTOR_LEARN_MS / (d->interval_ms ? d->interval_ms : 1);

    if (learn < DETECTOR_LEARN_SAMPLES)
        learn = DETECTOR_LEARN_SAMPLES;
    return longest > 0 || d->samples < learn;
}

static int64_t later(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int64_t detector_suspect_at(const struct detector *d, const struct detector_params *p)
{
    int64_t by_phi = crossing(d, p, p->z_suspect);
    float longest = longest_pause(d);

    if (longest > 0)
        return later(by_phi, d->last_ms + (int64_t)ceil((1.0 + DETECTOR_PAUSE_MARGIN) * (double)longest));
    return by_phi;
}

int64_t detector_dead_at(const struct detector *d, const struct detector_params *p)
{
    int64_t at = crossing(d, p, p->z_dead);
    int64_t by_ceiling = d->last_ms + (int64_t)p->silence_ceiling * d->interval_ms;
    float longest = longest_pause(d);

    if (may_pause(d, longest)) {
        double floor = DETECTOR_PAUSE_FLOOR * (double)d->interval_ms;
        double margin = (1.0 + DETECTOR_PAUSE_MARGIN) * (double)longest;

        at = later(at, d->last_ms + (int64_t)ceil(margin > floor ? margin : floor));
    }
    return at < by_ceiling ? at : by_ceiling;
}

void detector_rebase(struct detector *d, int64_t now_ms)
{
    if (now_ms > d->last_ms)
        d->last_ms = now_ms;
}
