/* The hand-over from nats.c and check threads to the main loop: a locked
 * queue of commands plus the latest HTTP result, and an eventfd that is
 * readable while any of it waits. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent.h"

#define MAILBOX_CAP 32

struct mailbox {
    int fd;
    pthread_mutex_t lock;       /* guards everything below */
    struct agent_command queue[MAILBOX_CAP];
    size_t head, len;
    bool fenced;                /* last accepted FENCE/UNFENCE was a FENCE */
    bool has_http;
    struct check_result http;
};

int mailbox_create(struct mailbox **out)
{
    struct mailbox *mb = calloc(1, sizeof(*mb));
    int e;

    if (mb == NULL)
        return ENOMEM;
    mb->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (mb->fd < 0) {
        e = errno;
        goto out_free_mb;
    }
    e = pthread_mutex_init(&mb->lock, NULL);
    if (e != 0)
        goto out_close_fd;
    *out = mb;
    return 0;

out_close_fd:
    close(mb->fd);
out_free_mb:
    free(mb);
    return e;
}

void mailbox_destroy(struct mailbox *mb)
{
    if (mb == NULL)
        return;
    pthread_mutex_destroy(&mb->lock);
    close(mb->fd);
    free(mb);
}

int mailbox_fd(const struct mailbox *mb)
{
    return mb->fd;
}

static void wake(struct mailbox *mb)
{
    uint64_t one = 1;

    /* EAGAIN means the counter is already non-zero: awake anyway. */
    while (write(mb->fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* Queues `c`; caller holds the lock. */
static fleet_status push_locked(struct mailbox *mb, const fleet_control *c)
{
    struct agent_command *slot;

    if (mb->len == MAILBOX_CAP)
        return fleet_obey_refuse(FLEET_ERR_STATE, "busy: too many commands in flight");
    slot = &mb->queue[(mb->head + mb->len) % MAILBOX_CAP];
    slot->action = c->action;
    slot->fence_epoch = c->fence_epoch;
    slot->seq = c->seq;
    mb->len++;
    return FLEET_OK;
}

/* One handler for every action: runs on the obey subscription's thread. */
static fleet_status on_any(void *ctx, const fleet_control *c)
{
    struct mailbox *mb = ctx;
    fleet_status s;

    pthread_mutex_lock(&mb->lock);
    if (c->action == FLEET_ACTION_RESTART && mb->fenced) {
        pthread_mutex_unlock(&mb->lock);
        return fleet_obey_refuse(FLEET_ERR_STATE, "fenced: UNFENCE first");
    }
    s = push_locked(mb, c);
    if (s == FLEET_OK && c->action == FLEET_ACTION_FENCE)
        mb->fenced = true;
    if (s == FLEET_OK && c->action == FLEET_ACTION_UNFENCE)
        mb->fenced = false;
    pthread_mutex_unlock(&mb->lock);
    if (s == FLEET_OK)
        wake(mb);
    return s;
}

fleet_obey_handlers mailbox_obey_handlers(struct mailbox *mb)
{
    fleet_obey_handlers h = {
        .ctx = mb,
        .on_restart = on_any, .on_fence = on_any, .on_unfence = on_any,
        .on_drain = on_any, .on_resume = on_any,
        .reports_state = true,
    };

    return h;
}

void mailbox_post_http(struct mailbox *mb, const struct check_result *r)
{
    pthread_mutex_lock(&mb->lock);
    mb->http = *r;
    mb->has_http = true;
    pthread_mutex_unlock(&mb->lock);
    wake(mb);
}

void mailbox_drain_fd(struct mailbox *mb)
{
    uint64_t n;

    while (read(mb->fd, &n, sizeof(n)) < 0 && errno == EINTR)
        ;
}

bool mailbox_take_command(struct mailbox *mb, struct agent_command *out)
{
    bool got = false;

    pthread_mutex_lock(&mb->lock);
    if (mb->len > 0) {
        *out = mb->queue[mb->head];
        mb->head = (mb->head + 1) % MAILBOX_CAP;
        mb->len--;
        got = true;
    }
    pthread_mutex_unlock(&mb->lock);
    return got;
}

bool mailbox_take_http(struct mailbox *mb, struct check_result *out)
{
    bool got;

    pthread_mutex_lock(&mb->lock);
    got = mb->has_http;
    if (got)
        *out = mb->http;
    mb->has_http = false;
    pthread_mutex_unlock(&mb->lock);
    return got;
}
