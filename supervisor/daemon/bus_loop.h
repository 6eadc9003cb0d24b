/* The bus's reader: one thread of ours that does the socket reads nats.c's
 * reader thread would, through nats.c's external event-loop mode, and takes
 * the messages of one bulk subscription (the heartbeats) itself, with no
 * delivery thread between (bus.h, bus_subscribe_bulk).
 *
 * Why: at 20,000 heartbeats a second, nats.c's threaded path wakes its
 * reader, the subscription's delivery thread and its GC thread for every few
 * heartbeats; that alone cost 12 % of a core here, whatever the subscriber
 * did (BENCHMARKS.md §11). While the bus is busy (at least
 * BUS_LOOP_BUSY_BYTES_PER_S coming in, judged every 100 ms), this thread
 * reads at most once every BUS_LOOP_COALESCE_US, each read taking what
 * arrived meanwhile: a message then waits at most that long. On a quieter
 * bus every read happens at once, so an EXITED heartbeat and the replies
 * the owner waits for (JetStream's) are not held back when they come
 * alone; a read that leaves data in the socket is followed by the next at
 * once in either case. Writes are never held back: nats.c asks
 * for them (a publish, a PING) and the thread is woken to do them at once.
 *
 * Threads: bus_loop_* are called by bus.c only. nats.c calls the event-loop
 * callbacks from any of its threads (connect, reconnect, close); they only
 * record what to poll, under the loop's lock, and wake the thread. The bulk
 * handler runs on the loop's thread. */
#ifndef FLEET_BUS_LOOP_H
#define FLEET_BUS_LOOP_H

#include <stdbool.h>

#include <nats/nats.h>

#include "bus.h"

/* How long a read waits after the one before it on a busy bus, and what
 * busy is: ~5,000 heartbeats a second, a 25 k fleet at a 5 s interval. */
#define BUS_LOOP_COALESCE_US 10000
#define BUS_LOOP_BUSY_BYTES_PER_S (1024 * 1024)

struct bus_loop;

/* Starts the thread (it waits until nats.c attaches a socket). Returns 0
 * and *out, or -1 (no thread, no eventfd: out of resources). */
int bus_loop_start(struct bus_loop **out);

/* Puts the loop into nats.c's options: event-loop mode with its callbacks,
 * and a read buffer large enough for a coalesced read. Returns 0 or -1. */
int bus_loop_attach_options(struct bus_loop *l, natsOptions *opts);

/* Makes `sub` (a synchronous subscription) the bulk one: after each read,
 * its messages go to fn, in order, while room (NULL: always) says there is
 * room for one more; without room the rest stay in nats.c's pending list,
 * asked again within a millisecond. fn must not block or call the bus.
 * Called once, before messages can arrive on `sub` matter (they wait). */
void bus_loop_set_bulk(struct bus_loop *l, natsSubscription *sub, bus_msg_fn fn, bool (*room)(void *ctx),
                       void *ctx);

/* Stops taking bulk messages (bus_close, before unsubscribing it). */
void bus_loop_clear_bulk(struct bus_loop *l);

/* Stops and joins the thread, frees the loop. Only after nats.c closed the
 * connection (its closed callback ran, or the wait for it gave up): no
 * callback of the loop's may follow. NULL: no-op. */
void bus_loop_stop(struct bus_loop *l);

#endif
