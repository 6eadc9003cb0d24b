/* Durable state (persist.h): the on_persist write-ahead. A record is written
 * before the action that depends on it goes (apply.c), and a change with no
 * action depending on it (a lift, a give-up, a streak reset) is written when
 * it happens or, after a failed write, retried at the store's retry time.
 * Leadership and restored records are lead.c's. */
#include "observer_private.h"

void writeahead_set_dirty(struct observer *o, struct instance *i, bool dirty)
{
    if (i->policy.persist_dirty == dirty)
        return;
    i->policy.persist_dirty = dirty;
    if (dirty)
        o->n_persist_dirty++;
    else
        o->n_persist_dirty--;
}

/* Hands `rec`, the whole durable state of `i`, to on_persist. On success
 * `i` is clean; on failure no write is tried for ack_timeout_ms. */
bool writeahead_store_put(struct observer *o, struct instance *i, const struct policy_persisted *rec,
                       int64_t now_ms)
{
    if (!o->sink.on_persist(o->sink.ctx, i->service, i, rec)) {
        o->store_down = true;
        o->store_retry_at_ms = now_ms + o->policy.ack_timeout_ms;
        return false;
    }
    o->store_down = false;
    writeahead_set_dirty(o, i, false);
    return true;
}

/* The durable state of `i` changed with no action depending on it (a lift,
 * a give-up, a streak reset): write it now, or mark it to be retried. */
void writeahead_persist_state(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_persisted rec;

    if (!state_persists(o))
        return;
    if (!state_store_open(o, now_ms)) {
        writeahead_set_dirty(o, i, true);
        return;
    }
    persist_from_policy(&i->policy, state_record_fenced(i), i->reason, o->unix_offset_ms, &rec);
    rec.restarts = i->restarts;
    if (!writeahead_store_put(o, i, &rec, now_ms))
        writeahead_set_dirty(o, i, true);
}

/* The store's retry time came (or a write succeeded since marks were left):
 * writes every marked record until one fails, and lets held actions try
 * theirs. Afterwards nothing is marked, or the store is down with its retry
 * time in the future, so the deadline never stays in the past. */
void writeahead_store_retry(struct observer *o, int64_t now_ms)
{
    if (o->store_down) {
        if (now_ms < o->store_retry_at_ms)
            return;
        o->store_down = false;
        o->held_dirty = o->held.first != NULL;
    }
    if (o->n_persist_dirty == 0 || !state_persists(o))
        return;
    for (size_t k = 0; k < registry_service_count(o->registry) && !o->store_down; k++) {
        struct instance *i = registry_service_at(o->registry, k)->first;

        for (; i != NULL && !o->store_down; i = i->next)
            if (i->policy.persist_dirty)
                writeahead_persist_state(o, i, now_ms);
    }
}
