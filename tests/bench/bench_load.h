/* The ingest load and the supervisor's own view of it, shared by the
 * benchmarks that flood a real fleet-supervisor (bench_ingest, bench_http):
 * heartbeats encoded before any timing starts and published as fast as one
 * nats.c connection can, the server's /varz, and $SRV.STATS polled on a
 * thread while the load goes out.
 *
 * Every helper that can fail returns 0 or -1 (false) and prints why on
 * stderr, as bench_util's do. */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nats/nats.h>

#include "fleet/nkey.h"
#include "proc.h"

#define BENCH_SUBJECT_MAX 160
#define BENCH_STALL_MS 5000          /* no progress this long ends a phase as incomplete */
#define BENCH_PHASE_LIMIT_MS 300000  /* hard bound on one phase */
#define BENCH_START_LIMIT_MS 10000   /* supervisor start-up until it answers $SRV.PING */

/* Every heartbeat of a run, encoded once. */
struct bench_load {
    size_t n_msgs;
    size_t n_instances;
    char (*subject)[BENCH_SUBJECT_MAX]; /* per instance */
    uint8_t *arena;               /* payloads back to back */
    size_t *offset;               /* n_msgs + 1 offsets into arena */
    uint64_t seq_sum;             /* sum of every seq: the bare subscriber's checksum */
    size_t min_len, max_len;
    bool proven;                  /* every heartbeat carries key and proof */
};

/* Encodes `messages` heartbeats for services x per_service instances
 * (svc-<i % services>/inst-<i>, bench_util's names): message j goes to
 * instance j % n with seq j / n + 1. With `supervisor` every instance has
 * its own incarnation key and every heartbeat a proof to that key. Returns
 * 0, or -1 with a message (l left zeroed). */
int bench_load_build(uint64_t messages, uint64_t services, uint64_t per_service, const fleet_keypair *supervisor,
                     struct bench_load *l);
/* Frees what bench_load_build allocated; safe on a zeroed or half-built load. */
void bench_load_fini(struct bench_load *l);
/* Publishes the whole load and waits until the server has processed it
 * (flush = PING/PONG). Writes the publish rate into *rate. Returns 0 or -1. */
int bench_load_publish(natsConnection *nc, const struct bench_load *l, double *rate);
/* Publishes slice `k` of `n` (0 <= k < n): the heartbeats of every instance
 * i with i % n == k, in order, so n publishers together send the whole load
 * with every instance's seq rising on one connection. Flushes, writes how
 * many it sent into *sent and their publish rate into *rate. Returns 0 or -1. */
int bench_load_publish_slice(natsConnection *nc, const struct bench_load *l, size_t k, size_t n, size_t *sent,
                             double *rate);
/* The same for the heartbeats j with from <= j < to only (j as in
 * bench_load_build: [0, n_instances) is every instance's first). */
int bench_load_publish_range(natsConnection *nc, const struct bench_load *l, size_t k, size_t n, size_t from,
                             size_t to, size_t *sent, double *rate);

/* Reads integer `key` of the server's /varz over plain HTTP/1.0 on loopback.
 * Returns 0 and *out, or -1 with a message. */
int bench_varz_int(int port, const char *key, int64_t *out);

/* The heartbeat endpoint's counters of $SRV.STATS. */
struct bench_stats_sample {
    uint64_t received, accepted, stale, refused, sc_dropped, proven;
    char refused_by[160];    /* "reason=count,..." of the refusals above zero ("" for none) */
};

/* Asks the supervisor `id` for $SRV.STATS and reads the heartbeat endpoint.
 * Returns 0 and *out, or -1 (no answer in time, or not the expected JSON). */
int bench_supervisor_stats(natsConnection *nc, const char *id, struct bench_stats_sample *out);

/* The $SRV.STATS poller, on its own thread (bench_poll_stats) while another
 * publishes. The caller sets `nc`, `id`, `target` (accepted + stale +
 * refused at which every heartbeat has its verdict) and `base` (accepted
 * before the load: the first sample above it starts the timing; 0 for a
 * fresh supervisor); the rest is written by the poller and read after
 * pthread_join. It ends at the target, after BENCH_STALL_MS without
 * progress, or after BENCH_PHASE_LIMIT_MS. */
struct bench_poller {
    natsConnection *nc;
    const char *id;
    uint64_t target;
    uint64_t base;
    bool answered;           /* at least one sample */
    struct bench_stats_sample last;
    int64_t first_ns;        /* first sample with accepted > base */
    uint64_t first_accepted;
    int64_t end_ns;          /* sample at which accepted last grew */
};

/* pthread body; `arg` is a struct bench_poller. */
void *bench_poll_stats(void *arg);

/* Heartbeats accepted per second between the poller's first sample above
 * its base and the one at which accepted last grew; 0 when not measurable. */
double bench_poller_rate(const struct bench_poller *p);

/* User + system CPU of process `pid` in ns, or -1. */
int64_t bench_process_cpu_ns(pid_t pid);
/* The same for one thread `tid` of it (tid == pid: its main thread). */
int64_t bench_thread_cpu_ns(pid_t pid, pid_t tid);

/* Asks $SRV.PING of supervisor `id` until it answers, `p` exits or
 * BENCH_START_LIMIT_MS pass. */
bool bench_supervisor_ready(natsConnection *nc, const char *id, struct proc *p);

#endif
