/* fleet-sim's scheduler: a binary min-heap of timed events, so one thread
 * serves any number of instances at O(log n) per event. */
#ifndef SIM_SCHED_H
#define SIM_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sim_event_kind {
    EV_SEND,  /* the instance's next heartbeat is due */
    EV_STOP,  /* its crash / hang / exit takes effect */
    EV_FLAP,  /* its flap toggles between up and down */
};

struct sim_event {
    int64_t due_ms;     /* monotonic */
    uint32_t instance;  /* index into the fleet */
    enum sim_event_kind kind;
};

struct sim_sched {
    struct sim_event *heap; /* owned; n used of cap */
    size_t n, cap;
};

/* Adds `ev`. Returns 0, or -1 when out of memory (nothing changed). */
int sim_sched_push(struct sim_sched *s, struct sim_event ev);

/* Removes the earliest event into `*out` when it is due at `now_ms`. */
bool sim_sched_pop_due(struct sim_sched *s, int64_t now_ms, struct sim_event *out);

/* Due time of the earliest event, INT64_MAX when there is none. */
int64_t sim_sched_next_due(const struct sim_sched *s);

/* Frees the heap; `s` is empty afterwards. */
void sim_sched_fini(struct sim_sched *s);

#endif
