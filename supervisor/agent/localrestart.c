/* Without a supervisor the agent restarts a dead child itself: presence is
 * "a FleetStatus within --supervisor-timeout-ms", and local restarts are
 * spaced like the supervisor's (1 s doubling to 60 s, ±20 % jitter, reset
 * after 60 s up) so a crash loop never becomes a busy loop. */
#include <sys/random.h>

#include "agent.h"

#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS 60000
#define BACKOFF_RESET_AFTER_MS 60000
#define BACKOFF_JITTER_PERCENT 20

void presence_init(struct presence *p, int64_t now_ms)
{
    pthread_mutex_init(&p->lock, NULL);
    p->last_ms = now_ms;        /* start-up counts as seen: wait one timeout */
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

int64_t backoff_next_ms(struct backoff *b, int64_t lived_ms)
{
    int64_t delay = BACKOFF_BASE_MS;
    uint32_t r = 0;

    if (lived_ms >= BACKOFF_RESET_AFTER_MS)
        b->deaths = 0;
    for (unsigned i = 0; i < b->deaths && delay < BACKOFF_CAP_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_CAP_MS)
        delay = BACKOFF_CAP_MS;
    b->deaths++;
    /* No randomness (never on Linux for 4 bytes): no jitter, still spaced. */
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        return delay;
    /* delay × (1 ± 0.20), uniformly */
    return delay + (int64_t)((int64_t)(r % (2 * BACKOFF_JITTER_PERCENT + 1)) - BACKOFF_JITTER_PERCENT) * delay / 100;
}
