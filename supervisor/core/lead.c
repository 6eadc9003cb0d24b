/* Who decides (DESIGN.md §8) and what a previous leader left: the entries
 * for leadership (observer_set_leader, observer_set_observing) and for
 * restored records (observer_restore). Losing the lead drops every decision
 * in progress; gaining it warms up, then judges every instance left DEAD
 * (lead_sweep_dead) by asking the policy. */
#include "observer_private.h"

#include <stdio.h>

/* ---- leadership ---- */

/* A new leadership reached NORMAL: every instance DEAD with nothing
 * planned (it died while this observer was a standby, which plans nothing)
 * gets the policy's answer now, from its restored record. */
void lead_sweep_dead(struct observer *o, int64_t now_ms)
{
    o->sweep_dead = false;
    if (!state_acts(o))
        return;
    for (size_t k = 0; k < registry_service_count(o->registry); k++) {
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next) {
            if (i->health == INST_DEAD && i->policy.phase == POLICY_IDLE) {
                struct decisions d;

                decisions_start(&d, o);
                decide_death(o, i, now_ms, &d);
                apply_decisions(o, &d, now_ms);
            }
        }
    }
}

/* Drops every decision of `i` in progress for a standby: plans and holds
 * go, an action in flight is forgotten (a FENCE as in force, as its record
 * says; a restart's instance is left to its next heartbeat). */
static void abandon_decisions(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;

    if (policy_phase_in_flight((enum policy_phase)p->phase)) {
        /* An UNFENCE in flight leaves the fence in force: its record says so. */
        bool fence = p->kind == CORE_ACT_FENCE || p->kind == CORE_ACT_UNFENCE;

        apply_finish_flight(o, i);
        p->phase = fence ? POLICY_FENCED : POLICY_IDLE;
        p->kind = 0;
    } else {
        apply_cancel_pending(o, i);
    }
    writeahead_set_dirty(o, i, false);
    apply_reschedule(o, i, now_ms);
}

/* Stops deciding: every decision in progress is dropped (a standby's or an
 * observer's records would be stale), detection goes on. */
static void stop_deciding(struct observer *o, int64_t now_ms)
{
    rollout_drop_all(o, "this supervisor no longer leads", now_ms);
    o->leader = false;
    for (size_t k = 0; k < registry_service_count(o->registry); k++)
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next)
            abandon_decisions(o, i, now_ms);
    o->held_dirty = false;
    o->sweep_dead = false;
    o->store_down = false;
}

static void become_standby(struct observer *o, const char *why, int64_t now_ms)
{
    if (o->leader)
        stop_deciding(o, now_ms);
    apply_set_state(o, OBSERVER_STANDBY, why, now_ms);
}

void observer_set_leader(struct observer *o, bool leader, uint64_t term, int64_t now_ms)
{
    char reason[128];

    o->term = term;
    if (leader == o->leader && (leader || o->blind != BLIND_AUTHORITY))
        return;
    if (!leader) {
        become_standby(o, "standby: another supervisor leads", now_ms);
        return;
    }
    o->leader = true;
    o->sweep_dead = true;
    if (!o->link_up) {
        o->blind = BLIND_LINK;
        apply_set_state(o, OBSERVER_SELF_PRESERVATION, "own NATS link down", now_ms);
        return;
    }
    o->warm_from_ms = now_ms;
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    snprintf(reason, sizeof(reason), "leader (term %llu): warming up", (unsigned long long)term);
    apply_set_state(o, OBSERVER_WARMING_UP, reason, now_ms);
}

void observer_await_lease(struct observer *o, int64_t now_ms)
{
    o->term = 0;
    become_standby(o, "standby: waiting for the leader lease", now_ms);
}

void observer_set_observing(struct observer *o, const char *why, int64_t now_ms)
{
    if (o->leader)
        stop_deciding(o, now_ms);
    o->term = 0;
    apply_set_state(o, OBSERVER_SELF_PRESERVATION, why, now_ms);
    o->blind = BLIND_AUTHORITY;
}

uint64_t observer_max_term_seen(const struct observer *o)
{
    return o->max_term_seen;
}

void observer_store_retry_now(struct observer *o, int64_t now_ms)
{
    if (o->store_down)
        o->store_retry_at_ms = now_ms;
    o->held_dirty = o->held.first != NULL;
}

bool observer_is_leader(const struct observer *o, uint64_t *term)
{
    if (term != NULL)
        *term = o->term;
    return o->leader;
}

void observer_set_unix_offset(struct observer *o, int64_t unix_offset_ms)
{
    o->unix_offset_ms = unix_offset_ms;
}

int observer_restore(struct observer *o, const char *service, const char *instance,
                     const struct policy_persisted *p, int64_t now_ms, int64_t unix_offset_ms)
{
    struct service *s;
    struct instance *i;
    struct policy_instance *pi;

    if (!persist_valid(p) || unix_offset_ms > PERSIST_UNIX_MS_MAX || unix_offset_ms < -PERSIST_UNIX_MS_MAX)
        return -1;
    s = registry_service(o->registry, service);
    if (s == NULL || !s->expected)
        return 0;
    i = registry_instance(o->registry, s, instance);
    if (i == NULL) {
        i = registry_add_instance(o->registry, s, instance);
        if (i == NULL)
            return -1;
        i->last_seen_ms = now_ms; /* forgotten forget_after_ms from now if never heard */
        i->health_since_ms = now_ms;
        s->dirty = true;
    }
    pi = &i->policy;
    persist_to_policy(p, now_ms, unix_offset_ms, pi);
    if (p->restarts > i->restarts)
        i->restarts = p->restarts;   /* the count on the feed outlives the supervisor */
    if (policy_phase_in_flight((enum policy_phase)pi->phase)) {
        /* Our own action is out: it decides, not an older record. */
    } else if (p->fenced) {
        char reason[REASON_MAX];

        apply_cancel_pending(o, i);
        pi->phase = POLICY_FENCED;
        pi->kind = 0;
        snprintf(reason, sizeof(reason), "%s", p->fence_reason[0] ? p->fence_reason : "fenced");
        apply_transition(o, i, INST_FENCED, reason, now_ms);
    } else if (pi->phase == POLICY_FENCED) {
        pi->phase = POLICY_IDLE;
    }
    apply_reschedule(o, i, now_ms);
    return 0;
}
