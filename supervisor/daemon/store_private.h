/* Private to the store (store.h): the state its files share and the
 * helpers they call. Never included outside store*.c.
 *
 *   store.c          opening the assets, replicas, degraded mode, the lease
 *                    operations and the term floor
 *   store_records.c  per-instance records (revision map, compare-and-set,
 *                    conflict re-reads) and maintenance flags
 *   store_audit.c    the audit stream
 *
 * nats.c 3.4.1 facts these files rely on (checked against its v3.4.1
 * sources and a nats-server 2.9.10):
 *   - Every JetStream request (stream API, KV get, KV put's publish-ack) waits
 *     at most its jsCtx's Wait: STORE_TIMEOUT_MS for `js`, a quarter of the
 *     lease TTL for `js_lease`.
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
 *     at once. So does a cluster whose stream has no leader yet (an
 *     election after a node died takes 4-9 s): such errors are retried.
 *   - js_CreateKeyValue hands out no JetStream error code either: a refused
 *     replica count is recognised by its text ("replicas > 1 not supported in
 *     non-clustered mode", 10074; "no suitable peers for placement", 10005;
 *     "insufficient resources", 10023).
 *   - While disconnected, nats.c buffers publishes and flushes them after a
 *     reconnect. A KV write we gave up on could so land later, so writes are
 *     refused while the link is down. */
#ifndef SUPERVISOR_STORE_PRIVATE_H
#define SUPERVISOR_STORE_PRIVATE_H

#include <nats/nats.h>

#include "store.h"

#define STORE_SUBJECT_MAX 256

/* Revisions of the state keys as this store last saw them, for
 * compare-and-set writes. rev 0 = known absent. */
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

/* One asset's replication, as configured and as read back. */
struct replication {
    int have;        /* replicas the server reports, 0 unknown */
    bool short_of;   /* fewer than wanted and worth raising later */
};

struct store {
    natsConnection *nc;       /* borrowed */
    jsCtx *js;                /* Wait = STORE_TIMEOUT_MS */
    jsCtx *js_lease;          /* Wait = lease TTL / 4: a renewal must not outlive its use */
    kvStore *state;           /* NULL while degraded */
    kvStore *lease;           /* NULL while degraded; bound through js_lease */
    kvStore *nonces;          /* NULL while degraded, or with no nonce bucket (nonce_ttl_ms 0) */
    char *prefix, *state_bucket, *lease_bucket, *audit_stream, *nonce_bucket, *id;
    int64_t nonce_ttl_ms;
    int64_t cfg_ttl_ms;       /* configured lease TTL */
    int64_t ttl_ms;           /* the lease bucket's TTL: the one in force */
    int64_t audit_max_age_s;
    int want_replicas;        /* configured; 0 = auto */
    bool clustered;           /* the server said it is a JetStream cluster */
    struct replication rep_state, rep_lease, rep_audit, rep_nonces;
    int64_t next_replica_check_ms;

    bool available;
    int64_t next_open_ms;     /* degraded: when to try opening again */
    char reason[1024];        /* why not available */
    char logged[1024];        /* the reason last logged, so a retry loop logs each reason once */
    char error[1024];         /* last failure */

    struct revmap revs;
    bool loaded;              /* a store_load_all completed: absent = no key */
    uint8_t *conflict;        /* STORE_CONFLICT: the record re-read (malloc'd) */
    size_t conflict_len;
};

/* store.c */
const char *store_nats_why(natsStatus st);
__attribute__((format(printf, 3, 4)))
void store_set_error(struct store *s, natsStatus st, const char *fmt, ...);
bool store_is_conflict(natsStatus st, jsErrCode jerr);
bool store_is_js_gone(natsStatus st, jsErrCode jerr);
bool store_writable(struct store *s, const char *what);
void store_become_degraded(struct store *s, const char *why);
natsStatus store_publish_marker(struct store *s, const char *bucket, const char *key, bool purge,
                                uint64_t expect, jsErrCode *jerr);
/* Replicas to ask for when creating an asset now (auto: 3 on a cluster or
 * before knowing, else 1). */
int store_replicas_wanted(const struct store *s);
/* Reads stream `stream`'s replicas into *rep and raises them to the wanted
 * count when fewer. Returns 0, or -1 when the stream cannot be read. */
int store_check_replicas(struct store *s, const char *stream, const char *what, struct replication *rep);
/* Whether a creation failure says replicas cannot be placed; sets
 * s->clustered from it. */
bool store_replicas_refused(struct store *s, const char *why);

/* store_records.c */
void store_revmap_free(struct revmap *m);

/* store_audit.c: creates or updates the audit stream; on failure writes the
 * reason and returns -1. */
int store_open_audit(struct store *s);

#endif
