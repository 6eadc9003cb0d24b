/* What the owner thread publishes for the HTTP thread (http.c): named
 * blobs ("metrics", "status", "index"), the readiness verdict, the loop's
 * liveness beat and a bounded ring of events for Server-Sent Events.
 *
 * Pure of NATS and of MHD. Every shared field is under the board's mutex,
 * held only to copy a pointer, bump a count or store a small value: the
 * owner thread never waits on a request, a request never waits on the
 * owner thread's work. Blobs are immutable once published and refcounted:
 * a reader keeps its reference for as long as its response needs the bytes
 * and releases it (http_blob_release) when done; a newer publication swaps
 * the board's pointer and drops the board's reference only. */
#ifndef FLEET_HTTP_BOARD_H
#define FLEET_HTTP_BOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Events the ring keeps by default: a reader further behind misses some. */
#define HTTP_BOARD_RING_DEFAULT 1024
/* Longest blob name and content type kept. */
#define HTTP_BOARD_NAME_MAX 31
#define HTTP_BOARD_TYPE_MAX 63
/* Longest readiness reason kept (longer ones are cut). */
#define HTTP_BOARD_REASON_MAX 255

/* One immutable publication: a named blob or one event of the ring. */
struct http_blob {
    atomic_uint refs;                          /* the board's and every reader's */
    uint64_t seq;                              /* events: rising from 1; blobs: 0 */
    char content_type[HTTP_BOARD_TYPE_MAX + 1];
    size_t len;
    char data[];                               /* len bytes, then a NUL */
};

struct http_board;

/* A board whose event ring holds `ring_cap` entries (>= 1). Returns 0 and
 * *out, or -1 (out of memory, or ring_cap 0; *out untouched). Destroy with
 * http_board_destroy, after every reader has released its blobs' board
 * (references outlive the board safely: a blob frees itself). */
int http_board_create(size_t ring_cap, struct http_board **out);
void http_board_destroy(struct http_board *b);

/* Copies `len` bytes into a new blob called `name` (<= HTTP_BOARD_NAME_MAX)
 * and swaps it in; the previous one is freed once its last reader is done.
 * Returns 0, or -1 (out of memory, name too long or the board's table of
 * names full: the previous blob stays). */
int http_board_publish(struct http_board *b, const char *name, const void *bytes, size_t len,
                       const char *content_type);
/* The current blob `name` with a reference taken (release it), or NULL
 * when nothing was published under that name. */
struct http_blob *http_board_get(struct http_board *b, const char *name);
/* Drops one reference; the last frees the blob. NULL is a no-op. */
void http_blob_release(struct http_blob *blob);

/* Readiness (http /readyz): `reason` says why not (or what it is, ready). */
void http_board_set_ready(struct http_board *b, bool ready, const char *reason);
/* The last verdict; reason copied into reason[n] (n > 0). Before any
 * set_ready: not ready, "starting". */
bool http_board_ready(struct http_board *b, char *reason, size_t n);

/* Liveness: the owner loop's clock (monotonic ms) at its last iteration,
 * 0 before the first. */
void http_board_beat(struct http_board *b, int64_t mono_ms);
int64_t http_board_last_beat(struct http_board *b);

/* Appends a copy of `json_text` to the ring as the next seq (the oldest
 * drops out when full). Returns 0, or -1 (out of memory: nothing added). */
int http_board_event(struct http_board *b, const char *json_text);
/* The seq of the newest event (0 before any): "from now on" starts here. */
uint64_t http_board_last_seq(struct http_board *b);

enum http_board_read {
    HTTP_BOARD_NONE,    /* nothing after `after` yet */
    HTTP_BOARD_EVENT,   /* *out: the event with seq after + 1, referenced */
    HTTP_BOARD_MISSED,  /* the events after `after` fell out of the ring:
                           *missed_to is the seq just before the oldest kept,
                           read on from there */
};
/* The event following seq `after`. An `after` beyond the newest (a client
 * that saw another board) reads from the newest on. Out-params are written
 * only for the answer that names them. */
enum http_board_read http_board_next(struct http_board *b, uint64_t after, struct http_blob **out,
                                     uint64_t *missed_to);

/* Wakes who waits in http_board_wait (an event was appended, or _wake). */
void http_board_wake(struct http_board *b);
/* Waits until an event with a seq above `seen` exists, http_board_wake is
 * called, or `timeout_ms` pass. For the HTTP side only: the owner thread
 * never waits. */
void http_board_wait(struct http_board *b, uint64_t seen, int timeout_ms);

#endif
