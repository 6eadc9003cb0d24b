/* Clocks in milliseconds, for libfleet and the daemon's edges (private to
 * the project: not part of libfleet's public API). Monotonic time is for
 * deadlines and intervals; wall time only for what goes on the wire. */
#ifndef FLEET_MSTIME_H
#define FLEET_MSTIME_H

#include <stdint.h>
#include <time.h>

static inline int64_t mstime_of(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC in ms. */
static inline int64_t mstime_mono(void)
{
    return mstime_of(CLOCK_MONOTONIC);
}

/* CLOCK_REALTIME (Unix time) in ms. */
static inline int64_t mstime_wall(void)
{
    return mstime_of(CLOCK_REALTIME);
}

#endif
