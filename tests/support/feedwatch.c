#include "feedwatch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/conn.h"
#include "proc.h"

#define MAX_EVENTS 4096

struct seen_event {
    char service[65];
    char instance[65];
    int to;
    int action;
    char reason[128];
    char operator_name[65];
    int64_t at_ms;
};

#define MAX_HEARTBEATS 256

struct seen_heartbeat {
    char service[65];
    char instance[65];
    struct feedwatch_heartbeat last;
};

struct feedwatch {
    natsConnection *nc;
    natsSubscription *sub;
    pthread_mutex_t lock;
    Fleet__V1__FleetStatus *latest;
    uint64_t statuses;
    int64_t last_status_ms;   /* proc_now_ms() of the last status, 0 before any */
    int64_t max_gap_ms;       /* the longest wait between two statuses since feedwatch_gap_reset */
    uint64_t last_seq;
    bool regressed;
    unsigned observer_seen;
    struct seen_event events[MAX_EVENTS];
    int n_events;
    struct seen_heartbeat heartbeats[MAX_HEARTBEATS];
    int n_heartbeats;
    char tracked[65];         /* feedwatch_track_healthy's service, "" = none */
    int min_healthy;          /* its fewest HEALTHY in a status since; -1 = no status yet */
};

static void note_seq(struct feedwatch *w, uint64_t seq)
{
    if (seq <= w->last_seq && w->last_seq != 0)
        w->regressed = true;
    w->last_seq = seq;
}

static void on_status(struct feedwatch *w, natsMsg *msg)
{
    Fleet__V1__FleetStatus *fs = fleet__v1__fleet_status__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));

    if (fs == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    note_seq(w, fs->feed_seq);
    w->observer_seen |= 1u << fs->observer;
    for (size_t k = 0; w->tracked[0] != '\0' && k < fs->n_services; k++)
        if (strcmp(fs->services[k]->name, w->tracked) == 0 &&
            (w->min_healthy < 0 || (int)fs->services[k]->healthy < w->min_healthy))
            w->min_healthy = (int)fs->services[k]->healthy;
    if (w->latest != NULL)
        fleet__v1__fleet_status__free_unpacked(w->latest, NULL);
    w->latest = fs;
    w->statuses++;
    if (w->last_status_ms != 0 && proc_now_ms() - w->last_status_ms > w->max_gap_ms)
        w->max_gap_ms = proc_now_ms() - w->last_status_ms;
    w->last_status_ms = proc_now_ms();
    pthread_mutex_unlock(&w->lock);
}

static void on_event(struct feedwatch *w, natsMsg *msg)
{
    Fleet__V1__Event *ev = fleet__v1__event__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                    (const uint8_t *)natsMsg_GetData(msg));

    if (ev == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    note_seq(w, ev->feed_seq);
    if (w->n_events < MAX_EVENTS) {
        struct seen_event *s = &w->events[w->n_events++];

        snprintf(s->service, sizeof(s->service), "%s", ev->service);
        snprintf(s->instance, sizeof(s->instance), "%s", ev->instance);
        s->to = ev->to;
        s->action = ev->action;
        snprintf(s->reason, sizeof(s->reason), "%s", ev->reason);
        snprintf(s->operator_name, sizeof(s->operator_name), "%s", ev->operator_);
        s->at_ms = proc_now_ms();
    }
    pthread_mutex_unlock(&w->lock);
    fleet__v1__event__free_unpacked(ev, NULL);
}

static void on_heartbeat(struct feedwatch *w, natsMsg *msg)
{
    Fleet__V1__Heartbeat *hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                            (const uint8_t *)natsMsg_GetData(msg));
    struct seen_heartbeat *slot = NULL;

    if (hb == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    for (int k = 0; k < w->n_heartbeats && slot == NULL; k++)
        if (strcmp(w->heartbeats[k].service, hb->service) == 0 &&
            strcmp(w->heartbeats[k].instance, hb->instance) == 0)
            slot = &w->heartbeats[k];
    if (slot == NULL && w->n_heartbeats < MAX_HEARTBEATS) {
        slot = &w->heartbeats[w->n_heartbeats++];
        snprintf(slot->service, sizeof(slot->service), "%s", hb->service);
        snprintf(slot->instance, sizeof(slot->instance), "%s", hb->instance);
    }
    if (slot != NULL) {
        slot->last.pid = hb->pid;
        slot->last.incarnation = hb->incarnation;
        slot->last.state = hb->state;
        slot->last.fence_epoch = hb->fence_epoch;
        slot->last.term_seen = hb->term_seen;
        snprintf(slot->last.nats_server, sizeof(slot->last.nats_server), "%s", hb->nats_server);
        slot->last.exit_signal = hb->exit ? hb->exit->signal : 0;
        slot->last.exit_code = hb->exit ? hb->exit->code : 0;
        slot->last.has_exit = hb->exit != NULL;
        slot->last.at_ms = proc_now_ms();
        slot->last.count++;
    }
    pthread_mutex_unlock(&w->lock);
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
}

/* One subscription for statuses and events: nats.c delivers one
 * subscription's messages in order on one thread, so feed_seq must rise
 * strictly across both as the supervisor published them. */
static void on_feed(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    const char *subject = natsMsg_GetSubject(msg);

    (void)nc;
    (void)sub;
    if (strcmp(subject, "fleet.v1.status") == 0)
        on_status(closure, msg);
    else if (strncmp(subject, "fleet.v1.events.", 16) == 0)
        on_event(closure, msg);
    else if (strncmp(subject, "fleet.v1.hb.", 12) == 0)
        on_heartbeat(closure, msg);
    natsMsg_Destroy(msg);
}

struct feedwatch *feedwatch_start(const char *url)
{
    struct feedwatch *w = calloc(1, sizeof(*w));
    fleet_conn_opts co = { .url = url, .creds = "", .name = "test-feedwatch" };

    if (w == NULL)
        return NULL;
    pthread_mutex_init(&w->lock, NULL);
    if (fleet_conn_open(&co, &w->nc) != FLEET_OK ||
        natsConnection_Subscribe(&w->sub, w->nc, "fleet.v1.>", on_feed, w) != NATS_OK ||
        natsConnection_Flush(w->nc) != NATS_OK) {
        feedwatch_stop(w);
        return NULL;
    }
    return w;
}

void feedwatch_stop(struct feedwatch *w)
{
    if (w == NULL)
        return;
    natsSubscription_Unsubscribe(w->sub);
    natsSubscription_Destroy(w->sub);
    natsConnection_Destroy(w->nc);
    if (w->latest != NULL)
        fleet__v1__fleet_status__free_unpacked(w->latest, NULL);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

natsConnection *feedwatch_conn(struct feedwatch *w)
{
    return w->nc;
}

/* Called with the lock held. */
static const Fleet__V1__ServiceStatus *find_service(struct feedwatch *w, const char *service)
{
    if (w->latest == NULL)
        return NULL;
    for (size_t k = 0; k < w->latest->n_services; k++)
        if (strcmp(w->latest->services[k]->name, service) == 0)
            return w->latest->services[k];
    return NULL;
}

int feedwatch_instance_health(struct feedwatch *w, const char *service, const char *instance)
{
    const Fleet__V1__ServiceStatus *s;
    int h = 0;

    pthread_mutex_lock(&w->lock);
    s = find_service(w, service);
    for (size_t k = 0; s != NULL && k < s->n_instances; k++)
        if (strcmp(s->instances[k]->instance, instance) == 0)
            h = s->instances[k]->health;
    pthread_mutex_unlock(&w->lock);
    return h;
}

int feedwatch_service_health(struct feedwatch *w, const char *service)
{
    const Fleet__V1__ServiceStatus *s;
    int h;

    pthread_mutex_lock(&w->lock);
    s = find_service(w, service);
    h = s ? s->health : 0;
    pthread_mutex_unlock(&w->lock);
    return h;
}

#define WAIT_FOR(cond, timeout_ms)                           \
    do {                                                     \
        int64_t deadline_ = proc_now_ms() + (timeout_ms);    \
        do {                                                 \
            if (cond)                                        \
                return true;                                 \
            nats_Sleep(10);                                  \
        } while (proc_now_ms() < deadline_);                 \
        return (cond);                                       \
    } while (0)

bool feedwatch_wait_instance(struct feedwatch *w, const char *service, const char *instance, int health,
                             int timeout_ms)
{
    WAIT_FOR(feedwatch_instance_health(w, service, instance) == health, timeout_ms);
}

bool feedwatch_wait_service(struct feedwatch *w, const char *service, int health, int timeout_ms)
{
    WAIT_FOR(feedwatch_service_health(w, service) == health, timeout_ms);
}

static int observer_now(struct feedwatch *w)
{
    int s;

    pthread_mutex_lock(&w->lock);
    s = w->latest ? (int)w->latest->observer : -1;
    pthread_mutex_unlock(&w->lock);
    return s;
}

bool feedwatch_wait_observer(struct feedwatch *w, int state, int timeout_ms)
{
    WAIT_FOR(observer_now(w) == state, timeout_ms);
}

static int64_t find_event(struct feedwatch *w, const char *service, const char *instance, int to, int *count)
{
    int64_t at = -1;

    pthread_mutex_lock(&w->lock);
    *count = 0;
    for (int k = 0; k < w->n_events; k++) {
        const struct seen_event *e = &w->events[k];

        if (strcmp(e->service, service) == 0 && e->to == to &&
            (instance[0] == '\0' || strcmp(e->instance, instance) == 0)) {
            if (at < 0)
                at = e->at_ms;
            (*count)++;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return at;
}

int64_t feedwatch_wait_event(struct feedwatch *w, const char *service, const char *instance, int to,
                             int timeout_ms)
{
    int64_t deadline = proc_now_ms() + timeout_ms;
    int count;

    do {
        int64_t at = find_event(w, service, instance, to, &count);

        if (at >= 0)
            return at;
        nats_Sleep(5);
    } while (proc_now_ms() < deadline);
    return find_event(w, service, instance, to, &count);
}

int feedwatch_count_events(struct feedwatch *w, const char *service, const char *instance, int to)
{
    int count;

    find_event(w, service, instance, to, &count);
    return count;
}

static int64_t find_action(struct feedwatch *w, const char *service, const char *instance, int action,
                           const char *reason_part, int *count)
{
    int64_t at = -1;

    pthread_mutex_lock(&w->lock);
    *count = 0;
    for (int k = 0; k < w->n_events; k++) {
        const struct seen_event *e = &w->events[k];

        if (strcmp(e->service, service) == 0 && e->action == action &&
            (instance[0] == '\0' || strcmp(e->instance, instance) == 0) &&
            (reason_part == NULL || strstr(e->reason, reason_part) != NULL)) {
            if (at < 0)
                at = e->at_ms;
            (*count)++;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return at;
}

int64_t feedwatch_wait_action(struct feedwatch *w, const char *service, const char *instance, int action,
                              const char *reason_part, int timeout_ms)
{
    int64_t deadline = proc_now_ms() + timeout_ms;
    int count;

    do {
        int64_t at = find_action(w, service, instance, action, reason_part, &count);

        if (at >= 0)
            return at;
        nats_Sleep(5);
    } while (proc_now_ms() < deadline);
    return find_action(w, service, instance, action, reason_part, &count);
}

bool feedwatch_action_operator(struct feedwatch *w, const char *service, const char *instance, int action,
                               char *out, size_t n)
{
    bool found = false;

    pthread_mutex_lock(&w->lock);
    for (int k = 0; k < w->n_events && !found; k++) {
        const struct seen_event *e = &w->events[k];

        if (strcmp(e->service, service) == 0 && strcmp(e->instance, instance) == 0 && e->action == action) {
            snprintf(out, n, "%s", e->operator_name);
            found = true;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return found;
}

void feedwatch_track_healthy(struct feedwatch *w, const char *service)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->tracked, sizeof(w->tracked), "%s", service);
    w->min_healthy = -1;
    pthread_mutex_unlock(&w->lock);
}

int feedwatch_min_healthy(struct feedwatch *w)
{
    int n;

    pthread_mutex_lock(&w->lock);
    n = w->min_healthy;
    pthread_mutex_unlock(&w->lock);
    return n;
}

int feedwatch_count_actions(struct feedwatch *w, const char *service, const char *instance, int action)
{
    int count;

    find_action(w, service, instance, action, NULL, &count);
    return count;
}

bool feedwatch_last_heartbeat(struct feedwatch *w, const char *service, const char *instance,
                              struct feedwatch_heartbeat *out)
{
    bool found = false;

    pthread_mutex_lock(&w->lock);
    for (int k = 0; k < w->n_heartbeats && !found; k++) {
        if (strcmp(w->heartbeats[k].service, service) == 0 && strcmp(w->heartbeats[k].instance, instance) == 0) {
            *out = w->heartbeats[k].last;
            found = true;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return found;
}

int feedwatch_total_events(struct feedwatch *w)
{
    int n;

    pthread_mutex_lock(&w->lock);
    n = w->n_events;
    pthread_mutex_unlock(&w->lock);
    return n;
}

uint64_t feedwatch_statuses(struct feedwatch *w)
{
    uint64_t n;

    pthread_mutex_lock(&w->lock);
    n = w->statuses;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void feedwatch_gap_reset(struct feedwatch *w)
{
    pthread_mutex_lock(&w->lock);
    w->max_gap_ms = 0;
    pthread_mutex_unlock(&w->lock);
}

int64_t feedwatch_max_gap_ms(struct feedwatch *w)
{
    int64_t gap;

    pthread_mutex_lock(&w->lock);
    gap = w->max_gap_ms;
    if (w->last_status_ms != 0 && proc_now_ms() - w->last_status_ms > gap)
        gap = proc_now_ms() - w->last_status_ms;
    pthread_mutex_unlock(&w->lock);
    return gap;
}

uint64_t feedwatch_last_seq(struct feedwatch *w)
{
    uint64_t n;

    pthread_mutex_lock(&w->lock);
    n = w->last_seq;
    pthread_mutex_unlock(&w->lock);
    return n;
}

bool feedwatch_wait_statuses(struct feedwatch *w, uint64_t n, int timeout_ms)
{
    WAIT_FOR(feedwatch_statuses(w) >= n, timeout_ms);
}

bool feedwatch_seq_regressed(struct feedwatch *w)
{
    bool r;

    pthread_mutex_lock(&w->lock);
    r = w->regressed;
    pthread_mutex_unlock(&w->lock);
    return r;
}

unsigned feedwatch_observer_states_seen(struct feedwatch *w)
{
    unsigned s;

    pthread_mutex_lock(&w->lock);
    s = w->observer_seen;
    pthread_mutex_unlock(&w->lock);
    return s;
}

void feedwatch_reset_observer_states_seen(struct feedwatch *w)
{
    pthread_mutex_lock(&w->lock);
    w->observer_seen = 0;
    pthread_mutex_unlock(&w->lock);
}

bool feedwatch_wait_observer_seen(struct feedwatch *w, int state, int timeout_ms)
{
    WAIT_FOR(feedwatch_observer_states_seen(w) & (1u << state), timeout_ms);
}

Fleet__V1__FleetStatus *feedwatch_latest(struct feedwatch *w)
{
    Fleet__V1__FleetStatus *copy = NULL;

    pthread_mutex_lock(&w->lock);
    if (w->latest != NULL) {
        size_t n = fleet__v1__fleet_status__get_packed_size(w->latest);
        uint8_t *buf = malloc(n ? n : 1);

        if (buf != NULL) {
            fleet__v1__fleet_status__pack(w->latest, buf);
            copy = fleet__v1__fleet_status__unpack(NULL, n, buf);
            free(buf);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return copy;
}

char *feedwatch_request(struct feedwatch *w, const char *subject, const void *data, int len, int *out_len,
                        int timeout_ms)
{
    natsMsg *reply = NULL;
    char *copy;

    if (natsConnection_Request(&reply, w->nc, subject, data, len, timeout_ms) != NATS_OK)
        return NULL;
    *out_len = natsMsg_GetDataLength(reply);
    copy = malloc((size_t)*out_len + 1);
    if (copy != NULL) {
        memcpy(copy, natsMsg_GetData(reply), (size_t)*out_len);
        copy[*out_len] = '\0';
    }
    natsMsg_Destroy(reply);
    return copy;
}
