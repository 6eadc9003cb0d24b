/* The daemon's JetStream edge: state bucket, leader lease, audit stream.
 *
 * nats.c 3.4.1 facts this file relies on (checked against its v3.4.1
 * sources and a nats-server 2.9.10):
 *   - Every JetStream request (stream API, KV get, KV put's publish-ack) waits
 *     at most the jsCtx's Wait, which we set to STORE_TIMEOUT_MS.
 *   - kvStore_Create/kvStore_Update are publishes with
 *     Nats-Expected-Last-Subject-Sequence (0 for create). A compare-and-set
 *     conflict comes back as plain NATS_ERR; the only trace of the reason is
 *     nats_GetLastError() = "wrong last sequence: <n>" (JetStream error
 *     10071, which the KV API does not hand out). kvStore_Create retries as an
 *     update when the key's last entry is a delete/purge marker.
 *   - kvStore_Delete/kvStore_Purge take no expected revision; the
 *     conditional forms here publish the same marker headers themselves,
 *     through js_PublishMsg, which does return the JetStream error code.
 *   - kvConfig.TTL is in nanoseconds (it becomes the stream's MaxAge).
 *   - A server without JetStream answers no request: NATS_NO_RESPONDERS,
 *     at once.
 *   - While disconnected, nats.c buffers publishes and flushes them after a
 *     reconnect. A KV write we gave up on could so land later, so writes are
 *     refused while the link is down. */
#include "store.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "fleet/names.h"
#include "libfleet/mstime.h"
#include "log.h"

#define DEFAULT_STATE_BUCKET "fleet_state"
#define DEFAULT_LEASE_BUCKET "fleet_leader"
#define DEFAULT_AUDIT_STREAM "FLEET_AUDIT"
#define DEFAULT_LEASE_TTL_MS 10000
#define MIN_LEASE_TTL_MS 1000
#define DEFAULT_AUDIT_MAX_AGE_S 604800

#define LEASE_KEY "leader"
#define KEY_PREFIX "inst."
#define KEY_MAX (sizeof(KEY_PREFIX) + 2 * FLEET_NAME_MAX + 2)
#define SUBJECT_MAX 256
#define REVMAP_MIN_SLOTS 64

/* Revisions of the state keys as this store last saw them, for
 * compare-and-set writes. rev 0 = known absent (deleted by us). */
struct rev_entry {
    struct rev_entry *next;
    uint64_t rev;
    char key[];
};

struct revmap {
    struct rev_entry **slots;
    size_t nslots;   /* power of two, or 0 before the first insert */
    size_t count;
};

enum lease_state { LEASE_STANDBY, LEASE_LEADER, LEASE_RESIGNED };

struct store {
    natsConnection *nc;       /* borrowed */
    jsCtx *js;
    kvStore *state;           /* NULL while degraded */
    kvStore *lease;           /* NULL while degraded */
    char *prefix, *state_bucket, *lease_bucket, *audit_stream, *id;
    int64_t cfg_ttl_ms;       /* configured lease TTL */
    int64_t ttl_ms;           /* the lease bucket's TTL: the one in force */
    int64_t audit_max_age_s;

    bool available;
    char reason[1024];         /* why not available */
    char error[1024];          /* last failure */

    enum lease_state lease_state;
    uint64_t term;            /* revision of the create that made us leader */
    uint64_t lease_rev;       /* revision of our last acknowledged lease write */
    int64_t deadline;         /* LEADER: act only before this (monotonic ms) */
    int64_t next_tick;        /* next renewal / acquisition / re-open */

    struct revmap revs;
    bool loaded;              /* a store_load_all completed: absent = no key */
};

/* ---- small helpers ---- */

/* nats.c's text for the failure just seen on this thread: its last error
 * when it set one, else the status text. */
static const char *nats_why(natsStatus st)
{
    const char *txt = nats_GetLastError(NULL);
    const char *loc;

    if (txt == NULL || txt[0] == '\0')
        return natsStatus_GetText(st);
    /* nats.c prefixes its source location: "(js.c:535): wrong last sequence: 6". */
    if (txt[0] == '(' && (loc = strstr(txt, "): ")) != NULL)
        txt = loc + 3;
    return txt;
}

__attribute__((format(printf, 3, 4)))
static void set_error(struct store *s, natsStatus st, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (st == NATS_OK)
        snprintf(s->error, sizeof(s->error), "%s", what);
    else
        snprintf(s->error, sizeof(s->error), "%s: %s (%s)", what, nats_why(st),
                 natsStatus_GetText(st));
}

/* A compare-and-set conflict: the expected revision was not the key's last. */
static bool is_conflict(natsStatus st, jsErrCode jerr)
{
    const char *txt;

    if (jerr == JSStreamWrongLastSequenceErr)
        return true;
    if (st != NATS_ERR)
        return false;
    txt = nats_GetLastError(NULL);
    return txt != NULL && strstr(txt, "wrong last sequence") != NULL;
}

/* JetStream itself is gone (server restarted without -js, bucket deleted). */
static bool is_js_gone(natsStatus st, jsErrCode jerr)
{
    const char *txt;

    if (st == NATS_NO_RESPONDERS || jerr == JSStreamNotFoundErr || jerr == JSNotEnabledErr ||
        jerr == JSNotEnabledForAccountErr)
        return true;
    if (st != NATS_ERR && st != NATS_NOT_FOUND)
        return false;
    txt = nats_GetLastError(NULL);
    return txt != NULL && (strstr(txt, "stream not found") != NULL ||
                           strstr(txt, "jetstream not enabled") != NULL);
}

static bool link_up(struct store *s, const char *what)
{
    if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED)
        return true;
    set_error(s, NATS_OK, "%s: NATS link down (not writing, so nothing stale is replayed later)", what);
    return false;
}

static int make_key(char *out, size_t n, const char *service, const char *instance)
{
    if (service == NULL || instance == NULL || !fleet_name_valid(service) ||
        !fleet_name_valid(instance))
        return -1;
    snprintf(out, n, KEY_PREFIX "%s.%s", service, instance);
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

static void revmap_free(struct revmap *m)
{
    revmap_clear(m);
    free(m->slots);
    m->slots = NULL;
    m->nslots = 0;
}

/* ---- opening the assets ---- */

static void drop_assets(struct store *s)
{
    kvStore_Destroy(s->state);
    kvStore_Destroy(s->lease);
    s->state = NULL;
    s->lease = NULL;
}

/* Creates or binds the KV bucket. On failure writes the reason. */
static int open_bucket(struct store *s, kvStore **out, const char *bucket, int64_t ttl_ms,
                       const char *description)
{
    kvConfig kc;
    natsStatus st;

    kvConfig_Init(&kc);
    kc.Bucket = bucket;
    kc.Description = description;
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    kc.TTL = ttl_ms * 1000000;   /* nanoseconds */
    st = js_CreateKeyValue(out, s->js, &kc);
    if (st == NATS_OK)
        return 0;
    if (st == NATS_NO_RESPONDERS || st == NATS_TIMEOUT || st == NATS_CONNECTION_CLOSED ||
        st == NATS_CONNECTION_DISCONNECTED) {
        snprintf(s->reason, sizeof(s->reason), "cannot create KV bucket %s: %s (%s)", bucket,
                 nats_why(st), st == NATS_NO_RESPONDERS ? "is the server running with -js?"
                                                        : natsStatus_GetText(st));
        return -1;
    }
    /* It exists with another configuration (made by hand, or another TTL):
     * use it as it is. */
    {
        char create_why[256];

        snprintf(create_why, sizeof(create_why), "%s", nats_why(st));
        st = js_KeyValue(out, s->js, bucket);
        if (st == NATS_OK)
            return 0;
        snprintf(s->reason, sizeof(s->reason), "cannot create KV bucket %s (%s) nor bind it (%s)",
                 bucket, create_why, nats_why(st));
    }
    return -1;
}

/* Reads the lease bucket's TTL: the one every replica must use. */
static int adopt_lease_ttl(struct store *s)
{
    kvStatus *ks = NULL;
    natsStatus st = kvStore_Status(&ks, s->lease);
    int64_t ttl_ms;

    if (st != NATS_OK) {
        snprintf(s->reason, sizeof(s->reason), "cannot read the lease bucket %s's TTL: %s",
                 s->lease_bucket, nats_why(st));
        return -1;
    }
    ttl_ms = kvStatus_TTL(ks) / 1000000;
    kvStatus_Destroy(ks);
    if (ttl_ms < MIN_LEASE_TTL_MS) {
        snprintf(s->reason, sizeof(s->reason),
                 "lease bucket %s has TTL %" PRId64 " ms: a lease needs one of at least %d ms "
                 "(without one a dead leader holds it for ever); delete the bucket to let "
                 "fleet-supervisor recreate it", s->lease_bucket, ttl_ms, MIN_LEASE_TTL_MS);
        return -1;
    }
    if (ttl_ms != s->cfg_ttl_ms) {
        char have[32], want[32];

        snprintf(have, sizeof(have), "%" PRId64, ttl_ms);
        snprintf(want, sizeof(want), "%" PRId64, s->cfg_ttl_ms);
        log_kv(LOG_WARN, "lease bucket TTL differs from the configured lease TTL: using the bucket's",
               "bucket", s->lease_bucket, "bucket_ttl_ms", have, "configured_ttl_ms", want, NULL);
    }
    s->ttl_ms = ttl_ms;
    return 0;
}

static int open_audit(struct store *s)
{
    char subject[SUBJECT_MAX];
    const char *subjects[1] = { subject };
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st;

    snprintf(subject, sizeof(subject), "%s.v1.events.>", s->prefix);
    jsStreamConfig_Init(&sc);
    sc.Name = s->audit_stream;
    sc.Description = "fleet-supervisor audit trail: every Event on the feed";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_LimitsPolicy;
    sc.MaxAge = s->audit_max_age_s * 1000000000LL;
    sc.Storage = js_FileStorage;
    st = js_AddStream(&si, s->js, &sc, NULL, &jerr);
    if (st != NATS_OK && jerr == JSStreamNameExistErr) {
        /* Exists with another configuration (e.g. a new retention): apply ours. */
        jsStreamInfo_Destroy(si);
        si = NULL;
        jerr = 0;
        st = js_UpdateStream(&si, s->js, &sc, NULL, &jerr);
    }
    jsStreamInfo_Destroy(si);
    if (st == NATS_OK)
        return 0;
    snprintf(s->reason, sizeof(s->reason), "cannot create the audit stream %s on %s: %s%s",
             s->audit_stream, subject, nats_why(st),
             jerr == JSStreamSubjectOverlapErr ? " (another stream already captures these subjects)"
             : st == NATS_NO_RESPONDERS        ? " (is the server running with -js?)"
                                               : "");
    return -1;
}

/* Binds every asset; on failure the store is degraded with a reason. */
static int open_assets(struct store *s)
{
    if (natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED) {
        snprintf(s->reason, sizeof(s->reason), "NATS link down: JetStream not reached yet");
        return -1;
    }
    if (open_bucket(s, &s->state, s->state_bucket, 0, "fleet-supervisor durable state") != 0)
        goto out_drop;
    if (open_bucket(s, &s->lease, s->lease_bucket, s->cfg_ttl_ms, "fleet-supervisor leader lease") != 0)
        goto out_drop;
    if (adopt_lease_ttl(s) != 0 || open_audit(s) != 0)
        goto out_drop;
    s->reason[0] = '\0';
    return 0;

out_drop:
    drop_assets(s);
    return -1;
}

static void step_down(struct store *s, const char *why)
{
    char term[32];

    if (s->lease_state != LEASE_LEADER)
        return;
    snprintf(term, sizeof(term), "%" PRIu64, s->term);
    log_kv(LOG_WARN, "leadership lost: no longer acting", "term", term, "why", why, NULL);
    s->lease_state = LEASE_STANDBY;
    s->term = 0;
    s->lease_rev = 0;
    s->deadline = 0;
}

static void become_degraded(struct store *s, const char *why)
{
    if (s->available)
        log_kv(LOG_WARN, "JetStream unavailable: refusing durable writes and leadership", "why", why, NULL);
    snprintf(s->reason, sizeof(s->reason), "%s", why);
    s->available = false;
    step_down(s, "JetStream unavailable");
    drop_assets(s);
}

static void try_open(struct store *s)
{
    if (open_assets(s) == 0) {
        s->available = true;
        log_kv(LOG_INFO, "JetStream store ready", "state_bucket", s->state_bucket, "lease_bucket",
               s->lease_bucket, "audit_stream", s->audit_stream, NULL);
    } else {
        log_kv(LOG_WARN, "JetStream store unavailable: observing only", "why", s->reason, NULL);
    }
}

static char *dup_or(const char *v, const char *fallback)
{
    return strdup(v != NULL && v[0] != '\0' ? v : fallback);
}

int store_open(natsConnection *nc, const struct store_options *o, struct store **out, char *err,
               size_t n)
{
    struct store *s;
    jsOptions jo;
    natsStatus st;

    if (nc == NULL || o == NULL || o->prefix == NULL || o->prefix[0] == '\0' ||
        o->supervisor_id == NULL || o->supervisor_id[0] == '\0') {
        snprintf(err, n, "store: a connection, a subject prefix and a supervisor id are required");
        return -1;
    }
    if (o->lease_ttl_ms != 0 && o->lease_ttl_ms < MIN_LEASE_TTL_MS) {
        snprintf(err, n, "store: lease TTL %" PRIu32 " ms is below the minimum of %d ms",
                 o->lease_ttl_ms, MIN_LEASE_TTL_MS);
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out_nomem;
    s->nc = nc;
    s->prefix = strdup(o->prefix);
    s->state_bucket = dup_or(o->state_bucket, DEFAULT_STATE_BUCKET);
    s->lease_bucket = dup_or(o->lease_bucket, DEFAULT_LEASE_BUCKET);
    s->audit_stream = dup_or(o->audit_stream, DEFAULT_AUDIT_STREAM);
    s->id = strdup(o->supervisor_id);
    if (s->prefix == NULL || s->state_bucket == NULL || s->lease_bucket == NULL ||
        s->audit_stream == NULL || s->id == NULL)
        goto out_nomem;
    s->cfg_ttl_ms = o->lease_ttl_ms != 0 ? o->lease_ttl_ms : DEFAULT_LEASE_TTL_MS;
    s->ttl_ms = s->cfg_ttl_ms;
    s->audit_max_age_s = o->audit_max_age_s != 0 ? o->audit_max_age_s : DEFAULT_AUDIT_MAX_AGE_S;
    s->lease_state = LEASE_STANDBY;

    jsOptions_Init(&jo);
    jo.Wait = STORE_TIMEOUT_MS;
    st = natsConnection_JetStream(&s->js, nc, &jo);
    if (st != NATS_OK) {
        snprintf(err, n, "store: cannot make a JetStream context: %s", nats_why(st));
        store_close(s);
        return -1;
    }
    try_open(s);
    s->next_tick = mstime_mono();   /* lead (or retry) on the first tick */
    *out = s;
    return 0;

out_nomem:
    snprintf(err, n, "store: out of memory");
    store_close(s);
    return -1;
}

bool store_available(const struct store *s) { return s->available; }

const char *store_unavailable_reason(const struct store *s) { return s->available ? "" : s->reason; }

const char *store_last_error(const struct store *s) { return s->error; }

/* ---- per-instance state ---- */

static bool writable(struct store *s, const char *what)
{
    if (!s->available) {
        set_error(s, NATS_OK, "%s: JetStream unavailable: %s", what, s->reason);
        return false;
    }
    return link_up(s, what);
}

/* Publishes a KV delete or purge marker for `key` on condition that the
 * key's last revision is `expect` (raw, because kvStore_Delete/Purge in
 * nats.c 3.4.1 take no expected revision). One request. */
static natsStatus publish_marker(struct store *s, const char *bucket, const char *key, bool purge,
                                 uint64_t expect, jsErrCode *jerr)
{
    char subject[SUBJECT_MAX];
    natsMsg *msg = NULL;
    jsPubOptions po;
    natsStatus st;

    snprintf(subject, sizeof(subject), "$KV.%s.%s", bucket, key);
    st = natsMsg_Create(&msg, subject, NULL, NULL, 0);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(msg, "KV-Operation", purge ? "PURGE" : "DEL");
    if (st == NATS_OK && purge)
        st = natsMsgHeader_Set(msg, "Nats-Rollup", "sub");
    if (st == NATS_OK) {
        jsPubOptions_Init(&po);
        po.MaxWait = STORE_TIMEOUT_MS;
        po.ExpectLastSubjectSeq = expect;
        st = js_PublishMsg(NULL, s->js, msg, &po, jerr);
    }
    natsMsg_Destroy(msg);
    return st;
}

int store_put_instance(struct store *s, const char *service, const char *instance,
                       const void *data, size_t len)
{
    char key[KEY_MAX];
    uint64_t last = 0, rev = 0;
    bool known;
    natsStatus st;

    if (make_key(key, sizeof(key), service, instance) != 0 || len > INT_MAX) {
        set_error(s, NATS_OK, "store_put_instance: invalid service/instance name or value too large");
        return -1;
    }
    if (!writable(s, key))
        return -1;
    known = revmap_get(&s->revs, key, &last);
    if (known && last != 0)
        st = kvStore_Update(&rev, s->state, key, data, (int)len, last);
    else
        st = kvStore_Create(&rev, s->state, key, data, (int)len);
    if (st == NATS_OK) {
        if (revmap_set(&s->revs, key, rev) != 0)
            log_kv(LOG_WARN, "store: out of memory recording a revision: the next write of this key "
                             "will need a reload", "key", key, NULL);
        return 0;
    }
    if (is_conflict(st, 0)) {
        set_error(s, st, "%s was written by someone else since revision %" PRIu64
                         " (another supervisor?): reload with store_load_all", key, last);
        log_kv(LOG_WARN, "store: compare-and-set conflict", "key", key, "error", s->error, NULL);
        revmap_del(&s->revs, key);
        return -1;
    }
    set_error(s, st, "cannot write %s to KV bucket %s", key, s->state_bucket);
    if (is_js_gone(st, 0))
        become_degraded(s, s->error);
    return -1;
}

int store_delete_instance(struct store *s, const char *service, const char *instance)
{
    char key[KEY_MAX];
    uint64_t last = 0;
    jsErrCode jerr = 0;
    natsStatus st;

    if (make_key(key, sizeof(key), service, instance) != 0) {
        set_error(s, NATS_OK, "store_delete_instance: invalid service/instance name");
        return -1;
    }
    if (!writable(s, key))
        return -1;
    if (!revmap_get(&s->revs, key, &last)) {
        if (s->loaded)
            return 0;   /* known absent: the last load did not see it */
        set_error(s, NATS_OK, "%s: revision unknown: call store_load_all before deleting", key);
        return -1;
    }
    if (last == 0)
        return 0;
    st = publish_marker(s, s->state_bucket, key, false, last, &jerr);
    if (st == NATS_OK) {
        revmap_set(&s->revs, key, 0);   /* updates in place: cannot fail */
        return 0;
    }
    if (is_conflict(st, jerr)) {
        set_error(s, st, "%s was written by someone else since revision %" PRIu64
                         ": not deleted; reload with store_load_all", key, last);
        revmap_del(&s->revs, key);
        return -1;
    }
    set_error(s, st, "cannot delete %s from KV bucket %s", key, s->state_bucket);
    if (is_js_gone(st, jerr))
        become_degraded(s, s->error);
    return -1;
}

/* Splits "inst.<service>.<instance>" in place; false for any other key. */
static bool split_key(char *key, const char **service, const char **instance)
{
    char *svc, *dot;

    if (strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)) != 0)
        return false;
    svc = key + strlen(KEY_PREFIX);
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
        set_error(s, NATS_OK, "reading %s: JetStream unavailable: %s", what, s->reason);
        return -1;
    }
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    snprintf(subject, sizeof(subject), "%s>", prefix);
    st = kvStore_Watch(&w, s->state, subject, &wo);
    if (st != NATS_OK) {
        set_error(s, st, "cannot read %s from KV bucket %s", what, s->state_bucket);
        if (is_js_gone(st, 0))
            become_degraded(s, s->error);
        return -1;
    }
    for (;;) {
        kvEntry *e = NULL;
        int rc;

        st = kvWatcher_Next(&e, w, STORE_TIMEOUT_MS);
        if (st != NATS_OK) {
            set_error(s, st, "reading %s from KV bucket %s stalled", what, s->state_bucket);
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
    char key[KEY_MAX];
    const char *svc, *inst;

    snprintf(key, sizeof(key), "%s", kvEntry_Key(e));
    if (revmap_set(&s->revs, key, kvEntry_Revision(e)) != 0) {
        set_error(s, NATS_OK, "store_load_all: out of memory");
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
    if (load_prefix(s, KEY_PREFIX, "instance records", visit_instance, &v) != 0)
        return -1;
    s->loaded = true;
    return 0;
}

/* ---- maintenance flags ---- */

#define MAINT_PREFIX "maint."
#define MAINT_KEY_MAX (sizeof(MAINT_PREFIX) + 2 * FLEET_NAME_MAX + 2)

/* Splits "maint.<service>[.<instance>]" in place; false for any other key. */
static bool split_maint_key(char *key, const char **service, const char **instance)
{
    char *svc = key + strlen(MAINT_PREFIX);
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

/* Copies at most STORE_MAINT_REASON_MAX bytes of `v`, cut before a UTF-8
 * continuation byte so no character is split; control bytes become ' '. */
static void copy_reason(char *out, const char *v, int len)
{
    size_t n = len > 0 && v != NULL ? (size_t)len : 0;

    if (n > STORE_MAINT_REASON_MAX) {
        n = STORE_MAINT_REASON_MAX;
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
    char key[MAINT_KEY_MAX], reason[STORE_MAINT_REASON_MAX + 1];
    const char *svc, *inst;

    if (strlen(kvEntry_Key(e)) < sizeof(key)) {
        snprintf(key, sizeof(key), "%s", kvEntry_Key(e));
        if (split_maint_key(key, &svc, &inst)) {
            copy_reason(reason, (const char *)kvEntry_Value(e), kvEntry_ValueLen(e));
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

    return load_prefix(s, MAINT_PREFIX, "maintenance flags", visit_maintenance, &v);
}

/* ---- leadership ----
 *
 * The lease state machine (T = s->ttl_ms, the bucket's TTL; G = T/10; R =
 * T/3, the renewal period; A = min(R, STORE_ACQUIRE_RETRY_MS), how often a
 * standby tries; t0 = `now` at the start of a successful write):
 *
 *   state    | event (at a tick)                         | next state, effect
 *   ---------+-------------------------------------------+-----------------------------------
 *   STANDBY  | degraded                                  | STANDBY; re-open every R
 *   STANDBY  | Create(leader, id) ok, revision r         | LEADER; term = r, rev = r,
 *            |                                           |   deadline = t0 + T - G, renew at t0 + R
 *   STANDBY  | Create conflict (someone holds it)        | STANDBY; try again at now + A
 *   STANDBY  | Create error                              | STANDBY; try again at now + A
 *   LEADER   | now >= deadline                           | STANDBY at once, then at once tries
 *            |                                           |   the STANDBY row (a new term if free)
 *   LEADER   | Update(leader, id, rev) ok, revision r'   | LEADER; rev = r', deadline = t0 + T - G
 *   LEADER   | Update conflict, key holds our id at r''  | LEADER; rev = r'' (our write whose
 *            |   (an earlier renewal landed, ack lost)   |   ack was lost), deadline unchanged
 *   LEADER   | Update conflict, anything else            | STANDBY at once
 *   LEADER   | Update error, clock < deadline            | LEADER; retry at min(now + G, deadline)
 *   LEADER   | Update error, clock >= deadline           | STANDBY at once
 *   any      | JetStream gone (no responders, no stream) | STANDBY, degraded
 *   any      | store_resign                              | RESIGNED: never leads again
 *
 * We may act exactly while LEADER and now < deadline (store_may_act). The
 * server stores a write no earlier than t0, and keeps it T after that (by
 * its wall clock), so the key cannot be re-created by anyone before t0 + T;
 * G absorbs clock-rate differences and the server's wall clock moving
 * forward. The term is the create's revision: a later leader's create comes
 * later in the stream, so terms only rise. */

static int64_t renew_period(const struct store *s) { return s->ttl_ms / 3; }
/* A standby tries for a lapsed lease this often: a lease expires silently
 * (no message marks it), so only trying soon after makes failover about the
 * TTL instead of up to TTL + R. One small KV request per try. */
static int64_t acquire_period(const struct store *s)
{
    return renew_period(s) < STORE_ACQUIRE_RETRY_MS ? renew_period(s) : STORE_ACQUIRE_RETRY_MS;
}
static int64_t guard(const struct store *s) { return s->ttl_ms / 10; }

static void lead(struct store *s, int64_t t0, uint64_t rev)
{
    char term[32];

    s->lease_state = LEASE_LEADER;
    s->term = rev;
    s->lease_rev = rev;
    s->deadline = t0 + s->ttl_ms - guard(s);
    s->next_tick = t0 + renew_period(s);
    snprintf(term, sizeof(term), "%" PRIu64, rev);
    log_kv(LOG_INFO, "leadership acquired", "term", term, "lease_bucket", s->lease_bucket,
           "supervisor_id", s->id, NULL);
}

static void acquire(struct store *s, int64_t now)
{
    uint64_t rev = 0;
    natsStatus st;

    s->next_tick = now + acquire_period(s);
    if (!link_up(s, "lease"))
        return;
    st = kvStore_Create(&rev, s->lease, LEASE_KEY, s->id, (int)strlen(s->id));
    if (st == NATS_OK) {
        lead(s, now, rev);
        return;
    }
    if (is_conflict(st, 0)) {
        set_error(s, st, "lease held by another supervisor");
        return;
    }
    set_error(s, st, "cannot create the lease in KV bucket %s", s->lease_bucket);
    if (is_js_gone(st, 0))
        become_degraded(s, s->error);
}

/* After a conflict on renewal: is the key's last write ours (a renewal that
 * landed although its acknowledgement was lost)? Then adopts its revision. */
static bool reclaim_own_write(struct store *s)
{
    kvEntry *e = NULL;
    bool ours = false;

    if (kvStore_Get(&e, s->lease, LEASE_KEY) != NATS_OK)
        return false;
    if ((size_t)kvEntry_ValueLen(e) == strlen(s->id) &&
        memcmp(kvEntry_Value(e), s->id, strlen(s->id)) == 0 && kvEntry_Revision(e) > s->lease_rev) {
        s->lease_rev = kvEntry_Revision(e);
        ours = true;
    }
    kvEntry_Destroy(e);
    return ours;
}

static void renew(struct store *s, int64_t now)
{
    uint64_t rev = 0;
    natsStatus st = NATS_OK;
    int64_t after;

    if (link_up(s, "lease renewal")) {
        st = kvStore_Update(&rev, s->lease, LEASE_KEY, s->id, (int)strlen(s->id), s->lease_rev);
        if (st == NATS_OK) {
            s->lease_rev = rev;
            s->deadline = now + s->ttl_ms - guard(s);
            s->next_tick = now + renew_period(s);
            return;
        }
        if (is_conflict(st, 0)) {
            set_error(s, st, "lease renewal refused: the lease is no longer ours");
            if (reclaim_own_write(s) && mstime_mono() < s->deadline) {
                s->next_tick = now;   /* renew again with the adopted revision */
                return;
            }
            step_down(s, s->error);
            s->next_tick = now + renew_period(s);
            return;
        }
        set_error(s, st, "cannot renew the lease in KV bucket %s", s->lease_bucket);
        if (is_js_gone(st, 0)) {
            become_degraded(s, s->error);
            s->next_tick = now + renew_period(s);
            return;
        }
    }
    /* A transient failure: keep leading until the deadline, retrying. */
    after = mstime_mono();
    if (after >= s->deadline) {
        step_down(s, s->error);
        s->next_tick = after;
        return;
    }
    s->next_tick = after + guard(s) < s->deadline ? after + guard(s) : s->deadline;
}

enum store_role store_tick(struct store *s, int64_t now_mono_ms, uint64_t *term)
{
    if (s->lease_state == LEASE_LEADER && now_mono_ms >= s->deadline) {
        step_down(s, "lease deadline passed without a renewal (paused or cut off)");
        s->next_tick = now_mono_ms;
    }
    if (now_mono_ms >= s->next_tick) {
        if (!s->available) {
            s->next_tick = now_mono_ms + renew_period(s);
            if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED)
                try_open(s);
            else
                snprintf(s->reason, sizeof(s->reason), "NATS link down: JetStream not reached");
        } else if (s->lease_state == LEASE_LEADER) {
            renew(s, now_mono_ms);
        } else if (s->lease_state == LEASE_STANDBY) {
            acquire(s, now_mono_ms);
        } else {
            s->next_tick = INT64_MAX;   /* resigned */
        }
    }
    if (term != NULL)
        *term = s->lease_state == LEASE_LEADER ? s->term : 0;
    return s->lease_state == LEASE_LEADER ? STORE_LEADER : STORE_STANDBY;
}

int64_t store_next_tick(const struct store *s)
{
    if (s->lease_state == LEASE_LEADER && s->deadline < s->next_tick)
        return s->deadline;
    return s->next_tick;
}

bool store_may_act(const struct store *s, int64_t now_mono_ms)
{
    return s->available && s->lease_state == LEASE_LEADER && now_mono_ms < s->deadline;
}

void store_resign(struct store *s)
{
    jsErrCode jerr = 0;
    natsStatus st;
    char term[32];

    if (s == NULL)
        return;
    if (s->lease_state == LEASE_LEADER && s->available && link_up(s, "lease resignation")) {
        snprintf(term, sizeof(term), "%" PRIu64, s->term);
        st = publish_marker(s, s->lease_bucket, LEASE_KEY, true, s->lease_rev, &jerr);
        if (st == NATS_OK)
            log_kv(LOG_INFO, "leadership resigned: lease released", "term", term, NULL);
        else
            log_kv(LOG_WARN, "leadership resigned: lease not released, it expires on its own",
                   "term", term, "error", nats_why(st), NULL);
    }
    s->lease_state = LEASE_RESIGNED;
    s->term = 0;
    s->deadline = 0;
    s->next_tick = INT64_MAX;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    drop_assets(s);
    jsCtx_Destroy(s->js);
    revmap_free(&s->revs);
    free(s->prefix);
    free(s->state_bucket);
    free(s->lease_bucket);
    free(s->audit_stream);
    free(s->id);
    free(s);
}
