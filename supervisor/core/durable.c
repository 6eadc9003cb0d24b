/* Durable state (persist.h): the on_persist write-ahead. A record is written
 * before the action that depends on it goes, and a change with no action
 * depending on it (a lift, a give-up, a streak reset) is written when it
 * happens or, after a failed write, retried at the store's retry time.
 * Leadership and restored records are lead.c's. */
#include "observer_private.h"

/* Whether this observer takes decisions at all: it can send actions and
 * leads (see observer.h). */
bool durable_deciding(const struct observer *o)
{
    return o->sink.on_action != NULL && o->leader;
}

/* Whether its decisions are made durable first. */
bool durable_persisting(const struct observer *o)
{
    return durable_deciding(o) && o->sink.on_persist != NULL;
}

/* ---- durable state (persist.h) ---- */

/* Whether `i`'s record says fenced: a FENCE of ours is in force or in
 * flight (it was written before it was sent), or is to be sent again to a
 * new life (held or planned). */
bool durable_fenced_now(const struct instance *i)
{
    const struct policy_instance *p = &i->policy;

    return p->phase == POLICY_FENCED ||
           (policy_phase_in_flight((enum policy_phase)p->phase) && p->kind == CORE_ACT_FENCE) ||
           (policy_phase_pending((enum policy_phase)p->phase) && p->kind == CORE_ACT_FENCE &&
            p->trigger == POLICY_TRIGGER_REFENCE);
}

void durable_set_persist_dirty(struct observer *o, struct instance *i, bool dirty)
{
    if (i->policy.persist_dirty == dirty)
        return;
    i->policy.persist_dirty = dirty;
    if (dirty)
        o->n_persist_dirty++;
    else
        o->n_persist_dirty--;
}

/* Whether a write may be tried at `now_ms`: not before the retry time after
 * a failure. */
bool durable_store_open(const struct observer *o, int64_t now_ms)
{
    return !o->store_down || now_ms >= o->store_retry_at_ms;
}

/* Hands `rec`, the whole durable state of `i`, to on_persist. On success
 * `i` is clean; on failure no write is tried for ack_timeout_ms. */
bool durable_store_put(struct observer *o, struct instance *i, const struct policy_persisted *rec,
                       int64_t now_ms)
{
    if (!o->sink.on_persist(o->sink.ctx, i->service, i, rec)) {
        o->store_down = true;
        o->store_retry_at_ms = now_ms + o->policy.ack_timeout_ms;
        return false;
    }
    o->store_down = false;
    durable_set_persist_dirty(o, i, false);
    return true;
}

/* The durable state of `i` changed with no action depending on it (a lift,
 * a give-up, a streak reset): write it now, or mark it to be retried. */
void durable_persist_state(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_persisted rec;

    if (!durable_persisting(o))
        return;
    if (!durable_store_open(o, now_ms)) {
        durable_set_persist_dirty(o, i, true);
        return;
    }
    persist_from_policy(&i->policy, durable_fenced_now(i), i->reason, o->unix_offset_ms, &rec);
    rec.restarts = i->restarts;
    if (!durable_store_put(o, i, &rec, now_ms))
        durable_set_persist_dirty(o, i, true);
}

/* The store's retry time came (or a write succeeded since marks were left):
 * writes every marked record until one fails, and lets held actions try
 * theirs. Afterwards nothing is marked, or the store is down with its retry
 * time in the future, so the deadline never stays in the past. */
void durable_store_retry(struct observer *o, int64_t now_ms)
{
    if (o->store_down) {
        if (now_ms < o->store_retry_at_ms)
            return;
        o->store_down = false;
        o->held_dirty = o->held.first != NULL;
    }
    if (o->n_persist_dirty == 0 || !durable_persisting(o))
        return;
    for (size_t k = 0; k < registry_service_count(o->registry) && !o->store_down; k++) {
        struct instance *i = registry_service_at(o->registry, k)->first;

        for (; i != NULL && !o->store_down; i = i->next)
            if (i->policy.persist_dirty)
                durable_persist_state(o, i, now_ms);
    }
}
