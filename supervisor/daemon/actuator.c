#include "actuator.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "fleet/control.h"
#include "fleet/nkey.h"
#include "fleet/subjects.h"
#include "fleet/clock.h"
#include "log.h"

/* Attempts sent, remembered for matching their answers: slot action_id %
 * PENDING_SLOTS. An older attempt in the same slot is long answered or
 * timed out (the core sends far fewer in one ack timeout). */
#define PENDING_SLOTS 4096

struct pending {
    uint64_t action_id;      /* 0 = empty */
    uint64_t seq;
    uint64_t target;         /* hash of service and instance */
};

struct actuator {
    struct bus *bus;
    struct ingest *queue;
    fleet_keypair *key;          /* NULL: observe only */
    char public_key[FLEET_NKEY_PUBLIC_LEN + 1];
    char prefix[FLEET_PREFIX_MAX + 1];
    char inbox[128];             /* answers arrive on <inbox>.<action_id> */
    uint32_t expiry_ms;
    uint64_t last_seq;           /* owner thread */
    uint64_t sent;               /* owner thread */
    uint64_t sent_by_action[ACTUATOR_ACTIONS]; /* owner thread */
    uint64_t send_failed;        /* owner thread */
    pthread_mutex_t lock;        /* guards pending: written by the owner, read by nats.c */
    struct pending *pending;
    atomic_uint_fast64_t acks_accepted; /* nats thread */
    atomic_uint_fast64_t acks_refused;
    atomic_uint_fast64_t acks_retryable;
    atomic_uint_fast64_t acks_no_responders;
    atomic_uint_fast64_t acks_unmatched;
    atomic_uint_fast64_t acks_malformed;
};

/* A core action is sent as the libfleet action of the same number. */
_Static_assert((int)CORE_ACT_RESTART == (int)FLEET_ACTION_RESTART && (int)CORE_ACT_FENCE == (int)FLEET_ACTION_FENCE &&
                   (int)CORE_ACT_UNFENCE == (int)FLEET_ACTION_UNFENCE && (int)CORE_ACT_DRAIN == (int)FLEET_ACTION_DRAIN &&
                   (int)CORE_ACT_RESUME == (int)FLEET_ACTION_RESUME,
               "core_action_kind must equal fleet_action");

/* FNV-1a over service, a NUL, instance. */
static uint64_t target_hash(const char *service, const char *instance)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *c = service; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    h *= 1099511628211ULL;
    for (const char *c = instance; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    return h;
}

/* Whether `ack` answers attempt `action_id` as it was sent. */
static bool matches(struct actuator *a, uint64_t action_id, const struct codec_ack *ack)
{
    const struct pending *p;
    bool ok;

    pthread_mutex_lock(&a->lock);
    p = &a->pending[action_id % PENDING_SLOTS];
    ok = p->action_id == action_id &&
         (ack == NULL || (p->seq == ack->seq && p->target == target_hash(ack->service, ack->instance)));
    pthread_mutex_unlock(&a->lock);
    return ok;
}

static void hand_over(struct actuator *a, uint64_t action_id, enum core_ack outcome, const char *error)
{
    if (ingest_ack(a->queue, action_id, outcome, error, fleet_mono_ms()) != 0)
        log_kv(LOG_ERROR, "control answer lost: out of memory (the action will be retried)", NULL);
}

/* nats.c thread: match, classify, hand over; nothing else. */
static void on_ack(void *ctx, const char *subject, const void *data, size_t len, bool no_responders)
{
    struct actuator *a = ctx;
    const char *dot = strrchr(subject, '.');
    struct codec_ack ack;
    uint64_t action_id;
    char *end;

    action_id = dot != NULL ? strtoull(dot + 1, &end, 10) : 0;
    if (action_id == 0 || *end != '\0') {
        atomic_fetch_add(&a->acks_unmatched, 1);
        return;
    }
    if (no_responders) {
        /* From the server (or anyone who may publish on our inbox): the
         * attempt must be ours; the core weighs it against other answers. */
        if (!matches(a, action_id, NULL)) {
            atomic_fetch_add(&a->acks_unmatched, 1);
            return;
        }
        atomic_fetch_add(&a->acks_no_responders, 1);
        hand_over(a, action_id, CORE_ACK_NO_RESPONDERS, "no responders");
        return;
    }
    if (codec_ack_decode(data, len, &ack) != 0) {
        atomic_fetch_add(&a->acks_malformed, 1);
        return;
    }
    if (!matches(a, action_id, &ack)) {
        atomic_fetch_add(&a->acks_unmatched, 1);
        return;
    }
    if (ack.accepted) {
        atomic_fetch_add(&a->acks_accepted, 1);
        hand_over(a, action_id, CORE_ACK_ACCEPTED, "");
    } else if (fleet_refusal_retryable(ack.error)) {
        atomic_fetch_add(&a->acks_retryable, 1);
        hand_over(a, action_id, CORE_ACK_RETRYABLE, ack.error);
    } else {
        atomic_fetch_add(&a->acks_refused, 1);
        hand_over(a, action_id, CORE_ACK_REFUSED, ack.error);
    }
}

int actuator_create(struct bus *b, struct ingest *q, const struct actuator_options *opts,
                    struct actuator **out, char *err, size_t errlen)
{
    struct actuator *a = calloc(1, sizeof(*a));
    char subject[160];

    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->bus = b;
    a->queue = q;
    a->pending = calloc(PENDING_SLOTS, sizeof(*a->pending));
    if (a->pending == NULL) {
        snprintf(err, errlen, "out of memory");
        free(a);
        return -1;
    }
    pthread_mutex_init(&a->lock, NULL);
    a->expiry_ms = opts->expiry_ms;
    snprintf(a->prefix, sizeof(a->prefix), "%s", opts->prefix);
    if (opts->signing_key_file != NULL && opts->signing_key_file[0] != '\0') {
        if (fleet_keypair_from_seed_file(opts->signing_key_file, &a->key) != FLEET_OK) {
            snprintf(err, errlen, "control.signing_key_file: %s", fleet_last_error());
            goto out_free_actuator;
        }
        fleet_keypair_public(a->key, a->public_key, sizeof(a->public_key));
    }
    if (bus_inbox(a->inbox, sizeof(a->inbox)) != 0) {
        snprintf(err, errlen, "cannot make a reply inbox");
        goto out_destroy_key;
    }
    snprintf(subject, sizeof(subject), "%s.*", a->inbox);
    if (bus_subscribe_replies(b, subject, on_ack, a, err, errlen) != 0)
        goto out_destroy_key;
    *out = a;
    return 0;

out_destroy_key:
    fleet_keypair_destroy(a->key);
out_free_actuator:
    pthread_mutex_destroy(&a->lock);
    free(a->pending);
    free(a);
    return -1;
}

void actuator_destroy(struct actuator *a)
{
    if (a == NULL)
        return;
    fleet_keypair_destroy(a->key);
    pthread_mutex_destroy(&a->lock);
    free(a->pending);
    free(a);
}

bool actuator_can_act(const struct actuator *a)
{
    return a->key != NULL;
}

const char *actuator_public_key(const struct actuator *a)
{
    return a->public_key;
}

/* Sequence numbers rise strictly per issuer and term, also across our own
 * restarts: they start from the wall clock (2^10 per millisecond of room),
 * so a restarted supervisor does not reuse numbers its receivers saw. */
static uint64_t next_seq(struct actuator *a, int64_t now_unix_ms)
{
    uint64_t floor = (uint64_t)now_unix_ms << 10;

    a->last_seq = a->last_seq + 1 > floor ? a->last_seq + 1 : floor;
    return a->last_seq;
}

int actuator_send(struct actuator *a, const struct core_action *act, uint64_t term, int64_t now_unix_ms,
                  char *why, size_t whylen)
{
    fleet_control c;
    char subject[FLEET_SUBJECT_MAX], reply[160];
    uint8_t *envelope = NULL;
    size_t len;

    if (a->key == NULL) {
        snprintf(why, whylen, "no signing key configured (control.signing_key_file)");
        goto out_failed;
    }
    memset(&c, 0, sizeof(c));
    snprintf(c.service, sizeof(c.service), "%s", act->service->name);
    snprintf(c.instance, sizeof(c.instance), "%s", act->instance->name);
    c.incarnation = act->incarnation;
    c.action = (fleet_action)act->kind;
    c.fence_epoch = act->fence_epoch;
    c.term = term;
    c.seq = next_seq(a, now_unix_ms);
    c.issued_unix_ms = now_unix_ms;
    c.expires_unix_ms = now_unix_ms + a->expiry_ms;
    snprintf(c.reason, sizeof(c.reason), "%s", act->reason ? act->reason : "");
    if (fleet_control_new_nonce(&c) != FLEET_OK || fleet_control_seal(&c, a->key, &envelope, &len) != FLEET_OK) {
        snprintf(why, whylen, "cannot seal the control: %s", fleet_last_error());
        goto out_failed;
    }
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_CTL, a->prefix, c.service, c.instance);
    snprintf(reply, sizeof(reply), "%s.%" PRIu64, a->inbox, act->action_id);
    pthread_mutex_lock(&a->lock);
    a->pending[act->action_id % PENDING_SLOTS] = (struct pending){
        .action_id = act->action_id, .seq = c.seq, .target = target_hash(c.service, c.instance) };
    pthread_mutex_unlock(&a->lock);
    if (bus_publish_request(a->bus, subject, reply, envelope, len) != 0) {
        snprintf(why, whylen, "publish failed (NATS link down?)");
        free(envelope);
        goto out_failed;
    }
    free(envelope);
    a->sent++;
    if ((unsigned)act->kind < ACTUATOR_ACTIONS)
        a->sent_by_action[act->kind]++;
    return 0;

out_failed:
    a->send_failed++;
    return -1;
}

void actuator_counters(const struct actuator *a, struct actuator_counters *out)
{
    out->sent = a->sent;
    memcpy(out->sent_by_action, a->sent_by_action, sizeof(out->sent_by_action));
    out->send_failed = a->send_failed;
    out->acks_accepted = atomic_load(&a->acks_accepted);
    out->acks_refused = atomic_load(&a->acks_refused);
    out->acks_retryable = atomic_load(&a->acks_retryable);
    out->acks_no_responders = atomic_load(&a->acks_no_responders);
    out->acks_unmatched = atomic_load(&a->acks_unmatched);
    out->acks_malformed = atomic_load(&a->acks_malformed);
}
