/* Phi accrual failure detector (Hayashibara et al.), O(1) memory per instance.
 *
 * Inter-arrival times are summarised by an exponentially weighted mean and
 * variance, seeded with the sender's promised interval as a prior so the
 * detector judges sensibly before any sample exists. Suspicion is
 * phi(t) = -log10(1 - F(t - last)), F the normal CDF (logistic approximation,
 * as Akka uses) with a floor on the deviation.
 *
 * Pure: every function takes `now_ms` (monotonic milliseconds); nothing reads
 * a clock. */
#ifndef CORE_DETECTOR_H
#define CORE_DETECTOR_H

#include <stdint.h>

/* Tunables, fixed per configuration. */
struct detector_params {
    double phi_suspect;        /* SUSPECT at phi >= this (default 3) */
    double phi_dead;           /* DEAD at phi >= this (default 8) */
    uint32_t min_std_dev_ms;   /* absolute floor on the deviation (default 100) */
    double min_std_dev_ratio;  /* floor as a fraction of the mean (default 0.1) */
    uint32_t silence_ceiling;  /* DEAD after this many promised intervals of silence (default 5) */
    /* Derived by detector_params_prepare: the standard scores at which phi
     * reaches phi_suspect and phi_dead. */
    double z_suspect;
    double z_dead;
};

/* Per-instance state; plain data, caller-owned storage. */
struct detector {
    int64_t last_ms;      /* arrival of the last heartbeat */
    float mean_ms;        /* EWMA of inter-arrival times */
    float var_ms2;        /* EWMA of their variance */
    uint32_t interval_ms; /* the sender's promised interval (prior and ceiling) */
    uint32_t samples;     /* inter-arrival samples taken since the last reset */
};

/* The defaults: the one home of each, used by detector_params_default and
 * by the supervisor's config key table (detector.* keys). */
#define DETECTOR_DEFAULT_PHI_SUSPECT 3.0
#define DETECTOR_DEFAULT_PHI_DEAD 8.0
#define DETECTOR_DEFAULT_MIN_STD_DEV_MS 100
#define DETECTOR_DEFAULT_MIN_STD_DEV_RATIO 0.1
#define DETECTOR_DEFAULT_SILENCE_CEILING 5

/* Fills the defaults above and prepares them. */
void detector_params_default(struct detector_params *p);

/* Derives z_suspect/z_dead. Returns 0, or -1 when the thresholds are not
 * 0 < phi_suspect < phi_dead <= 30 (p then keeps its old derived values). */
int detector_params_prepare(struct detector_params *p);

/* Starts (or restarts) from the prior: mean = interval, deviation = interval/4. */
void detector_reset(struct detector *d, uint32_t interval_ms, int64_t now_ms);

/* Records a heartbeat arriving at `now_ms`. A change of promised interval
 * re-seeds the prior. Arrivals earlier than the last one are ignored. */
void detector_observe(struct detector *d, uint32_t interval_ms, int64_t now_ms);

/* Suspicion level at `now_ms`; 0 while on time, grows with silence. */
double detector_phi(const struct detector *d, const struct detector_params *p, int64_t now_ms);

/* Monotonic times at which phi crosses the suspect and dead thresholds given
 * no further heartbeat. `dead_ms` includes the hard silence ceiling. */
int64_t detector_suspect_at(const struct detector *d, const struct detector_params *p);
int64_t detector_dead_at(const struct detector *d, const struct detector_params *p);

/* Moves the last arrival forward to `now_ms` without taking a sample: time the
 * observer could not see (its own link was down) is not held against anyone. */
void detector_rebase(struct detector *d, int64_t now_ms);

#endif
