/* Hand-over from NATS callback threads to the one thread that owns the fleet.
 *
 * Callbacks decode, validate and append; the owner swaps the whole batch out
 * under the lock and works on it unlocked. The eventfd is written only when
 * the queue goes from empty to non-empty, so a flood costs one wake-up, not
 * one syscall per heartbeat. Requests (queries) and link changes travel the
 * same way. */
#ifndef FLEET_INGEST_H
#define FLEET_INGEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "observer.h"
#include "proofcheck.h"

/* A request whose reply subject the owner thread answers. */
struct ingest_request {
    int kind;            /* caller-defined */
    char reply[256];
    char payload[FLEET_NAME_MAX + 1]; /* e.g. the service name of a query */
    int64_t arrival_ms;
};

/* An answer to one action attempt (a matched ControlAck, no responders,
 * or the edge's failure to send it), classified. */
struct ingest_ack {
    uint64_t action_id;
    enum core_ack outcome;
    char error[128];
    int64_t at_ms;
};

/* A signed operator command waiting for the owner thread (DESIGN.md §3
 * `<prefix>.v1.admin.<verb>`). Its bytes are copied when they are at most
 * FLEET_ENVELOPE_MAX; a bigger one keeps only its length (data NULL) and is
 * then refused as too large. */
#define INGEST_ADMIN_MAX 256      /* commands waiting at most; more are dropped (counted) */
#define INGEST_VERB_MAX 24        /* longest verb token kept (the longest verb is 15) */
struct ingest_admin {
    char verb[INGEST_VERB_MAX];   /* the subject's last token; "" when it is longer */
    char reply[256];              /* "" = nobody to answer */
    uint8_t *data;                /* malloc'd, the batch's: freed by the next take or batch_free */
    size_t len;
    int64_t arrival_ms;
};

struct ingest_link {
    bool up;
    int64_t at_ms;
    char server_id[FLEET_SERVER_ID_MAX + 1]; /* the server we are on now, "" when down */
};

struct ingest_batch {
    /* Heartbeats stay in the queue's ring and are read in place through
     * ingest_heartbeats: n_hb were waiting at the take. */
    size_t n_hb;
    size_t hb_done;      /* handed out by ingest_heartbeats so far */
    size_t hb_held;      /* the last run, released by the next call or take */
    struct ingest_request *req;
    size_t n_req;
    size_t cap_req;
    struct ingest_link link[16];
    size_t n_link;
    struct ingest_ack *ack;
    size_t n_ack;
    size_t cap_ack;
    struct ingest_admin *admin;
    size_t n_admin;
    size_t cap_admin;
};

struct ingest_counters {
    uint64_t received;                   /* messages on the heartbeat subject */
    uint64_t refused[HB_REFUSAL_COUNT];  /* per reason; [HB_OK] unused */
    uint64_t link_events_lost;           /* link changes past the batch's room */
    uint64_t admin_dropped;              /* admin commands past INGEST_ADMIN_MAX waiting */
};

struct ingest;

/* Creates the queue. `max_queued` caps heartbeats waiting for the owner; past
 * it the heartbeat's thread waits for room while the owner keeps taking, and
 * they are refused as overload (counted) when it does not. `prefix` is the subject prefix.
 * `proofs` (borrowed, may be NULL: nothing is proven, as for a supervisor
 * without a key) checks heartbeat proofs before they are queued; a wrong
 * proof is refused (HB_REFUSE_PROOF). Returns 0 and *out, or -1 (*out
 * untouched). */
int ingest_create(const char *prefix, size_t max_queued, size_t max_heartbeat_bytes,
                  struct proofcheck *proofs, struct ingest **out);
void ingest_destroy(struct ingest *q);

/* The fd the owner polls for POLLIN. */
int ingest_fd(const struct ingest *q);
/* An fd that turns readable when a heartbeat carrying an exit report (or a
 * STOPPING state) was queued, cleared by ingest_take: the owner polls it
 * while it lets heartbeats gather, so a death is never made to wait for
 * the gathering (DESIGN.md §5: an exit report is immediate). */
int ingest_urgent_fd(const struct ingest *q);

/* Decodes the heartbeat `data` that arrived on `subject` and checks its
 * proof with `proofs` (may be NULL: nothing is proven) at monotonic
 * `now_ms`: HB_OK with *out filled (`proven` set, arrival_ms left), or the
 * refusal (HB_REFUSE_KEY for a key that is not the incarnation's,
 * HB_REFUSE_PROOF for a wrong proof), *out then unspecified. The one place
 * that turns bytes into a judged heartbeat; thread-safe. */
enum hb_refusal ingest_decode(struct proofcheck *proofs, size_t prefix_len, size_t max_len,
                              const char *subject, const void *data, size_t len, int64_t now_ms,
                              struct hb_input *out);

/* Producers (any thread; heartbeats from several threads are serialized, and
 * keep each thread's order). */
enum hb_refusal ingest_heartbeat(struct ingest *q, const char *subject, const void *data, size_t len,
                                 int64_t arrival_ms);
/* Whether ingest_heartbeat would go ahead at once: a ring slot is free, or
 * the owner is stalled or gone (the heartbeat is then refused as overload
 * at once, as ingest_heartbeat does). False only while a live owner has yet
 * to take the ring's contents: a caller that can leave the heartbeat where
 * it is (the bus's reader, in nats.c's pending buffer) asks this first
 * instead of waiting inside ingest_heartbeat. Any producer thread. */
bool ingest_room(struct ingest *q);
/* A liveness fact judged elsewhere (micro_probe.c: an answer to a micro
 * ping), queued for the owner exactly as a decoded heartbeat, within the
 * same bound. Not counted as received on the heartbeat subject. Returns 0,
 * or -1 when the queue is full (nothing queued; the caller counts it). */
int ingest_fact(struct ingest *q, const struct hb_input *hb);
void ingest_request(struct ingest *q, int kind, const char *reply, const void *payload, size_t len,
                    int64_t arrival_ms);
void ingest_link(struct ingest *q, bool up, const char *server_id, int64_t at_ms);
/* An operator command that arrived on `subject`; dropped (counted) when
 * INGEST_ADMIN_MAX wait already or memory runs out: the operator's fleetctl
 * then says no supervisor answered. */
void ingest_admin(struct ingest *q, const char *subject, const char *reply, const void *data, size_t len,
                  int64_t arrival_ms);
/* Returns 0, or -1 when out of memory (the ack is lost; the core's ack
 * timeout then retries the action). */
int ingest_ack(struct ingest *q, uint64_t action_id, enum core_ack outcome, const char *error, int64_t at_ms);

/* Owner: swaps the pending work into `batch` (which must have come from a
 * previous take or be zeroed) and clears the eventfd. The batch's arrays are
 * reused between calls; free them with ingest_batch_free. Heartbeats of the
 * previous take not read by then stay queued for this one. */
void ingest_take(struct ingest *q, struct ingest_batch *batch);
/* Owner: moves the link changes waiting (at most `cap`, oldest first) into
 * out[] ahead of the next ingest_take, which then holds only those that
 * came after; returns how many. For what must know the link before the
 * rest of a batch is taken (a leadership won at start, while the first
 * connection's report waits in the queue). */
size_t ingest_take_links(struct ingest *q, struct ingest_link *out, size_t cap);
/* Owner: the next run of the heartbeats of the last take, in arrival order,
 * read in place: *run points at its first; returns its length, 0 when the
 * take's heartbeats are all handed out. A run is valid until the next call
 * or take (which give its slots back to the producer). */
size_t ingest_heartbeats(struct ingest *q, struct ingest_batch *batch, const struct hb_input **run);
void ingest_batch_free(struct ingest_batch *batch);
/* Owner: it takes nothing more (shutdown). From now on a heartbeat that finds
 * the ring full is refused at once instead of waiting for room, so no
 * callback outlasts the bus's drain by waiting. Any thread; NULL is a no-op. */
void ingest_owner_gone(struct ingest *q);

/* Snapshot of the counters (any thread). */
void ingest_counters(struct ingest *q, struct ingest_counters *out);

/* "reason on subject" of the last refusal for `reason`, or of the last
 * refusal of any reason when `reason` is HB_OK; "" when none (any thread). */
void ingest_last_refusal(struct ingest *q, enum hb_refusal reason, char *out, size_t n);

#endif
