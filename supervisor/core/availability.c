#include "availability.h"

#include <string.h>

static void ring_init(struct avail_ring *r, uint32_t count, int64_t bucket_ms, int64_t now_ms)
{
    memset(r, 0, sizeof(*r));
    r->count = count;
    r->bucket_ms = bucket_ms;
    r->head_start_ms = now_ms - now_ms % bucket_ms;
}

/* Moves the head forward so that it covers `t`, clearing skipped buckets. */
static void ring_advance(struct avail_ring *r, int64_t t)
{
    int64_t steps;

    if (t < r->head_start_ms + r->bucket_ms)
        return;
    steps = (t - r->head_start_ms) / r->bucket_ms;
    if (steps >= r->count) {
        memset(r->up_ms, 0, sizeof(r->up_ms));
        memset(r->observed_ms, 0, sizeof(r->observed_ms));
        r->head_start_ms += steps * r->bucket_ms;
        return;
    }
    for (int64_t i = 0; i < steps; i++) {
        r->head = (r->head + 1) % r->count;
        r->up_ms[r->head] = 0;
        r->observed_ms[r->head] = 0;
    }
    r->head_start_ms += steps * r->bucket_ms;
}

/* Adds the span [from, to) as up or down, bucket by bucket. */
static void ring_add(struct avail_ring *r, int64_t from, int64_t to, bool up)
{
    while (from < to) {
        int64_t end;

        ring_advance(r, from);
        end = r->head_start_ms + r->bucket_ms;
        if (end > to)
            end = to;
        r->observed_ms[r->head] += (uint32_t)(end - from);
        if (up)
            r->up_ms[r->head] += (uint32_t)(end - from);
        from = end;
    }
    ring_advance(r, to);
}

static double ring_ratio(const struct avail_ring *r, bool up_now)
{
    uint64_t up = 0, observed = 0;

    for (uint32_t i = 0; i < r->count; i++) {
        up += r->up_ms[i];
        observed += r->observed_ms[i];
    }
    if (observed == 0)
        return up_now ? 1.0 : 0.0;
    return (double)up / (double)observed;
}

void availability_init(struct availability *a, int64_t now_ms)
{
    ring_init(&a->hour, AVAIL_HOUR_BUCKETS, 60 * 1000, now_ms);
    ring_init(&a->day, AVAIL_DAY_BUCKETS, 15 * 60 * 1000, now_ms);
    a->last_ms = now_ms;
    a->up = false;
    a->observing = false;
}

static void integrate(struct availability *a, int64_t now_ms)
{
    if (now_ms <= a->last_ms)
        return;
    if (a->observing) {
        ring_add(&a->hour, a->last_ms, now_ms, a->up);
        ring_add(&a->day, a->last_ms, now_ms, a->up);
    } else {
        ring_advance(&a->hour, now_ms);
        ring_advance(&a->day, now_ms);
    }
    a->last_ms = now_ms;
}

void availability_update(struct availability *a, int64_t now_ms, bool up, bool observing)
{
    integrate(a, now_ms);
    a->up = up;
    a->observing = observing;
}

double availability_hour(struct availability *a, int64_t now_ms)
{
    integrate(a, now_ms);
    return ring_ratio(&a->hour, a->up);
}

double availability_day(struct availability *a, int64_t now_ms)
{
    integrate(a, now_ms);
    return ring_ratio(&a->day, a->up);
}
