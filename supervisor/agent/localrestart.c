/* Without a supervisor the agent restarts a dead child itself: presence is
 * "a FleetStatus within --supervisor-timeout-ms" (an agent that has heard
 * none since it started has no supervisor yet), and local restarts follow
 * runsv's and s6's rule, then back off:
 *   - the first death of a series restarts at once;
 *   - each further death after a life shorter than BACKOFF_STABLE_MS waits
 *     1 s, 2 s, 4 s ... 60 s, ±20 % jitter;
 *   - a life of BACKOFF_STABLE_MS or more ends the series.
 * So a crash loop never becomes a busy loop: at most two starts in a row
 * without a wait of 1 s or a life of 1 s between them. */
#include <sys/random.h>

#include "agent.h"

#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS 60000
#define BACKOFF_STABLE_MS 1000      /* runsv's: a life this long is no crash loop */
#define BACKOFF_JITTER_PERCENT 20

void presence_init(struct presence *p)
{
    pthread_mutex_init(&p->lock, NULL);
    p->last_ms = PRESENCE_NEVER;   /* none heard yet: absent until one is */
}

void presence_fini(struct presence *p)
{
    pthread_mutex_destroy(&p->lock);
}

void presence_seen(struct presence *p, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    if (now_ms > p->last_ms)
        p->last_ms = now_ms;
    pthread_mutex_unlock(&p->lock);
}

int64_t presence_last(struct presence *p)
{
    int64_t last;

    pthread_mutex_lock(&p->lock);
    last = p->last_ms;
    pthread_mutex_unlock(&p->lock);
    return last;
}

int64_t presence_absent_at(struct presence *p, int64_t timeout_ms)
{
    int64_t last = presence_last(p);

    return last == PRESENCE_NEVER ? INT64_MIN : last + timeout_ms;
}

int64_t backoff_next_ms(struct backoff *b, int64_t lived_ms)
{
    int64_t delay = BACKOFF_BASE_MS;
    uint32_t r = 0;

    if (lived_ms >= BACKOFF_STABLE_MS)
        b->deaths = 0;
    if (b->deaths++ == 0)
        return 0;                   /* the first death of a series: at once */
    for (unsigned i = 1; i < b->deaths - 1 && delay < BACKOFF_CAP_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_CAP_MS)
        delay = BACKOFF_CAP_MS;
    /* No randomness (never on Linux for 4 bytes): no jitter, still spaced. */
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        return delay;
    /* delay × (1 ± 0.20), uniformly */
    return delay + (int64_t)((int64_t)(r % (2 * BACKOFF_JITTER_PERCENT + 1)) - BACKOFF_JITTER_PERCENT) * delay / 100;
}
