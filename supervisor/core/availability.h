/* Rolling availability of one service over the last hour and day.
 *
 * Time is integrated into fixed buckets (60 × 1 min, 96 × 15 min): O(1)
 * memory and O(1) per update. Only observed time counts: while the observer
 * cannot judge (warming up, its own link down) nothing is added, so a
 * supervisor restart does not read as an outage. */
#ifndef CORE_AVAILABILITY_H
#define CORE_AVAILABILITY_H

#include <stdbool.h>
#include <stdint.h>

#define AVAIL_HOUR_BUCKETS 60
#define AVAIL_DAY_BUCKETS 96

struct avail_ring {
    int64_t bucket_ms;     /* width of one bucket */
    int64_t head_start_ms; /* start of the newest bucket */
    uint32_t head;         /* index of the newest bucket */
    uint32_t count;        /* buckets in the ring */
    uint32_t up_ms[AVAIL_DAY_BUCKETS];       /* available time per bucket */
    uint32_t observed_ms[AVAIL_DAY_BUCKETS]; /* judged time per bucket */
};

struct availability {
    struct avail_ring hour;
    struct avail_ring day;
    int64_t last_ms;  /* time integrated up to */
    bool up;          /* state since last_ms */
    bool observing;   /* whether time since last_ms counts */
};

/* Starts empty at `now_ms`, not observing. */
void availability_init(struct availability *a, int64_t now_ms);

/* Integrates up to `now_ms` under the previous state, then takes the new
 * state: `up` (service AVAILABLE) and `observing` (the observer can judge). */
void availability_update(struct availability *a, int64_t now_ms, bool up, bool observing);

/* Fraction of observed time in the last hour/day that was up, after
 * integrating to `now_ms`. With no observed time it is 1.0 when up now, else 0. */
double availability_hour(struct availability *a, int64_t now_ms);
double availability_day(struct availability *a, int64_t now_ms);

#endif
