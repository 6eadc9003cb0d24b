/* The daemon's JetStream edge (DESIGN.md §8): durable per-instance state in
 * a KV bucket, the leader lease's key in another, and the audit stream that
 * captures every Event the feed publishes. With bus.c, the only module that
 * uses nats.c; the lease's rules live in lease.h and leadership.h, which
 * call the lease operations here.
 *
 * Files: store.c opens the assets, keeps their replication and the degraded
 * mode, and runs the lease operations and the term floor; store_records.c
 * the per-instance records and maintenance flags; store_audit.c the audit
 * stream.
 *
 * Threads: every function runs on the owner thread (the one that owns the
 * fleet state); none is thread-safe and none calls back on another thread.
 * Every JetStream request is bounded (STORE_TIMEOUT_MS; lease operations by
 * a quarter of the lease TTL), so one call blocks the owner loop for at most
 * that long per request it makes. While the NATS link is down, writes fail
 * at once instead of being buffered by nats.c and replayed, stale, after a
 * reconnect.
 *
 * Degraded mode: when JetStream is unreachable (a server without -js, a
 * missing or unusable bucket) the store still opens, says why
 * (store_unavailable_reason), and refuses every request with -1 (lease
 * operations: LEASE_ERROR); store_tick keeps retrying to open.
 *
 * Replicas (state.replicas): buckets and the audit stream are created with
 * `replicas`; 0 (auto) asks for 3 and takes 1 when the server says it is
 * not clustered, or that its cluster cannot place 3 (fewer than 3 JetStream
 * servers up; retried every STORE_REPLICAS_RETRY_MS). An existing asset
 * with fewer replicas than wanted is raised, and the log says so; one with
 * more is left as it is.
 *
 * Errors: functions return 0 or -1; after -1 store_last_error() says what
 * failed in operator words, with nats.c's own text (nats_GetLastError). */
#ifndef SUPERVISOR_STORE_H
#define SUPERVISOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/control.h" /* FLEET_NONCE_LEN */
#include "fleet/subjects.h"

#include "bus.h" /* natsConnection, declared without nats.h */
#include "lease.h"

/* Bound on each JetStream request (API call, KV read or acknowledged write). */
#define STORE_TIMEOUT_MS 1000
/* How often a bucket short of the replicas it should have is raised again. */
#define STORE_REPLICAS_RETRY_MS 60000
#define STORE_REPLICAS_MAX 5
#define STORE_DEFAULT_AUDIT_MAX_AGE_S 604800

struct store_options {
    const char *prefix;          /* subject prefix, e.g. "fleet" (required) */
    const char *state_bucket;    /* NULL: FLEET_DEFAULT_STATE_BUCKET */
    const char *lease_bucket;    /* NULL: FLEET_DEFAULT_LEASE_BUCKET */
    const char *audit_stream;    /* NULL: FLEET_DEFAULT_AUDIT_STREAM */
    const char *nonce_bucket;    /* NULL: FLEET_DEFAULT_NONCE_BUCKET */
    int64_t nonce_ttl_ms;        /* the nonce bucket's TTL: how long a claimed nonce is kept;
                                    0 = no nonce bucket (store_claim_nonce then fails) */
    uint32_t lease_ttl_ms;       /* 0: LEASE_TTL_DEFAULT_MS; at least LEASE_TTL_MIN_MS */
    uint32_t audit_max_age_s;    /* 0: STORE_DEFAULT_AUDIT_MAX_AGE_S */
    uint32_t replicas;           /* 0: auto (see above); 1..STORE_REPLICAS_MAX */
    const char *supervisor_id;   /* the lease value (required) */
};

struct store;

/* Binds the JetStream assets on `nc` (borrowed: it must outlive the store),
 * creating what is missing:
 *   - state bucket: KV, history 1, file storage, no TTL;
 *   - lease bucket: KV, history 1, file storage, TTL = lease_ttl_ms. If the
 *     bucket exists with another TTL, its TTL wins (replicas must agree on
 *     one; store_lease_ttl_ms) and a warning is logged;
 *   - audit stream on "<prefix>.v1.events.>": limits retention, max age
 *     audit_max_age_s, file storage. An existing stream of that name is
 *     updated to this configuration (never to fewer replicas).
 * JetStream being unavailable is not an error: *out is a store in degraded
 * mode. Returns -1 with a message in err (nothing allocated) only for bad
 * options or no memory. Destroy with store_close(). */
int store_open(natsConnection *nc, const struct store_options *o, struct store **out, char *err,
               size_t n);

/* Frees the store (not the connection). Does not release the lease. NULL
 * is a no-op. */
void store_close(struct store *s);

/* Retries opening while degraded (at most every lease renewal period) and
 * raises replicas that fell short (every STORE_REPLICAS_RETRY_MS). Cheap
 * when there is nothing to do. */
void store_tick(struct store *s, int64_t now_mono_ms);
/* When store_tick next has work (CLOCK_MONOTONIC ms), INT64_MAX for none. */
int64_t store_next_tick(const struct store *s);

/* True when every asset is bound and the last request did not find
 * JetStream gone. */
bool store_available(const struct store *s);

/* Why the store is degraded ("" when available). Valid until the next call. */
const char *store_unavailable_reason(const struct store *s);

/* What the last failing call failed on. Valid until the next call. */
const char *store_last_error(const struct store *s);

/* Replicas of the state bucket, the lease bucket and the audit stream as
 * last read from the server (0 when unknown). */
void store_replicas(const struct store *s, int *state, int *lease, int *audit);

/* ---- the leader lease (store.c) ---- */

/* The lease bucket's TTL in force (the bucket's own, once opened). */
int64_t store_lease_ttl_ms(const struct store *s);

/* Runs one lease operation of lease.h on key "leader" of the lease bucket,
 * whose value is our supervisor id: CREATE, READ, UPDATE and RELEASE (the
 * last two on condition that the key's last revision is `expect`; RELEASE
 * purges, with Nats-Expected-Last-Subject-Sequence since kvStore_Purge in
 * nats.c 3.4.1 takes no expected revision). Fills *out; never fails
 * otherwise. One request, bounded by a quarter of the lease TTL. */
void store_lease_run(struct store *s, enum lease_op op, uint64_t expect, struct lease_outcome *out);

/* The term floor: the highest term any leader has used, key "term.floor" of
 * the state bucket, so that terms keep rising when the lease bucket is
 * lost. store_term_floor reads it (0 when absent). store_raise_term_floor
 * makes it at least `term` (compare-and-set; a floor already higher is
 * kept). Return 0 or -1. At most a few requests. */
int store_term_floor(struct store *s, uint64_t *floor);
int store_raise_term_floor(struct store *s, uint64_t term);

/* ---- per-instance records (store_records.c) ----
 *
 * Durable per-instance state under "inst.<service>.<instance>": opaque
 * bytes the core serialises. Writes are compare-and-set against the
 * revision this store last saw for the key (from store_load_all or its own
 * last write): a write by anyone else in between (another supervisor, a
 * stale leader, an operator by hand) makes ours fail instead of silently
 * replacing theirs. */

enum store_write {
    STORE_WRITTEN,    /* stored durably */
    STORE_FAILED,     /* not stored (see store_last_error) */
    STORE_CONFLICT,   /* not stored: the key changed since we last saw it. The store
                         has read it again (store_conflict_record) and the next write
                         goes against that revision. */
};

/* Writes and waits for the server's acknowledgement (the write-ahead for a
 * fence epoch). One request, two after a conflict (the re-read). */
enum store_write store_put_instance(struct store *s, const char *service, const char *instance,
                                    const void *data, size_t len);

/* After STORE_CONFLICT: the record now stored for that key (*len 0 when the
 * key is absent). Valid until the next call on the store. */
void store_conflict_record(const struct store *s, const void **data, size_t *len);

/* Deletes the key (compare-and-set as above). Deleting a key known to be
 * absent is a no-op; deleting one of unknown revision before any
 * store_load_all is refused. One request. Returns 0 or -1. */
int store_delete_instance(struct store *s, const char *service, const char *instance);

/* Calls each(ctx, service, instance, data, len) for every stored instance
 * (pointers valid during the call only; `each` must not call the store) and
 * records their revisions. On -1 some calls may have been made and the
 * revisions learnt so far are kept. Each step waits at most STORE_TIMEOUT_MS
 * for the next key (progress-bounded, not total-bounded: 100k keys stream
 * in well under a second each). */
int store_load_all(struct store *s,
                   void (*each)(void *ctx, const char *service, const char *instance,
                                const void *data, size_t len),
                   void *ctx);

/* Claims an admin command's nonce in the
 * nonce bucket before the command is carried out: a create, so of two
 * supervisors, two lives of one, or one before and after a link gap, only
 * the first claim succeeds. `what` (the verb and target, for a human
 * reading the bucket) is the value. Returns 0 when claimed now, 1 when it
 * was claimed before (the command was carried out: refuse it as replayed),
 * -1 when it could not be claimed (no nonce bucket, JetStream unreachable;
 * store_last_error says why): the command must not be carried out, for
 * nothing would stop it being carried out again. */
int store_claim_nonce(struct store *s, const uint8_t nonce[FLEET_NONCE_LEN], const char *what);

/* Maintenance flags (DESIGN.md §8), written by operators through the
 * leader (store_set_maintenance; older fleetctl wrote the bucket itself): key "maint.<service>" holds a whole
 * service, "maint.<service>.<instance>" one instance; the value is the
 * reason, UTF-8, at most FLEET_KEPT_REASON_MAX bytes.
 *
 * Calls each(ctx, service, instance, reason) for every flag set now
 * (`instance` NULL for a whole service; `reason` NUL-terminated, cut at
 * FLEET_KEPT_REASON_MAX bytes on a character boundary; pointers valid
 * during the call only; `each` must not call the store). Keys of another
 * shape are skipped with a warning. Learns no revisions (flags are written
 * last-writer-wins, store_set_maintenance). On -1 some calls may have been made: the caller
 * should keep its previous view rather than apply a partial one. Bounded
 * like store_load_all. */
int store_load_maintenance(struct store *s,
                           void (*each)(void *ctx, const char *service, const char *instance,
                                        const char *reason),
                           void *ctx);

/* A maintenance reason as the store keeps it and reads it back: at most
 * FLEET_KEPT_REASON_MAX bytes of v[0..len), cut before a UTF-8 continuation
 * byte so no character is split, control bytes as ' ', NUL-terminated. */
void store_kept_reason(char out[FLEET_KEPT_REASON_MAX + 1], const char *v, size_t len);

/* Sets the flag of service/instance (`instance` NULL: the whole service)
 * to `reason` (at most FLEET_KEPT_REASON_MAX bytes of UTF-8, the caller's
 * check), or lifts it (`reason` NULL). Returns 0 once JetStream has it, or
 * -1 with store_last_error saying why (nothing changed). */
int store_set_maintenance(struct store *s, const char *service, const char *instance, const char *reason);

#endif
