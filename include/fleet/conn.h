/* One way to connect to NATS, shared by every fleet program (DESIGN.md §8).
 *
 * fleet-supervisor, fleet-agent, fleetctl, fleet-sim and libfleet's own
 * heartbeat sender all open their connection here, so a server list,
 * credentials, reconnects and the stale-server timing behave the same
 * everywhere and are defined once:
 *
 *   - `url` is one URL or a comma-separated list ("nats://a:4222, nats://b:4222";
 *     spaces around entries are allowed). nats.c's natsOptions_SetURL takes a
 *     single URL only, so the list is split and handed to
 *     natsOptions_SetServers. Servers the cluster announces (INFO
 *     connect_urls) are added to the pool by nats.c, so one URL of a cluster
 *     is enough to fail over to the others.
 *   - credentials: a .creds file (`creds`, else $NATS_CREDS); user and
 *     password or a token may also ride in the URL.
 *   - reconnect: for ever, FLEET_CONN_RECONNECT_WAIT_MS between attempts on
 *     the same server, plus up to FLEET_CONN_RECONNECT_JITTER_MS of jitter so a
 *     restarted server is not hit by every client in the same millisecond.
 *   - stale server: a PING every FLEET_CONN_PING_INTERVAL_MS; nats.c declares
 *     the connection stale when more than FLEET_CONN_MAX_PINGS_OUT are
 *     unanswered at a tick, so a frozen or cut-off server (its TCP session
 *     still open) is left 2 to 3 ping intervals after it stopped answering:
 *     2-3 s. Why 1 s: a heartbeat sender parked on a frozen server is silent
 *     to the supervisor until it leaves; the supervisor holds such silence
 *     (detector.server_grace_ms) rather than act on it, and the shorter the
 *     stay, the sooner the instance is judged again. A PING is a few bytes,
 *     one per connection per second: nothing beside the heartbeats.
 *
 * Threads: fleet_conn_open may be called from any thread. The callbacks run
 * on nats.c's threads, with nats.c's natsConnectionHandler signature. */
#ifndef FLEET_CONN_H
#define FLEET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/names.h"
#include "fleet/subjects.h"
#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* nats.c's connection and options types, as <nats/nats.h> names them. */
typedef struct __natsConnection natsConnection;
typedef struct __natsOptions natsOptions;

/* FLEET_DEFAULT_URL: fleet/subjects.h, with the rest of the wire vocabulary. */

#define FLEET_CONN_PING_INTERVAL_MS 1000
#define FLEET_CONN_MAX_PINGS_OUT 2
#define FLEET_CONN_RECONNECT_WAIT_MS 250
#define FLEET_CONN_RECONNECT_JITTER_MS 100
/* Servers accepted in one URL list. */
#define FLEET_CONN_MAX_SERVERS 32

/* Same signature as nats.c's natsConnectionHandler. */
typedef void (*fleet_conn_event_fn)(natsConnection *nc, void *ctx);

typedef struct fleet_conn_opts {
    const char *url;          /* URL or comma-separated list; NULL or "": $NATS_URL, else
                                 FLEET_DEFAULT_URL */
    const char *creds;        /* credentials file; NULL: $NATS_CREDS (unset: none); "": none */
    const char *name;         /* connection name the server shows (required) */
    bool retry_first_connect; /* true: a server not reachable yet is retried in the background
                                 and fleet_conn_open succeeds at once (daemons, senders);
                                 false: it fails now with FLEET_ERR_NATS (command-line tools) */
    int64_t timeout_ms;       /* connect timeout per attempt; 0: nats.c's default (2 s) */
    int64_t reconnect_buf_bytes; /* publishes buffered while reconnecting; 0: nats.c's (8 MiB) */
    bool no_echo;             /* our own publishes are not delivered to our subscriptions */
    bool send_asap;           /* a publish is written to the socket by the publishing thread,
                                 not later by nats.c's flusher thread: one hand-off less for
                                 a sender that publishes little and must be prompt (fleet-agent's
                                 EXITED heartbeat); false for high-rate publishers, which gain
                                 from the flusher's batching */
    fleet_conn_event_fn on_connected;    /* each may be NULL; ctx is passed to all */
    fleet_conn_event_fn on_disconnected;
    fleet_conn_event_fn on_reconnected;
    fleet_conn_event_fn on_closed;
    /* Called with nats.c's options once all of the above are set, just
     * before connecting: a caller's own settings (the supervisor attaches its
     * event loop). Returns 0, or -1 to fail the open with FLEET_ERR_NATS.
     * NULL: none. */
    int (*tune)(natsOptions *opts, void *ctx);
    void *ctx;
} fleet_conn_opts;

/* Opens a connection as described above. On FLEET_OK *out is a connection
 * (maybe still connecting, when retry_first_connect) that the caller closes
 * and destroys (natsConnection_Close / natsConnection_Destroy). Fails with
 * FLEET_ERR_INVALID_ARG for a bad URL list or a missing name,
 * FLEET_ERR_NATS for a credentials file nats.c cannot use or (without
 * retry_first_connect) no server reachable; fleet_last_error() then says
 * which, without any password the URL may hold. *out is untouched on
 * failure. */
fleet_status fleet_conn_open(const fleet_conn_opts *o, natsConnection **out);

/* Splits a URL list as fleet_conn_open does: entries separated by commas,
 * surrounding spaces dropped. On FLEET_OK *urls is a malloc'd array of
 * *n (1..FLEET_CONN_MAX_SERVERS) malloc'd strings, freed with
 * fleet_conn_urls_free. FLEET_ERR_INVALID_ARG (nothing allocated) for an
 * empty list, an empty entry ("a,,b", a trailing comma), an entry holding
 * a space or control character, or too many entries. */
fleet_status fleet_conn_urls_parse(const char *list, char ***urls, int *n);
void fleet_conn_urls_free(char **urls, int n);

/* The id of the server `nc` is connected to, into out (n bytes, NUL
 * terminated; FLEET_SERVER_ID_MAX + 1 always suffice); "" while not
 * connected. Never fails. */
void fleet_conn_server_id(natsConnection *nc, char *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
