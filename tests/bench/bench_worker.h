/* Worker processes a benchmark drives over pipes: forked before the parent
 * opens nats.c (a fork copies only the calling thread, so a child of a
 * process with nats.c's threads running could not use it), each then opens
 * its own nats.c and its own connections.
 *
 * The protocol is one command byte from the parent, answered by any number
 * of fixed-size replies the worker's function writes (the parent knows how
 * many it asked for). The worker ends when its command pipe closes, or on
 * BENCH_WORKER_QUIT. Every helper that can fail returns 0 or -1 and prints
 * why on stderr. */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <stddef.h>
#include <sys/types.h>

#define BENCH_WORKER_QUIT 'q'

struct bench_worker {
    pid_t pid;       /* 0: not running */
    int cmd_fd;      /* parent -> worker */
    int reply_fd;    /* worker -> parent */
};

/* Serves one command in the worker: answers on `reply_fd` with
 * bench_worker_reply. A non-zero return ends the worker (status 1). */
typedef int (*bench_worker_fn)(void *ctx, char cmd, int reply_fd);

/* Forks a worker running `fn(ctx, ...)` for each command. Flushes stdio
 * first so no buffered output is written twice. Returns 0 with *w filled,
 * or -1 (*w zeroed). */
int bench_worker_start(struct bench_worker *w, bench_worker_fn fn, void *ctx);
/* In the worker: writes one reply of `n` bytes. Returns 0 or -1. */
int bench_worker_reply(int reply_fd, const void *reply, size_t n);
/* In the parent: sends command `cmd`. Returns 0 or -1. */
int bench_worker_send(struct bench_worker *w, char cmd);
/* In the parent: reads one reply of `n` bytes within `timeout_ms`.
 * Returns 0, or -1 (timeout, the worker died, short reply). */
int bench_worker_read(struct bench_worker *w, void *reply, size_t n, int timeout_ms);
/* Ends the worker: sends BENCH_WORKER_QUIT, closes its pipes, waits up to
 * 5 s, then SIGKILLs that pid. Safe on a zeroed or stopped worker. */
void bench_worker_stop(struct bench_worker *w);

#endif
