#include "detector.h"

#include <math.h>

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
}

void detector_observe(struct detector *d, uint32_t interval_ms, int64_t now_ms)
{
    float gap, delta;

    if (interval_ms != d->interval_ms) {
        detector_reset(d, interval_ms, now_ms);
        return;
    }
    if (now_ms < d->last_ms)
        return;
    gap = (float)(now_ms - d->last_ms);
    delta = gap - d->mean_ms;
    d->mean_ms += EWMA_ALPHA * delta;
    d->var_ms2 = (1.0f - EWMA_ALPHA) * (d->var_ms2 + EWMA_ALPHA * delta * delta);
    d->last_ms = now_ms;
    d->samples++;
}

static double std_dev(const struct detector *d, const struct detector_params *p)
{
    double sd = sqrt((double)d->var_ms2);
    double floor_abs = (double)p->min_std_dev_ms;
    double floor_rel = p->min_std_dev_ratio * (double)d->mean_ms;

    if (sd < floor_abs)
        sd = floor_abs;
    if (sd < floor_rel)
        sd = floor_rel;
    return sd;
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

int64_t detector_suspect_at(const struct detector *d, const struct detector_params *p)
{
    return crossing(d, p, p->z_suspect);
}

int64_t detector_dead_at(const struct detector *d, const struct detector_params *p)
{
    int64_t by_phi = crossing(d, p, p->z_dead);
    int64_t by_ceiling = d->last_ms + (int64_t)p->silence_ceiling * d->interval_ms;

    return by_phi < by_ceiling ? by_phi : by_ceiling;
}

void detector_rebase(struct detector *d, int64_t now_ms)
{
    if (now_ms > d->last_ms)
        d->last_ms = now_ms;
}
