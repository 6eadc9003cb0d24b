/* A bounded single-producer single-consumer queue of decoded heartbeats,
 * in blocks: the hand-over from the bus reader (bus_loop.c), which decodes
 * the heartbeats, to the owner thread without a lock or a copy per heartbeat.
 *
 * The producer decodes straight into the slot hb_ring_slot gives it and
 * commits it with hb_ring_push (one release store); the consumer reads runs
 * of committed slots in place (hb_ring_run) and hands them back
 * (hb_ring_release). Blocks of HB_RING_BLOCK slots are linked as the
 * producer fills them and recycled as the consumer empties them: the only
 * lock guards the list of spare blocks, taken once per block, never per
 * heartbeat. Order is the producer's order.
 *
 * Bounds: at most `max` heartbeats wait (committed, not released); past that
 * hb_ring_slot answers NULL, as it does when a block cannot be allocated. At
 * most max / HB_RING_BLOCK + 2 blocks exist, and at most HB_RING_SPARE empty
 * ones are kept for reuse (the rest are freed).
 *
 * Threads: hb_ring_slot and hb_ring_push from one producer thread at a
 * time; hb_ring_committed, hb_ring_run and hb_ring_release from one consumer
 * thread at a time; init and fini with neither running. */
#ifndef FLEET_HB_RING_H
#define FLEET_HB_RING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "observer.h"

#define HB_RING_BLOCK 512   /* slots per block (~250 KiB) */
#define HB_RING_SPARE 8     /* empty blocks kept for reuse */

struct hb_block;

struct hb_ring {
    size_t max;                  /* heartbeats waiting at most */
    size_t max_blocks;
    /* Producer's. */
    struct hb_block *tail;       /* block being filled */
    size_t tail_used;            /* slots of `tail` committed */
    size_t pushed;               /* committed so far (its own copy of `committed`) */
    /* Consumer's. */
    struct hb_block *head;       /* block being read */
    size_t head_used;            /* slots of `head` released */
    size_t released;             /* released so far (its own copy of `consumed`) */
    /* Shared. */
    atomic_size_t committed;     /* written by the producer (release) */
    atomic_size_t consumed;      /* written by the consumer (release) */
    pthread_mutex_t spare_lock;  /* guards the rest */
    struct hb_block *spare;
    size_t n_spare;
    size_t n_blocks;             /* allocated, including spares */
};

/* Prepares an empty ring for at most `max` (>= 1) waiting heartbeats.
 * Returns 0, or -1 when out of memory (*r then needs no fini). */
int hb_ring_init(struct hb_ring *r, size_t max);
/* Frees every block; whatever still waits is dropped. */
void hb_ring_fini(struct hb_ring *r);

/* Producer: the slot the next heartbeat goes into, or NULL when `max` wait
 * already or a new block cannot be had. The slot is the producer's until
 * hb_ring_push; not pushing abandons it (the next call returns it again). */
struct hb_input *hb_ring_slot(struct hb_ring *r);
/* Producer: commits the slot of the last hb_ring_slot (which must not have
 * answered NULL). The consumer may see it from now on. */
void hb_ring_push(struct hb_ring *r);

/* Consumer: heartbeats committed and not yet released. */
size_t hb_ring_committed(struct hb_ring *r);
/* Consumer: the next run of committed slots, contiguous, at most `limit`
 * long, in order; *first points at it. Returns its length (0: nothing
 * committed). The slots stay valid until they are released. */
size_t hb_ring_run(struct hb_ring *r, size_t limit, const struct hb_input **first);
/* Consumer: hands back the first `n` slots of the last run (n <= its length). */
void hb_ring_release(struct hb_ring *r, size_t n);

#endif
