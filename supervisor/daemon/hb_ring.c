#include "hb_ring.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct hb_block {
    struct hb_input slot[HB_RING_BLOCK];
    /* Set by the producer when it moves on to the next block, before any of
     * that block's slots is committed (so the release of `committed` covers
     * it); read by the consumer only for a block it has wholly released. */
    struct hb_block *next;
};

/* Blocks are mapped, not malloc'd: a freed block goes back to the system
 * at once. From the heap it would not: after the first free of a chunk this
 * size glibc raises its mmap threshold and serves later ones from the heap,
 * which keeps what a flood made it grow (a flood of made-up heartbeats
 * filling the ring would leave the supervisor's RSS up by the whole bound). */
static struct hb_block *block_alloc(void)
{
    void *b = mmap(NULL, sizeof(struct hb_block), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return b == MAP_FAILED ? NULL : b;
}

static void block_free(struct hb_block *b)
{
    if (b != NULL)
        munmap(b, sizeof(*b));
}

/* A block for the producer: a spare, or a new one within max_blocks. NULL
 * when neither. */
static struct hb_block *block_get(struct hb_ring *r)
{
    struct hb_block *b = NULL;

    pthread_mutex_lock(&r->spare_lock);
    if (r->spare != NULL) {
        b = r->spare;
        r->spare = b->next;
        r->n_spare--;
    } else if (r->n_blocks < r->max_blocks) {
        b = block_alloc();
        if (b != NULL)
            r->n_blocks++;
    }
    pthread_mutex_unlock(&r->spare_lock);
    if (b != NULL)
        b->next = NULL;
    return b;
}

/* Takes back a block the consumer has emptied: kept as a spare, or freed. */
static void block_put(struct hb_ring *r, struct hb_block *b)
{
    pthread_mutex_lock(&r->spare_lock);
    if (r->n_spare < HB_RING_SPARE) {
        b->next = r->spare;
        r->spare = b;
        r->n_spare++;
        b = NULL;
    } else {
        r->n_blocks--;
    }
    pthread_mutex_unlock(&r->spare_lock);
    block_free(b);
}

int hb_ring_init(struct hb_ring *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->max_blocks = max / HB_RING_BLOCK + 2;
    if (pthread_mutex_init(&r->spare_lock, NULL) != 0)
        return -1;
    r->head = r->tail = block_get(r);
    if (r->head == NULL) {
        pthread_mutex_destroy(&r->spare_lock);
        return -1;
    }
    atomic_init(&r->committed, 0);
    atomic_init(&r->consumed, 0);
    return 0;
}

void hb_ring_fini(struct hb_ring *r)
{
    struct hb_block *b = r->head;

    while (b != NULL) {
        struct hb_block *next = b->next;

        block_free(b);
        b = next;
    }
    for (b = r->spare; b != NULL;) {
        struct hb_block *next = b->next;

        block_free(b);
        b = next;
    }
    pthread_mutex_destroy(&r->spare_lock);
    memset(r, 0, sizeof(*r));
}

struct hb_input *hb_ring_slot(struct hb_ring *r)
{
    if (r->pushed - atomic_load_explicit(&r->consumed, memory_order_acquire) >= r->max)
        return NULL;
    if (r->tail_used == HB_RING_BLOCK) {
        struct hb_block *b = block_get(r);

        if (b == NULL)
            return NULL;
        r->tail->next = b;  /* published by the next push's release */
        r->tail = b;
        r->tail_used = 0;
    }
    return &r->tail->slot[r->tail_used];
}

void hb_ring_push(struct hb_ring *r)
{
    r->tail_used++;
    atomic_store_explicit(&r->committed, ++r->pushed, memory_order_release);
}

size_t hb_ring_committed(struct hb_ring *r)
{
    return atomic_load_explicit(&r->committed, memory_order_acquire) - r->released;
}

size_t hb_ring_run(struct hb_ring *r, size_t limit, const struct hb_input **first)
{
    size_t ready = hb_ring_committed(r), n;

    if (ready == 0 || limit == 0)
        return 0;
    if (r->head_used == HB_RING_BLOCK) {
        /* Wholly released, and a later slot is committed: the producer has
         * moved on and linked the next block before committing into it. */
        struct hb_block *done = r->head;

        r->head = done->next;
        r->head_used = 0;
        block_put(r, done);
    }
    n = HB_RING_BLOCK - r->head_used;
    if (n > ready)
        n = ready;
    if (n > limit)
        n = limit;
    *first = &r->head->slot[r->head_used];
    return n;
}

void hb_ring_release(struct hb_ring *r, size_t n)
{
    r->head_used += n;
    r->released += n;
    atomic_store_explicit(&r->consumed, r->released, memory_order_release);
}
