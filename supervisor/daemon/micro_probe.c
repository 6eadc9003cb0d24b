#include "micro_probe.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/clock.h"
#include "fleet/subjects.h"

#include "log.h"

/* Refusal lines in the log: at most one round a second. */
#define LOG_GAP_MS 1000

/* One probed service. `round` rises by one per ping and is the seq of the
 * facts its answers become, so an instance answering twice to one ping is
 * stale the second time (the core counts it), never two arrivals. */
struct probed {
    char name[FLEET_NAME_MAX + 1];
    uint32_t interval_ms;
    uint64_t round;
    int64_t next_ms;
};

struct micro_probe {
    struct bus *bus;                     /* borrowed */
    struct ingest *queue;                /* borrowed */
    char inbox[128];                     /* "<_INBOX.nuid>"; answers come on "<inbox>.<service>" */
    pthread_mutex_t lock;                /* guards services, n_services, last_refusal */
    struct probed *services;             /* sorted by name (bsearch on the delivery thread) */
    size_t n_services;
    char last_refusal[MICRO_REFUSAL_COUNT][160];
    /* Counters. */
    atomic_uint_fast64_t pings, ping_failed, answers, accepted, no_responders, withheld;
    atomic_uint_fast64_t refused[MICRO_REFUSAL_COUNT];
    /* Owner thread only: what micro_probe_log already reported. */
    uint64_t logged[MICRO_REFUSAL_COUNT];
    int64_t next_log_ms;
};

static int probed_order(const void *a, const void *b)
{
    return strcmp(((const struct probed *)a)->name, ((const struct probed *)b)->name);
}

static int probed_find_order(const void *key, const void *elem)
{
    return strcmp(key, ((const struct probed *)elem)->name);
}

/* Called with the lock held. */
static struct probed *probed_find(const struct micro_probe *p, const char *name)
{
    if (p->n_services == 0)
        return NULL;
    return bsearch(name, p->services, p->n_services, sizeof(*p->services), probed_find_order);
}

/* A stable, non-zero incarnation for an instance id: a micro instance has
 * one life per id (a restarted process answers with a new id). FNV-1a. */
static uint64_t id_incarnation(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const unsigned char *c = (const unsigned char *)id; *c != '\0'; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return h | 1u;
}

static void refuse(struct micro_probe *p, enum micro_refusal r, const char *subject)
{
    atomic_fetch_add_explicit(&p->refused[r], 1, memory_order_relaxed);
    pthread_mutex_lock(&p->lock);
    snprintf(p->last_refusal[r], sizeof(p->last_refusal[r]), "%s on %.120s", micro_refusal_name(r), subject);
    pthread_mutex_unlock(&p->lock);
}

/* nats.c delivery thread: judge one answer and hand it over. */
static void on_answer(void *ctx, const char *subject, const void *data, size_t len, bool no_responders)
{
    struct micro_probe *p = ctx;
    size_t inbox_len = strlen(p->inbox);
    const char *name = subject;
    struct micro_reply reply;
    struct hb_input hb;
    struct probed *s;
    enum micro_refusal r;

    if (no_responders) {
        atomic_fetch_add_explicit(&p->no_responders, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&p->answers, 1, memory_order_relaxed);
    if (strncmp(subject, p->inbox, inbox_len) == 0 && subject[inbox_len] == '.')
        name = subject + inbox_len + 1;
    if (name == subject || !fleet_name_valid(name)) {
        refuse(p, MICRO_REFUSE_SERVICE, subject);
        return;
    }
    r = micro_reply_parse(name, data, len, &reply);
    if (r != MICRO_OK) {
        refuse(p, r, subject);
        return;
    }
    memset(&hb, 0, sizeof(hb));
    pthread_mutex_lock(&p->lock);
    s = probed_find(p, name);
    if (s != NULL) {
        hb.seq = s->round;
        hb.interval_ms = s->interval_ms;
    }
    pthread_mutex_unlock(&p->lock);
    if (s == NULL) {
        refuse(p, MICRO_REFUSE_SERVICE, subject);
        return;
    }
    hb.arrival_ms = fleet_mono_ms();
    hb.sent_unix_ms = fleet_unix_ms();
    hb.incarnation = id_incarnation(reply.id);
    hb.state = SERVING_SERVING;
    hb.checks_ok = true;
    memcpy(hb.service, name, strlen(name) + 1);
    memcpy(hb.instance, reply.id, sizeof(hb.instance));
    memcpy(hb.version, reply.version, sizeof(hb.version));
    if (ingest_fact(p->queue, &hb) != 0) {
        refuse(p, MICRO_REFUSE_OVERLOAD, subject);
        return;
    }
    atomic_fetch_add_explicit(&p->accepted, 1, memory_order_relaxed);
}

int micro_probe_create(struct bus *b, struct ingest *q, struct micro_probe **out, char *err, size_t errlen)
{
    struct micro_probe *p = calloc(1, sizeof(*p));
    char subject[sizeof(p->inbox) + 2];

    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->bus = b;
    p->queue = q;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create a mutex");
        goto out_free_probe;
    }
    if (bus_inbox(p->inbox, sizeof(p->inbox)) != 0) {
        snprintf(err, errlen, "cannot make an inbox for micro ping answers");
        goto out_destroy_lock;
    }
    snprintf(subject, sizeof(subject), "%s.*", p->inbox);
    if (bus_subscribe_replies(b, subject, on_answer, p, err, errlen) != 0)
        goto out_destroy_lock;
    *out = p;
    return 0;

out_destroy_lock:
    pthread_mutex_destroy(&p->lock);
out_free_probe:
    free(p);
    return -1;
}

void micro_probe_destroy(struct micro_probe *p)
{
    if (p == NULL)
        return;
    free(p->services);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int micro_probe_configure(struct micro_probe *p, const struct supervisor_config *cfg, int64_t now_ms)
{
    struct probed *fresh = NULL, *old;
    size_t n = 0;

    for (size_t k = 0; k < cfg->n_services; k++)
        n += config_service_micro(&cfg->services[k]);
    if (n > 0 && (fresh = calloc(n, sizeof(*fresh))) == NULL)
        return -1;
    n = 0;
    for (size_t k = 0; k < cfg->n_services; k++) {
        const struct supervisor_service *s = &cfg->services[k];

        if (!config_service_micro(s))
            continue;
        memcpy(fresh[n].name, s->name, sizeof(fresh[n].name));
        fresh[n].interval_ms = s->probe_interval_ms != 0 ? s->probe_interval_ms : cfg->default_interval_ms;
        fresh[n].next_ms = now_ms;
        n++;
    }
    if (n > 1)   /* fresh is NULL when no service is probed: qsort wants an array */
        qsort(fresh, n, sizeof(*fresh), probed_order);
    pthread_mutex_lock(&p->lock);
    for (size_t k = 0; k < n; k++) {
        const struct probed *was = probed_find(p, fresh[k].name);

        if (was != NULL) {
            fresh[k].round = was->round;
            fresh[k].next_ms = was->next_ms;
        }
    }
    old = p->services;
    p->services = fresh;
    p->n_services = n;
    pthread_mutex_unlock(&p->lock);
    free(old);
    return 0;
}

bool micro_probe_has(struct micro_probe *p, const char *service)
{
    bool found;

    pthread_mutex_lock(&p->lock);
    found = probed_find(p, service) != NULL;
    pthread_mutex_unlock(&p->lock);
    return found;
}

void micro_probe_tick(struct micro_probe *p, int64_t now_ms)
{
    char subject[sizeof(FLEET_MICRO_PING) + FLEET_NAME_MAX + 1];
    char reply[sizeof(p->inbox) + FLEET_NAME_MAX + 1];

    /* The table changes only on this thread (configure), so reading it
     * here needs the lock only around the round the answers read. */
    for (size_t k = 0; k < p->n_services; k++) {
        struct probed *s = &p->services[k];

        if (now_ms < s->next_ms)
            continue;
        s->next_ms += s->interval_ms;
        if (s->next_ms <= now_ms)   /* behind (a stall): keep the rhythm from now, no burst */
            s->next_ms = now_ms + s->interval_ms;
        snprintf(subject, sizeof(subject), "%s.%s", FLEET_MICRO_PING, s->name);
        snprintf(reply, sizeof(reply), "%s.%s", p->inbox, s->name);
        pthread_mutex_lock(&p->lock);
        s->round++;
        pthread_mutex_unlock(&p->lock);
        if (bus_publish_request(p->bus, subject, reply, "", 0) == 0)
            atomic_fetch_add_explicit(&p->pings, 1, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&p->ping_failed, 1, memory_order_relaxed);
    }
}

int64_t micro_probe_next_due(const struct micro_probe *p)
{
    int64_t next = INT64_MAX;

    for (size_t k = 0; k < p->n_services; k++)
        if (p->services[k].next_ms < next)
            next = p->services[k].next_ms;
    return next;
}

void micro_probe_withheld(struct micro_probe *p)
{
    atomic_fetch_add_explicit(&p->withheld, 1, memory_order_relaxed);
}

void micro_probe_counters(struct micro_probe *p, struct micro_probe_counters *out)
{
    memset(out, 0, sizeof(*out));
    out->pings = atomic_load(&p->pings);
    out->ping_failed = atomic_load(&p->ping_failed);
    out->answers = atomic_load(&p->answers);
    out->accepted = atomic_load(&p->accepted);
    out->no_responders = atomic_load(&p->no_responders);
    out->controls_withheld = atomic_load(&p->withheld);
    for (int r = MICRO_OK + 1; r < MICRO_REFUSAL_COUNT; r++)
        out->refused[r] = atomic_load(&p->refused[r]);
}

void micro_probe_log(struct micro_probe *p, int64_t now_ms)
{
    char last[160], count[24], total[24];

    if (now_ms < p->next_log_ms)
        return;
    p->next_log_ms = now_ms + LOG_GAP_MS;
    for (int r = MICRO_OK + 1; r < MICRO_REFUSAL_COUNT; r++) {
        uint64_t now = atomic_load(&p->refused[r]);

        if (now == p->logged[r])
            continue;
        pthread_mutex_lock(&p->lock);
        snprintf(last, sizeof(last), "%s", p->last_refusal[r]);
        pthread_mutex_unlock(&p->lock);
        snprintf(count, sizeof(count), "%" PRIu64, now - p->logged[r]);
        snprintf(total, sizeof(total), "%" PRIu64, now);
        log_kv(LOG_WARN, "micro ping answers refused", "reason", micro_refusal_name((enum micro_refusal)r),
               "count", count, "total", total, "last", last, NULL);
        p->logged[r] = now;
    }
}
