#define _GNU_SOURCE /* ppoll */
#include "bus_loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* nats.c's read buffer in this mode: one read takes what 10 ms of a 100 k
 * fleet brings (~40 KB) with room to spare. */
#define READ_BUF_BYTES (256 * 1024)
/* Bulk messages taken per batch: each batch is freed at once, so nats.c's GC
 * thread is woken once per batch, not per message (bus.c says why). */
#define BULK_BATCH 1024
/* With a backlog waiting for room, the loop looks again this soon. */
#define ROOM_RETRY_US 1000
/* The inbound rate is judged over windows this long. */
#define RATE_WINDOW_US 100000

struct bus_loop {
    pthread_t thread;
    int wake_fd;              /* eventfd: what to poll changed, or stop */
    pthread_mutex_t lock;     /* guards the fields below */
    natsConnection *nc;       /* set by attach; valid until bus.c destroys it after bus_loop_stop */
    int fd;                   /* -1: detached */
    bool want_read, want_write;
    bool stop;
    natsSubscription *bulk;   /* NULL: none */
    bus_msg_fn bulk_fn;
    bool (*bulk_room)(void *ctx);
    void *bulk_ctx;
    /* The loop thread's own. */
    int64_t last_read_us;
    int64_t window_from_us;   /* the current rate window began */
    int64_t window_bytes;     /* read in it */
    bool busy;                /* the last window's rate was at least BUS_LOOP_BUSY_BYTES_PER_S */
    natsMsg *held[BULK_BATCH];
};

static int64_t mono_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void wake(struct bus_loop *l)
{
    uint64_t one = 1;

    if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_kv(LOG_ERROR, "cannot wake the bus reader", "error", strerror(errno), NULL);
}

/* nats.c's event-loop callbacks: any nats.c thread, the connection's lock
 * held; they record and wake, nothing more. */
static natsStatus on_attach(void **user, void *loop, natsConnection *nc, natsSock sock)
{
    struct bus_loop *l = loop;

    pthread_mutex_lock(&l->lock);
    l->nc = nc;
    l->fd = (int)sock;
    l->want_read = true;
    l->want_write = false;
    pthread_mutex_unlock(&l->lock);
    *user = l;
    wake(l);
    return NATS_OK;
}

/* Records one of the two wishes; an added one wakes the loop to act on it. */
static natsStatus set_want(struct bus_loop *l, bool *want, bool add)
{
    pthread_mutex_lock(&l->lock);
    *want = add;
    pthread_mutex_unlock(&l->lock);
    if (add)
        wake(l);
    return NATS_OK;
}

static natsStatus on_read(void *user, bool add)
{
    struct bus_loop *l = user;

    return set_want(l, &l->want_read, add);
}

static natsStatus on_write(void *user, bool add)
{
    struct bus_loop *l = user;

    return set_want(l, &l->want_write, add);
}

static natsStatus on_detach(void *user)
{
    struct bus_loop *l = user;

    pthread_mutex_lock(&l->lock);
    l->fd = -1;
    l->want_read = l->want_write = false;
    pthread_mutex_unlock(&l->lock);
    wake(l);
    return NATS_OK;
}

/* Hands the bulk subscription's pending messages to its handler, frees
 * them in batches. Returns true when some are left for want of room. */
static bool take_bulk(struct bus_loop *l)
{
    natsSubscription *sub;
    bus_msg_fn fn;
    bool (*room)(void *ctx);
    void *ctx;
    int pending = 0, n = 0;
    bool left = false;

    pthread_mutex_lock(&l->lock);
    sub = l->bulk;
    fn = l->bulk_fn;
    room = l->bulk_room;
    ctx = l->bulk_ctx;
    pthread_mutex_unlock(&l->lock);
    /* Counting first: NextMsg on an empty list records an error text. */
    if (sub == NULL || natsSubscription_GetPending(sub, &pending, NULL) != NATS_OK)
        return false;
    while (pending > 0) {
        natsMsg *m = NULL;
        natsStatus s;

        if (room != NULL && !room(ctx)) {
            left = true;
            break;
        }
        s = natsSubscription_NextMsg(&m, sub, 0);
        if (s == NATS_SLOW_CONSUMER)
            continue; /* drops were counted by nats.c (bus_stats) */
        if (s != NATS_OK)
            break;
        pending--;
        fn(ctx, natsMsg_GetSubject(m), natsMsg_GetReply(m), natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        l->held[n++] = m;
        if (n == BULK_BATCH) {
            for (int k = 0; k < n; k++)
                natsMsg_Destroy(l->held[k]);
            n = 0;
        }
    }
    for (int k = 0; k < n; k++)
        natsMsg_Destroy(l->held[k]);
    return left;
}

/* One read; returns true when the socket holds more (the reader is behind,
 * so the next read is not held back). Counts what it read towards the
 * rate window. */
static bool read_once(struct bus_loop *l, natsConnection *nc, int fd, int64_t now)
{
    int avail = 0;

    if (ioctl(fd, FIONREAD, &avail) == 0 && avail > 0)
        l->window_bytes += avail < READ_BUF_BYTES ? avail : READ_BUF_BYTES;
    if (now - l->window_from_us >= RATE_WINDOW_US) {
        l->busy = l->window_bytes * 1000000 >= (int64_t)BUS_LOOP_BUSY_BYTES_PER_S * (now - l->window_from_us);
        l->window_from_us = now;
        l->window_bytes = 0;
    }
    natsConnection_ProcessReadEvent(nc);
    /* The read may have ended the connection (nats.c detached, the socket
     * closed): only a socket still attached is looked at. */
    pthread_mutex_lock(&l->lock);
    fd = l->fd;
    pthread_mutex_unlock(&l->lock);
    avail = 0;
    return fd >= 0 && ioctl(fd, FIONREAD, &avail) == 0 && avail > 0;
}

static void *run(void *arg)
{
    struct bus_loop *l = arg;
    bool backlog = false, behind = false;

    for (;;) {
        struct pollfd p[2] = { { .fd = l->wake_fd, .events = POLLIN }, { .fd = -1 } };
        struct timespec wait, *waitp = NULL;
        natsConnection *nc;
        bool want_read, want_write, may_read;
        int64_t now = mono_us(), until_read = 0;

        pthread_mutex_lock(&l->lock);
        if (l->stop) {
            pthread_mutex_unlock(&l->lock);
            break;
        }
        nc = l->nc;
        p[1].fd = l->fd;
        want_read = l->want_read;
        want_write = l->want_write;
        pthread_mutex_unlock(&l->lock);
        if (p[1].fd >= 0) {
            until_read = behind || !l->busy ? 0 : l->last_read_us + BUS_LOOP_COALESCE_US - now;
            may_read = want_read && until_read <= 0;
            p[1].events = (short)((may_read ? POLLIN : 0) | (want_write ? POLLOUT : 0));
            if (want_read && !may_read) {
                wait = (struct timespec){ .tv_nsec = until_read * 1000 };
                waitp = &wait;
            }
        }
        if (backlog && (waitp == NULL || wait.tv_nsec > ROOM_RETRY_US * 1000)) {
            wait = (struct timespec){ .tv_nsec = ROOM_RETRY_US * 1000 };
            waitp = &wait;
        }
        if (ppoll(p, p[1].fd >= 0 ? 2 : 1, waitp, NULL) < 0) {
            if (errno != EINTR)
                log_kv(LOG_ERROR, "bus reader cannot poll", "error", strerror(errno), NULL);
            continue;
        }
        if (p[0].revents & POLLIN) {
            uint64_t v;

            (void)!read(l->wake_fd, &v, sizeof(v));
        }
        if (p[1].fd >= 0 && (p[1].revents & POLLOUT))
            natsConnection_ProcessWriteEvent(nc);
        /* An error or hang-up is read at once: the read is what tells nats.c.
         * One read, then what it brought is taken while it is still in the
         * cache, before the next. */
        behind = false;
        if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
            l->last_read_us = mono_us();
            behind = read_once(l, nc, p[1].fd, l->last_read_us);
        }
        backlog = take_bulk(l);
    }
    return NULL;
}

int bus_loop_start(struct bus_loop **out)
{
    struct bus_loop *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return -1;
    l->fd = -1;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0)
        goto out_free_loop;
    if (pthread_mutex_init(&l->lock, NULL) != 0)
        goto out_close_wake;
    if (pthread_create(&l->thread, NULL, run, l) != 0)
        goto out_destroy_lock;
    *out = l;
    return 0;

out_destroy_lock:
    pthread_mutex_destroy(&l->lock);
out_close_wake:
    close(l->wake_fd);
out_free_loop:
    free(l);
    return -1;
}

int bus_loop_attach_options(struct bus_loop *l, natsOptions *opts)
{
    natsStatus s = natsOptions_SetEventLoop(opts, l, on_attach, on_read, on_write, on_detach);

    if (s == NATS_OK)
        s = natsOptions_SetIOBufSize(opts, READ_BUF_BYTES);
    return s == NATS_OK ? 0 : -1;
}

void bus_loop_set_bulk(struct bus_loop *l, natsSubscription *sub, bus_msg_fn fn, bool (*room)(void *ctx),
                       void *ctx)
{
    pthread_mutex_lock(&l->lock);
    l->bulk = sub;
    l->bulk_fn = fn;
    l->bulk_room = room;
    l->bulk_ctx = ctx;
    pthread_mutex_unlock(&l->lock);
    wake(l);
}

void bus_loop_clear_bulk(struct bus_loop *l)
{
    /* A turn that began before may still hand out what it took; the
     * subscription stays valid (destroyed after bus_loop_stop), and once
     * unsubscribed nats.c gives it nothing more. */
    pthread_mutex_lock(&l->lock);
    l->bulk = NULL;
    pthread_mutex_unlock(&l->lock);
}

void bus_loop_stop(struct bus_loop *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_mutex_unlock(&l->lock);
    wake(l);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->lock);
    close(l->wake_fd);
    free(l);
}
