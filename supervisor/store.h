/* The daemon's JetStream edge (DESIGN.md §8): durable per-instance state in a
 * KV bucket, leadership through a KV lease, and the audit stream that
 * captures every Event the feed publishes.
 *
 * Threads: every function runs on the owner thread (the one that owns the
 * fleet state); none is thread-safe and none calls back on another thread.
 * Every JetStream request is bounded by STORE_TIMEOUT_MS, so one call blocks
 * the owner loop for at most that long per request it makes (said per
 * function below). While the NATS link is down, writes fail at once instead
 * of being buffered by nats.c and replayed, stale, after a reconnect.
 *
 * Degraded mode: when JetStream is unreachable (a server without -js, a
 * missing or unusable bucket) the store still opens, says why
 * (store_unavailable_reason), refuses every durable write with -1 and never
 * leads; store_tick keeps retrying to open. The daemon keeps observing and
 * publishing, and acts only where store_may_act() says so.
 *
 * Errors: functions return 0 or -1; after -1 store_last_error() says what
 * failed in operator words, with nats.c's own text (nats_GetLastError). */
#ifndef SUPERVISOR_STORE_H
#define SUPERVISOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h" /* natsConnection, declared without nats.h */

/* Bound on each JetStream request (API call, KV read or acknowledged write). */
#define STORE_TIMEOUT_MS 2000
/* A standby tries to take a lapsed lease at least this often (A). */
#define STORE_ACQUIRE_RETRY_MS 250

struct store_options {
    const char *prefix;          /* subject prefix, e.g. "fleet" (required) */
    const char *state_bucket;    /* NULL: "fleet_state" */
    const char *lease_bucket;    /* NULL: "fleet_leader" */
    const char *audit_stream;    /* NULL: "FLEET_AUDIT" */
    uint32_t lease_ttl_ms;       /* 0: 10000; at least 1000 */
    uint32_t audit_max_age_s;    /* 0: 604800 (7 days) */
    const char *supervisor_id;   /* the lease value (required) */
};

struct store;

/* Binds the JetStream assets on `nc` (borrowed: it must outlive the store),
 * creating what is missing:
 *   - state bucket: KV, history 1, file storage, no TTL;
 *   - lease bucket: KV, history 1, file storage, TTL = lease_ttl_ms. If the
 *     bucket exists with another TTL, its TTL wins (replicas must agree on
 *     one) and a warning is logged;
 *   - audit stream on "<prefix>.v1.events.>": limits retention, max age
 *     audit_max_age_s, file storage. An existing stream of that name is
 *     updated to this configuration.
 * JetStream being unavailable is not an error: *out is a store in degraded
 * mode. Returns -1 with a message in err (nothing allocated) only for bad
 * options or no memory. Stops at the first asset that fails; each asset
 * takes 1-4 requests (js_CreateKeyValue alone may add, look up and update),
 * each bounded by STORE_TIMEOUT_MS. Destroy with store_close(). */
int store_open(natsConnection *nc, const struct store_options *o, struct store **out, char *err,
               size_t n);

/* True when every asset is bound and the last request did not find
 * JetStream gone. */
bool store_available(const struct store *s);

/* Why the store is degraded ("" when available). Valid until the next call. */
const char *store_unavailable_reason(const struct store *s);

/* What the last failing call failed on. Valid until the next call. */
const char *store_last_error(const struct store *s);

/* Durable per-instance state under "inst.<service>.<instance>": opaque bytes
 * the core serialises. Writes are compare-and-set against the revision this
 * store last saw for the key (from store_load_all or its own last write):
 * a write by anyone else in between (another supervisor, a stale leader)
 * makes ours fail with -1 instead of silently replacing theirs. A key never
 * seen is created only if it does not exist. After such a conflict, reload
 * with store_load_all before writing again. */

/* Writes and waits for the server's acknowledgement (the write-ahead for a
 * fence epoch): on 0 the value is stored durably. One request. */
int store_put_instance(struct store *s, const char *service, const char *instance,
                       const void *data, size_t len);

/* Deletes the key (compare-and-set as above). Deleting a key known to be
 * absent is a no-op; deleting one of unknown revision before any
 * store_load_all is refused. One request. */
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

/* Maintenance flags (DESIGN.md §8), written by operators (fleetctl
 * maintenance), only read here: key "maint.<service>" holds a whole
 * service, "maint.<service>.<instance>" one instance; the value is the
 * reason, UTF-8, at most STORE_MAINT_REASON_MAX bytes.
 *
 * Calls each(ctx, service, instance, reason) for every flag set now
 * (`instance` NULL for a whole service; `reason` NUL-terminated, cut at
 * STORE_MAINT_REASON_MAX bytes on a character boundary; pointers valid
 * during the call only; `each` must not call the store). Keys of another
 * shape are skipped with a warning. Learns no revisions (the supervisor
 * never writes these keys). On -1 some calls may have been made: the caller
 * should keep its previous view rather than apply a partial one. Bounded
 * like store_load_all. */
#define STORE_MAINT_REASON_MAX 96
int store_load_maintenance(struct store *s,
                           void (*each)(void *ctx, const char *service, const char *instance,
                                        const char *reason),
                           void *ctx);

/* Leadership: a lease under key "leader" in the lease bucket, holding the
 * supervisor_id; the revision of the write that created it is the term.
 *
 * State machine (store.c has the full table). T = the bucket's TTL, G = T/10
 * (guard for clock-rate and expiry-timer slop), t0 = the caller's `now` at
 * the start of the write that succeeded:
 *
 *   STANDBY --create ok (rev r)-------------------> LEADER, term = r,
 *                                                   deadline = t0 + T - G
 *   STANDBY --conflict / error / degraded---------> STANDBY
 *   LEADER  --update(last rev) ok-----------------> LEADER, deadline = t0 + T - G
 *   LEADER  --conflict (someone else's revision)---> STANDBY at once
 *   LEADER  --error, clock still < deadline--------> LEADER (retry soon)
 *   LEADER  --clock >= deadline (for any reason)---> STANDBY at once
 *   any     --store_resign------------------------> RESIGNED (never leads again)
 *
 * Why it is safe: the server keeps the lease until at least its write time
 * + T, which is after t0 + T, so nobody else can create it before our
 * deadline; once our deadline passes we stop acting whatever the server says.
 * The assumption is that the server's wall clock does not jump forward by
 * more than G while we lead (nats-server ages messages by wall clock). */
enum store_role { STORE_STANDBY, STORE_LEADER };

/* Drives the lease (and, while degraded, the re-open). Call it whenever
 * store_next_tick() is reached; extra calls are cheap (no request before the
 * next renewal is due). `now_mono_ms` is CLOCK_MONOTONIC in ms, read just
 * before the call; the store reads the same clock after a failed request.
 * Returns the role; *term (may be NULL) = the term while LEADER, else 0.
 * At most two requests when available (a renewal, plus one read after a
 * conflict); as store_open when re-opening. */
enum store_role store_tick(struct store *s, int64_t now_mono_ms, uint64_t *term);

/* When store_tick wants to run next (CLOCK_MONOTONIC ms): the next renewal
 * or acquisition attempt, and never later than the lease deadline. */
int64_t store_next_tick(const struct store *s);

/* The predicate to check right before every action: true only while LEADER
 * and `now_mono_ms` is before the lease deadline. Between ticks the role can
 * be stale; this cannot. No request. */
bool store_may_act(const struct store *s, int64_t now_mono_ms);

/* Voluntary step-down (SIGTERM): if we lead, purges the lease key on
 * condition that its last revision is still ours (a raw KV PURGE with
 * Nats-Expected-Last-Subject-Sequence, since kvStore_Purge in nats.c 3.4.1
 * takes no expected revision), so a standby takes over at once instead of
 * after T. Never removes someone else's lease. Afterwards the store stays
 * STANDBY for good. One request; failures are logged (the lease then just
 * expires). */
void store_resign(struct store *s);

/* Frees the store (not the connection). Does not resign. NULL is a no-op. */
void store_close(struct store *s);

#endif
