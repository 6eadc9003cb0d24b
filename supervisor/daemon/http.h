/* The read-only HTTP surface (DESIGN.md §9): libmicrohttpd on its own
 * polling thread (epoll) plus one thread that wakes parked event streams.
 * Every answer comes from the board (http_board.h): nothing here reads or
 * locks the fleet state, nothing here changes the fleet.
 *
 *   GET|HEAD /healthz      200 "ok" while the owner loop beats (else 503)
 *            /readyz       200 {"ready":true,...} or 503 {"ready":false,"reason":...}
 *            /metrics      the "metrics" blob
 *            /api/status   the "status" blob          (503 until published)
 *            /             the "index" blob           (503 until published)
 *            /api/events   Server-Sent Events from the board's ring, from now
 *                          on or after Last-Event-ID; ": keepalive" comments
 *   any other method 405 (Allow: GET, HEAD); other paths 404; a request
 *   with a body 413; oversized headers or URLs refused by MHD's memory limit.
 *
 * A client that stops reading holds at most one event and MHD's per
 * connection buffer; after the idle timeout without progress it is dropped.
 * One that reads too slowly for the ring is told it missed events. */
#ifndef FLEET_HTTP_H
#define FLEET_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http_board.h"

#define HTTP_CONNECTION_LIMIT 2048         /* open connections at most */
#define HTTP_MEMORY_LIMIT (16 * 1024)      /* per connection: request line + headers must fit */
#define HTTP_TIMEOUT_S 10                  /* a connection idle (or not reading) this long is closed */
#define HTTP_KEEPALIVE_MS 15000            /* SSE comment period */
#define HTTP_STALE_BEAT_MS 5000            /* /healthz fails when the loop has not beaten this long */

struct http_options {
    const char *listen;          /* "ADDR:PORT" (IPv4, [IPv6] or a name); port 0 = any free one */
    unsigned timeout_s;          /* 0: HTTP_TIMEOUT_S */
    int keepalive_ms;            /* 0: HTTP_KEEPALIVE_MS */
    int64_t stale_beat_ms;       /* 0: HTTP_STALE_BEAT_MS */
};

struct http_counters {
    uint64_t requests;           /* answered, any status */
    uint64_t streams_open;       /* /api/events streams now */
    uint64_t streams_missed;     /* times a stream was told it missed events */
};

/* Splits and resolves "ADDR:PORT" into addr and len (written on success).
 * Returns 0, or -1 with why in err. */
int http_listen_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *err, size_t errlen);

struct http_server;

/* Listens and serves `board` (which must outlive the server). Returns 0 and
 * *out, or -1 with why in err (*out untouched). Stop with http_stop. */
int http_start(const struct http_options *o, struct http_board *board, struct http_server **out, char *err,
               size_t errlen);
/* Ends every stream, stops both threads, closes every connection. NULL: no-op. */
void http_stop(struct http_server *s);
/* The port listened on (useful with port 0). */
uint16_t http_port(const struct http_server *s);
void http_counters(struct http_server *s, struct http_counters *out);

#endif
