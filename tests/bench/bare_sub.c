/* bare_sub: the floor a heartbeat subscriber costs on this machine, for
 * bench_scale to measure beside fleet-supervisor on the same load.
 *
 *     bare_sub URL SUBJECT
 *
 * One nats.c connection, one async subscription on SUBJECT with the
 * supervisor's pending limits (bus.c), every message unpacked as a
 * Heartbeat and freed, nothing more: no queue, no core, no feed. Prints
 * "ready" on stdout once subscribed (and flushed), then runs until SIGTERM
 * or SIGINT; prints "received N bad M" on the way out. Exit 0, or 1 when it
 * cannot connect or subscribe. */
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bus.h"   /* BUS_PENDING_*: as the supervisor's bus subscribes */
#include "fleet/v1/fleet.pb-c.h"

static volatile sig_atomic_t stop;
static atomic_uint_fast64_t received, bad;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    Fleet__V1__Heartbeat *hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                            (const uint8_t *)natsMsg_GetData(msg));

    (void)nc;
    (void)sub;
    (void)closure;
    if (hb != NULL)
        fleet__v1__heartbeat__free_unpacked(hb, NULL);
    else
        atomic_fetch_add_explicit(&bad, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
    natsMsg_Destroy(msg);
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_signal };
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsStatus s;

    if (argc != 3) {
        fprintf(stderr, "usage: bare_sub URL SUBJECT\n");
        return 2;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    s = natsConnection_ConnectTo(&nc, argv[1]);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub, nc, argv[2], on_msg, NULL);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sub, BUS_PENDING_MSGS, BUS_PENDING_BYTES);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK) {
        fprintf(stderr, "bare_sub: %s: %s\n", argv[1], natsStatus_GetText(s));
        goto out_close;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        pause();
    printf("received %" PRIuFAST64 " bad %" PRIuFAST64 "\n", atomic_load(&received), atomic_load(&bad));

out_close:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    nats_Close();
    return s == NATS_OK ? 0 : 1;
}
