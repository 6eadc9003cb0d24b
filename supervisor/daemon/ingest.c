#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fleet/clock.h"
#include "fleet/control.h"
#include "fleet/subjects.h"

#include "hb_ring.h"
#include "log.h"

/* A full ring makes a producer wait for room, rechecking every
 * ROOM_POLL_NS, while the owner has taken a batch or given back ring slots
 * within OWNER_ALIVE_MS (the bus reader asks ingest_room first and does not
 * wait here, so it never stops reading):
 * the backlog then waits in nats.c's pending buffer (bounded, its drops
 * counted as slow-consumer drops) instead of being refused here. With an
 * owner that took nothing that long (stalled), or one that said it is gone
 * (ingest_owner_gone, at shutdown), the heartbeat is refused as overload at
 * once, as it always was. */
#define OWNER_ALIVE_MS 2000
#define ROOM_POLL_NS 200000

struct ingest {
    pthread_mutex_t lock;
    int efd;
    atomic_bool signalled; /* eventfd written since the last take */
    int ufd;               /* eventfd: an exit report is waiting (ingest_urgent_fd) */
    /* Heartbeats: decoded straight into the ring, which the owner reads in
     * place. Producers serialize on produce_lock (there is one in practice,
     * the bus reader, bus_loop.c: the lock is never
     * contended), which the owner never takes. */
    pthread_mutex_t produce_lock;
    struct hb_ring ring;
    atomic_int_fast64_t last_take_ms; /* monotonic time the owner last took or gave back slots */
    atomic_bool owner_gone;           /* ingest_owner_gone: a full ring refuses at once */
    size_t max_heartbeat_bytes;
    struct proofcheck *proofs;  /* borrowed; NULL: nothing is proven */
    size_t prefix_len;
    char prefix[FLEET_PREFIX_MAX + 1];
    /* Pending work other than heartbeats, owned under `lock`. */
    struct ingest_batch pending;
    /* Counters: atomics, so producers need not take the lock to count. */
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t refused[HB_REFUSAL_COUNT];
    atomic_uint_fast64_t link_events_lost;
    atomic_uint_fast64_t admin_dropped;
    char last_refusal[HB_REFUSAL_COUNT][160]; /* per reason, under lock */
    enum hb_refusal last_reason;              /* under lock */
};

int ingest_create(const char *prefix, size_t max_queued, size_t max_heartbeat_bytes,
                  struct proofcheck *proofs, struct ingest **out)
{
    struct ingest *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return -1;
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0)
        goto out_free_queue;
    q->ufd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->ufd < 0)
        goto out_close_fd;
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        goto out_close_urgent_fd;
    if (pthread_mutex_init(&q->produce_lock, NULL) != 0)
        goto out_destroy_lock;
    if (hb_ring_init(&q->ring, max_queued) != 0)
        goto out_destroy_produce_lock;
    atomic_init(&q->last_take_ms, fleet_mono_ms());
    snprintf(q->prefix, sizeof(q->prefix), "%s", prefix);
    q->prefix_len = strlen(q->prefix);
    q->max_heartbeat_bytes = max_heartbeat_bytes;
    q->proofs = proofs;
    *out = q;
    return 0;

out_destroy_produce_lock:
    pthread_mutex_destroy(&q->produce_lock);
out_destroy_lock:
    pthread_mutex_destroy(&q->lock);
out_close_urgent_fd:
    close(q->ufd);
out_close_fd:
    close(q->efd);
out_free_queue:
    free(q);
    return -1;
}

/* Frees the commands' bytes a batch holds. */
static void admin_clear(struct ingest_batch *batch)
{
    for (size_t k = 0; k < batch->n_admin; k++)
        free(batch->admin[k].data);
    batch->n_admin = 0;
}

void ingest_batch_free(struct ingest_batch *batch)
{
    admin_clear(batch);
    free(batch->req);
    free(batch->ack);
    free(batch->admin);
    memset(batch, 0, sizeof(*batch));
}

void ingest_destroy(struct ingest *q)
{
    if (q == NULL)
        return;
    ingest_batch_free(&q->pending);
    hb_ring_fini(&q->ring);
    pthread_mutex_destroy(&q->produce_lock);
    pthread_mutex_destroy(&q->lock);
    close(q->ufd);
    close(q->efd);
    free(q);
}

int ingest_fd(const struct ingest *q)
{
    return q->efd;
}

int ingest_urgent_fd(const struct ingest *q)
{
    return q->ufd;
}

/* Any thread, after its work is where the owner looks (the pending batch,
 * or a committed ring slot): the exchange orders that before the test of
 * `signalled`, which ingest_take clears before it looks (see there), so
 * either the owner sees the work or it is woken again. */
static void wake_owner(struct ingest *q)
{
    uint64_t one = 1;

    if (atomic_exchange(&q->signalled, true))
        return;
    if (write(q->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_kv(LOG_ERROR, "cannot wake the main loop", "error", strerror(errno), NULL);
}

static void refuse(struct ingest *q, enum hb_refusal r, const char *subject)
{
    atomic_fetch_add_explicit(&q->refused[r], 1, memory_order_relaxed);
    pthread_mutex_lock(&q->lock);
    snprintf(q->last_refusal[r], sizeof(q->last_refusal[r]), "%s on %.120s", codec_refusal_name(r), subject);
    q->last_reason = r;
    pthread_mutex_unlock(&q->lock);
}

enum hb_refusal ingest_decode(struct proofcheck *proofs, size_t prefix_len, size_t max_len,
                              const char *subject, const void *data, size_t len, int64_t now_ms,
                              struct hb_input *out)
{
    struct codec_hb_proof proof;
    enum hb_refusal r = codec_heartbeat_decode(subject, prefix_len, data, len, max_len, out,
                                               proofs != NULL ? &proof : NULL);
    enum proof_result pr;

    if (r != HB_OK || proofs == NULL || !proof.has_key)
        return r;
    pr = proofcheck_verify(proofs, proof.key, proof.incarnation, proof.proof, proof.proof_len, proof.layout,
                           proof.layout_len, now_ms);
    out->proven = pr == PROOF_PROVEN;
    return pr == PROOF_BAD_KEY ? HB_REFUSE_KEY : pr == PROOF_BAD ? HB_REFUSE_PROOF : HB_OK;
}

static bool owner_alive(struct ingest *q)
{
    return !atomic_load_explicit(&q->owner_gone, memory_order_relaxed) &&
           fleet_mono_ms() - atomic_load_explicit(&q->last_take_ms, memory_order_relaxed) <= OWNER_ALIVE_MS;
}

bool ingest_room(struct ingest *q)
{
    bool room;

    pthread_mutex_lock(&q->produce_lock);
    room = hb_ring_slot(&q->ring) != NULL;   /* not pushed: the next call returns the same slot */
    pthread_mutex_unlock(&q->produce_lock);
    return room || !owner_alive(q);
}

/* A slot for the next heartbeat; with the ring full, waits for room while
 * the owner is alive (see OWNER_ALIVE_MS). NULL: no room. Called under
 * produce_lock. */
static struct hb_input *slot_for_heartbeat(struct ingest *q)
{
    const struct timespec pause = { .tv_nsec = ROOM_POLL_NS };
    struct hb_input *slot = hb_ring_slot(&q->ring);

    while (slot == NULL && owner_alive(q)) {
        nanosleep(&pause, NULL);
        slot = hb_ring_slot(&q->ring);
    }
    return slot;
}

enum hb_refusal ingest_heartbeat(struct ingest *q, const char *subject, const void *data, size_t len,
                                 int64_t arrival_ms)
{
    struct hb_input scratch, *slot;
    enum hb_refusal r;
    bool urgent = false;

    atomic_fetch_add_explicit(&q->received, 1, memory_order_relaxed);
    pthread_mutex_lock(&q->produce_lock);
    slot = slot_for_heartbeat(q);
    /* A full ring still decodes into scratch: a heartbeat that is wrong is
     * refused for what is wrong with it, not as overload. */
    r = ingest_decode(q->proofs, q->prefix_len, q->max_heartbeat_bytes, subject, data, len, arrival_ms,
                      slot != NULL ? slot : &scratch);
    if (r == HB_OK && slot == NULL)
        r = HB_REFUSE_OVERLOAD;
    if (r == HB_OK) {
        slot->arrival_ms = arrival_ms;
        /* Read before the push: the slot is the owner's once pushed. */
        urgent = slot->has_exit || slot->state == SERVING_STOPPING;
        hb_ring_push(&q->ring);
    }
    pthread_mutex_unlock(&q->produce_lock);
    if (r != HB_OK) {
        refuse(q, r, subject);
        return r;
    }
    wake_owner(q);
    if (urgent) {
        uint64_t one = 1;

        if (write(q->ufd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_kv(LOG_ERROR, "cannot wake the main loop", "error", strerror(errno), NULL);
    }
    return HB_OK;
}

int ingest_fact(struct ingest *q, const struct hb_input *hb)
{
    struct hb_input *slot;

    pthread_mutex_lock(&q->produce_lock);
    slot = hb_ring_slot(&q->ring);   /* no wait: a full ring is overload, counted by the caller */
    if (slot != NULL) {
        *slot = *hb;
        hb_ring_push(&q->ring);
    }
    pthread_mutex_unlock(&q->produce_lock);
    if (slot == NULL)
        return -1;
    wake_owner(q);
    return 0;
}

void ingest_request(struct ingest *q, int kind, const char *reply, const void *payload, size_t len,
                    int64_t arrival_ms)
{
    struct ingest_request *r;

    if (reply == NULL || reply[0] == '\0' || strlen(reply) >= sizeof(r->reply))
        return; /* nowhere to answer */
    pthread_mutex_lock(&q->lock);
    if (q->pending.n_req == q->pending.cap_req) {
        size_t cap = q->pending.cap_req ? q->pending.cap_req * 2 : 16;
        struct ingest_request *grown = cap <= 4096 ? realloc(q->pending.req, cap * sizeof(*grown)) : NULL;

        if (grown == NULL) {
            pthread_mutex_unlock(&q->lock);
            return; /* the requester times out; queries are retried by design */
        }
        q->pending.req = grown;
        q->pending.cap_req = cap;
    }
    r = &q->pending.req[q->pending.n_req++];
    r->kind = kind;
    r->arrival_ms = arrival_ms;
    snprintf(r->reply, sizeof(r->reply), "%s", reply);
    if (len >= sizeof(r->payload))
        len = sizeof(r->payload) - 1;
    memcpy(r->payload, payload, len);
    r->payload[len] = '\0';
    wake_owner(q);
    pthread_mutex_unlock(&q->lock);
}

void ingest_admin(struct ingest *q, const char *subject, const char *reply, const void *data, size_t len,
                  int64_t arrival_ms)
{
    const char *verb = fleet_subject_tail(subject, q->prefix_len, FLEET_SUBJECT_ADMIN);
    struct ingest_admin *a;
    uint8_t *copy = NULL;

    if (len <= FLEET_ENVELOPE_MAX) {
        copy = malloc(len > 0 ? len : 1);
        if (copy == NULL)
            goto out_dropped;
        memcpy(copy, data, len);
    }
    pthread_mutex_lock(&q->lock);
    if (q->pending.n_admin == q->pending.cap_admin) {
        size_t cap = q->pending.cap_admin ? q->pending.cap_admin * 2 : 8;
        struct ingest_admin *grown = cap <= INGEST_ADMIN_MAX ? realloc(q->pending.admin, cap * sizeof(*grown)) : NULL;

        if (grown == NULL) {
            pthread_mutex_unlock(&q->lock);
            goto out_dropped;
        }
        q->pending.admin = grown;
        q->pending.cap_admin = cap;
    }
    a = &q->pending.admin[q->pending.n_admin++];
    snprintf(a->verb, sizeof(a->verb), "%s", verb != NULL && strlen(verb) < sizeof(a->verb) ? verb : "");
    snprintf(a->reply, sizeof(a->reply), "%s", reply != NULL && strlen(reply) < sizeof(a->reply) ? reply : "");
    a->data = copy;
    a->len = len;
    a->arrival_ms = arrival_ms;
    wake_owner(q);
    pthread_mutex_unlock(&q->lock);
    return;

out_dropped:
    free(copy);
    atomic_fetch_add_explicit(&q->admin_dropped, 1, memory_order_relaxed);
}

int ingest_ack(struct ingest *q, uint64_t action_id, enum core_ack outcome, const char *error, int64_t at_ms)
{
    struct ingest_ack *a;

    pthread_mutex_lock(&q->lock);
    if (q->pending.n_ack == q->pending.cap_ack) {
        size_t cap = q->pending.cap_ack ? q->pending.cap_ack * 2 : 64;
        struct ingest_ack *grown = cap <= 65536 ? realloc(q->pending.ack, cap * sizeof(*grown)) : NULL;

        if (grown == NULL) {
            pthread_mutex_unlock(&q->lock);
            return -1;
        }
        q->pending.ack = grown;
        q->pending.cap_ack = cap;
    }
    a = &q->pending.ack[q->pending.n_ack++];
    a->action_id = action_id;
    a->outcome = outcome;
    a->at_ms = at_ms;
    snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
    wake_owner(q);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void ingest_link(struct ingest *q, bool up, const char *server_id, int64_t at_ms)
{
    size_t room = sizeof(q->pending.link) / sizeof(q->pending.link[0]);
    struct ingest_link *l;

    pthread_mutex_lock(&q->lock);
    if (q->pending.n_link < room) {
        l = &q->pending.link[q->pending.n_link++];
    } else {
        /* Keep the latest state: overwrite the last entry. */
        l = &q->pending.link[room - 1];
        atomic_fetch_add_explicit(&q->link_events_lost, 1, memory_order_relaxed);
    }
    l->up = up;
    l->at_ms = at_ms;
    snprintf(l->server_id, sizeof(l->server_id), "%s", server_id != NULL ? server_id : "");
    wake_owner(q);
    pthread_mutex_unlock(&q->lock);
}

void ingest_take(struct ingest *q, struct ingest_batch *batch)
{
    struct ingest_batch spare = *batch;
    uint64_t drained;

    hb_ring_release(&q->ring, batch->hb_held);
    atomic_store_explicit(&q->last_take_ms, fleet_mono_ms(), memory_order_relaxed);
    /* Double buffering: the caller's processed arrays become the next
     * pending ones, so steady state allocates nothing. */
    spare.n_hb = spare.hb_done = spare.hb_held = 0;
    spare.n_req = 0;
    spare.n_link = 0;
    spare.n_ack = 0;
    admin_clear(&spare);
    pthread_mutex_lock(&q->lock);
    *batch = q->pending;
    q->pending = spare;
    atomic_store(&q->signalled, false);
    if (read(q->efd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
        log_kv(LOG_ERROR, "cannot clear the wake-up fd", "error", strerror(errno), NULL);
    if (read(q->ufd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
        log_kv(LOG_ERROR, "cannot clear the wake-up fd", "error", strerror(errno), NULL);
    pthread_mutex_unlock(&q->lock);
    /* Cleared before looking: a heartbeat committed after this look finds
     * `signalled` false and wakes the owner again (wake_owner). */
    atomic_thread_fence(memory_order_seq_cst);
    batch->n_hb = hb_ring_committed(&q->ring);
}

size_t ingest_take_links(struct ingest *q, struct ingest_link *out, size_t cap)
{
    size_t n;

    pthread_mutex_lock(&q->lock);
    n = q->pending.n_link < cap ? q->pending.n_link : cap;
    memcpy(out, q->pending.link, n * sizeof(*out));
    memmove(q->pending.link, q->pending.link + n, (q->pending.n_link - n) * sizeof(*out));
    q->pending.n_link -= n;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t ingest_heartbeats(struct ingest *q, struct ingest_batch *batch, const struct hb_input **run)
{
    size_t n;

    hb_ring_release(&q->ring, batch->hb_held);
    if (batch->hb_held > 0)
        atomic_store_explicit(&q->last_take_ms, fleet_mono_ms(), memory_order_relaxed);
    batch->hb_held = 0;
    n = hb_ring_run(&q->ring, batch->n_hb - batch->hb_done, run);
    batch->hb_done += n;
    batch->hb_held = n;
    return n;
}

void ingest_owner_gone(struct ingest *q)
{
    if (q != NULL)
        atomic_store(&q->owner_gone, true);
}

void ingest_counters(struct ingest *q, struct ingest_counters *out)
{
    out->received = atomic_load_explicit(&q->received, memory_order_relaxed);
    for (int r = 0; r < HB_REFUSAL_COUNT; r++)
        out->refused[r] = atomic_load_explicit(&q->refused[r], memory_order_relaxed);
    out->link_events_lost = atomic_load_explicit(&q->link_events_lost, memory_order_relaxed);
    out->admin_dropped = atomic_load_explicit(&q->admin_dropped, memory_order_relaxed);
}

void ingest_last_refusal(struct ingest *q, enum hb_refusal reason, char *out, size_t n)
{
    pthread_mutex_lock(&q->lock);
    snprintf(out, n, "%s", q->last_refusal[reason == HB_OK ? q->last_reason : reason]);
    pthread_mutex_unlock(&q->lock);
}
