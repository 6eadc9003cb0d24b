#include "deadline_heap.h"

#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define ARITY 4
#define LINE_BYTES 64
/* entries[0] sits this many entries into the block, so the children of k,
 * entries[4k+1 .. 4k+4], start on a line: (4k + 1 + 3) * 16 = 64 (k + 1). */
#define ENTRY_SHIFT 3
#define FIRST_CAP 256

_Static_assert(sizeof(struct deadline_entry) * ARITY == LINE_BYTES, "four entries fill one cache line");

void deadline_heap_init(struct deadline_heap *h)
{
    memset(h, 0, sizeof(*h));
}

void deadline_heap_free(struct deadline_heap *h)
{
    free(h->block);
    deadline_heap_init(h);
}

static void place(struct deadline_heap *h, size_t slot, struct deadline_entry e)
{
    h->entries[slot] = e;
    e.instance->heap_slot = (uint32_t)slot;
}

static void sift_up(struct deadline_heap *h, size_t slot, struct deadline_entry e)
{
    while (slot > 0) {
        size_t parent = (slot - 1) / ARITY;

        if (h->entries[parent].deadline_ms <= e.deadline_ms)
            break;
        place(h, slot, h->entries[parent]);
        slot = parent;
    }
    place(h, slot, e);
}

static void sift_down(struct deadline_heap *h, size_t slot, struct deadline_entry e)
{
    for (;;) {
        size_t first = ARITY * slot + 1, end = first + ARITY, best;

        if (first >= h->len)
            break;
        if (end > h->len)
            end = h->len;
        best = first;
        for (size_t c = first + 1; c < end; c++)
            if (h->entries[c].deadline_ms < h->entries[best].deadline_ms)
                best = c;
        if (e.deadline_ms <= h->entries[best].deadline_ms)
            break;
        place(h, slot, h->entries[best]);
        slot = best;
    }
    place(h, slot, e);
}

/* Puts e at slot (whose old entry is gone), up or down as its key says. */
static void settle(struct deadline_heap *h, size_t slot, struct deadline_entry e)
{
    if (slot > 0 && e.deadline_ms < h->entries[(slot - 1) / ARITY].deadline_ms)
        sift_up(h, slot, e);
    else
        sift_down(h, slot, e);
}

static int grow(struct deadline_heap *h)
{
    size_t cap = h->cap ? h->cap * 2 : FIRST_CAP;
    size_t bytes = (cap + ENTRY_SHIFT) * sizeof(struct deadline_entry);
    void *block;

    if (cap >= UINT32_MAX) /* slots are uint32_t, UINT32_MAX meaning none */
        return -1;
    block = aligned_alloc(LINE_BYTES, (bytes + LINE_BYTES - 1) / LINE_BYTES * LINE_BYTES);
    if (block == NULL)
        return -1;
    if (h->len > 0)
        memcpy((struct deadline_entry *)block + ENTRY_SHIFT, h->entries, h->len * sizeof(*h->entries));
    free(h->block);
    h->block = block;
    h->entries = (struct deadline_entry *)block + ENTRY_SHIFT;
    h->cap = cap;
    return 0;
}

int deadline_heap_set(struct deadline_heap *h, struct instance *i, int64_t deadline_ms)
{
    size_t slot = i->heap_slot;

    i->deadline_ms = deadline_ms;
    if (slot != UINT32_MAX) {
        if (deadline_ms != NO_DEADLINE) {
            settle(h, slot, (struct deadline_entry){ deadline_ms, i });
            return 0;
        }
        i->heap_slot = UINT32_MAX;
        if (slot != --h->len)
            settle(h, slot, h->entries[h->len]);
        return 0;
    }
    if (deadline_ms == NO_DEADLINE)
        return 0;
    if (h->len == h->cap && grow(h) != 0) {
        i->deadline_ms = NO_DEADLINE;
        return -1;
    }
    sift_up(h, h->len++, (struct deadline_entry){ deadline_ms, i });
    return 0;
}
