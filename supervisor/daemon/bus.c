#define _GNU_SOURCE /* SCHED_BATCH (sched.h) */
#include "bus.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "fleet/conn.h"

#include "bus_loop.h"

#define MAX_SUBSCRIPTIONS 24
/* Publishes (statuses, events) nats.c keeps while reconnecting. */
#define BUS_RECONNECT_BUF_BYTES (64 * 1024 * 1024)
/* Delivered messages are destroyed in batches: nats.c hands every destroyed
 * message to its GC thread and wakes that thread (a futex call) whenever it
 * sleeps; in a batch it is woken at most once (with open_library's policy,
 * ~10 % of the authenticated ingest CPU, BENCHMARKS.md §1a). What a batch
 * holds is bounded in count and in payload bytes, so a few large messages
 * are freed at once. */
#define BUS_FREE_BATCH 64
#define BUS_FREE_BATCH_BYTES (64 * 1024)

struct bus_sub {
    natsSubscription *sub;
    bus_msg_fn fn;
    bus_reply_fn reply_fn;   /* instead of fn, for bus_subscribe_replies */
    void *ctx;
    bool bulk;               /* bus_subscribe_bulk: synchronous, taken by the bus's reader */
    /* Delivered, not yet destroyed: touched only by the subscription's
     * delivery thread (nats.c runs one per subscription), then by bus_close
     * once no handler runs. */
    natsMsg *held[BUS_FREE_BATCH];
    int n_held;
    size_t held_bytes;
};

struct bus {
    natsConnection *conn;
    struct bus_loop *loop;   /* the reader (bus_loop.h); stopped after the connection closed */
    bus_link_fn on_link;
    void *link_ctx;
    struct bus_sub subs[MAX_SUBSCRIPTIONS];
    int n_subs;
    atomic_bool closing;     /* set by bus_close: link changes no longer reported */
    pthread_mutex_t lock;    /* guards closed, for bus_close's wait */
    pthread_cond_t closed_cv;
    bool closed;             /* nats.c's closed callback ran: no callback follows */
};

static void report_link(natsConnection *nc, struct bus *b, bool up)
{
    char url[256] = "", id[FLEET_SERVER_ID_MAX + 1] = "";

    if (atomic_load(&b->closing))
        return;
    if (up) {
        natsConnection_GetConnectedUrl(nc, url, sizeof(url));
        fleet_conn_server_id(nc, id, sizeof(id));
    }
    if (b->on_link != NULL)
        b->on_link(b->link_ctx, up, url, id);
}

static void on_connected(natsConnection *nc, void *closure) { report_link(nc, closure, true); }
static void on_reconnected(natsConnection *nc, void *closure) { report_link(nc, closure, true); }
static void on_disconnected(natsConnection *nc, void *closure) { report_link(nc, closure, false); }

/* nats.c queues connection callbacks in order; this is the last one. */
static void on_closed(natsConnection *nc, void *closure)
{
    struct bus *b = closure;

    (void)nc;
    pthread_mutex_lock(&b->lock);
    b->closed = true;
    pthread_cond_signal(&b->closed_cv);
    pthread_mutex_unlock(&b->lock);
}

static void release_held(struct bus_sub *s)
{
    for (int k = 0; k < s->n_held; k++)
        natsMsg_Destroy(s->held[k]);
    s->n_held = 0;
    s->held_bytes = 0;
}

static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct bus_sub *s = closure;

    (void)nc;
    (void)sub;
    if (s->reply_fn != NULL)
        s->reply_fn(s->ctx, natsMsg_GetSubject(msg), natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                    natsMsg_IsNoResponders(msg));
    else
        s->fn(s->ctx, natsMsg_GetSubject(msg), natsMsg_GetReply(msg), natsMsg_GetData(msg),
              (size_t)natsMsg_GetDataLength(msg));
    s->held[s->n_held++] = msg;
    s->held_bytes += (size_t)natsMsg_GetDataLength(msg);
    if (s->n_held == BUS_FREE_BATCH || s->held_bytes >= BUS_FREE_BATCH_BYTES)
        release_held(s);
}

/* Opens nats.c's library if nothing has yet. Its first opening starts the
 * library's own threads (timers, connection callbacks, and the GC thread that
 * frees every delivered message); they are started from this thread set to
 * SCHED_BATCH, which they inherit, and this thread's policy is put back.
 * Why: a destroyed message wakes the GC thread, and a woken normal thread
 * preempts the delivery thread that woke it, so every heartbeat cost two
 * context switches and ~40 % of ingest CPU (BENCHMARKS.md §1a). A batch
 * thread runs when a CPU is free instead. What it costs: a timer or a link
 * callback may wait for the current time slice (milliseconds). Failure to
 * change the policy only loses the gain; a failure to open the library is
 * reported by the connection that follows. */
static void open_library(void)
{
    struct sched_param was = {0}, batch = {0};
    int policy = sched_getscheduler(0);
    bool switched = policy >= 0 && sched_getparam(0, &was) == 0 && sched_setscheduler(0, SCHED_BATCH, &batch) == 0;

    (void)nats_Open(-1);
    if (switched)
        (void)sched_setscheduler(0, policy, &was);
}

static int attach_loop(natsOptions *opts, void *ctx)
{
    struct bus *b = ctx;

    return bus_loop_attach_options(b->loop, opts);
}

static int fail(char *err, size_t errlen, const char *what, natsStatus s)
{
    const char *detail = nats_GetLastError(NULL);

    snprintf(err, errlen, "%s: %s%s%s", what, natsStatus_GetText(s), detail ? ": " : "", detail ? detail : "");
    return -1;
}

int bus_open(const struct bus_options *opts, bus_link_fn on_link, void *link_ctx, struct bus **out,
             char *err, size_t errlen)
{
    struct bus *b;
    fleet_conn_opts co = {
        .url = opts->url, .creds = opts->creds != NULL ? opts->creds : "", .name = opts->name,
        .retry_first_connect = true, .reconnect_buf_bytes = BUS_RECONNECT_BUF_BYTES, .no_echo = true,
        /* A signed RESTART leaves when the owner thread publishes it, not
         * after nats.c's flusher has yielded its millisecond: the decision ->
         * actuator path's last wait. Everything the supervisor publishes is
         * low-rate (control, feed, events, replies; nothing per heartbeat),
         * so the flusher's batching buys nothing here. */
        .send_asap = true,
        .on_connected = on_connected, .on_disconnected = on_disconnected,
        .on_reconnected = on_reconnected, .on_closed = on_closed, .tune = attach_loop,
    };

    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->on_link = on_link;
    b->link_ctx = link_ctx;
    open_library();
    if (bus_loop_start(&b->loop) != 0) {
        snprintf(err, errlen, "cannot start the bus reader thread (out of threads or file descriptors?)");
        free(b);
        return -1;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->closed_cv, NULL);
    co.ctx = b;
    if (fleet_conn_open(&co, &b->conn) != FLEET_OK) {
        snprintf(err, errlen, "%s", fleet_last_error());
        bus_loop_stop(b->loop);
        pthread_cond_destroy(&b->closed_cv);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return -1;
    }
    if (natsConnection_Status(b->conn) == NATS_CONN_STATUS_CONNECTED)
        report_link(b->conn, b, true);
    *out = b;
    return 0;
}

/* Adds subscription `subject`: synchronous for the bulk one (taken by the
 * bus reader), else delivered by nats.c to `fn` or `reply_fn`. Returns its
 * slot, or NULL with a message in err. */
static struct bus_sub *subscribe(struct bus *b, const char *subject, const char *queue, bool bulk, bus_msg_fn fn,
                                 bus_reply_fn reply_fn, void *ctx, char *err, size_t errlen)
{
    struct bus_sub *s;
    natsStatus st;

    if (b->n_subs == MAX_SUBSCRIPTIONS) {
        snprintf(err, errlen, "too many subscriptions");
        return NULL;
    }
    s = &b->subs[b->n_subs];
    s->fn = fn;
    s->reply_fn = reply_fn;
    s->ctx = ctx;
    s->bulk = bulk;
    if (bulk)
        st = natsConnection_SubscribeSync(&s->sub, b->conn, subject);
    else if (queue != NULL)
        st = natsConnection_QueueSubscribe(&s->sub, b->conn, subject, queue, on_message, s);
    else
        st = natsConnection_Subscribe(&s->sub, b->conn, subject, on_message, s);
    if (st != NATS_OK) {
        fail(err, errlen, subject, st);
        return NULL;
    }
    st = natsSubscription_SetPendingLimits(s->sub, BUS_PENDING_MSGS, BUS_PENDING_BYTES);
    if (st != NATS_OK) {
        natsSubscription_Destroy(s->sub);
        fail(err, errlen, subject, st);
        return NULL;
    }
    b->n_subs++;
    return s;
}

int bus_subscribe(struct bus *b, const char *subject, const char *queue, bus_msg_fn fn, void *ctx,
                  char *err, size_t errlen)
{
    return subscribe(b, subject, queue, false, fn, NULL, ctx, err, errlen) != NULL ? 0 : -1;
}

int bus_subscribe_bulk(struct bus *b, const char *subject, bus_msg_fn fn, bool (*room)(void *ctx), void *ctx,
                       char *err, size_t errlen)
{
    struct bus_sub *s;

    for (int k = 0; k < b->n_subs; k++) {
        if (b->subs[k].bulk) {
            snprintf(err, errlen, "%s: the bus has a bulk subscription already", subject);
            return -1;
        }
    }
    s = subscribe(b, subject, NULL, true, fn, NULL, ctx, err, errlen);
    if (s == NULL)
        return -1;
    bus_loop_set_bulk(b->loop, s->sub, fn, room, ctx);
    return 0;
}

int bus_subscribe_replies(struct bus *b, const char *subject, bus_reply_fn fn, void *ctx, char *err,
                          size_t errlen)
{
    return subscribe(b, subject, NULL, false, NULL, fn, ctx, err, errlen) != NULL ? 0 : -1;
}

int bus_publish(struct bus *b, const char *subject, const void *data, size_t len)
{
    return natsConnection_Publish(b->conn, subject, data, (int)len) == NATS_OK ? 0 : -1;
}

int bus_publish_request(struct bus *b, const char *subject, const char *reply, const void *data, size_t len)
{
    return natsConnection_PublishRequest(b->conn, subject, reply, data, (int)len) == NATS_OK ? 0 : -1;
}

int bus_inbox(char *out, size_t n)
{
    natsInbox *inbox = NULL;
    int rc = -1;

    if (natsInbox_Create(&inbox) == NATS_OK && (size_t)snprintf(out, n, "%s", inbox) < n)
        rc = 0;
    natsInbox_Destroy(inbox);
    return rc;
}

bool bus_connected(struct bus *b)
{
    return natsConnection_Status(b->conn) == NATS_CONN_STATUS_CONNECTED;
}

natsConnection *bus_connection(struct bus *b)
{
    return b->conn;
}

void bus_stats(struct bus *b, struct bus_stats *out)
{
    natsStatistics *st = NULL;

    memset(out, 0, sizeof(*out));
    if (natsStatistics_Create(&st) == NATS_OK && natsConnection_GetStats(b->conn, st) == NATS_OK)
        natsStatistics_GetCounts(st, &out->in_msgs, NULL, &out->out_msgs, NULL, &out->reconnects);
    natsStatistics_Destroy(st);
    for (int k = 0; k < b->n_subs; k++) {
        int64_t dropped = 0;

        if (natsSubscription_GetDropped(b->subs[k].sub, &dropped) == NATS_OK)
            out->dropped += dropped;
    }
}

void bus_close(struct bus *b, int timeout_ms)
{
    struct timespec until;

    if (b == NULL)
        return;
    atomic_store(&b->closing, true);
    /* Drain delivers what is already buffered, then stops the handlers;
     * if the link is down, unsubscribe is all that is left to do. The bulk
     * subscription (heartbeats, of no use to a supervisor that stops) is
     * only unsubscribed. */
    bus_loop_clear_bulk(b->loop);
    for (int k = 0; k < b->n_subs; k++)
        if (b->subs[k].bulk || natsSubscription_Drain(b->subs[k].sub) != NATS_OK)
            natsSubscription_Unsubscribe(b->subs[k].sub);
    for (int k = 0; k < b->n_subs; k++)
        if (!b->subs[k].bulk)
            natsSubscription_WaitForDrainCompletion(b->subs[k].sub, timeout_ms);
    natsConnection_FlushTimeout(b->conn, timeout_ms);
    natsConnection_Close(b->conn);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000 + 1;
    pthread_mutex_lock(&b->lock);
    while (!b->closed && pthread_cond_timedwait(&b->closed_cv, &b->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&b->lock);
    bus_loop_stop(b->loop);
    for (int k = 0; k < b->n_subs; k++)
        natsSubscription_Destroy(b->subs[k].sub);
    natsConnection_Destroy(b->conn);
    for (int k = 0; k < b->n_subs; k++)
        release_held(&b->subs[k]);
    pthread_cond_destroy(&b->closed_cv);
    pthread_mutex_destroy(&b->lock);
    free(b);
}
