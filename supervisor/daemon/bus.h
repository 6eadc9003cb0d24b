/* The daemon's NATS connection (core NATS: publish, subscribe, request).
 *
 * Of the daemon's modules only two include nats.c: this one, and the store
 * layer (store.c, store_records.c, store_audit.c, behind store.h), which
 * runs JetStream on the connection bus_connection() lends it. Everything
 * else talks to NATS through these two headers, which declare nats.c's
 * types without including it.
 *
 * Connects with unlimited reconnect and a connection name, reports link
 * changes through a callback, and delivers messages to plain-C handlers.
 * Handlers and the link callback run on threads other than the caller's
 * (nats.c's, or the bus's reader, bus_loop.h): they must only decode and
 * hand over (ingest.h), never touch the fleet state. */
#ifndef FLEET_BUS_H
#define FLEET_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every subscription's nats.c pending limits: the owner thread is the
 * bottleneck, not nats.c's buffer, so a deep backlog is allowed rather than
 * heartbeats dropped. The benchmarks' reference subscribers use the same. */
#define BUS_PENDING_MSGS (4 * 1024 * 1024)
#define BUS_PENDING_BYTES (1024 * 1024 * 1024)

/* How to connect: fleet/conn.h's recipe (server lists, unlimited
 * reconnect with jitter, the stale-server ping), with these, and no echo:
 * what we publish never comes back to our own subscriptions. */
struct bus_options {
    const char *url;         /* one URL or a comma-separated list */
    const char *creds;       /* "" or NULL: none (the config already read $NATS_CREDS) */
    const char *name;        /* connection name shown by the server */
};

/* A message handler: `reply` may be NULL; all pointers valid during the call only. */
typedef void (*bus_msg_fn)(void *ctx, const char *subject, const char *reply, const void *data,
                           size_t len);

/* A handler for answers to our requests: `no_responders` is true for the
 * status message NATS sends to the reply subject of a request nobody
 * subscribes to (data is then empty). Anyone who may publish on that reply
 * subject can send one too: it is a claim, as the data is. */
typedef void (*bus_reply_fn)(void *ctx, const char *subject, const void *data, size_t len,
                             bool no_responders);

/* `up` true when (re)connected, false when disconnected; `url` the server
 * and `server_id` its id ("" when down). */
typedef void (*bus_link_fn)(void *ctx, bool up, const char *url, const char *server_id);

struct bus_stats {
    uint64_t in_msgs;
    uint64_t out_msgs;
    uint64_t reconnects;
    int64_t dropped;   /* messages dropped by our subscriptions' pending limits */
};

struct bus;

/* Starts connecting. If no server is reachable yet, succeeds anyway and
 * keeps trying in the background (the link callback says when it is up).
 * Returns 0 and *out, or -1 with a message in err (bad URL list, bad creds
 * file). */
int bus_open(const struct bus_options *opts, bus_link_fn on_link, void *link_ctx, struct bus **out,
             char *err, size_t errlen);

/* Subscribes `subject` (optionally in `queue` group) with generous pending
 * limits. Returns 0 or -1 with a message in err. */
int bus_subscribe(struct bus *b, const char *subject, const char *queue, bus_msg_fn fn, void *ctx,
                  char *err, size_t errlen);

/* Subscribes `subject` as the bus's one bulk subscription (the heartbeats):
 * its messages are handed to `fn` by the bus's reader thread itself, right
 * after each read, with no delivery thread between (bus_loop.h says why).
 * `fn` must not block or call the bus: every other subscription's messages
 * wait for it. `room` (NULL: always) is asked before each message; false
 * leaves the rest in nats.c's pending buffer (BUS_PENDING_*, drops counted
 * in bus_stats), asked again within a millisecond. Returns 0, or -1 with a
 * message in err (one exists already). */
int bus_subscribe_bulk(struct bus *b, const char *subject, bus_msg_fn fn, bool (*room)(void *ctx), void *ctx,
                       char *err, size_t errlen);

/* Subscribes `subject` (answers to our requests: an inbox) for `fn`. Returns
 * 0 or -1 with a message in err. */
int bus_subscribe_replies(struct bus *b, const char *subject, bus_reply_fn fn, void *ctx, char *err,
                          size_t errlen);

/* Publishes; while disconnected nats.c buffers it. Returns 0 or -1. */
int bus_publish(struct bus *b, const char *subject, const void *data, size_t len);

/* Publishes with a reply subject (a request whose answers arrive on a
 * subscription the caller made, e.g. under bus_inbox). Returns 0 or -1. */
int bus_publish_request(struct bus *b, const char *subject, const char *reply, const void *data, size_t len);

/* Writes a new unique inbox prefix ("_INBOX.<nuid>") into out. Returns 0 or -1. */
int bus_inbox(char *out, size_t n);

bool bus_connected(struct bus *b);

/* The underlying nats.c connection, for the one other nats.c edge that needs
 * it (store.c: JetStream shares the daemon's connection). Borrowed: valid
 * until bus_close(); never close or destroy it. Declared without including
 * nats.h (C11 allows repeating nats.h's identical typedef). */
typedef struct __natsConnection natsConnection;
natsConnection *bus_connection(struct bus *b);
void bus_stats(struct bus *b, struct bus_stats *out);

/* Stops deliveries (drains subscriptions up to `timeout_ms`), flushes what was
 * published and closes. Handlers are not called after it returns. NULL no-op. */
void bus_close(struct bus *b, int timeout_ms);

#endif
