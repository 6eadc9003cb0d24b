#include "http.h"

#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "fleet/clock.h"

/* MHD's buffer for a stream's body, per call of the reader. */
#define SSE_BLOCK 4096
/* How often the waker looks for streams whose keepalive is due. */
#define WAKER_PERIOD_MS 1000

/* One /api/events stream. `next`, `prev`, `parked` and `keepalive_due_ms`
 * are under the server's lock; the rest is the MHD thread's. */
struct sse {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct sse *next, *prev;
    bool parked;                 /* suspended: waiting for an event or its keepalive */
    int64_t keepalive_due_ms;
    uint64_t last;               /* seq of the last event sent (or skipped) */
    char *frame;                 /* the frame being sent, malloc'd */
    size_t frame_len, frame_off;
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct http_board *board;
    struct http_options opt;
    pthread_mutex_t lock;        /* streams, stopping */
    struct sse *streams;
    bool stopping;
    pthread_t waker;
    atomic_uint_fast64_t requests, streams_open, streams_missed;
};

int http_listen_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res;
    const char *colon = strrchr(text, ':');
    char host[256], port[8];
    size_t hlen;
    int rc;

    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= sizeof(port) ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) > 65535) {
        snprintf(err, errlen, "\"%s\" is not ADDR:PORT (e.g. 127.0.0.1:9180)", text);
        return -1;
    }
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') { /* [IPv6]:port */
        text++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) {
        snprintf(err, errlen, "the address is too long");
        return -1;
    }
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    snprintf(port, sizeof(port), "%s", colon + 1);
    rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* ---- plain answers ---- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                              size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *body)
{
    return answer(c, status, "text/plain; charset=utf-8", body, strlen(body));
}

static void release_blob(void *cls)
{
    http_blob_release(cls);
}

/* A published blob, served from the board's bytes (no copy): the response
 * holds a reference until MHD is done with it. */
static enum MHD_Result blob(struct http_server *s, struct MHD_Connection *c, const char *name)
{
    struct http_blob *b = http_board_get(s->board, name);
    struct MHD_Response *r;
    enum MHD_Result rc;

    if (b == NULL)
        return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not yet published\n");
    r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, release_blob, b);
    if (r == NULL) {
        http_blob_release(b);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, b->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result healthz(struct http_server *s, struct MHD_Connection *c)
{
    int64_t beat = http_board_last_beat(s->board);

    if (beat != 0 && fleet_mono_ms() - beat <= s->opt.stale_beat_ms)
        return text(c, MHD_HTTP_OK, "ok\n");
    return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the supervisor's loop is not running\n");
}

static enum MHD_Result readyz(struct http_server *s, struct MHD_Connection *c)
{
    char reason[HTTP_BOARD_REASON_MAX + 1];
    bool ready = http_board_ready(s->board, reason, sizeof(reason));
    json_t *j = json_pack("{s:b, s:s}", "ready", ready, "reason", reason);
    char *body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    enum MHD_Result rc = MHD_NO;

    if (body != NULL) {
        size_t n = strlen(body);

        body[n] = '\n'; /* json_dumps leaves room: we send n + 1 bytes, the NUL replaced */
        rc = answer(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body, n + 1);
    }
    free(body);
    json_decref(j);
    return rc;
}

/* ---- /api/events ---- */

/* The SSE frame of one event: its id, then each line of its text as a
 * data: line. Returns 0 or -1 (out of memory). */
static int frame_event(struct sse *e, const struct http_blob *ev)
{
    size_t lines = 1, cap, n;
    char *out;

    for (size_t k = 0; k < ev->len; k++)
        lines += ev->data[k] == '\n';
    cap = 32 + ev->len + lines * 7 + 2;
    out = malloc(cap);
    if (out == NULL)
        return -1;
    n = (size_t)snprintf(out, cap, "id: %" PRIu64 "\ndata: ", ev->seq);
    for (size_t k = 0; k < ev->len; k++) {
        if (ev->data[k] == '\n') {
            memcpy(out + n, "\ndata: ", 7);
            n += 7;
        } else {
            out[n++] = ev->data[k];
        }
    }
    memcpy(out + n, "\n\n", 2);
    e->frame = out;
    e->frame_len = n + 2;
    e->frame_off = 0;
    return 0;
}

static int frame_text(struct sse *e, const char *fmt, uint64_t value)
{
    int n = snprintf(NULL, 0, fmt, value, value);

    e->frame = malloc((size_t)n + 1);
    if (e->frame == NULL)
        return -1;
    snprintf(e->frame, (size_t)n + 1, fmt, value, value);
    e->frame_len = (size_t)n;
    e->frame_off = 0;
    return 0;
}

/* Parks the stream unless an event came meanwhile (checked under the lock
 * the waker takes to resume, so no event is slept through) or the server
 * stops. Returns true when parked. */
static bool park(struct sse *e, int64_t now)
{
    struct http_server *s = e->srv;
    bool parked = false;

    pthread_mutex_lock(&s->lock);
    if (!s->stopping && http_board_last_seq(s->board) <= e->last) {
        if (e->keepalive_due_ms == 0)
            e->keepalive_due_ms = now + s->opt.keepalive_ms;
        e->parked = true;
        MHD_suspend_connection(e->conn);
        parked = true;
    }
    pthread_mutex_unlock(&s->lock);
    return parked;
}

/* What the stream sends next: the rest of the frame, the next event, a
 * "missed" marker, a keepalive, or nothing yet (parked). */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse *e = cls;
    struct http_server *s = e->srv;

    (void)pos;
    while (e->frame == NULL) {
        struct http_blob *ev;
        uint64_t missed_to;
        int64_t now = fleet_mono_ms();
        bool keepalive_due;

        switch (http_board_next(s->board, e->last, &ev, &missed_to)) {
        case HTTP_BOARD_EVENT:
            e->last = ev->seq;
            if (frame_event(e, ev) != 0) {
                http_blob_release(ev);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            http_blob_release(ev);
            break;
        case HTTP_BOARD_MISSED:
            /* Behind by more than the ring holds: say so, read on from the oldest kept. */
            e->last = missed_to;
            atomic_fetch_add(&s->streams_missed, 1);
            if (frame_text(e, "id: %" PRIu64 "\nevent: missed\ndata: {\"missedTo\":\"%" PRIu64 "\"}\n\n",
                           missed_to) != 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        case HTTP_BOARD_NONE:
            pthread_mutex_lock(&s->lock);
            keepalive_due = e->keepalive_due_ms != 0 && now >= e->keepalive_due_ms;
            if (keepalive_due)
                e->keepalive_due_ms = 0;
            if (s->stopping) {
                pthread_mutex_unlock(&s->lock);
                return MHD_CONTENT_READER_END_OF_STREAM;
            }
            pthread_mutex_unlock(&s->lock);
            if (keepalive_due) {
                if (frame_text(e, ": keepalive\n\n", 0) != 0)
                    return MHD_CONTENT_READER_END_WITH_ERROR;
                break;
            }
            if (park(e, now))
                return 0;
            break;
        }
    }
    if (max > e->frame_len - e->frame_off)
        max = e->frame_len - e->frame_off;
    memcpy(buf, e->frame + e->frame_off, max);
    e->frame_off += max;
    if (e->frame_off == e->frame_len) {
        free(e->frame);
        e->frame = NULL;
    }
    return (ssize_t)max;
}

static void sse_free(void *cls)
{
    struct sse *e = cls;
    struct http_server *s = e->srv;

    pthread_mutex_lock(&s->lock);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        s->streams = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_sub(&s->streams_open, 1);
    free(e->frame);
    free(e);
}

static enum MHD_Result events(struct http_server *s, struct MHD_Connection *c, bool head)
{
    const char *last_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_LAST_EVENT_ID);
    struct MHD_Response *r;
    enum MHD_Result rc;
    struct sse *e;
    char *end;

    if (head)
        return answer(c, MHD_HTTP_OK, "text/event-stream", "", 0);
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return MHD_NO;
    e->srv = s;
    e->conn = c;
    e->last = http_board_last_seq(s->board);
    if (last_id != NULL && last_id[0] != '\0') {
        unsigned long long id = strtoull(last_id, &end, 10);

        if (*end == '\0')
            e->last = id;
    }
    /* The first bytes go out at once, so the client sees the stream open. */
    if (frame_text(e, "retry: 2000\n: stream open\n\n", 0) != 0) {
        free(e);
        return MHD_NO;
    }
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, e, sse_free);
    if (r == NULL) {
        free(e->frame);
        free(e);
        return MHD_NO;
    }
    pthread_mutex_lock(&s->lock);
    e->next = s->streams;
    if (s->streams != NULL)
        s->streams->prev = e;
    s->streams = e;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->streams_open, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* sse_free runs when MHD lets go of it */
    return rc;
}

/* Resumes parked streams: all of them after an event, those whose
 * keepalive is due otherwise. Never touches the fleet state. */
static void *waker(void *arg)
{
    struct http_server *s = arg;
    uint64_t seen = http_board_last_seq(s->board);

    for (;;) {
        uint64_t now_seq;
        int64_t now;
        bool stop;

        http_board_wait(s->board, seen, WAKER_PERIOD_MS);
        now_seq = http_board_last_seq(s->board);
        now = fleet_mono_ms();
        pthread_mutex_lock(&s->lock);
        stop = s->stopping;
        for (struct sse *e = s->streams; e != NULL; e = e->next) {
            if (e->parked && (stop || now_seq != seen || now >= e->keepalive_due_ms)) {
                e->parked = false;
                MHD_resume_connection(e->conn);
            }
        }
        pthread_mutex_unlock(&s->lock);
        seen = now_seq;
        if (stop)
            return NULL;
    }
}

/* ---- routing ---- */

enum route_kind { ROUTE_HEALTH, ROUTE_READY, ROUTE_BLOB, ROUTE_EVENTS };

static const struct route {
    const char *path;
    enum route_kind kind;
    const char *blob;  /* ROUTE_BLOB: the board's name */
} routes[] = {
    { "/healthz", ROUTE_HEALTH, NULL },
    { "/readyz", ROUTE_READY, NULL },
    { "/metrics", ROUTE_BLOB, "metrics" },
    { "/api/status", ROUTE_BLOB, "status" },
    { "/", ROUTE_BLOB, "index" },
    { "/api/events", ROUTE_EVENTS, NULL },
};

static bool has_body(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
           (cl != NULL && strcmp(cl, "0") != 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
    struct http_server *s = cls;
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)req_cls;
    atomic_fetch_add(&s->requests, 1);
    if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen("read-only: GET or HEAD\n"),
                                                                 (void *)"read-only: GET or HEAD\n",
                                                                 MHD_RESPMEM_PERSISTENT);
        enum MHD_Result rc;

        if (r == NULL)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (has_body(c))
        return text(c, MHD_HTTP_CONTENT_TOO_LARGE, "requests with a body are refused\n");
    for (size_t k = 0; k < sizeof(routes) / sizeof(routes[0]); k++) {
        if (strcmp(url, routes[k].path) != 0)
            continue;
        switch (routes[k].kind) {
        case ROUTE_HEALTH: return healthz(s, c);
        case ROUTE_READY: return readyz(s, c);
        case ROUTE_BLOB: return blob(s, c, routes[k].blob);
        case ROUTE_EVENTS: return events(s, c, head);
        }
    }
    return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

int http_start(const struct http_options *o, struct http_board *board, struct http_server **out, char *err,
               size_t errlen)
{
    struct sockaddr_storage addr;
    struct http_server *s;
    socklen_t alen;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;

    if (http_listen_parse(o->listen, &addr, &alen, err, errlen) != 0)
        return -1;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->board = board;
    s->opt = *o;
    if (s->opt.timeout_s == 0)
        s->opt.timeout_s = HTTP_TIMEOUT_S;
    if (s->opt.keepalive_ms == 0)
        s->opt.keepalive_ms = HTTP_KEEPALIVE_MS;
    if (s->opt.stale_beat_ms == 0)
        s->opt.stale_beat_ms = HTTP_STALE_BEAT_MS;
    s->opt.listen = NULL; /* the caller's string is not kept */
    pthread_mutex_init(&s->lock, NULL);
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
                              MHD_OPTION_CONNECTION_TIMEOUT, s->opt.timeout_s,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                              MHD_OPTION_END);
    if (s->mhd == NULL) {
        snprintf(err, errlen, "cannot listen on %s (in use, or not an address of this host?)", o->listen);
        goto out_free_server;
    }
    if (pthread_create(&s->waker, NULL, waker, s) != 0) {
        snprintf(err, errlen, "cannot start the HTTP stream thread");
        goto out_stop_mhd;
    }
    *out = s;
    return 0;

out_stop_mhd:
    MHD_stop_daemon(s->mhd);
out_free_server:
    pthread_mutex_destroy(&s->lock);
    free(s);
    return -1;
}

void http_stop(struct http_server *s)
{
    if (s == NULL)
        return;
    /* The waker resumes every parked stream and ends; resumed streams see
     * `stopping` and end, so MHD finds none suspended when it stops. */
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    http_board_wake(s->board);
    pthread_join(s->waker, NULL);
    MHD_stop_daemon(s->mhd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

uint16_t http_port(const struct http_server *s)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);

    return info != NULL ? info->port : 0;
}

void http_counters(struct http_server *s, struct http_counters *out)
{
    out->requests = atomic_load(&s->requests);
    out->streams_open = atomic_load(&s->streams_open);
    out->streams_missed = atomic_load(&s->streams_missed);
}
