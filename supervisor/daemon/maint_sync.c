#include "maint_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/names.h"
#include "fleet/subjects.h"
#include "log.h"

struct maint_load {
    struct maint_flag *v;
    size_t n, cap;
    bool no_memory;
};

static void collect_maint(void *ctx, const char *service, const char *instance, const char *reason)
{
    struct maint_load *l = ctx;
    struct maint_flag *f;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct maint_flag *grown = realloc(l->v, cap * sizeof(*grown));

        if (grown == NULL) {
            l->no_memory = true;
            return;
        }
        l->v = grown;
        l->cap = cap;
    }
    f = &l->v[l->n++];
    snprintf(f->service, sizeof(f->service), "%s", service);
    snprintf(f->instance, sizeof(f->instance), "%s", instance != NULL ? instance : "");
    snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

/* The loaded flag for service/instance (NULL = whole service), or NULL. */
static const struct maint_flag *maint_find(const struct maint_load *l, const char *service, const char *instance)
{
    const char *inst = instance != NULL ? instance : "";

    for (size_t k = 0; k < l->n; k++)
        if (strcmp(l->v[k].service, service) == 0 && strcmp(l->v[k].instance, inst) == 0)
            return &l->v[k];
    return NULL;
}

int maint_sync_now(struct maint_sync *m, struct store *store, struct observer *obs, int64_t now_ms)
{
    struct maint_load l = { 0 };
    int rc = -1;

    m->next_ms = now_ms + MAINT_SYNC_PERIOD_MS;

    if (store_load_maintenance(store, collect_maint, &l) != 0 || l.no_memory) {
        if (!m->unread)
            log_kv(LOG_ERROR, "cannot read the maintenance flags; keeping the last ones read", "error",
                   l.no_memory ? "out of memory" : store_last_error(store), NULL);
        m->unread = true;
        goto out_free;
    }
    m->unread = false;
    for (size_t k = observer_maintenance_count(obs); k-- > 0;) {
        const char *svc, *inst, *why;
        char svc_copy[FLEET_NAME_MAX + 1], inst_copy[FLEET_NAME_MAX + 1];

        observer_maintenance_at(obs, k, &svc, &inst, &why);
        if (maint_find(&l, svc, inst) != NULL)
            continue;
        snprintf(svc_copy, sizeof(svc_copy), "%s", svc);
        snprintf(inst_copy, sizeof(inst_copy), "%s", inst != NULL ? inst : "");
        log_kv(LOG_WARN, "maintenance lifted", "service", svc_copy, "instance", inst_copy, NULL);
        observer_set_maintenance(obs, svc_copy, inst != NULL ? inst_copy : NULL, NULL, now_ms);
    }
    for (size_t k = 0; k < l.n; k++) {
        const struct maint_flag *f = &l.v[k];
        const char *inst = f->instance[0] != '\0' ? f->instance : NULL;
        bool same = false;

        for (size_t j = 0; j < observer_maintenance_count(obs) && !same; j++) {
            const char *svc, *oinst, *why;

            observer_maintenance_at(obs, j, &svc, &oinst, &why);
            same = strcmp(svc, f->service) == 0 && strcmp(oinst != NULL ? oinst : "", f->instance) == 0 &&
                   strcmp(why, f->reason) == 0;
        }
        if (same)
            continue;
        log_kv(LOG_WARN, "maintenance set: no restarts or fences", "service", f->service, "instance", f->instance,
               "reason", f->reason, NULL);
        if (observer_set_maintenance(obs, f->service, inst, f->reason, now_ms) != 0)
            log_kv(LOG_ERROR, "cannot record a maintenance flag: out of memory", "service", f->service, NULL);
    }
    rc = 0;

out_free:
    free(l.v);
    return rc;
}

void maint_sync_due(struct maint_sync *m, struct store *store, struct observer *obs, int64_t now_ms)
{
    if (now_ms >= m->next_ms)
        (void)maint_sync_now(m, store, obs, now_ms);
}
