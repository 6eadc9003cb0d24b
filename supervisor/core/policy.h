/* The decision policy (DESIGN.md §6) as pure functions: restart backoff with
 * jitter, a bounded tally of restarts for crash loops (s6-permafailon), fence
 * epochs, the blast-radius budget and mass-silence detection.
 *
 * Each function works on plain data (one instance's policy record, a silence
 * window), the time and a caller-held PRNG; none reads a clock, allocates or
 * does I/O. decide.c decides *when* to ask (core/observer_private.h); this file says
 * *what* the answer is. */
#ifndef CORE_POLICY_H
#define CORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"

#define POLICY_NEVER INT64_MAX     /* no timer (equals NO_DEADLINE) */
#define POLICY_TALLY_MAX 16        /* restart times remembered per instance */
#define POLICY_SILENCE_BUCKETS 16  /* resolution of the mass-silence window */

/* Fleet-wide tunables. Every field left 0 takes its default (see
 * policy_config_resolve), so a zero-initialised config is the default one. */
struct policy_config {
    uint32_t backoff_initial_ms;  /* delay before the 2nd restart of a streak (default 1000) */
    uint32_t backoff_max_ms;      /* cap of the doubling delay, before jitter (default 60000) */
    double backoff_jitter;        /* each delay is scaled by 1 ± this, uniformly (default 0.2; < 1) */
    uint32_t stable_after_ms;     /* HEALTHY this long ends a restart streak (default 60000) */
    uint32_t max_concurrent;      /* actions in flight fleet-wide; 0 = max(1, 10 % of instances) */
    double mass_silence_ratio;    /* more than this fraction of healthy instances silent
                                     within one max interval = mass silence (default 0.25) */
    uint32_t mass_silence_min;    /* ...and at least this many instances (default 3) */
    uint32_t ack_timeout_ms;      /* an action unanswered this long is sent again (default 2000) */
    uint32_t ack_attempts;        /* sends before escalating "unacknowledged" (default 3) */
    uint32_t restart_timeout_ms;  /* accepted restart without a new incarnation this long
                                     has failed (default 30000) */
    uint32_t degraded_limit_ms;   /* DEGRADED this long gets a restart; 0 = never (default) */
    uint32_t self_preservation_max_ms; /* a mass silence holds actions at most this long, then
                                          they resume within the blast radius (default 300000) */
    uint64_t rng_seed;            /* jitter PRNG seed; the edge seeds it from random bytes */
};

/* The defaults: the one home of each, used by policy_config_default and by
 * the supervisor's config key table (policy.* keys). Plain literals, so the
 * table can take them as text. */
#define POLICY_DEFAULT_BACKOFF_INITIAL_MS 1000
#define POLICY_DEFAULT_BACKOFF_MAX_MS 60000
#define POLICY_DEFAULT_BACKOFF_JITTER 0.2
#define POLICY_DEFAULT_STABLE_AFTER_MS 60000
#define POLICY_DEFAULT_MAX_CONCURRENT 0
#define POLICY_DEFAULT_MASS_SILENCE_RATIO 0.25
#define POLICY_DEFAULT_MASS_SILENCE_MIN 3
#define POLICY_DEFAULT_ACK_TIMEOUT_MS 2000
#define POLICY_DEFAULT_ACK_ATTEMPTS 3
#define POLICY_DEFAULT_RESTART_TIMEOUT_MS 30000
#define POLICY_DEFAULT_DEGRADED_LIMIT_MS 0
#define POLICY_DEFAULT_SELF_PRESERVATION_MAX_S 300

/* Fills the defaults above (rng_seed 0: a fixed non-zero seed is used). */
void policy_config_default(struct policy_config *c);

/* `out` = `in` with every 0 (or out-of-range value: a ratio/jitter outside
 * (0, 1), a limit below 1) replaced by its default. `out` may equal `in`. */
void policy_config_resolve(struct policy_config *out, const struct policy_config *in);

/* Per-service policy, resolved: crashloop_max 1..POLICY_TALLY_MAX. */
#define POLICY_CRASHLOOP_MAX_DEFAULT 5
#define POLICY_CRASHLOOP_WINDOW_DEFAULT_MS 600000

/* ---- the PRNG: xorshift64* (Vigna), deterministic for a given seed ---- */

/* A usable state from any seed (0 maps to a fixed non-zero constant). */
uint64_t policy_rng_seed(uint64_t seed);
uint64_t policy_rng_next(uint64_t *state);

/* ---- one instance ---- */

/* Where an instance is in the decision cycle. At most one action per
 * instance exists at a time; `kind` in struct policy_instance says which. */
enum policy_phase {
    POLICY_IDLE = 0,    /* nothing planned */
    POLICY_PLANNED,     /* an action is due at the instance's next_action_ms (timer) */
    POLICY_HELD,        /* due, but a gate is closed; the instance's reason says which */
    POLICY_SENT,        /* handed to the edge, awaiting its ack (timer: ack timeout) */
    POLICY_RESTARTING,  /* restart accepted, awaiting a new incarnation (timer: restart timeout) */
    POLICY_FENCED,      /* fenced by this supervisor: no automatic action until it serves again */
    POLICY_GAVE_UP,     /* escalated (refused or unacknowledged): nothing until it is heard from */
};
#define POLICY_PHASE_COUNT 7

/* What made the policy plan an action. */
enum policy_trigger {
    POLICY_TRIGGER_NONE = 0,
    POLICY_TRIGGER_DEAD,      /* the instance died (or a restart of it failed) */
    POLICY_TRIGGER_DEGRADED,  /* DEGRADED past degraded_limit_ms */
    POLICY_TRIGGER_REFENCE,   /* a fenced instance heard from a new life (or serving without
                                 an UNFENCE): the fence is sent again */
    POLICY_TRIGGER_OPERATOR,  /* an operator's order (observer_operator) */
};

/* One instance's policy record: plain data, part of struct instance. */
struct policy_instance {
    int64_t restart_at[POLICY_TALLY_MAX]; /* ring: times restarts were issued */
    int64_t timer_ms;      /* when the observer must look again; POLICY_NEVER = not */
    uint64_t action_id;    /* the attempt in flight (phase SENT) */
    uint64_t fence_epoch;  /* highest fence epoch known: issued by us or ever reported */
    uint64_t fence_issued; /* epoch of the last FENCE this supervisor issued, 0 = none */
    uint32_t backoff_step; /* restarts in the current streak: 0 = the next is immediate */
    uint8_t tally_head;    /* next slot of restart_at */
    uint8_t tally_len;     /* slots used */
    uint8_t phase;         /* enum policy_phase */
    uint8_t kind;          /* enum core_action_kind planned or in flight; 0 = none */
    uint8_t trigger;       /* enum policy_trigger of the planned action */
    uint8_t attempt;       /* sends of the action in flight, 1.. */
    uint8_t persist_dirty; /* durable state changed but its write failed: retry it */
    uint8_t answer;        /* enum core_ack of the worst non-acceptance for the attempt in
                              flight (0 = none yet); decided at its ack timeout */
    uint8_t refence;       /* a fence of ours must be sent again (decide_refence) */
};

/* Properties of each phase, as data. */
bool policy_phase_in_flight(enum policy_phase p);   /* SENT, RESTARTING: holds a slot */
bool policy_phase_owns_health(enum policy_phase p); /* SENT, RESTARTING, FENCED: health is
                                                       the policy's, not the detector's */
bool policy_phase_pending(enum policy_phase p);     /* PLANNED, HELD: cancellable */

/* A fresh record: IDLE, no timer, empty tally. */
void policy_instance_init(struct policy_instance *p);

/* Delay before restart number `step` + 1 of a streak: 0 for step 0, then
 * initial × 2^(step-1) capped at backoff_max, scaled by 1 ± jitter (uniform,
 * drawn from `rng`). `c` is resolved. */
int64_t policy_backoff_ms(const struct policy_config *c, uint32_t step, uint64_t *rng);

/* Records a restart issued at `now_ms` (the oldest is dropped when full). */
void policy_tally_add(struct policy_instance *p, int64_t now_ms);

/* Restarts issued within the last `window_ms` (at most POLICY_TALLY_MAX). */
uint32_t policy_tally_count(const struct policy_instance *p, int64_t window_ms, int64_t now_ms);
/* Forgets every restart counted and ends the streak (an operator's UNFENCE
 * of a crash-loop fence starts the instance afresh). */
void policy_tally_clear(struct policy_instance *p);

/* The answer to a death. */
struct policy_verdict {
    enum core_action_kind kind; /* CORE_ACT_RESTART or CORE_ACT_FENCE */
    int64_t at_ms;              /* when: now for the first restart and for a fence */
    uint32_t restarts;          /* restarts in the window, for the reason */
};

/* After a death at `now_ms`: FENCE when `crashloop_max` restarts were already
 * issued within `window_ms` (the next would be one too many), else RESTART
 * after policy_backoff_ms of the current streak. Draws from `rng` only for a
 * delayed restart. */
struct policy_verdict policy_after_death(const struct policy_instance *p, const struct policy_config *c,
                                         uint32_t crashloop_max, int64_t window_ms, int64_t now_ms,
                                         uint64_t *rng);

/* A HEALTHY spell of `healthy_ms` ended: a long enough one ends the streak. */
void policy_healthy_spell(struct policy_instance *p, const struct policy_config *c, int64_t healthy_ms);

/* Epoch of a new FENCE (or UNFENCE): above both what the instance reports
 * having obeyed and what this supervisor issued before. */
uint64_t policy_next_fence_epoch(uint64_t reported, uint64_t issued);

/* Actions allowed in flight with `tracked` instances known. */
uint32_t policy_max_concurrent(const struct policy_config *c, size_t tracked);

/* ---- mass silence ---- */

/* A sliding count of instances that went silent together (DESIGN.md §6:
 * "within one interval"), by their last heartbeats, not by when their
 * silence was noticed: instances stopped at the same moment are noticed up
 * to an interval apart by phase alone, more where their thresholds differ.
 * An instance last heard at L stopped somewhere in [L, L + its gap], so two
 * that stopped within one interval were last heard up to one interval plus
 * a gap apart: the window is POLICY_SILENCE_WINDOW_INTERVALS intervals of
 * last heartbeats (erring, as a supervisor must, towards holding its
 * hand). Bucketed: it may include up to one bucket more than the window. */
#define POLICY_SILENCE_WINDOW_INTERVALS 2
struct policy_silence {
    int64_t bucket_ms;
    int64_t head_start_ms;
    uint32_t head;
    uint32_t count[POLICY_SILENCE_BUCKETS];
};

/* Empties it, for senders promising at most `interval_ms` (> 0) (a window
 * of POLICY_SILENCE_WINDOW_INTERVALS of them), starting at `now_ms`. */
void policy_silence_init(struct policy_silence *w, int64_t interval_ms, int64_t now_ms);
/* One instance's silence began at `began_ms`. Any order: a silence that
 * began more than the window before the latest noted is not counted. */
void policy_silence_note(struct policy_silence *w, int64_t began_ms);
/* Silences that began within the window ending at the later of `at_ms` and
 * the latest noted beginning. */
uint32_t policy_silence_count(struct policy_silence *w, int64_t at_ms);

/* True when `silenced` of `healthy_before` instances going silent at once is
 * mass silence: at least mass_silence_min and more than the ratio. */
bool policy_mass_silence(const struct policy_config *c, uint32_t silenced, uint32_t healthy_before);

#endif
