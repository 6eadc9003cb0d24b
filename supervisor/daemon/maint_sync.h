/* Operators' maintenance flags (the state bucket's maint.* keys, store.h)
 * made the observer's: read when a leadership begins and then every
 * MAINT_SYNC_PERIOD_MS while leading, so a flag set or lifted in the bucket
 * takes effect within that.
 *
 * Threads: owner thread only; every call may make the store requests
 * store_load_maintenance makes, bounded as store.h says. */
#ifndef SUPERVISOR_MAINT_SYNC_H
#define SUPERVISOR_MAINT_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "observer.h"
#include "store.h"

#define MAINT_SYNC_PERIOD_MS 5000

/* Zero-initialised by its owner; no resources. */
struct maint_sync {
    int64_t next_ms;    /* when maint_sync_due reads again (monotonic) */
    bool unread;        /* the last read failed (logged once until one succeeds) */
};

/* Reads now: lifts the observer's flags that are gone from the bucket,
 * sets new or changed ones (each change logged), and schedules the next
 * read. Returns 0, or -1 when the bucket could not be read: the observer
 * then keeps the flags it had (never a partial view). */
int maint_sync_now(struct maint_sync *m, struct store *store, struct observer *obs, int64_t now_ms);

/* maint_sync_now when the period has passed since the last read; else
 * nothing. Failures are logged, the flags kept. */
void maint_sync_due(struct maint_sync *m, struct store *store, struct observer *obs, int64_t now_ms);

#endif
