/* The daemon's JetStream edge: opening the assets, their replicas, the
 * degraded mode, the lease operations and the term floor (store.h; the
 * nats.c facts relied on are in store_private.h). */
#include "store_private.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/clock.h"
#include "log.h"

#define LEASE_KEY "leader"
#define TERM_FLOOR_KEY "term.floor"
#define TERM_FLOOR_ATTEMPTS 3
/* While degraded, opening is tried again this often (each try may take a
 * request timeout when JetStream does not answer). */
#define STORE_REOPEN_MS 1000

/* ---- small helpers ---- */

const char *store_nats_why(natsStatus st)
{
    natsStatus last = NATS_OK;
    const char *txt = nats_GetLastError(&last);
    const char *loc;

    /* nats.c leaves its last error in place when a later call fails without
     * setting one (no responders, a timeout): that text is not this failure's. */
    if (txt == NULL || txt[0] == '\0' || last != st)
        return natsStatus_GetText(st);
    /* nats.c prefixes its source location: "(js.c:535): wrong last sequence: 6". */
    if (txt[0] == '(' && (loc = strstr(txt, "): ")) != NULL)
        txt = loc + 3;
    return txt;
}

void store_set_error(struct store *s, natsStatus st, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (st == NATS_OK)
        snprintf(s->error, sizeof(s->error), "%s", what);
    else
        snprintf(s->error, sizeof(s->error), "%s: %s (%s)", what, store_nats_why(st), natsStatus_GetText(st));
}

/* nats.c's last error text on this thread if it belongs to a failure with
 * status `st`, else NULL. */
static const char *last_error_of(natsStatus st)
{
    natsStatus last = NATS_OK;
    const char *txt = nats_GetLastError(&last);

    return last == st ? txt : NULL;
}

bool store_is_conflict(natsStatus st, jsErrCode jerr)
{
    const char *txt;

    if (jerr == JSStreamWrongLastSequenceErr)
        return true;
    if (st != NATS_ERR)
        return false;
    txt = last_error_of(st);
    return txt != NULL && strstr(txt, "wrong last sequence") != NULL;
}

bool store_is_js_gone(natsStatus st, jsErrCode jerr)
{
    const char *txt;

    /* No responders: no JetStream, a deleted bucket (nothing captures its
     * subjects), or a stream whose replicas are electing a leader. Reopening
     * (which recreates what is missing) is right for all three. */
    if (st == NATS_NO_RESPONDERS || jerr == JSStreamNotFoundErr || jerr == JSNotEnabledErr ||
        jerr == JSNotEnabledForAccountErr)
        return true;
    if (st != NATS_ERR && st != NATS_NOT_FOUND)
        return false;
    txt = last_error_of(st);
    return txt != NULL && (strstr(txt, "stream not found") != NULL ||
                           strstr(txt, "jetstream not enabled") != NULL);
}

static bool link_up(struct store *s, const char *what)
{
    if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED)
        return true;
    store_set_error(s, NATS_OK, "%s: NATS link down (not writing, so nothing stale is replayed later)", what);
    return false;
}

bool store_writable(struct store *s, const char *what)
{
    if (!s->available) {
        store_set_error(s, NATS_OK, "%s: JetStream unavailable: %s", what, s->reason);
        return false;
    }
    return link_up(s, what);
}

natsStatus store_publish_marker(struct store *s, const char *bucket, const char *key, bool purge,
                                uint64_t expect, jsErrCode *jerr)
{
    char subject[STORE_SUBJECT_MAX];
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

/* ---- replicas ---- */

int store_replicas_wanted(const struct store *s)
{
    if (s->want_replicas > 0)
        return s->want_replicas;
    return s->clustered ? 3 : 1;
}

bool store_replicas_refused(struct store *s, const char *why)
{
    if (strstr(why, "not supported in non-clustered mode") != NULL) {
        s->clustered = false;
        return true;
    }
    return strstr(why, "no suitable peers") != NULL || strstr(why, "insufficient resources") != NULL;
}

int store_check_replicas(struct store *s, const char *stream, const char *what, struct replication *rep)
{
    jsStreamInfo *si = NULL, *after = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, s->js, stream, NULL, &jerr);
    char have_s[16], want_s[16];
    int have, want;

    if (st != NATS_OK) {
        store_set_error(s, st, "cannot read the replicas of %s %s", what, stream);
        return -1;
    }
    if (si->Cluster != NULL && si->Cluster->Name != NULL && si->Cluster->Name[0] != '\0')
        s->clustered = true;
    have = (int)si->Config->Replicas;
    want = store_replicas_wanted(s);
    rep->have = have;
    rep->short_of = false;
    if (have >= want || !s->clustered) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    snprintf(have_s, sizeof(have_s), "%d", have);
    snprintf(want_s, sizeof(want_s), "%d", want);
    si->Config->Replicas = want;
    jerr = 0;
    st = js_UpdateStream(&after, s->js, si->Config, NULL, &jerr);
    if (st == NATS_OK) {
        rep->have = want;
        log_kv(LOG_WARN, "replicas raised: this asset was replicated less than the configuration asks",
               "asset", what, "stream", stream, "from", have_s, "to", want_s, NULL);
    } else {
        rep->short_of = store_replicas_refused(s, store_nats_why(st)) && s->clustered;
        log_kv(LOG_WARN, "cannot raise replicas yet; kept as they are (retried every minute)", "asset", what,
               "stream", stream, "have", have_s, "want", want_s, "error", store_nats_why(st), NULL);
    }
    jsStreamInfo_Destroy(after);
    jsStreamInfo_Destroy(si);
    return 0;
}

/* ---- opening the assets ---- */

static void drop_assets(struct store *s)
{
    kvStore_Destroy(s->state);
    kvStore_Destroy(s->lease);
    kvStore_Destroy(s->nonces);
    s->state = NULL;
    s->lease = NULL;
    s->nonces = NULL;
}

static bool unreachable(natsStatus st)
{
    return st == NATS_NO_RESPONDERS || st == NATS_TIMEOUT || st == NATS_CONNECTION_CLOSED ||
           st == NATS_CONNECTION_DISCONNECTED;
}

/* Creates bucket `bucket` (or binds it as it exists), bound through `bind`,
 * with its replicas checked. On failure writes the reason. */
static int open_bucket(struct store *s, jsCtx *bind, kvStore **out, const char *bucket, int64_t ttl_ms,
                       const char *description, struct replication *rep)
{
    char stream[STORE_SUBJECT_MAX], create_why[256];
    kvStore *kv = NULL;
    kvConfig kc;
    natsStatus st;

    kvConfig_Init(&kc);
    kc.Bucket = bucket;
    kc.Description = description;
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    kc.TTL = ttl_ms * 1000000;   /* nanoseconds */
    kc.Replicas = store_replicas_wanted(s);
    st = js_CreateKeyValue(&kv, s->js, &kc);
    if (st != NATS_OK && s->want_replicas == 0 && kc.Replicas > 1 &&
        store_replicas_refused(s, store_nats_why(st))) {
        /* auto: a single server, or a cluster that cannot place 3 now. */
        if (s->clustered)
            log_kv(LOG_WARN, "the JetStream cluster cannot place 3 replicas now: creating with 1, "
                             "raised when it can", "bucket", bucket, "error", store_nats_why(st), NULL);
        rep->short_of = s->clustered;
        kc.Replicas = 1;
        st = js_CreateKeyValue(&kv, s->js, &kc);
    }
    if (st != NATS_OK && unreachable(st)) {
        snprintf(s->reason, sizeof(s->reason), "cannot create KV bucket %s: %s (%s)", bucket, store_nats_why(st),
                 st == NATS_NO_RESPONDERS ? "is the server running with -js?" : natsStatus_GetText(st));
        return -1;
    }
    /* Exists with another configuration (made by hand, another TTL, fewer
     * replicas), or created now: bind through `bind`, as it is. */
    snprintf(create_why, sizeof(create_why), "%s", st == NATS_OK ? "" : store_nats_why(st));
    kvStore_Destroy(kv);
    st = js_KeyValue(out, bind, bucket);
    if (st != NATS_OK) {
        snprintf(s->reason, sizeof(s->reason), "cannot create KV bucket %s (%s) nor bind it (%s)", bucket,
                 create_why[0] ? create_why : "ok", store_nats_why(st));
        return -1;
    }
    snprintf(stream, sizeof(stream), "KV_%s", bucket);
    if (store_check_replicas(s, stream, "KV bucket", rep) != 0) {
        snprintf(s->reason, sizeof(s->reason), "%s", s->error);
        kvStore_Destroy(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Reads the lease bucket's TTL: the one every replica must use. */
static int adopt_lease_ttl(struct store *s, kvStore *lease)
{
    kvStatus *ks = NULL;
    natsStatus st = kvStore_Status(&ks, lease);
    int64_t ttl_ms;

    if (st != NATS_OK) {
        snprintf(s->reason, sizeof(s->reason), "cannot read the lease bucket %s's TTL: %s", s->lease_bucket,
                 store_nats_why(st));
        return -1;
    }
    ttl_ms = kvStatus_TTL(ks) / 1000000;
    kvStatus_Destroy(ks);
    if (ttl_ms < LEASE_TTL_MIN_MS) {
        snprintf(s->reason, sizeof(s->reason),
                 "lease bucket %s has TTL %" PRId64 " ms: a lease needs one of at least %d ms "
                 "(without one a dead leader holds it for ever); delete the bucket to let "
                 "fleet-supervisor recreate it", s->lease_bucket, ttl_ms, LEASE_TTL_MIN_MS);
        return -1;
    }
    if (ttl_ms != s->cfg_ttl_ms) {
        char have[32], want[32];

        snprintf(have, sizeof(have), "%" PRId64, ttl_ms);
        snprintf(want, sizeof(want), "%" PRId64, s->cfg_ttl_ms);
        log_kv(LOG_WARN, "lease bucket TTL differs from the configured lease TTL: using the bucket's "
                         "(delete the bucket to apply the configured one)",
               "bucket", s->lease_bucket, "bucket_ttl_ms", have, "configured_ttl_ms", want, NULL);
    }
    s->ttl_ms = ttl_ms;
    return 0;
}

/* A JetStream context for the lease whose requests wait at most a quarter
 * of the TTL in force. */
static int make_lease_js(struct store *s)
{
    jsOptions jo;
    natsStatus st;

    jsCtx_Destroy(s->js_lease);
    s->js_lease = NULL;
    jsOptions_Init(&jo);
    jo.Wait = s->ttl_ms / 4;
    st = natsConnection_JetStream(&s->js_lease, s->nc, &jo);
    if (st != NATS_OK) {
        snprintf(s->reason, sizeof(s->reason), "cannot make a JetStream context: %s", store_nats_why(st));
        return -1;
    }
    return 0;
}

/* Binds every asset; on failure the store is degraded with a reason. */
static int open_assets(struct store *s)
{
    kvStore *lease_setup = NULL;

    if (natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED) {
        snprintf(s->reason, sizeof(s->reason), "NATS link down: JetStream not reached yet");
        return -1;
    }
    if (open_bucket(s, s->js, &s->state, s->state_bucket, 0, "fleet-supervisor durable state", &s->rep_state) != 0)
        goto out_drop;
    /* The lease is bound twice: once to read its TTL, then through a
     * context whose requests wait no longer than that TTL allows. */
    if (open_bucket(s, s->js, &lease_setup, s->lease_bucket, s->cfg_ttl_ms, "fleet-supervisor leader lease",
                    &s->rep_lease) != 0)
        goto out_drop;
    if (adopt_lease_ttl(s, lease_setup) != 0 || make_lease_js(s) != 0)
        goto out_drop;
    kvStore_Destroy(lease_setup);
    lease_setup = NULL;
    if (js_KeyValue(&s->lease, s->js_lease, s->lease_bucket) != NATS_OK) {
        snprintf(s->reason, sizeof(s->reason), "cannot bind KV bucket %s: %s", s->lease_bucket,
                 store_nats_why(NATS_ERR));
        goto out_drop;
    }
    if (s->nonce_ttl_ms > 0 && open_bucket(s, s->js, &s->nonces, s->nonce_bucket, s->nonce_ttl_ms,
                                           "fleet-supervisor admin commands carried out", &s->rep_nonces) != 0)
        goto out_drop;
    if (store_open_audit(s) != 0)
        goto out_drop;
    s->reason[0] = '\0';
    return 0;

out_drop:
    kvStore_Destroy(lease_setup);
    drop_assets(s);
    return -1;
}

void store_become_degraded(struct store *s, const char *why)
{
    if (s->available)
        log_kv(LOG_WARN, "JetStream unavailable: refusing durable writes and leadership", "why", why, NULL);
    snprintf(s->reason, sizeof(s->reason), "%s", why);
    s->available = false;
    s->next_open_ms = fleet_mono_ms() + STORE_REOPEN_MS;
    drop_assets(s);
}

static void try_open(struct store *s)
{
    if (open_assets(s) == 0) {
        char r_state[16], r_lease[16], r_audit[16];

        snprintf(r_state, sizeof(r_state), "%d", s->rep_state.have);
        snprintf(r_lease, sizeof(r_lease), "%d", s->rep_lease.have);
        snprintf(r_audit, sizeof(r_audit), "%d", s->rep_audit.have);
        s->available = true;
        log_kv(LOG_INFO, "JetStream store ready", "state_bucket", s->state_bucket, "lease_bucket",
               s->lease_bucket, "audit_stream", s->audit_stream, "replicas_state", r_state, "replicas_lease",
               r_lease, "replicas_audit", r_audit, NULL);
        s->logged[0] = '\0';
    } else if (strcmp(s->logged, s->reason) != 0) {
        log_kv(LOG_WARN, "JetStream store unavailable: observing only (retried every second)", "why", s->reason,
               NULL);
        snprintf(s->logged, sizeof(s->logged), "%s", s->reason);
    }
}

static char *dup_or(const char *v, const char *fallback)
{
    return strdup(v != NULL && v[0] != '\0' ? v : fallback);
}

int store_open(natsConnection *nc, const struct store_options *o, struct store **out, char *err, size_t n)
{
    struct store *s;
    jsOptions jo;
    natsStatus st;

    if (nc == NULL || o == NULL || o->prefix == NULL || o->prefix[0] == '\0' || o->supervisor_id == NULL ||
        o->supervisor_id[0] == '\0') {
        snprintf(err, n, "store: a connection, a subject prefix and a supervisor id are required");
        return -1;
    }
    if (o->lease_ttl_ms != 0 && o->lease_ttl_ms < LEASE_TTL_MIN_MS) {
        snprintf(err, n, "store: lease TTL %" PRIu32 " ms is below the minimum of %d ms", o->lease_ttl_ms,
                 LEASE_TTL_MIN_MS);
        return -1;
    }
    if (o->replicas > STORE_REPLICAS_MAX) {
        snprintf(err, n, "store: %" PRIu32 " replicas asked, at most %d", o->replicas, STORE_REPLICAS_MAX);
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out_nomem;
    s->nc = nc;
    s->prefix = strdup(o->prefix);
    s->state_bucket = dup_or(o->state_bucket, FLEET_DEFAULT_STATE_BUCKET);
    s->lease_bucket = dup_or(o->lease_bucket, FLEET_DEFAULT_LEASE_BUCKET);
    s->audit_stream = dup_or(o->audit_stream, FLEET_DEFAULT_AUDIT_STREAM);
    s->nonce_bucket = dup_or(o->nonce_bucket, FLEET_DEFAULT_NONCE_BUCKET);
    s->nonce_ttl_ms = o->nonce_ttl_ms > 0 ? o->nonce_ttl_ms : 0;
    s->id = strdup(o->supervisor_id);
    if (s->prefix == NULL || s->state_bucket == NULL || s->lease_bucket == NULL || s->audit_stream == NULL ||
        s->nonce_bucket == NULL || s->id == NULL)
        goto out_nomem;
    s->cfg_ttl_ms = o->lease_ttl_ms != 0 ? o->lease_ttl_ms : LEASE_TTL_DEFAULT_MS;
    s->ttl_ms = s->cfg_ttl_ms;
    s->audit_max_age_s = o->audit_max_age_s != 0 ? o->audit_max_age_s : STORE_DEFAULT_AUDIT_MAX_AGE_S;
    s->want_replicas = (int)o->replicas;
    s->clustered = true;   /* until the server says otherwise: auto asks for 3 first */

    jsOptions_Init(&jo);
    jo.Wait = STORE_TIMEOUT_MS;
    st = natsConnection_JetStream(&s->js, nc, &jo);
    if (st != NATS_OK) {
        snprintf(err, n, "store: cannot make a JetStream context: %s", store_nats_why(st));
        store_close(s);
        return -1;
    }
    try_open(s);
    s->next_open_ms = fleet_mono_ms() + STORE_REOPEN_MS;
    s->next_replica_check_ms = fleet_mono_ms() + STORE_REPLICAS_RETRY_MS;
    *out = s;
    return 0;

out_nomem:
    snprintf(err, n, "store: out of memory");
    store_close(s);
    return -1;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    drop_assets(s);
    jsCtx_Destroy(s->js_lease);
    jsCtx_Destroy(s->js);
    store_revmap_free(&s->revs);
    free(s->conflict);
    free(s->prefix);
    free(s->state_bucket);
    free(s->lease_bucket);
    free(s->audit_stream);
    free(s->nonce_bucket);
    free(s->id);
    free(s);
}

static bool replicas_short(const struct store *s)
{
    return s->rep_state.short_of || s->rep_lease.short_of || s->rep_audit.short_of || s->rep_nonces.short_of;
}

/* A bucket created with fewer replicas than wanted: read them again (and
 * raise them when the cluster can place them now). */
static void recheck_bucket(struct store *s, const char *bucket, struct replication *rep)
{
    char stream[STORE_SUBJECT_MAX];

    if (!rep->short_of)
        return;
    snprintf(stream, sizeof(stream), "KV_%s", bucket);
    store_check_replicas(s, stream, "KV bucket", rep);
}

void store_tick(struct store *s, int64_t now_mono_ms)
{
    if (!s->available) {
        if (now_mono_ms < s->next_open_ms)
            return;
        s->next_open_ms = now_mono_ms + STORE_REOPEN_MS;
        if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED)
            try_open(s);
        else
            snprintf(s->reason, sizeof(s->reason), "NATS link down: JetStream not reached");
        return;
    }
    if (!replicas_short(s) || now_mono_ms < s->next_replica_check_ms)
        return;
    s->next_replica_check_ms = now_mono_ms + STORE_REPLICAS_RETRY_MS;
    recheck_bucket(s, s->state_bucket, &s->rep_state);
    recheck_bucket(s, s->lease_bucket, &s->rep_lease);
    recheck_bucket(s, s->nonce_bucket, &s->rep_nonces);
    if (s->rep_audit.short_of)
        store_check_replicas(s, s->audit_stream, "audit stream", &s->rep_audit);
}

int64_t store_next_tick(const struct store *s)
{
    if (!s->available)
        return s->next_open_ms;
    return replicas_short(s) ? s->next_replica_check_ms : INT64_MAX;
}

bool store_available(const struct store *s) { return s->available; }

const char *store_unavailable_reason(const struct store *s) { return s->available ? "" : s->reason; }

const char *store_last_error(const struct store *s) { return s->error; }

void store_replicas(const struct store *s, int *state, int *lease, int *audit)
{
    *state = s->rep_state.have;
    *lease = s->rep_lease.have;
    *audit = s->rep_audit.have;
}

/* ---- the leader lease ---- */

int64_t store_lease_ttl_ms(const struct store *s)
{
    return s->ttl_ms;
}

/* Sorts a failed lease request: a conflict, or an error (JetStream gone
 * makes the store degraded). */
static enum lease_result lease_failure(struct store *s, natsStatus st, jsErrCode jerr, const char *what)
{
    if (store_is_conflict(st, jerr))
        return LEASE_CONFLICT;
    store_set_error(s, st, "%s in KV bucket %s", what, s->lease_bucket);
    if (store_is_js_gone(st, jerr))
        store_become_degraded(s, s->error);
    return LEASE_ERROR;
}

void store_lease_run(struct store *s, enum lease_op op, uint64_t expect, struct lease_outcome *out)
{
    int len = (int)strlen(s->id);
    kvEntry *e = NULL;
    jsErrCode jerr = 0;
    uint64_t rev = 0;
    natsStatus st;

    memset(out, 0, sizeof(*out));
    out->result = LEASE_ERROR;
    if (!store_writable(s, "lease"))
        return;
    switch (op) {
    case LEASE_OP_CREATE:
        st = kvStore_Create(&rev, s->lease, LEASE_KEY, s->id, len);
        out->result = st == NATS_OK ? LEASE_OK : lease_failure(s, st, 0, "cannot create the lease");
        break;
    case LEASE_OP_UPDATE:
        st = kvStore_Update(&rev, s->lease, LEASE_KEY, s->id, len, expect);
        out->result = st == NATS_OK ? LEASE_OK : lease_failure(s, st, 0, "cannot renew the lease");
        break;
    case LEASE_OP_READ:
        st = kvStore_Get(&e, s->lease, LEASE_KEY);
        if (st == NATS_OK) {
            out->result = LEASE_OK;
            rev = kvEntry_Revision(e);
            out->ours = kvEntry_ValueLen(e) == len && memcmp(kvEntry_Value(e), s->id, (size_t)len) == 0;
        } else if (st == NATS_NOT_FOUND && !store_is_js_gone(st, 0)) {
            out->result = LEASE_NOT_FOUND;
        } else {
            out->result = lease_failure(s, st, 0, "cannot read the lease");
        }
        kvEntry_Destroy(e);
        break;
    case LEASE_OP_RELEASE:
        st = store_publish_marker(s, s->lease_bucket, LEASE_KEY, true, expect, &jerr);
        out->result = st == NATS_OK ? LEASE_OK : lease_failure(s, st, jerr, "cannot release the lease");
        break;
    case LEASE_OP_NONE:
        return;
    }
    out->rev = rev;
}

/* ---- the term floor ---- */

/* Reads the floor and its revision (0, 0 when absent). */
static int read_floor(struct store *s, uint64_t *floor, uint64_t *rev)
{
    kvEntry *e = NULL;
    natsStatus st;

    if (!store_writable(s, TERM_FLOOR_KEY))
        return -1;
    st = kvStore_Get(&e, s->state, TERM_FLOOR_KEY);
    if (st == NATS_NOT_FOUND && !store_is_js_gone(st, 0)) {
        *floor = 0;
        *rev = 0;
        return 0;
    }
    if (st != NATS_OK) {
        store_set_error(s, st, "cannot read %s from KV bucket %s", TERM_FLOOR_KEY, s->state_bucket);
        if (store_is_js_gone(st, 0))
            store_become_degraded(s, s->error);
        return -1;
    }
    {
        char text[32];
        int n = kvEntry_ValueLen(e);
        char *end;

        if (n <= 0 || n >= (int)sizeof(text)) {
            text[0] = '\0';
        } else {
            memcpy(text, kvEntry_Value(e), (size_t)n);
            text[n] = '\0';
        }
        *floor = strtoull(text, &end, 10);
        if (text[0] < '0' || text[0] > '9' || *end != '\0') {
            log_kv(LOG_WARN, "store: the term floor is not a number; taken as 0", "key", TERM_FLOOR_KEY, NULL);
            *floor = 0;
        }
    }
    *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return 0;
}

int store_term_floor(struct store *s, uint64_t *floor)
{
    uint64_t rev;

    return read_floor(s, floor, &rev);
}

int store_raise_term_floor(struct store *s, uint64_t term)
{
    char text[32];

    snprintf(text, sizeof(text), "%" PRIu64, term);
    for (int attempt = 0; attempt < TERM_FLOOR_ATTEMPTS; attempt++) {
        uint64_t floor, rev, written = 0;
        natsStatus st;

        if (read_floor(s, &floor, &rev) != 0)
            return -1;
        if (floor >= term)
            return 0;
        if (rev == 0)
            st = kvStore_Create(&written, s->state, TERM_FLOOR_KEY, text, (int)strlen(text));
        else
            st = kvStore_Update(&written, s->state, TERM_FLOOR_KEY, text, (int)strlen(text), rev);
        if (st == NATS_OK)
            return 0;
        if (!store_is_conflict(st, 0)) {
            store_set_error(s, st, "cannot write %s to KV bucket %s", TERM_FLOOR_KEY, s->state_bucket);
            if (store_is_js_gone(st, 0))
                store_become_degraded(s, s->error);
            return -1;
        }
    }
    store_set_error(s, NATS_OK, "%s keeps changing under us (another leader?)", TERM_FLOOR_KEY);
    return -1;
}
