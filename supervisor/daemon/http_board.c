#include "http_board.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Names a board holds: metrics, status, index and a few to grow into. */
#define BOARD_NAMES 8

struct named {
    char name[HTTP_BOARD_NAME_MAX + 1];
    struct http_blob *blob;    /* the board's reference; NULL = never published */
};

struct http_board {
    pthread_mutex_t lock;
    pthread_cond_t changed;    /* an event appended, or http_board_wake */
    struct named names[BOARD_NAMES];
    bool ready;
    char reason[HTTP_BOARD_REASON_MAX + 1];
    int64_t beat_ms;
    uint64_t wakes;            /* http_board_wake calls, so a waiter sees one */
    struct http_blob **ring;   /* event seq s at ring[(s - 1) % cap]; the board's references */
    size_t cap;
    uint64_t next_seq;         /* the seq the next event gets (1 first) */
};

/* A new blob with one reference (the caller's), or NULL. */
static struct http_blob *blob_new(const void *bytes, size_t len, const char *content_type, uint64_t seq)
{
    struct http_blob *blob = malloc(sizeof(*blob) + len + 1);

    if (blob == NULL)
        return NULL;
    atomic_init(&blob->refs, 1);
    blob->seq = seq;
    strncpy(blob->content_type, content_type ? content_type : "", sizeof(blob->content_type) - 1);
    blob->content_type[sizeof(blob->content_type) - 1] = '\0';
    blob->len = len;
    if (len > 0)
        memcpy(blob->data, bytes, len);
    blob->data[len] = '\0';
    return blob;
}

static struct http_blob *blob_ref(struct http_blob *blob)
{
    atomic_fetch_add_explicit(&blob->refs, 1, memory_order_relaxed);
    return blob;
}

void http_blob_release(struct http_blob *blob)
{
    if (blob != NULL && atomic_fetch_sub_explicit(&blob->refs, 1, memory_order_acq_rel) == 1)
        free(blob);
}

int http_board_create(size_t ring_cap, struct http_board **out)
{
    struct http_board *b;
    pthread_condattr_t ca;

    if (ring_cap == 0 || (b = calloc(1, sizeof(*b))) == NULL)
        return -1;
    b->ring = calloc(ring_cap, sizeof(*b->ring));
    if (b->ring == NULL)
        goto out_free_board;
    if (pthread_condattr_init(&ca) != 0)
        goto out_free_ring;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&b->changed, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto out_free_ring;
    }
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&b->lock, NULL);
    b->cap = ring_cap;
    b->next_seq = 1;
    strcpy(b->reason, "starting");
    *out = b;
    return 0;

out_free_ring:
    free(b->ring);
out_free_board:
    free(b);
    return -1;
}

void http_board_destroy(struct http_board *b)
{
    if (b == NULL)
        return;
    for (size_t k = 0; k < BOARD_NAMES; k++)
        http_blob_release(b->names[k].blob);
    for (size_t k = 0; k < b->cap; k++)
        http_blob_release(b->ring[k]);
    free(b->ring);
    pthread_cond_destroy(&b->changed);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* The slot called `name`, or a free one to take it when `claim`; NULL
 * when neither. Called with the lock held. */
static struct named *slot(struct http_board *b, const char *name, bool claim)
{
    struct named *free_slot = NULL;

    for (size_t k = 0; k < BOARD_NAMES; k++) {
        if (b->names[k].name[0] == '\0') {
            if (free_slot == NULL)
                free_slot = &b->names[k];
        } else if (strcmp(b->names[k].name, name) == 0) {
            return &b->names[k];
        }
    }
    if (!claim || free_slot == NULL)
        return NULL;
    strcpy(free_slot->name, name);
    return free_slot;
}

int http_board_publish(struct http_board *b, const char *name, const void *bytes, size_t len,
                       const char *content_type)
{
    struct http_blob *blob, *old;
    struct named *s;

    if (name[0] == '\0' || strlen(name) > HTTP_BOARD_NAME_MAX)
        return -1;
    blob = blob_new(bytes, len, content_type, 0);
    if (blob == NULL)
        return -1;
    pthread_mutex_lock(&b->lock);
    s = slot(b, name, true);
    if (s == NULL) {
        pthread_mutex_unlock(&b->lock);
        http_blob_release(blob);
        return -1;
    }
    old = s->blob;
    s->blob = blob;
    pthread_mutex_unlock(&b->lock);
    http_blob_release(old);
    return 0;
}

struct http_blob *http_board_get(struct http_board *b, const char *name)
{
    struct http_blob *blob = NULL;
    struct named *s;

    pthread_mutex_lock(&b->lock);
    s = slot(b, name, false);
    if (s != NULL && s->blob != NULL)
        blob = blob_ref(s->blob);
    pthread_mutex_unlock(&b->lock);
    return blob;
}

void http_board_set_ready(struct http_board *b, bool ready, const char *reason)
{
    pthread_mutex_lock(&b->lock);
    b->ready = ready;
    strncpy(b->reason, reason ? reason : "", sizeof(b->reason) - 1);
    b->reason[sizeof(b->reason) - 1] = '\0';
    pthread_mutex_unlock(&b->lock);
}

bool http_board_ready(struct http_board *b, char *reason, size_t n)
{
    bool ready;

    pthread_mutex_lock(&b->lock);
    ready = b->ready;
    strncpy(reason, b->reason, n - 1);
    reason[n - 1] = '\0';
    pthread_mutex_unlock(&b->lock);
    return ready;
}

void http_board_beat(struct http_board *b, int64_t mono_ms)
{
    pthread_mutex_lock(&b->lock);
    b->beat_ms = mono_ms;
    pthread_mutex_unlock(&b->lock);
}

int64_t http_board_last_beat(struct http_board *b)
{
    int64_t at;

    pthread_mutex_lock(&b->lock);
    at = b->beat_ms;
    pthread_mutex_unlock(&b->lock);
    return at;
}

int http_board_event(struct http_board *b, const char *json_text)
{
    struct http_blob *blob = blob_new(json_text, strlen(json_text), "application/json", 0);
    struct http_blob *old;
    size_t at;

    if (blob == NULL)
        return -1;
    pthread_mutex_lock(&b->lock);
    blob->seq = b->next_seq++;
    at = (size_t)((blob->seq - 1) % b->cap);
    old = b->ring[at];
    b->ring[at] = blob;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
    http_blob_release(old);
    return 0;
}

uint64_t http_board_last_seq(struct http_board *b)
{
    uint64_t seq;

    pthread_mutex_lock(&b->lock);
    seq = b->next_seq - 1;
    pthread_mutex_unlock(&b->lock);
    return seq;
}

enum http_board_read http_board_next(struct http_board *b, uint64_t after, struct http_blob **out,
                                     uint64_t *missed_to)
{
    enum http_board_read r;
    uint64_t newest, oldest;

    pthread_mutex_lock(&b->lock);
    newest = b->next_seq - 1;
    oldest = newest >= b->cap ? newest - b->cap + 1 : 1;
    if (after > newest)
        after = newest;
    if (after == newest) {
        r = HTTP_BOARD_NONE;
    } else if (after + 1 < oldest) {
        *missed_to = oldest - 1;
        r = HTTP_BOARD_MISSED;
    } else {
        *out = blob_ref(b->ring[after % b->cap]);
        r = HTTP_BOARD_EVENT;
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

void http_board_wake(struct http_board *b)
{
    pthread_mutex_lock(&b->lock);
    b->wakes++;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
}

void http_board_wait(struct http_board *b, uint64_t seen, int timeout_ms)
{
    struct timespec until;
    uint64_t wakes;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->lock);
    wakes = b->wakes;
    while (b->next_seq - 1 <= seen && b->wakes == wakes)
        if (pthread_cond_timedwait(&b->changed, &b->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&b->lock);
}
