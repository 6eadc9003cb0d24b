/* Obeying signed control (include/fleet/obey.h): one subscription on the
 * heartbeat sender's connection; every message is verified, answered with a
 * ControlAck, handed to the application's handler and reflected in the
 * heartbeats.
 *
 * Threads: nats.c delivers one subscription's messages on one thread, one at
 * a time, so the verifier, `fenced` and `epoch` are owned by that thread
 * (and by start/destroy, which run before the subscription exists and after
 * it completed). Only the counters are read from other threads: they sit
 * behind `lock`. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "fleet/obey.h"
#include "fleet/subjects.h"
#include "hb_private.h"
#include "control_private.h"
#include "lasterror.h"
#include "fleet/clock.h"

#define OBEY_FLUSH_BEFORE_EXIT_MS 1000
#define OBEY_STALE_EPOCH "stale_fence_epoch"

struct fleet_obey {
    fleet_hb *hb;                   /* borrowed */
    fleet_verifier *verifier;
    fleet_obey_handlers h;
    natsSubscription *sub;
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];

    /* delivery thread only */
    uint64_t epoch;                 /* highest fence epoch accepted */
    bool fenced;                    /* the last accepted FENCE/UNFENCE was a FENCE */

    pthread_mutex_t lock;           /* guards counters, completed */
    pthread_cond_t done;            /* signalled when the subscription completed */
    bool completed;
    fleet_obey_counters counters;
};

/* Sends the ControlAck to `reply` (no-op without one: a plain publish asked
 * for no answer). Failures are dropped: the issuer times out and retries. */
static void send_ack(fleet_obey *o, const char *reply, uint64_t seq, bool accepted, const char *error)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    if (reply == NULL || reply[0] == '\0')
        return;
    if (fleet_control_ack_pack(o->service, o->instance, seq, accepted, error, &buf, &len) != FLEET_OK)
        return;
    (void)natsConnection_Publish(hb_connection(o->hb), reply, buf, (int)len);
    free(buf);
}

static void count(fleet_obey *o, uint64_t *counter)
{
    pthread_mutex_lock(&o->lock);
    (*counter)++;
    pthread_mutex_unlock(&o->lock);
}

/* The fence-epoch rule of obey.h. True when `c` may proceed. */
static bool epoch_ok(const fleet_obey *o, const fleet_control *c)
{
    if (c->action == FLEET_ACTION_FENCE)
        return c->fence_epoch > o->epoch || (c->fence_epoch == o->epoch && o->fenced);
    if (c->action == FLEET_ACTION_UNFENCE)
        return c->fence_epoch > o->epoch || (c->fence_epoch == o->epoch && !o->fenced && o->epoch != 0);
    return true;
}

/* The default RESTART: say STOPPING, answer, make sure both left, exit.
 * Does not return. */
static void default_restart(fleet_obey *o, const char *reply, const fleet_control *c)
{
    natsConnection *nc = hb_connection(o->hb);

    (void)fleet_hb_set_state(o->hb, FLEET_STATE_STOPPING);
    send_ack(o, reply, c->seq, true, "");
    (void)natsConnection_FlushTimeout(nc, OBEY_FLUSH_BEFORE_EXIT_MS);
    exit(FLEET_EXIT_RESTART);
}

/* Runs the application's handler for an accepted command (NULL: the
 * default, which accepts). */
static fleet_status run_handler(fleet_obey *o, const fleet_control *c)
{
    fleet_status (*fn)(void *, const fleet_control *) = NULL;

    switch (c->action) {
    case FLEET_ACTION_RESTART: fn = o->h.on_restart; break;
    case FLEET_ACTION_FENCE: fn = o->h.on_fence; break;
    case FLEET_ACTION_UNFENCE: fn = o->h.on_unfence; break;
    case FLEET_ACTION_DRAIN: fn = o->h.on_drain; break;
    case FLEET_ACTION_RESUME: fn = o->h.on_resume; break;
    default:
        return fleet_fail(FLEET_ERR_INVALID_ARG, "unknown action %d", (int)c->action);
    }
    if (fn == NULL)
        return FLEET_OK;
    fleet_fail(FLEET_OK, "%s", "");     /* an empty detail unless the handler sets one */
    return fn(o->h.ctx, c);
}

/* Records the outcome of an accepted command in the heartbeat. */
static void report(fleet_obey *o, const fleet_control *c)
{
    fleet_serving_state state = FLEET_STATE_UNSPECIFIED;

    fleet_hb_set_term_seen(o->hb, fleet_verifier_term_seen(o->verifier));
    if (c->action == FLEET_ACTION_FENCE || c->action == FLEET_ACTION_UNFENCE) {
        o->epoch = c->fence_epoch;
        o->fenced = c->action == FLEET_ACTION_FENCE;
        fleet_hb_set_fence_epoch(o->hb, c->fence_epoch);
    }
    if (o->h.reports_state)
        return;
    switch (c->action) {
    case FLEET_ACTION_FENCE: state = FLEET_STATE_FENCED; break;
    case FLEET_ACTION_UNFENCE: state = FLEET_STATE_SERVING; break;
    case FLEET_ACTION_DRAIN: state = FLEET_STATE_DRAINING; break;
    case FLEET_ACTION_RESUME: state = FLEET_STATE_SERVING; break;
    default: break;     /* a RESTART handler reports its own new life */
    }
    if (state != FLEET_STATE_UNSPECIFIED)
        (void)fleet_hb_set_state(o->hb, state);
}

/* nats.c message callback: owns `msg`. */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    fleet_obey *o = closure;
    const char *reply = natsMsg_GetReply(msg);
    fleet_control c;
    fleet_refusal r;
    fleet_status s;

    (void)nc;
    (void)sub;
    r = fleet_verifier_check(o->verifier, (const uint8_t *)natsMsg_GetData(msg),
                             (size_t)natsMsg_GetDataLength(msg), fleet_hb_incarnation(o->hb), fleet_unix_ms(), &c);
    if (r != FLEET_REFUSE_NONE) {
        uint64_t claimed = 0;

        if (r > FLEET_REFUSE_NONE && r < FLEET_REFUSE_COUNT)
            count(o, &o->counters.refused[r]);
        /* Name the Control answered (DESIGN.md §7), as it claims to be: an
         * ack that names nothing is ignored by the issuer. */
        (void)control_peek_seq((const uint8_t *)natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &claimed);
        send_ack(o, reply, claimed, false, fleet_refusal_rule(r));
        goto out_destroy_msg;
    }
    /* The verifier recorded (term, seq): whatever follows, it is seen. */
    fleet_hb_set_term_seen(o->hb, fleet_verifier_term_seen(o->verifier));
    if (!epoch_ok(o, &c)) {
        count(o, &o->counters.stale_epoch);
        send_ack(o, reply, c.seq, false, OBEY_STALE_EPOCH);
        goto out_destroy_msg;
    }
    if (c.action == FLEET_ACTION_RESTART && o->h.on_restart == NULL) {
        count(o, &o->counters.accepted);
        natsMsg_Destroy(msg);
        default_restart(o, reply, &c);
    }
    s = run_handler(o, &c);
    if (s != FLEET_OK) {
        const char *why = fleet_last_error();

        count(o, &o->counters.handler_refused);
        send_ack(o, reply, c.seq, false, why[0] != '\0' ? why : fleet_status_text(s));
        goto out_destroy_msg;
    }
    count(o, &o->counters.accepted);
    report(o, &c);
    send_ack(o, reply, c.seq, true, "");
out_destroy_msg:
    natsMsg_Destroy(msg);
}

/* nats.c: the subscription is closed and on_msg has returned for good. */
static void on_complete(void *closure)
{
    fleet_obey *o = closure;

    pthread_mutex_lock(&o->lock);
    o->completed = true;
    pthread_cond_broadcast(&o->done);
    pthread_mutex_unlock(&o->lock);
}

static fleet_status subscribe(fleet_obey *o)
{
    char subject[FLEET_SUBJECT_MAX];
    natsStatus ns;

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_CTL, hb_prefix(o->hb), o->service, o->instance);
    ns = natsConnection_Subscribe(&o->sub, hb_connection(o->hb), subject, on_msg, o);
    if (ns != NATS_OK)
        return fleet_fail(FLEET_ERR_NATS, "subscribe %s: %s", subject, natsStatus_GetText(ns));
    ns = natsSubscription_SetOnCompleteCB(o->sub, on_complete, o);
    if (ns != NATS_OK) {
        natsSubscription_Destroy(o->sub);
        o->sub = NULL;
        return fleet_fail(FLEET_ERR_NATS, "subscribe %s: %s", subject, natsStatus_GetText(ns));
    }
    return FLEET_OK;
}

fleet_status fleet_obey_start(fleet_hb *hb, const fleet_verifier_opts *vopts, const fleet_obey_handlers *h,
                              fleet_obey **out)
{
    fleet_verifier_opts vo;
    fleet_obey *o;
    fleet_status s;

    if (hb == NULL || vopts == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_obey_start: hb, vopts and out are required");
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory starting to obey control");
    o->hb = hb;
    if (h != NULL)
        o->h = *h;
    vo = *vopts;
    if (vo.service == NULL)
        vo.service = hb_service(hb);
    if (vo.instance == NULL)
        vo.instance = hb_instance(hb);
    s = fleet_verifier_create(&vo, &o->verifier);
    if (s != FLEET_OK)
        goto out_free_o;
    /* The verifier accepted both names: valid tokens, so they fit. */
    snprintf(o->service, sizeof(o->service), "%s", vo.service);
    snprintf(o->instance, sizeof(o->instance), "%s", vo.instance);
    o->epoch = hb_fence_epoch(hb);
    if (pthread_mutex_init(&o->lock, NULL) != 0) {
        s = fleet_fail(FLEET_ERR_SYSTEM, "pthread_mutex_init failed");
        goto out_destroy_verifier;
    }
    if (pthread_cond_init(&o->done, NULL) != 0) {
        s = fleet_fail(FLEET_ERR_SYSTEM, "pthread_cond_init failed");
        goto out_destroy_lock;
    }
    s = subscribe(o);
    if (s != FLEET_OK)
        goto out_destroy_cond;
    *out = o;
    return FLEET_OK;

out_destroy_cond:
    pthread_cond_destroy(&o->done);
out_destroy_lock:
    pthread_mutex_destroy(&o->lock);
out_destroy_verifier:
    fleet_verifier_destroy(o->verifier);
out_free_o:
    free(o);
    return s;
}

void fleet_obey_destroy(fleet_obey *o)
{
    if (o == NULL)
        return;
    /* Unsubscribing closes the subscription whether or not the server still
     * hears us; nats.c then calls on_complete from the delivery thread once
     * a running on_msg has returned. */
    (void)natsSubscription_Unsubscribe(o->sub);
    pthread_mutex_lock(&o->lock);
    while (!o->completed)
        pthread_cond_wait(&o->done, &o->lock);
    pthread_mutex_unlock(&o->lock);
    natsSubscription_Destroy(o->sub);
    pthread_cond_destroy(&o->done);
    pthread_mutex_destroy(&o->lock);
    fleet_verifier_destroy(o->verifier);
    free(o);
}

fleet_status fleet_obey_counters_get(fleet_obey *o, fleet_obey_counters *out)
{
    if (o == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_obey_counters_get: o and out are required");
    pthread_mutex_lock(&o->lock);
    *out = o->counters;
    pthread_mutex_unlock(&o->lock);
    return FLEET_OK;
}

fleet_status fleet_obey_refuse(fleet_status s, const char *why)
{
    return fleet_fail(s, "%s", why != NULL ? why : "");
}
