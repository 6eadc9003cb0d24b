/* Leadership by a JetStream KV lease (DESIGN.md §8), as a pure state
 * machine: it says which lease operation to run and when, and takes the
 * outcome; the store (store.h) runs the operations, the daemon follows the
 * role. No I/O, no clock: every call takes the time (CLOCK_MONOTONIC ms).
 *
 * The lease is one key in a bucket whose TTL is T: a supervisor leads while
 * the key holds its id and it renews it (compare-and-set on its last
 * revision) before T runs out.
 *
 * Roles:
 *   LEADER   we hold the lease; we may act until `deadline` (lease_may_act).
 *   STANDBY  another supervisor holds it: we saw its value within the last T.
 *   UNSURE   nobody is seen holding it: we lost contact with the lease while
 *            leading, or have not been able to read it for a whole T. Not
 *            acting, but (unlike STANDBY) publishing what we see: someone must.
 *   RESIGNED we gave it up for good (shutting down).
 * A new supervisor starts STANDBY, as if it had just seen a holder, so it
 * publishes nothing for one T unless it wins the lease first.
 *
 * Transitions (t0 = the time the successful write started; G = T/10 guards
 * clock-rate differences and the server's expiry slop; R = T/4):
 *
 *   role          | due op | outcome                       | next
 *   --------------+--------+-------------------------------+------------------------------------
 *   not LEADER    | CREATE | ok, revision r                | LEADER (a new leadership), rev r,
 *                 |        |                               |   deadline t0 + T - G, renew at t0 + R
 *   not LEADER    | CREATE | conflict (key exists)         | READ now
 *   any           | READ   | our id at revision r          | UPDATE(r) now: our own lease (an ack
 *                 |        |                               |   we lost, a restart of our store)
 *   any           | READ   | another's id                  | STANDBY; CREATE again in A
 *   any           | READ   | no key (it just expired)      | CREATE now
 *   LEADER        | UPDATE | ok, revision r'               | LEADER, deadline t0 + T - G
 *   not LEADER    | UPDATE | ok, revision r'               | LEADER (a new leadership)
 *   any           | UPDATE | conflict                      | READ now; LEADER keeps acting only if
 *                 |        |                               |   READ finds our id at a later revision
 *   LEADER        | any    | error, now < deadline         | LEADER; retry in min(G, deadline - now)
 *   not LEADER    | any    | error                         | same role; retry in max(A, 1 s)
 *   LEADER        | -      | now >= deadline               | UNSURE at once, then CREATE
 *   STANDBY       | -      | no holder seen for T          | UNSURE
 *   any           | RELEASE| (any outcome)                 | RESIGNED
 *
 * A = min(R, LEASE_ACQUIRE_RETRY_MS): how often a non-leader tries.
 *
 * Why a leader may act until t0 + T - G: the server stores our write no
 * earlier than t0 and keeps it T after that by its own clock, so nobody can
 * create the key before t0 + T. A leader that cannot renew stops acting at
 * its deadline whatever the reason (paused, cut off, JetStream electing a
 * new stream leader), and only a later successful write makes it lead again,
 * as a new leadership (new term). */
#ifndef SUPERVISOR_LEASE_H
#define SUPERVISOR_LEASE_H

#include <stdbool.h>
#include <stdint.h>

/* Default lease TTL. Two seconds: a renewal on a healthy cluster takes a few
 * milliseconds and is tried every T/4 (500 ms), so a leader has three tries
 * before it must stop acting at 1.8 s, and a standby takes over between
 * 1.5 and 2.25 s after a leader dies (its last write aged T, plus one
 * acquisition period). etcd elects in about 1 s; Kubernetes' 15 s lease
 * trades a slow failover for tolerance of slow API servers, which a
 * JetStream KV on the same LAN does not need. */
#define LEASE_TTL_DEFAULT_MS 2000
#define LEASE_TTL_MIN_MS 1000
/* A non-leader tries for a lapsed lease at least this often: a lease expires
 * silently (no message marks it), so failover is about T, not T + R. */
#define LEASE_ACQUIRE_RETRY_MS 250
/* After a failed request, a non-leader waits at least this long (each
 * request can block the owner thread up to its timeout). */
#define LEASE_ERROR_RETRY_MS 1000
/* Largest term ever derived: terms are compared by every instance and shown
 * as numbers by tools (2^53 is exact in a double; at a new term per second
 * that lasts 285 million years). term_seen values above it are ignored. */
#define LEASE_TERM_MAX ((uint64_t)1 << 53)

enum lease_role { LEASE_STANDBY, LEASE_LEADER, LEASE_UNSURE, LEASE_RESIGNED };

enum lease_op {
    LEASE_OP_NONE,
    LEASE_OP_CREATE,   /* create the key with our id (fails if it exists) */
    LEASE_OP_READ,     /* read the key: value and revision */
    LEASE_OP_UPDATE,   /* write our id if the key's last revision is lease.rev */
    LEASE_OP_RELEASE,  /* purge the key if its last revision is lease.rev */
};

enum lease_result {
    LEASE_OK,          /* done; `rev` set (READ: and `ours`) */
    LEASE_CONFLICT,    /* CREATE: the key exists; UPDATE/RELEASE: another revision is last */
    LEASE_NOT_FOUND,   /* READ: no key */
    LEASE_ERROR,       /* anything else: timeout, no JetStream, link down */
};

struct lease_outcome {
    enum lease_result result;
    uint64_t rev;      /* revision written or read */
    bool ours;         /* READ: the key holds our id */
};

struct lease {
    int64_t ttl_ms;
    enum lease_role role;
    enum lease_op op;        /* what to run when next_ms comes */
    uint64_t rev;            /* revision an UPDATE/RELEASE expects (our last write, or one read) */
    uint64_t generation;     /* +1 each time leadership is gained */
    int64_t deadline_ms;     /* LEADER: act only before this */
    int64_t next_ms;         /* when `op` is due */
    int64_t holder_seen_ms;  /* last time another holder was seen (STANDBY) */
};

/* Starts STANDBY with a CREATE due at `now_ms`, for a bucket TTL of `ttl_ms`
 * (>= LEASE_TTL_MIN_MS). */
void lease_init(struct lease *l, int64_t ttl_ms, int64_t now_ms);

/* The bucket's TTL turned out to be `ttl_ms` (replicas must agree on the
 * bucket's, whatever each is configured with). Takes effect from the next
 * write on. */
void lease_set_ttl(struct lease *l, int64_t ttl_ms);

/* Applies the passing of time (a deadline passed, no holder seen for T) and
 * returns the operation due at `now_ms`, LEASE_OP_NONE if none. The caller
 * runs it (UPDATE and RELEASE expect l->rev) and reports with lease_done. */
enum lease_op lease_due(struct lease *l, int64_t now_ms);

/* The outcome of the operation lease_due returned; `t0` is when the request
 * started, `now_ms` when it returned. */
void lease_done(struct lease *l, enum lease_op op, const struct lease_outcome *out, int64_t t0,
                int64_t now_ms);

/* Something changed that may let a failed acquisition succeed now (the
 * store reopened): a non-leader's next CREATE is due at `now_ms`. */
void lease_retry_now(struct lease *l, int64_t now_ms);

/* Gives the lease up: from now on lease_due returns RELEASE once (only if
 * LEADER), then nothing; the role is RESIGNED. */
void lease_resign(struct lease *l);

/* True only while LEADER and `now_ms` is before the deadline: the check to
 * make right before every action (between lease_due calls the role can be
 * stale; this cannot). */
bool lease_may_act(const struct lease *l, int64_t now_ms);

/* When lease_due next has work: next_ms, and never later than a deadline. */
int64_t lease_next_ms(const struct lease *l);

/* The term of a new leadership: above the lease revision `rev`, the durable
 * floor (the highest term ever used, `floor`) and the highest term any
 * instance reports obeying (`seen`, ignored above LEASE_TERM_MAX), so that
 * a recreated lease bucket (revisions from 1 again) never takes the term
 * backwards. Never above LEASE_TERM_MAX. */
uint64_t lease_next_term(uint64_t rev, uint64_t floor, uint64_t seen);

const char *lease_role_name(enum lease_role r);

#endif
