/* Phi accrual failure detector (Hayashibara et al.), O(1) memory per instance.
 *
 * Inter-arrival times are summarised by an exponentially weighted mean and
 * variance, seeded with the sender's promised interval as a prior so the
 * detector judges sensibly before any sample exists. Suspicion is
 * phi(t) = -log10(1 - F(t - last)), F the normal CDF (logistic approximation,
 * as Akka uses) with a floor on the deviation: a fraction of the promised
 * interval, never under an absolute minimum, so a steady sender is judged on
 * its own rhythm (DEAD ~1.8 intervals after its last heartbeat at 200 ms).
 *
 * Pauses are remembered too. A gap that crossed the suspect threshold (phi
 * >= phi_suspect by the rhythm known before it: a GC pause, a stalled event
 * loop) after which the sender came back is a sample like any other and is
 * also kept as a pause: the longest of each block of the
 * window (DETECTOR_PAUSE_WINDOW gaps or DETECTOR_PAUSE_MEMORY_MS, the longer)
 * in DETECTOR_PAUSE_BLOCKS blocks, so a pause is remembered for at least 3/4
 * of the window. While a sender has paused recently, and while it is young
 * (fewer than DETECTOR_LEARN_SAMPLES gaps or DETECTOR_LEARN_MS worth of
 * them, the more: it has not shown yet that it does not pause), it is not
 * DEAD before max(DETECTOR_PAUSE_FLOOR intervals, its longest pause x
 * (1 + DETECTOR_PAUSE_MARGIN)) of silence, nor SUSPECT before that longest
 * pause x (1 + DETECTOR_PAUSE_MARGIN): silence like what it did before is
 * its rhythm, not a death. The hard silence ceiling caps it all.
 *
 * The figures are tuned on replayed traces (tests/bench/bench_detect.c,
 * BENCHMARKS.md §7): steady, jittery and pausy senders, 0 false DEADs.
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
    uint32_t min_std_dev_ms;   /* absolute floor on the deviation (default 20) */
    double min_std_dev_ratio;  /* floor as a fraction of the promised interval (default 0.15) */
    uint32_t silence_ceiling;  /* DEAD after this many promised intervals of silence (default 5) */
    /* Derived by detector_params_prepare: the standard scores at which phi
     * reaches phi_suspect and phi_dead. */
    double z_suspect;
    double z_dead;
};

/* Pause memory (see the top of this file); fixed, tuned on the traces. */
#define DETECTOR_PAUSE_WINDOW 600u    /* a pause is remembered for up to this many gaps, */
#define DETECTOR_PAUSE_MEMORY_MS 120000u /* ... or this long, whichever is longer */
#define DETECTOR_PAUSE_BLOCKS 4u      /* ... in this many blocks (the memory rolls by a block) */
#define DETECTOR_LEARN_SAMPLES 128u   /* younger than this many gaps, */
#define DETECTOR_LEARN_MS 30000u      /* ... or this many intervals' worth: judged as if it may pause */
#define DETECTOR_PAUSE_FLOOR 3.6      /* intervals: DEAD no earlier, once it may pause */
#define DETECTOR_PAUSE_MARGIN 0.12    /* DEAD no earlier than the longest pause x (1 + this) */

/* Per-instance state; plain data, caller-owned storage. */
struct detector {
    int64_t last_ms;      /* arrival of the last heartbeat */
    float mean_ms;        /* EWMA of inter-arrival times */
    float var_ms2;        /* EWMA of their variance */
    uint32_t interval_ms; /* the sender's promised interval (prior and ceiling) */
    uint32_t samples;     /* inter-arrival gaps seen since the last reset, pauses included */
    uint16_t block_gaps;  /* gaps seen in the current block of the pause memory */
    uint16_t block;       /* the current block, 0 .. DETECTOR_PAUSE_BLOCKS - 1 */
    float pause_block_ms[DETECTOR_PAUSE_BLOCKS]; /* longest pause per block of
                                                    DETECTOR_PAUSE_WINDOW / BLOCKS gaps; 0 = none */
};

/* The defaults: the one home of each, used by detector_params_default and
 * by the supervisor's config key table (detector.* keys). */
#define DETECTOR_DEFAULT_PHI_SUSPECT 3.0
#define DETECTOR_DEFAULT_PHI_DEAD 8.0
#define DETECTOR_DEFAULT_MIN_STD_DEV_MS 20
#define DETECTOR_DEFAULT_MIN_STD_DEV_RATIO 0.15
#define DETECTOR_DEFAULT_SILENCE_CEILING 5

/* Fills the defaults above and prepares them. */
void detector_params_default(struct detector_params *p);

/* Derives z_suspect/z_dead. Returns 0, or -1 when the thresholds are not
 * 0 < phi_suspect < phi_dead <= 30 or the ratio is not in [0, 1] (p then
 * keeps its old derived values). */
int detector_params_prepare(struct detector_params *p);

/* Starts (or restarts) from the prior: mean = interval, deviation = interval/4. */
void detector_reset(struct detector *d, uint32_t interval_ms, int64_t now_ms);

/* Records a heartbeat arriving at `now_ms`. A change of promised interval
 * re-seeds the prior. Arrivals earlier than the last one are ignored. A gap
 * that had crossed p's suspect threshold is also remembered as a pause. */
void detector_observe(struct detector *d, const struct detector_params *p, uint32_t interval_ms,
                      int64_t now_ms);

/* Suspicion level at `now_ms`; 0 while on time, grows with silence. */
double detector_phi(const struct detector *d, const struct detector_params *p, int64_t now_ms);

/* Monotonic times at which phi crosses the suspect and dead thresholds given
 * no further heartbeat. `dead_ms` includes the hard silence ceiling. */
int64_t detector_suspect_at(const struct detector *d, const struct detector_params *p);
int64_t detector_dead_at(const struct detector *d, const struct detector_params *p);

/* Moves the last arrival forward to `now_ms` without taking a sample: time the
 * observer could not see (its own link was down) is not held against anyone.
 * What the detector learnt (rhythm, pauses) is kept. */
void detector_rebase(struct detector *d, int64_t now_ms);

#endif
