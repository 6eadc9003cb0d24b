/* The hand-over from nats.c's threads to fleetctl's main thread. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* Far above what a 1 s status feed and its events queue up between two
 * wake-ups; only a stopped consumer (e.g. a suspended terminal) reaches it. */
#define INBOX_MAX 4096

fleet_status inbox_init(struct inbox *ib)
{
    memset(ib, 0, sizeof(*ib));
    if (pipe(ib->wake) != 0)
        return FLEET_ERR_SYSTEM;
    if (fcntl(ib->wake[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(ib->wake[1], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(ib->wake[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(ib->wake[1], F_SETFD, FD_CLOEXEC) != 0)
        goto out_close_pipe;
    if (pthread_mutex_init(&ib->mu, NULL) != 0)
        goto out_close_pipe;
    return FLEET_OK;

out_close_pipe:
    close(ib->wake[0]);
    close(ib->wake[1]);
    return FLEET_ERR_SYSTEM;
}

void inbox_fini(struct inbox *ib)
{
    struct inbox_item *it = ib->head;

    while (it != NULL) {
        struct inbox_item *next = it->next;

        free(it);
        it = next;
    }
    ib->head = ib->tail = NULL;
    pthread_mutex_destroy(&ib->mu);
    close(ib->wake[0]);
    close(ib->wake[1]);
}

void inbox_put(struct inbox *ib, enum inbox_kind kind, const void *data, size_t len)
{
    struct inbox_item *it = malloc(sizeof(*it) + len);
    bool was_empty = false;

    if (it != NULL) {
        it->next = NULL;
        it->kind = kind;
        it->len = len;
        if (len > 0)
            memcpy(it->data, data, len);
    }
    pthread_mutex_lock(&ib->mu);
    if (it == NULL || ib->len >= INBOX_MAX) {
        ib->dropped++;
    } else {
        was_empty = ib->len == 0;
        if (ib->tail != NULL)
            ib->tail->next = it;
        else
            ib->head = it;
        ib->tail = it;
        ib->len++;
        it = NULL;
    }
    pthread_mutex_unlock(&ib->mu);
    free(it);
    /* One byte per empty -> non-empty transition; a full pipe (EAGAIN)
     * already means "wake up". */
    if (was_empty) {
        ssize_t w = write(ib->wake[1], "", 1);

        (void)w;
    }
}

/* nats.c threads: copy and hand over. The callback owns msg. */
static void put_msg(struct inbox *ib, enum inbox_kind kind, natsMsg *msg)
{
    inbox_put(ib, kind, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

void inbox_on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ib)
{
    put_msg(ib, INBOX_STATUS, msg);
}

void inbox_on_service_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ib)
{
    put_msg(ib, INBOX_SERVICE_STATUS, msg);
}

void inbox_on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ib)
{
    put_msg(ib, INBOX_EVENT, msg);
}

static void on_link_down(natsConnection *nc, void *ib)
{
    inbox_put(ib, INBOX_LINK_DOWN, NULL, 0);
}

static void on_link_up(natsConnection *nc, void *ib)
{
    inbox_put(ib, INBOX_LINK_UP, NULL, 0);
}

static void on_link_closed(natsConnection *nc, void *ib)
{
    inbox_put(ib, INBOX_CLOSED, NULL, 0);
}

struct ctl_link_cbs inbox_link(struct inbox *ib)
{
    return (struct ctl_link_cbs){ on_link_down, on_link_up, on_link_closed, ib };
}

int inbox_fd(const struct inbox *ib)
{
    return ib->wake[0];
}

struct inbox_item *inbox_take_all(struct inbox *ib, uint64_t *dropped)
{
    struct inbox_item *head;
    char buf[64];

    /* Drain the pipe before taking: a byte written after this belongs to
     * an item this call may or may not take, and at worst wakes the
     * consumer once for nothing. */
    while (read(ib->wake[0], buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&ib->mu);
    head = ib->head;
    ib->head = ib->tail = NULL;
    ib->len = 0;
    *dropped = ib->dropped;
    ib->dropped = 0;
    pthread_mutex_unlock(&ib->mu);
    return head;
}
