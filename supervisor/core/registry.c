#include "registry.h"

#include "deadline_heap.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Open addressing with linear probing and backward-shift deletion: no
 * tombstones, so lookups stay short however many instances come and go. */
struct slot {
    uint32_t hash;
    void *item; /* struct service * or struct instance *; NULL = empty */
};

struct table {
    struct slot *slots;
    size_t mask;  /* capacity - 1, capacity a power of two */
    size_t used;
};

struct registry {
    struct table services_by_name;
    struct table instances_by_name;
    struct service **services; /* insertion order */
    size_t n_services;
    size_t cap_services;
    size_t n_instances;
    struct deadline_heap deadlines;
};

/* FNV-1a; `seed` chains an instance's hash onto its service's. */
static uint32_t hash_name(const char *s, uint32_t seed)
{
    uint32_t h = seed;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

#define FNV_BASIS 2166136261u

static int table_init(struct table *t, size_t capacity)
{
    t->slots = calloc(capacity, sizeof(*t->slots));
    if (t->slots == NULL)
        return -1;
    t->mask = capacity - 1;
    t->used = 0;
    return 0;
}

static int table_grow(struct table *t)
{
    struct table bigger;

    if (table_init(&bigger, (t->mask + 1) * 2) != 0)
        return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        size_t j;

        if (t->slots[i].item == NULL)
            continue;
        for (j = t->slots[i].hash & bigger.mask; bigger.slots[j].item != NULL; j = (j + 1) & bigger.mask)
            ;
        bigger.slots[j] = t->slots[i];
    }
    bigger.used = t->used;
    free(t->slots);
    *t = bigger;
    return 0;
}

/* Keeps the load factor under 1/2. Returns 0 or -1 (table unchanged). */
static int table_insert(struct table *t, uint32_t hash, void *item)
{
    size_t j;

    if ((t->used + 1) * 2 > t->mask + 1 && table_grow(t) != 0)
        return -1;
    for (j = hash & t->mask; t->slots[j].item != NULL; j = (j + 1) & t->mask)
        ;
    t->slots[j].hash = hash;
    t->slots[j].item = item;
    t->used++;
    return 0;
}

static void table_remove(struct table *t, void *item, uint32_t hash)
{
    size_t hole, j;

    for (hole = hash & t->mask; t->slots[hole].item != item; hole = (hole + 1) & t->mask)
        if (t->slots[hole].item == NULL)
            return;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (j = (hole + 1) & t->mask; t->slots[j].item != NULL; j = (j + 1) & t->mask) {
        size_t home = t->slots[j].hash & t->mask;

        if (((j - home) & t->mask) >= ((j - hole) & t->mask)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].item = NULL;
    t->used--;
}

int registry_create(struct registry **out)
{
    struct registry *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return -1;
    deadline_heap_init(&r->deadlines);
    if (table_init(&r->services_by_name, 64) != 0)
        goto out_free_registry;
    if (table_init(&r->instances_by_name, 256) != 0)
        goto out_free_services;
    *out = r;
    return 0;

out_free_services:
    free(r->services_by_name.slots);
out_free_registry:
    free(r);
    return -1;
}

void registry_destroy(struct registry *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_services; i++) {
        struct instance *inst = r->services[i]->first;

        while (inst != NULL) {
            struct instance *next = inst->next;

            free(inst);
            inst = next;
        }
        free(r->services[i]->depends_on);
        free(r->services[i]);
    }
    free(r->services);
    deadline_heap_free(&r->deadlines);
    free(r->services_by_name.slots);
    free(r->instances_by_name.slots);
    free(r);
}

struct service *registry_service(const struct registry *r, const char *name)
{
    const struct table *t = &r->services_by_name;
    uint32_t hash = hash_name(name, FNV_BASIS);

    for (size_t j = hash & t->mask; t->slots[j].item != NULL; j = (j + 1) & t->mask) {
        struct service *s = t->slots[j].item;

        if (t->slots[j].hash == hash && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

struct instance *registry_instance(const struct registry *r, const struct service *s,
                                   const char *name)
{
    const struct table *t = &r->instances_by_name;
    uint32_t hash = hash_name(name, s->hash);

    for (size_t j = hash & t->mask; t->slots[j].item != NULL; j = (j + 1) & t->mask) {
        struct instance *i = t->slots[j].item;

        if (t->slots[j].hash == hash && i->service == s && strcmp(i->name, name) == 0)
            return i;
    }
    return NULL;
}

struct service *registry_add_service(struct registry *r, const char *name)
{
    struct service *s;

    if (r->n_services == r->cap_services) {
        size_t cap = r->cap_services ? r->cap_services * 2 : 64;
        struct service **grown = realloc(r->services, cap * sizeof(*grown));

        if (grown == NULL)
            return NULL;
        r->services = grown;
        r->cap_services = cap;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->hash = hash_name(name, FNV_BASIS);
    if (table_insert(&r->services_by_name, s->hash, s) != 0) {
        free(s);
        return NULL;
    }
    r->services[r->n_services++] = s;
    return s;
}

struct instance *registry_add_instance(struct registry *r, struct service *s, const char *name)
{
    struct instance *i = calloc(1, sizeof(*i));

    if (i == NULL)
        return NULL;
    snprintf(i->name, sizeof(i->name), "%s", name);
    i->service = s;
    i->hash = hash_name(name, s->hash);
    i->heap_slot = UINT32_MAX;
    i->deadline_ms = NO_DEADLINE;
    policy_instance_init(&i->policy);
    if (table_insert(&r->instances_by_name, i->hash, i) != 0) {
        free(i);
        return NULL;
    }
    i->next = s->first;
    if (s->first != NULL)
        s->first->prev = i;
    s->first = i;
    s->n_instances++;
    s->count[INST_UNSPECIFIED]++;
    r->n_instances++;
    return i;
}

void registry_remove_instance(struct registry *r, struct instance *i)
{
    struct service *s = i->service;

    registry_schedule(r, i, NO_DEADLINE);
    table_remove(&r->instances_by_name, i, i->hash);
    if (i->prev != NULL)
        i->prev->next = i->next;
    else
        s->first = i->next;
    if (i->next != NULL)
        i->next->prev = i->prev;
    s->n_instances--;
    s->count[i->health]--;
    r->n_instances--;
    free(i);
}

void registry_remove_service(struct registry *r, struct service *s)
{
    table_remove(&r->services_by_name, s, s->hash);
    for (size_t k = 0; k < r->n_services; k++) {
        if (r->services[k] == s) {
            memmove(&r->services[k], &r->services[k + 1], (r->n_services - k - 1) * sizeof(*r->services));
            r->n_services--;
            break;
        }
    }
    free(s->depends_on);
    free(s);
}

size_t registry_service_count(const struct registry *r)
{
    return r->n_services;
}

struct service *registry_service_at(const struct registry *r, size_t index)
{
    return index < r->n_services ? r->services[index] : NULL;
}

size_t registry_instance_count(const struct registry *r)
{
    return r->n_instances;
}

/* ---- deadlines ---- */

void registry_schedule(struct registry *r, struct instance *i, int64_t deadline_ms)
{
    /* Cannot grow: it stays unscheduled (deadline_heap_set says so in
     * i->deadline_ms) and is judged again on its next heartbeat. */
    (void)deadline_heap_set(&r->deadlines, i, deadline_ms);
}

int64_t registry_next_deadline(const struct registry *r)
{
    const struct deadline_entry *top = deadline_heap_top(&r->deadlines);

    return top != NULL ? top->deadline_ms : NO_DEADLINE;
}

struct instance *registry_due(const struct registry *r, int64_t now_ms)
{
    const struct deadline_entry *top = deadline_heap_top(&r->deadlines);

    return top != NULL && top->deadline_ms <= now_ms ? top->instance : NULL;
}
