/* Operators' maintenance flags (observer_set_maintenance): kept as given,
 * looked up by the policy's gates (decide.c). */
#include "observer_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The flags covering `i` changed: the policy says what that moves
 * (decide_maintenance). */
static void maintenance_apply(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct decisions d;

    decisions_start(&d, o);
    decide_maintenance(o, i, now_ms, &d);
    apply_decisions(o, &d, now_ms);
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
    struct maint_flag *m = NULL;
    struct service *s;
    size_t k;

    if (!name_fits(service) || (instance != NULL && !name_fits(instance)) ||
        (reason != NULL && strlen(reason) > FLEET_KEPT_REASON_MAX))
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
            struct maint_flag *grown = realloc(o->maint, cap * sizeof(*grown));

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
    const struct maint_flag *m = &o->maint[k];

    *service = m->service;
    *instance = m->instance[0] != '\0' ? m->instance : NULL;
    *reason = m->reason;
}
