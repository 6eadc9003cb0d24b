#include "policy.h"

#include <string.h>

#define RNG_FALLBACK_SEED 0x9E3779B97F4A7C15ULL

void policy_config_default(struct policy_config *c)
{
    *c = (struct policy_config){
        .backoff_initial_ms = POLICY_DEFAULT_BACKOFF_INITIAL_MS,
        .backoff_max_ms = POLICY_DEFAULT_BACKOFF_MAX_MS,
        .backoff_jitter = POLICY_DEFAULT_BACKOFF_JITTER,
        .stable_after_ms = POLICY_DEFAULT_STABLE_AFTER_MS,
        .max_concurrent = POLICY_DEFAULT_MAX_CONCURRENT,
        .mass_silence_ratio = POLICY_DEFAULT_MASS_SILENCE_RATIO,
        .mass_silence_min = POLICY_DEFAULT_MASS_SILENCE_MIN,
        .ack_timeout_ms = POLICY_DEFAULT_ACK_TIMEOUT_MS,
        .ack_attempts = POLICY_DEFAULT_ACK_ATTEMPTS,
        .restart_timeout_ms = POLICY_DEFAULT_RESTART_TIMEOUT_MS,
        .degraded_limit_ms = POLICY_DEFAULT_DEGRADED_LIMIT_MS,
        .self_preservation_max_ms = POLICY_DEFAULT_SELF_PRESERVATION_MAX_S * 1000u,
        .rng_seed = 0,
    };
}

void policy_config_resolve(struct policy_config *out, const struct policy_config *in)
{
    struct policy_config d, c = *in;

    policy_config_default(&d);
    if (c.backoff_initial_ms == 0)
        c.backoff_initial_ms = d.backoff_initial_ms;
    if (c.backoff_max_ms == 0)
        c.backoff_max_ms = d.backoff_max_ms;
    if (c.backoff_max_ms < c.backoff_initial_ms)
        c.backoff_max_ms = c.backoff_initial_ms;
    if (!(c.backoff_jitter > 0.0 && c.backoff_jitter < 1.0))
        c.backoff_jitter = d.backoff_jitter;
    if (c.stable_after_ms == 0)
        c.stable_after_ms = d.stable_after_ms;
    if (!(c.mass_silence_ratio > 0.0 && c.mass_silence_ratio < 1.0))
        c.mass_silence_ratio = d.mass_silence_ratio;
    if (c.mass_silence_min == 0)
        c.mass_silence_min = d.mass_silence_min;
    if (c.ack_timeout_ms == 0)
        c.ack_timeout_ms = d.ack_timeout_ms;
    if (c.ack_attempts == 0)
        c.ack_attempts = d.ack_attempts;
    if (c.ack_attempts > UINT8_MAX)
        c.ack_attempts = UINT8_MAX;
    if (c.restart_timeout_ms == 0)
        c.restart_timeout_ms = d.restart_timeout_ms;
    if (c.self_preservation_max_ms == 0)
        c.self_preservation_max_ms = d.self_preservation_max_ms;
    *out = c;
}

/* ---- PRNG ---- */

uint64_t policy_rng_seed(uint64_t seed)
{
    return seed ? seed : RNG_FALLBACK_SEED;
}

uint64_t policy_rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [-1, 1), from the top 53 bits. */
static double rng_signed_unit(uint64_t *state)
{
    return (double)(policy_rng_next(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* ---- one instance ---- */

/* Phase properties, one row per enum policy_phase:
 *                       in flight  owns health  pending */
static const bool phase_props[POLICY_PHASE_COUNT][3] = {
    [POLICY_IDLE]       = { false, false, false },
    [POLICY_PLANNED]    = { false, false, true },
    [POLICY_HELD]       = { false, false, true },
    [POLICY_SENT]       = { true,  true,  false },
    [POLICY_RESTARTING] = { true,  true,  false },
    [POLICY_FENCED]     = { false, true,  false },
    [POLICY_GAVE_UP]    = { false, false, false },
};

bool policy_phase_in_flight(enum policy_phase p)
{
    return (unsigned)p < POLICY_PHASE_COUNT && phase_props[p][0];
}

bool policy_phase_owns_health(enum policy_phase p)
{
    return (unsigned)p < POLICY_PHASE_COUNT && phase_props[p][1];
}

bool policy_phase_pending(enum policy_phase p)
{
    return (unsigned)p < POLICY_PHASE_COUNT && phase_props[p][2];
}

void policy_instance_init(struct policy_instance *p)
{
    memset(p, 0, sizeof(*p));
    p->timer_ms = POLICY_NEVER;
}

int64_t policy_backoff_ms(const struct policy_config *c, uint32_t step, uint64_t *rng)
{
    int64_t base = c->backoff_initial_ms;
    double scaled;

    if (step == 0)
        return 0;
    for (uint32_t k = 1; k < step && base < (int64_t)c->backoff_max_ms; k++)
        base *= 2;
    if (base > (int64_t)c->backoff_max_ms)
        base = c->backoff_max_ms;
    scaled = (double)base * (1.0 + c->backoff_jitter * rng_signed_unit(rng));
    return scaled < 1.0 ? 1 : (int64_t)scaled;
}

void policy_tally_add(struct policy_instance *p, int64_t now_ms)
{
    p->restart_at[p->tally_head] = now_ms;
    p->tally_head = (uint8_t)((p->tally_head + 1) % POLICY_TALLY_MAX);
    if (p->tally_len < POLICY_TALLY_MAX)
        p->tally_len++;
}

void policy_tally_clear(struct policy_instance *p)
{
    p->tally_head = 0;
    p->tally_len = 0;
    p->backoff_step = 0;
}

uint32_t policy_tally_count(const struct policy_instance *p, int64_t window_ms, int64_t now_ms)
{
    uint32_t n = 0;

    for (uint32_t k = 0; k < p->tally_len; k++) {
        int64_t at = p->restart_at[(p->tally_head + POLICY_TALLY_MAX - 1 - k) % POLICY_TALLY_MAX];

        if (now_ms - at >= window_ms)
            break; /* newest first: the rest are older still */
        n++;
    }
    return n;
}

struct policy_verdict policy_after_death(const struct policy_instance *p, const struct policy_config *c,
                                         uint32_t crashloop_max, int64_t window_ms, int64_t now_ms,
                                         uint64_t *rng)
{
    struct policy_verdict v = { .kind = CORE_ACT_RESTART, .at_ms = now_ms };

    v.restarts = policy_tally_count(p, window_ms, now_ms);
    if (v.restarts >= crashloop_max) {
        v.kind = CORE_ACT_FENCE;
        return v;
    }
    v.at_ms = now_ms + policy_backoff_ms(c, p->backoff_step, rng);
    return v;
}

void policy_healthy_spell(struct policy_instance *p, const struct policy_config *c, int64_t healthy_ms)
{
    if (healthy_ms >= (int64_t)c->stable_after_ms)
        p->backoff_step = 0;
}

uint64_t policy_next_fence_epoch(uint64_t reported, uint64_t issued)
{
    return (reported > issued ? reported : issued) + 1;
}

uint32_t policy_max_concurrent(const struct policy_config *c, size_t tracked)
{
    size_t tenth = tracked / 10;

    if (c->max_concurrent != 0)
        return c->max_concurrent;
    if (tenth > UINT32_MAX)
        return UINT32_MAX;
    return tenth > 1 ? (uint32_t)tenth : 1;
}

/* ---- mass silence ---- */

void policy_silence_init(struct policy_silence *w, int64_t interval_ms, int64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    w->bucket_ms = POLICY_SILENCE_WINDOW_INTERVALS * interval_ms / POLICY_SILENCE_BUCKETS;
    if (w->bucket_ms < 1)
        w->bucket_ms = 1;
    w->head_start_ms = now_ms;
}

/* Rolls the ring forward so the head bucket covers `now_ms`. */
static void silence_advance(struct policy_silence *w, int64_t now_ms)
{
    int64_t steps;

    if (now_ms < w->head_start_ms + w->bucket_ms)
        return;
    steps = (now_ms - w->head_start_ms) / w->bucket_ms;
    if (steps >= POLICY_SILENCE_BUCKETS) {
        memset(w->count, 0, sizeof(w->count));
    } else {
        for (int64_t k = 0; k < steps; k++)
            w->count[(w->head + 1 + (uint32_t)k) % POLICY_SILENCE_BUCKETS] = 0;
    }
    w->head = (uint32_t)((w->head + (uint64_t)steps) % POLICY_SILENCE_BUCKETS);
    w->head_start_ms += steps * w->bucket_ms;
}

void policy_silence_note(struct policy_silence *w, int64_t began_ms)
{
    int64_t back;

    silence_advance(w, began_ms);
    if (began_ms >= w->head_start_ms) {
        w->count[w->head]++;
        return;
    }
    back = (w->head_start_ms - began_ms + w->bucket_ms - 1) / w->bucket_ms;
    if (back >= POLICY_SILENCE_BUCKETS)
        return;   /* began before the window: not together with these */
    w->count[(w->head + POLICY_SILENCE_BUCKETS - (uint32_t)back) % POLICY_SILENCE_BUCKETS]++;
}

uint32_t policy_silence_count(struct policy_silence *w, int64_t at_ms)
{
    uint32_t n = 0;

    silence_advance(w, at_ms);
    for (uint32_t k = 0; k < POLICY_SILENCE_BUCKETS; k++)
        n += w->count[k];
    return n;
}

bool policy_mass_silence(const struct policy_config *c, uint32_t silenced, uint32_t healthy_before)
{
    return silenced >= c->mass_silence_min && healthy_before > 0 &&
           (double)silenced > c->mass_silence_ratio * (double)healthy_before;
}
