/* The instances' deadlines as a 4-ary min-heap (registry.h's schedule).
 *
 * Why this shape: every heartbeat moves its instance's deadline later, and
 * the instance heard from now is the one whose deadline was earliest, so a
 * reschedule sifts from near the root to the bottom. With 100,000 instances
 * a binary heap of instance pointers took 17 levels and two instance reads
 * (cache misses) per level, about half the main thread's time at 20,000
 * heartbeats/s (BENCHMARKS.md §11). Here each entry carries its key, so a
 * level reads one cache line (the four children, kept line-aligned) and
 * touches only the instance that moves (to write its heap_slot): about 9
 * levels at 100,000.
 *
 * The heap does not own the instances; it writes instance->heap_slot
 * (UINT32_MAX when not in the heap) and instance->deadline_ms. One thread. */
#ifndef CORE_DEADLINE_HEAP_H
#define CORE_DEADLINE_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct instance;

struct deadline_entry {
    int64_t deadline_ms;
    struct instance *instance;
};

struct deadline_heap {
    struct deadline_entry *entries; /* entries[0] is the earliest; inside `block` */
    void *block;                    /* the allocation (entries sits 3 entries in) */
    size_t len;
    size_t cap;
};

/* An empty heap; needs no freeing until something is set. */
void deadline_heap_init(struct deadline_heap *h);
void deadline_heap_free(struct deadline_heap *h);

/* Inserts, moves or (with INT64_MAX) removes i, and sets i->deadline_ms.
 * Returns 0, or -1 when the heap cannot grow: i is then left out of the heap
 * with i->deadline_ms = INT64_MAX, and the heap is unchanged otherwise. */
int deadline_heap_set(struct deadline_heap *h, struct instance *i, int64_t deadline_ms);

/* The earliest entry, or NULL when empty. */
static inline const struct deadline_entry *deadline_heap_top(const struct deadline_heap *h)
{
    return h->len > 0 ? &h->entries[0] : NULL;
}

#endif
