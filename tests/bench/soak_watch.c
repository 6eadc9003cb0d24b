/* bench_soak's witness of the supervisor (soak_watch.h). */
#include "soak_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/conn.h"

#define AUDIT_IDLE_MS 3000       /* the audit read ends after this long without a message */

/* Returns a pointer to a new zeroed record at the end of `l`, or NULL when
 * out of memory (l unchanged). */
void *soak_list_push(struct soak_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        void *grown = realloc(l->v, cap * l->size);

        if (grown == NULL)
            return NULL;
        l->v = grown;
        l->cap = cap;
    }
    memset((char *)l->v + l->n * l->size, 0, l->size);
    return (char *)l->v + l->n++ * l->size;
}

int64_t soak_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void soak_copy_name(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src != NULL ? src : "");
}

/* Decodes an Event into *out. Returns 0, or -1 (not an Event). */
static int decode_event(const void *data, size_t len, struct soak_event *out)
{
    Fleet__V1__Event *ev = fleet__v1__event__unpack(NULL, len, data);

    if (ev == NULL)
        return -1;
    soak_copy_name(out->service, sizeof(out->service), ev->service);
    soak_copy_name(out->instance, sizeof(out->instance), ev->instance);
    soak_copy_name(out->reason, sizeof(out->reason), ev->reason);
    out->from = (int)ev->from;
    out->to = (int)ev->to;
    out->action = (int)ev->action;
    out->unix_ms = ev->unix_ms;
    fleet__v1__event__free_unpacked(ev, NULL);
    return 0;
}

static void rec_event(struct soak_recorder *r, natsMsg *msg)
{
    struct soak_event ev, *slot;
    bool ok = decode_event(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &ev) == 0;

    pthread_mutex_lock(&r->lock);
    if (ok && (slot = soak_list_push(&r->events)) != NULL)
        *slot = ev;
    else
        r->lost++;
    pthread_mutex_unlock(&r->lock);
}

/* A Control as the supervisor sends it: an Envelope holding a Control. */
static void rec_control(struct soak_recorder *r, natsMsg *msg)
{
    Fleet__V1__Envelope *env = fleet__v1__envelope__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                           (const uint8_t *)natsMsg_GetData(msg));
    Fleet__V1__Control *c = env != NULL ? fleet__v1__control__unpack(NULL, env->payload.len, env->payload.data)
                                        : NULL;
    struct soak_control *slot;

    pthread_mutex_lock(&r->lock);
    if (c != NULL && (slot = soak_list_push(&r->controls)) != NULL) {
        soak_copy_name(slot->service, sizeof(slot->service), c->service);
        soak_copy_name(slot->instance, sizeof(slot->instance), c->instance);
        slot->action = (int)c->action;
        slot->unix_ms = soak_wall_ms();
    } else {
        r->lost++;
    }
    pthread_mutex_unlock(&r->lock);
    if (c != NULL)
        fleet__v1__control__free_unpacked(c, NULL);
    if (env != NULL)
        fleet__v1__envelope__free_unpacked(env, NULL);
}

static void rec_status(struct soak_recorder *r, natsMsg *msg)
{
    Fleet__V1__FleetStatus *fs = fleet__v1__fleet_status__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));

    pthread_mutex_lock(&r->lock);
    if (fs != NULL) {
        r->observer = (int)fs->observer;
        r->healthy = fs->instances_healthy;
        r->expected = fs->instances_expected;
        r->statuses++;
    } else {
        r->lost++;
    }
    pthread_mutex_unlock(&r->lock);
    if (fs != NULL)
        fleet__v1__fleet_status__free_unpacked(fs, NULL);
}

/* nats.c delivery threads; `closure` says which subscription. */
static void on_event_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    rec_event(closure, msg);
    natsMsg_Destroy(msg);
}

static void on_control_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    rec_control(closure, msg);
    natsMsg_Destroy(msg);
}

static void on_status_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    rec_status(closure, msg);
    natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *ctx)
{
    struct soak_recorder *r = ctx;

    (void)nc;
    pthread_mutex_lock(&r->lock);
    r->disconnects++;
    pthread_mutex_unlock(&r->lock);
}

static void on_reconnected(natsConnection *nc, void *ctx)
{
    struct soak_recorder *r = ctx;

    (void)nc;
    pthread_mutex_lock(&r->lock);
    r->reconnects++;
    pthread_mutex_unlock(&r->lock);
}

/* Connects (reconnecting for ever, like every fleet program) and
 * subscribes. Returns 0, or -1 with a message; release with soak_rec_stop
 * either way. */
int soak_rec_start(struct soak_recorder *r, const char *url)
{
    fleet_conn_opts co = { .url = url, .creds = "", .name = "bench_soak", .on_disconnected = on_disconnected,
                           .on_reconnected = on_reconnected, .ctx = r };
    char subject[3][FLEET_SUBJECT_MAX];
    natsMsgHandler handler[3] = { on_event_msg, on_control_msg, on_status_msg };
    natsStatus s = NATS_OK;

    memset(r, 0, sizeof(*r));
    r->events.size = sizeof(struct soak_event);
    r->controls.size = sizeof(struct soak_control);
    pthread_mutex_init(&r->lock, NULL);
    if (fleet_conn_open(&co, &r->nc) != FLEET_OK) {
        fprintf(stderr, "bench_soak: cannot connect to %s: %s\n", url, fleet_last_error());
        return -1;
    }
    (void)fleet_subject(subject[0], sizeof(subject[0]), FLEET_SUBJECT_EVENTS_ALL, SOAK_PREFIX, NULL, NULL);
    (void)fleet_subject(subject[1], sizeof(subject[1]), FLEET_SUBJECT_CTL, SOAK_PREFIX, "*", "*");
    (void)fleet_subject(subject[2], sizeof(subject[2]), FLEET_SUBJECT_STATUS, SOAK_PREFIX, NULL, NULL);
    for (int k = 0; k < 3 && s == NATS_OK; k++) {
        s = natsConnection_Subscribe(&r->sub[k], r->nc, subject[k], handler[k], r);
        /* A burst after the NATS restart must not be dropped as a slow consumer. */
        if (s == NATS_OK)
            s = natsSubscription_SetPendingLimits(r->sub[k], -1, -1);
    }
    if (s == NATS_OK)
        s = natsConnection_Flush(r->nc);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_soak: cannot subscribe: %s\n", natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

/* Closes the subscriptions and the connection. Callbacks may still be
 * running on nats.c's threads: free the records with soak_rec_free only after
 * nats_CloseAndWait. */
void soak_rec_stop(struct soak_recorder *r)
{
    for (int k = 0; k < 3; k++)
        natsSubscription_Destroy(r->sub[k]);
    natsConnection_Destroy(r->nc);
    r->nc = NULL;
}

void soak_rec_free(struct soak_recorder *r)
{
    free(r->events.v);
    free(r->controls.v);
    pthread_mutex_destroy(&r->lock);
}

/* True when the latest FleetStatus shows the observer NORMAL and `total`
 * instances healthy, and it arrived after *seen statuses (pass 0 for any). */
bool soak_rec_steady(struct soak_recorder *r, uint32_t total, uint64_t after)
{
    bool ok;

    pthread_mutex_lock(&r->lock);
    ok = r->statuses > after && r->observer == SOAK_OBS_NORMAL && r->healthy == total && r->expected == total;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

uint64_t soak_rec_statuses(struct soak_recorder *r)
{
    uint64_t n;

    pthread_mutex_lock(&r->lock);
    n = r->statuses;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Reads every Event of the audit stream into `out`. Returns 0, or -1 with a
 * message. */
int soak_read_audit(natsConnection *nc, struct soak_list *out, uint64_t *stream_msgs)
{
    char subject[FLEET_SUBJECT_MAX];
    jsSubOptions so;
    jsStreamInfo *si = NULL;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    jsCtx *js = NULL;
    natsStatus s;
    int rc = -1;

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_EVENTS_ALL, SOAK_PREFIX, NULL, NULL);
    s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK)
        s = js_GetStreamInfo(&si, js, FLEET_DEFAULT_AUDIT_STREAM, NULL, &jerr);
    if (s == NATS_OK) {
        jsSubOptions_Init(&so);
        so.Stream = FLEET_DEFAULT_AUDIT_STREAM;
        so.Ordered = true;
        so.Config.DeliverPolicy = js_DeliverAll;
        s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "bench_soak: cannot read the audit stream %s: %s (%d)\n", FLEET_DEFAULT_AUDIT_STREAM,
                natsStatus_GetText(s), (int)jerr);
        goto out;
    }
    *stream_msgs = si->State.Msgs;
    while (out->n < si->State.Msgs) {
        natsMsg *msg = NULL;
        struct soak_event *slot;

        if (natsSubscription_NextMsg(&msg, sub, AUDIT_IDLE_MS) != NATS_OK)
            break;
        slot = soak_list_push(out);
        if (slot == NULL || decode_event(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), slot) != 0) {
            natsMsg_Destroy(msg);
            fprintf(stderr, "bench_soak: an audit message did not decode (or no memory)\n");
            goto out;
        }
        natsMsg_Destroy(msg);
    }
    if (out->n != si->State.Msgs) {
        fprintf(stderr, "bench_soak: read %zu of the audit stream's %" PRIu64 " events\n", out->n,
                si->State.Msgs);
        goto out;
    }
    rc = 0;
out:
    natsSubscription_Destroy(sub);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    return rc;
}
