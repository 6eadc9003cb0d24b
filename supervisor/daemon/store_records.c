/* Per-instance records and maintenance flags in the state bucket, and the
 * admin nonces in theirs (store.h), records written compare-and-set against
 * the revision last seen. */
#include "store_private.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet/control.h"
#include "fleet/names.h"
#include "fleet/subjects.h"
#include "log.h"

#define REVMAP_MIN_SLOTS 64

static int make_key(char *out, size_t n, const char *service, const char *instance)
{
    if (service == NULL || instance == NULL || !fleet_name_valid(service) ||
        !fleet_name_valid(instance))
        return -1;
    snprintf(out, n, FLEET_KV_INSTANCE_PREFIX "%s.%s", service, instance);
    return 0;
}

/* ---- revision map ---- */

static uint64_t hash_key(const char *k)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

    for (; *k != '\0'; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

static struct rev_entry **revmap_link(struct revmap *m, const char *key)
{
    struct rev_entry **p;

    if (m->nslots == 0)
        return NULL;
    for (p = &m->slots[hash_key(key) & (m->nslots - 1)]; *p != NULL; p = &(*p)->next)
        if (strcmp((*p)->key, key) == 0)
            return p;
    return p;
}

/* True and *rev when the key's revision is known. */
static bool revmap_get(struct revmap *m, const char *key, uint64_t *rev)
{
    struct rev_entry **p = revmap_link(m, key);

    if (p == NULL || *p == NULL)
        return false;
    *rev = (*p)->rev;
    return true;
}

static int revmap_grow(struct revmap *m)
{
    size_t n = m->nslots == 0 ? REVMAP_MIN_SLOTS : m->nslots * 2;
    struct rev_entry **slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < m->nslots; i++) {
        struct rev_entry *e = m->slots[i], *next;

        for (; e != NULL; e = next) {
            size_t at = hash_key(e->key) & (n - 1);

            next = e->next;
            e->next = slots[at];
            slots[at] = e;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
    return 0;
}

/* Returns 0, or -1 when out of memory (the map then does not know the key). */
static int revmap_set(struct revmap *m, const char *key, uint64_t rev)
{
    struct rev_entry **p;
    size_t klen = strlen(key);

    if (m->count >= m->nslots && revmap_grow(m) != 0) {
        p = revmap_link(m, key);
        if (p != NULL && *p != NULL) {   /* cannot grow, but can update */
            (*p)->rev = rev;
            return 0;
        }
        return -1;
    }
    p = revmap_link(m, key);
    if (*p == NULL) {
        *p = malloc(sizeof(**p) + klen + 1);
        if (*p == NULL)
            return -1;
        (*p)->next = NULL;
        memcpy((*p)->key, key, klen + 1);
        m->count++;
    }
    (*p)->rev = rev;
    return 0;
}

static void revmap_del(struct revmap *m, const char *key)
{
    struct rev_entry **p = revmap_link(m, key), *e;

    if (p == NULL || *p == NULL)
        return;
    e = *p;
    *p = e->next;
    free(e);
    m->count--;
}

static void revmap_clear(struct revmap *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        struct rev_entry *e = m->slots[i], *next;

        for (; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
        m->slots[i] = NULL;
    }
    m->count = 0;
}

void store_revmap_free(struct revmap *m)
{
    revmap_clear(m);
    free(m->slots);
    m->slots = NULL;
    m->nslots = 0;
}

/* ---- per-instance state ---- */

/* After a compare-and-set conflict on `key`: reads what is stored now, so
 * that the caller can decide again from it and the next write goes against
 * its revision. Returns 0, or -1 when it cannot be read (the revision is
 * then forgotten: the next write tries a create and conflicts again). */
static int reread(struct store *s, const char *key)
{
    kvEntry *e = NULL;
    natsStatus st = kvStore_Get(&e, s->state, key);

    free(s->conflict);
    s->conflict = NULL;
    s->conflict_len = 0;
    if (st == NATS_NOT_FOUND && !store_is_js_gone(st, 0))
        return revmap_set(&s->revs, key, 0);   /* deleted from outside: a create comes next */
    if (st != NATS_OK) {
        revmap_del(&s->revs, key);
        return -1;
    }
    if (kvEntry_ValueLen(e) > 0) {
        s->conflict = malloc((size_t)kvEntry_ValueLen(e));
        if (s->conflict == NULL) {
            kvEntry_Destroy(e);
            revmap_del(&s->revs, key);
            return -1;
        }
        memcpy(s->conflict, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
        s->conflict_len = (size_t)kvEntry_ValueLen(e);
    }
    if (revmap_set(&s->revs, key, kvEntry_Revision(e)) != 0)
        revmap_del(&s->revs, key);
    kvEntry_Destroy(e);
    return 0;
}

enum store_write store_put_instance(struct store *s, const char *service, const char *instance,
                                    const void *data, size_t len)
{
    char key[FLEET_KV_KEY_MAX];
    uint64_t last = 0, rev = 0;
    bool known;
    natsStatus st;

    if (make_key(key, sizeof(key), service, instance) != 0 || len > INT_MAX) {
        store_set_error(s, NATS_OK, "store_put_instance: invalid service/instance name or value too large");
        return STORE_FAILED;
    }
    if (!store_writable(s, key))
        return STORE_FAILED;
    known = revmap_get(&s->revs, key, &last);
    if (known && last != 0)
        st = kvStore_Update(&rev, s->state, key, data, (int)len, last);
    else
        st = kvStore_Create(&rev, s->state, key, data, (int)len);
    if (st == NATS_OK) {
        if (revmap_set(&s->revs, key, rev) != 0)
            log_kv(LOG_WARN, "store: out of memory recording a revision: the next write of this key "
                             "will conflict and re-read it", "key", key, NULL);
        return STORE_WRITTEN;
    }
    if (store_is_conflict(st, 0)) {
        store_set_error(s, st, "%s was written by someone else since revision %" PRIu64
                               " (another supervisor, or by hand): re-read", key, last);
        log_kv(LOG_WARN, "store: compare-and-set conflict: re-reading the record to decide again", "key", key,
               "error", s->error, NULL);
        return reread(s, key) == 0 ? STORE_CONFLICT : STORE_FAILED;
    }
    store_set_error(s, st, "cannot write %s to KV bucket %s", key, s->state_bucket);
    if (store_is_js_gone(st, 0))
        store_become_degraded(s, s->error);
    return STORE_FAILED;
}

void store_conflict_record(const struct store *s, const void **data, size_t *len)
{
    *data = s->conflict;
    *len = s->conflict_len;
}

int store_delete_instance(struct store *s, const char *service, const char *instance)
{
    char key[FLEET_KV_KEY_MAX];
    uint64_t last = 0;
    jsErrCode jerr = 0;
    natsStatus st;

    if (make_key(key, sizeof(key), service, instance) != 0) {
        store_set_error(s, NATS_OK, "store_delete_instance: invalid service/instance name");
        return -1;
    }
    if (!store_writable(s, key))
        return -1;
    if (!revmap_get(&s->revs, key, &last)) {
        if (s->loaded)
            return 0;   /* known absent: the last load did not see it */
        store_set_error(s, NATS_OK, "%s: revision unknown: call store_load_all before deleting", key);
        return -1;
    }
    if (last == 0)
        return 0;
    st = store_publish_marker(s, s->state_bucket, key, false, last, &jerr);
    if (st == NATS_OK) {
        revmap_set(&s->revs, key, 0);   /* updates in place: cannot fail */
        return 0;
    }
    if (store_is_conflict(st, jerr)) {
        store_set_error(s, st, "%s was written by someone else since revision %" PRIu64
                         ": not deleted; reload with store_load_all", key, last);
        revmap_del(&s->revs, key);
        return -1;
    }
    store_set_error(s, st, "cannot delete %s from KV bucket %s", key, s->state_bucket);
    if (store_is_js_gone(st, jerr))
        store_become_degraded(s, s->error);
    return -1;
}

/* Splits "inst.<service>.<instance>" in place; false for any other key. */
static bool split_key(char *key, const char **service, const char **instance)
{
    char *svc, *dot;

    if (strncmp(key, FLEET_KV_INSTANCE_PREFIX, strlen(FLEET_KV_INSTANCE_PREFIX)) != 0)
        return false;
    svc = key + strlen(FLEET_KV_INSTANCE_PREFIX);
    dot = strchr(svc, '.');
    if (dot == NULL)
        return false;
    *dot = '\0';
    if (!fleet_name_valid(svc) || !fleet_name_valid(dot + 1))
        return false;
    *service = svc;
    *instance = dot + 1;
    return true;
}

/* Reads the last value of every key under `prefix` in the state bucket (an
 * ordered consumer; a NULL entry marks the end of the initial values) and
 * hands each entry to visit(), which owns nothing and may return -1 (error
 * set) to stop. `what` names the data in errors. Returns 0, or -1 with the
 * error set; a JetStream that is gone makes the store degraded. */
static int load_prefix(struct store *s, const char *prefix, const char *what,
                       int (*visit)(struct store *s, kvEntry *e, void *arg), void *arg)
{
    kvWatcher *w = NULL;
    kvWatchOptions wo;
    natsStatus st;
    char subject[64];
    int ret = -1;

    if (!s->available) {
        store_set_error(s, NATS_OK, "reading %s: JetStream unavailable: %s", what, s->reason);
        return -1;
    }
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    snprintf(subject, sizeof(subject), "%s>", prefix);
    st = kvStore_Watch(&w, s->state, subject, &wo);
    if (st != NATS_OK) {
        store_set_error(s, st, "cannot read %s from KV bucket %s", what, s->state_bucket);
        if (store_is_js_gone(st, 0))
            store_become_degraded(s, s->error);
        return -1;
    }
    for (;;) {
        kvEntry *e = NULL;
        int rc;

        st = kvWatcher_Next(&e, w, STORE_TIMEOUT_MS);
        if (st != NATS_OK) {
            store_set_error(s, st, "reading %s from KV bucket %s stalled", what, s->state_bucket);
            goto out_destroy_watcher;
        }
        if (e == NULL)
            break;
        rc = visit(s, e, arg);
        kvEntry_Destroy(e);
        if (rc != 0)
            goto out_destroy_watcher;
    }
    ret = 0;

out_destroy_watcher:
    kvWatcher_Destroy(w);
    return ret;
}

struct instance_visit {
    void (*each)(void *ctx, const char *service, const char *instance, const void *data, size_t len);
    void *ctx;
};

/* One inst.<service>.<instance> record: remember its revision (for the
 * compare-and-set of our next write) and hand it over. */
static int visit_instance(struct store *s, kvEntry *e, void *arg)
{
    struct instance_visit *v = arg;
    char key[FLEET_KV_KEY_MAX];
    const char *svc, *inst;

    snprintf(key, sizeof(key), "%s", kvEntry_Key(e));
    if (revmap_set(&s->revs, key, kvEntry_Revision(e)) != 0) {
        store_set_error(s, NATS_OK, "store_load_all: out of memory");
        return -1;
    }
    if (split_key(key, &svc, &inst))
        v->each(v->ctx, svc, inst, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
    else
        log_kv(LOG_WARN, "store: ignoring a key that is not inst.<service>.<instance>",
               "bucket", s->state_bucket, "key", kvEntry_Key(e), NULL);
    return 0;
}

int store_load_all(struct store *s,
                   void (*each)(void *ctx, const char *service, const char *instance,
                                const void *data, size_t len),
                   void *ctx)
{
    struct instance_visit v = { .each = each, .ctx = ctx };

    if (s->available) { /* unavailable: load_prefix refuses, and what we knew stays */
        revmap_clear(&s->revs);
        s->loaded = false;
    }
    if (load_prefix(s, FLEET_KV_INSTANCE_PREFIX, "instance records", visit_instance, &v) != 0)
        return -1;
    s->loaded = true;
    return 0;
}

/* ---- maintenance flags ---- */


/* Splits "maint.<service>[.<instance>]" in place; false for any other key. */
static bool split_maint_key(char *key, const char **service, const char **instance)
{
    char *svc = key + strlen(FLEET_KV_MAINT_PREFIX);
    char *dot = strchr(svc, '.');

    *instance = NULL;
    if (dot != NULL) {
        *dot = '\0';
        if (!fleet_name_valid(dot + 1))
            return false;
        *instance = dot + 1;
    }
    if (!fleet_name_valid(svc))
        return false;
    *service = svc;
    return true;
}

void store_kept_reason(char out[FLEET_KEPT_REASON_MAX + 1], const char *v, size_t len)
{
    size_t n = v != NULL ? len : 0;

    if (n > FLEET_KEPT_REASON_MAX) {
        n = FLEET_KEPT_REASON_MAX;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t k = 0; k < n; k++)
        out[k] = (unsigned char)v[k] < 0x20 || v[k] == 0x7f ? ' ' : v[k];
    out[n] = '\0';
}

struct maint_visit {
    void (*each)(void *ctx, const char *service, const char *instance, const char *reason);
    void *ctx;
};

static int visit_maintenance(struct store *s, kvEntry *e, void *arg)
{
    struct maint_visit *v = arg;
    char key[FLEET_KV_KEY_MAX], reason[FLEET_KEPT_REASON_MAX + 1];
    const char *svc, *inst;

    if (strlen(kvEntry_Key(e)) < sizeof(key)) {
        snprintf(key, sizeof(key), "%s", kvEntry_Key(e));
        if (split_maint_key(key, &svc, &inst)) {
            store_kept_reason(reason, (const char *)kvEntry_Value(e),
                              kvEntry_ValueLen(e) > 0 ? (size_t)kvEntry_ValueLen(e) : 0);
            v->each(v->ctx, svc, inst, reason);
            return 0;
        }
    }
    log_kv(LOG_WARN, "store: ignoring a key that is not maint.<service>[.<instance>]",
           "bucket", s->state_bucket, "key", kvEntry_Key(e), NULL);
    return 0;
}

int store_load_maintenance(struct store *s,
                           void (*each)(void *ctx, const char *service, const char *instance,
                                        const char *reason),
                           void *ctx)
{
    struct maint_visit v = { .each = each, .ctx = ctx };

    return load_prefix(s, FLEET_KV_MAINT_PREFIX, "maintenance flags", visit_maintenance, &v);
}


int store_set_maintenance(struct store *s, const char *service, const char *instance, const char *reason)
{
    char key[FLEET_KV_KEY_MAX];
    uint64_t rev = 0;
    natsStatus st;

    if (!fleet_name_valid(service) || (instance != NULL && !fleet_name_valid(instance))) {
        store_set_error(s, NATS_OK, "store_set_maintenance: invalid service/instance name");
        return -1;
    }
    snprintf(key, sizeof(key), "%s%s%s%s", FLEET_KV_MAINT_PREFIX, service, instance != NULL ? "." : "",
             instance != NULL ? instance : "");
    if (!store_writable(s, key))
        return -1;
    /* Last writer wins: a flag is an operator's statement, not a record
     * two supervisors race on. */
    st = reason != NULL ? kvStore_PutString(&rev, s->state, key, reason) : kvStore_Delete(s->state, key);
    if (st == NATS_OK)
        return 0;
    store_set_error(s, st, "cannot %s %s in KV bucket %s", reason != NULL ? "write" : "delete", key,
                    s->state_bucket);
    if (store_is_js_gone(st, 0))
        store_become_degraded(s, s->error);
    return -1;
}

int store_claim_nonce(struct store *s, const uint8_t nonce[FLEET_NONCE_LEN], const char *what)
{
    char key[2 * FLEET_NONCE_LEN + 1];
    uint64_t rev = 0;
    natsStatus st;

    sodium_bin2hex(key, sizeof(key), nonce, FLEET_NONCE_LEN);
    if (s->nonce_ttl_ms <= 0) {
        store_set_error(s, NATS_OK, "this supervisor keeps no nonce bucket");
        return -1;
    }
    if (!store_writable(s, key))
        return -1;
    if (s->nonces == NULL) {
        store_set_error(s, NATS_OK, "KV bucket %s is not bound", s->nonce_bucket);
        return -1;
    }
    st = kvStore_Create(&rev, s->nonces, key, what, (int)strlen(what));
    if (st == NATS_OK)
        return 0;
    if (store_is_conflict(st, 0))
        return 1;
    store_set_error(s, st, "cannot record command nonce %s in KV bucket %s", key, s->nonce_bucket);
    if (store_is_js_gone(st, 0))
        store_become_degraded(s, s->error);
    return -1;
}
