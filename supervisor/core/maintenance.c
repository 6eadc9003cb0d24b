#include "observer_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The maintenance flag that holds `i`: its own, else its service's; NULL
 * if none. */
const struct maint_entry *maintenance_of(const struct observer *o, const struct instance *i)
{
    const struct maint_entry *svc = NULL;

    for (size_t k = 0; k < o->n_maint; k++) {
        const struct maint_entry *m = &o->maint[k];

        if (strcmp(m->service, i->service->name) != 0)
            continue;
        if (m->instance[0] == '\0')
            svc = m;
        else if (strcmp(m->instance, i->name) == 0)
            return m;
    }
    return svc;
}

void maintenance_reason(const struct maint_entry *m, char *why, size_t n)
{
    if (m->reason[0] != '\0')
        decide_reason_printf(why, n, "held: maintenance: %s", m->reason);
    else
        decide_reason_printf(why, n, "held: maintenance");
}

/* ---- maintenance ---- */

/* The flags covering `i` changed. Under one, a decision it needs (planned
 * or held for another gate) is held with the flag's reason; an action in
 * flight or a fence is left alone. Under none, a held decision, or a death
 * nothing was decided for, is judged afresh. Only a deciding observer has
 * decisions to move. */
static void maintenance_apply(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;
    const struct maint_entry *m = maintenance_of(o, i);
    char why[REASON_MAX];

    if (!durable_deciding(o))
        return;
    if (m != NULL) {
        if (policy_phase_pending((enum policy_phase)p->phase)) {
            maintenance_reason(m, why, sizeof(why));
            decide_hold(o, i, why, now_ms);
        }
        return;
    }
    if (p->phase != POLICY_HELD && !(p->phase == POLICY_IDLE && i->health == INST_DEAD))
        return;
    decide_cancel_pending(o, i);
    if (i->health == INST_DEAD)
        decide_on_death(o, i, now_ms);
    else if (i->health == INST_DEGRADED && o->policy.degraded_limit_ms != 0 && i->service->expected &&
             !i->service->restart_disabled)
        decide_plan(o, i, CORE_ACT_RESTART, POLICY_TRIGGER_DEGRADED, now_ms + o->policy.degraded_limit_ms,
                    now_ms);
    if (p->phase == POLICY_IDLE && strncmp(i->reason, "held: maintenance", 17) == 0)
        observer_transition(o, i, (enum inst_health)i->health, "maintenance lifted", now_ms);
    observer_reschedule(o, i, now_ms);
}

static bool name_fits(const char *name)
{
    size_t n = strlen(name);

    return n != 0 && n <= FLEET_NAME_MAX;
}

int observer_set_maintenance(struct observer *o, const char *service, const char *instance,
                             const char *reason, int64_t now_ms)
{
    const char *inst = instance != NULL ? instance : "";
    struct maint_entry *m = NULL;
    struct service *s;
    size_t k;

    if (!name_fits(service) || (instance != NULL && !name_fits(instance)) ||
        (reason != NULL && strlen(reason) > MAINT_REASON_MAX))
        return -1;
    for (k = 0; k < o->n_maint; k++)
        if (strcmp(o->maint[k].service, service) == 0 && strcmp(o->maint[k].instance, inst) == 0)
            break;
    if (k < o->n_maint)
        m = &o->maint[k];
    if (reason == NULL) {
        if (m == NULL)
            return 0;
        memmove(m, m + 1, (o->n_maint - k - 1) * sizeof(*m));
        o->n_maint--;
    } else if (m != NULL) {
        if (strcmp(m->reason, reason) == 0)
            return 0;
        snprintf(m->reason, sizeof(m->reason), "%s", reason);
    } else {
        if (o->n_maint == o->cap_maint) {
            size_t cap = o->cap_maint ? 2 * o->cap_maint : 4;
            struct maint_entry *grown = realloc(o->maint, cap * sizeof(*grown));

            if (grown == NULL)
                return -1;
            o->maint = grown;
            o->cap_maint = cap;
        }
        m = &o->maint[o->n_maint++];
        snprintf(m->service, sizeof(m->service), "%s", service);
        snprintf(m->instance, sizeof(m->instance), "%s", inst);
        snprintf(m->reason, sizeof(m->reason), "%s", reason);
    }
    s = registry_service(o->registry, service);
    if (s == NULL)
        return 0;
    if (instance != NULL) {
        struct instance *i = registry_instance(o->registry, s, instance);

        if (i != NULL)
            maintenance_apply(o, i, now_ms);
    } else {
        for (struct instance *i = s->first; i != NULL; i = i->next)
            maintenance_apply(o, i, now_ms);
    }
    s->dirty = true;
    return 0;
}

size_t observer_maintenance_count(const struct observer *o)
{
    return o->n_maint;
}

void observer_maintenance_at(const struct observer *o, size_t k, const char **service,
                             const char **instance, const char **reason)
{
    const struct maint_entry *m = &o->maint[k];

    *service = m->service;
    *instance = m->instance[0] != '\0' ? m->instance : NULL;
    *reason = m->reason;
}
