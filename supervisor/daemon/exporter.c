#include "exporter.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "codec.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct exporter {
    struct http_board *board;
    struct http_server *server;
    struct metrics_histogram detection;
    int64_t next_due_ms;
    uint32_t interval_ms;
    bool instance_metrics;
    bool render_failed;           /* logged once, until a render works again */
};

int exporter_open(const struct supervisor_config *cfg, struct exporter **out, char *err, size_t errlen)
{
    struct http_options o = { .listen = cfg->http_listen };
    struct exporter *e;
    char port[8];

    if (cfg->http_listen[0] == '\0') {
        *out = NULL;
        return 0;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL || http_board_create(HTTP_BOARD_RING_DEFAULT, &e->board) != 0) {
        snprintf(err, errlen, "out of memory");
        free(e);
        return -1;
    }
    if (http_start(&o, e->board, &e->server, err, errlen) != 0) {
        http_board_destroy(e->board);
        free(e);
        return -1;
    }
    e->interval_ms = cfg->status_interval_ms;
    e->instance_metrics = cfg->http_instance_metrics;
    snprintf(port, sizeof(port), "%u", (unsigned)http_port(e->server));
    log_kv(LOG_INFO, "HTTP listening", "listen", cfg->http_listen, "port", port, NULL);
    *out = e;
    return 0;
}

void exporter_close(struct exporter *e)
{
    if (e == NULL)
        return;
    http_stop(e->server);
    http_board_destroy(e->board);
    free(e);
}

bool exporter_due(const struct exporter *e, int64_t now_ms)
{
    return e != NULL && now_ms >= e->next_due_ms;
}

int64_t exporter_next_due(const struct exporter *e)
{
    return e != NULL ? e->next_due_ms : INT64_MAX;
}

struct http_board *exporter_board(struct exporter *e)
{
    return e != NULL ? e->board : NULL;
}

void exporter_dead(struct exporter *e, const struct core_event *ev)
{
    if (e != NULL && ev->instance != NULL && ev->instance->heard)
        metrics_histogram_observe(&e->detection, (double)(ev->at_ms - ev->instance->last_seen_ms) / 1000.0);
}

bool exporter_readiness(const struct exporter_facts *f, char *why, size_t n)
{
    if (!f->connected) {
        snprintf(why, n, "not connected to NATS");
        return false;
    }
    if (!f->store_ok) {
        snprintf(why, n, "JetStream state unavailable: %s", f->store_why ? f->store_why : "");
        return false;
    }
    switch (f->role) {
    case LEASE_LEADER:
        snprintf(why, n, "leading");
        return true;
    case LEASE_STANDBY:
        snprintf(why, n, "hot standby");
        return true;
    case LEASE_UNSURE:
        snprintf(why, n, "nobody is seen leading: %s", f->lead_why ? f->lead_why : "");
        return false;
    case LEASE_RESIGNED:
        break;
    }
    snprintf(why, n, "stopping");
    return false;
}

/* ---- process figures, read at the edge ---- */

static void read_process(struct metrics_process *p, int64_t started_unix_ms)
{
    struct rusage ru;
    struct rlimit rl;
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    DIR *fds;

    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            p->resident_bytes = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        p->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    p->start_time_seconds = (double)started_unix_ms / 1000.0;
    fds = opendir("/proc/self/fd");
    if (fds != NULL) {
        struct dirent *d;

        while ((d = readdir(fds)) != NULL)
            p->open_fds += d->d_name[0] != '.';
        p->open_fds -= p->open_fds > 0; /* the directory's own descriptor */
        closedir(fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
}

/* ---- the metrics view ---- */

#define REFUSED_MAX (HB_REFUSAL_COUNT + 4)
#define ACKS_MAX 7
#define ADMIN_MAX (FLEET_VERB_COUNT * ADMIN_RULE_COUNT)

/* The view's arrays, sized by the registry. */
struct view_parts {
    struct metrics_service *services;
    struct metrics_instance *instances;
    struct metrics_labelled refused[REFUSED_MAX], sent[ACTUATOR_ACTIONS], acks[ACKS_MAX];
    struct metrics_labelled micro_refused[MICRO_REFUSAL_COUNT];
    struct metrics_admin admin[ADMIN_MAX];
    char action_names[ACTUATOR_ACTIONS][16];
};

static int fill_fleet(struct exporter *e, struct observer *obs, int64_t now_ms, struct metrics_view *v,
                      struct view_parts *p)
{
    const struct registry *reg = observer_registry(obs);
    size_t n = registry_service_count(reg), n_inst = 0;
    struct observer_summary sum;

    p->services = calloc(n ? n : 1, sizeof(*p->services));
    if (p->services == NULL)
        return -1;
    if (e->instance_metrics) {
        p->instances = calloc(registry_instance_count(reg) + 1, sizeof(*p->instances));
        if (p->instances == NULL)
            return -1;
    }
    for (size_t k = 0; k < n; k++) {
        struct service *s = registry_service_at(reg, k);
        struct metrics_service *m = &p->services[k];

        m->name = s->name;
        memcpy(m->count, s->count, sizeof(m->count));
        observer_service_availability(obs, s, now_ms, &m->availability_1h, &m->availability_24h);
        for (const struct instance *i = s->first; i != NULL; i = i->next) {
            m->restarts += i->restarts;
            if (p->instances != NULL)
                p->instances[n_inst++] = (struct metrics_instance){
                    .service = s->name, .instance = i->name,
                    .up = i->health == INST_HEALTHY || i->health == INST_DEGRADED };
        }
    }
    observer_summary(obs, &sum);
    v->services_expected = sum.services_expected;
    v->services_available = sum.services_available;
    v->availability = sum.availability;
    v->services = p->services;
    v->n_services = n;
    v->instances = p->instances;
    v->n_instances = n_inst;
    v->observer = observer_state(obs);
    return 0;
}

static void fill_counters(const struct service_api_stats *st, struct metrics_view *v, struct view_parts *p)
{
    size_t n = 0;

    v->heartbeats_received = st->ingest.received;
    for (int r = HB_OK + 1; r < HB_REFUSAL_COUNT; r++)
        p->refused[n++] = (struct metrics_labelled){ codec_refusal_name((enum hb_refusal)r), st->ingest.refused[r] };
    /* The core's refusals, named as $SRV.STATS names them. */
    p->refused[n++] = (struct metrics_labelled){ "limit_services", st->observer.limit_services };
    p->refused[n++] = (struct metrics_labelled){ "limit_instances", st->observer.limit_instances };
    p->refused[n++] = (struct metrics_labelled){ "unproven", st->observer.unproven };
    p->refused[n++] = (struct metrics_labelled){ "stale", st->observer.stale };
    v->refused = p->refused;
    v->n_refused = n;
    n = 0;
    for (int a = CORE_ACT_RESTART; a < ACTUATOR_ACTIONS; a++) {
        char *name = p->action_names[a];

        snprintf(name, sizeof(p->action_names[a]), "%s", health_action_name((enum core_action_kind)a));
        for (char *c = name; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        p->sent[n++] = (struct metrics_labelled){ name, st->control.sent_by_action[a] };
    }
    v->controls_sent = p->sent;
    v->n_controls_sent = n;
    p->acks[0] = (struct metrics_labelled){ "accepted", st->control.acks_accepted };
    p->acks[1] = (struct metrics_labelled){ "refused", st->control.acks_refused };
    p->acks[2] = (struct metrics_labelled){ "retryable", st->control.acks_retryable };
    p->acks[3] = (struct metrics_labelled){ "no_responders", st->control.acks_no_responders };
    p->acks[4] = (struct metrics_labelled){ "unmatched", st->control.acks_unmatched };
    p->acks[5] = (struct metrics_labelled){ "malformed", st->control.acks_malformed };
    p->acks[6] = (struct metrics_labelled){ "send_failed", st->control.send_failed };
    v->control_acks = p->acks;
    v->n_control_acks = ACKS_MAX;
    /* Per verb ("unknown": a subject that names none) and result ("done"
     * or the refusing rule). Every verb's done is always there; a refusal
     * appears once it happened (17 rules x 8 verbs of zeros say nothing). */
    n = 0;
    for (int vb = 0; vb < FLEET_VERB_COUNT; vb++)
        for (int r = 0; r < ADMIN_RULE_COUNT; r++) {
            uint64_t count = st->admin.by_verb[vb][r];

            if (r == ADMIN_ACCEPTED ? vb == FLEET_VERB_NONE && count == 0 : count == 0)
                continue;
            p->admin[n++] = (struct metrics_admin){
                vb == FLEET_VERB_NONE ? "unknown" : fleet_admin_verb_name((fleet_admin_verb)vb),
                r == ADMIN_ACCEPTED ? "done" : admin_rule_name((enum admin_rule)r), count,
            };
        }
    v->admin = p->admin;
    v->n_admin = n;
    n = 0;
    for (int r = MICRO_OK + 1; r < MICRO_REFUSAL_COUNT; r++)
        p->micro_refused[n++] = (struct metrics_labelled){ micro_refusal_name((enum micro_refusal)r), st->micro.refused[r] };
    v->micro_refused = p->micro_refused;
    v->n_micro_refused = n;
    v->micro_pings = st->micro.pings;
    v->micro_accepted = st->micro.accepted;
    v->escalated_no_agent = st->observer.no_agent;
    v->leader = st->leader;
    v->term = st->term;
}

static void publish_metrics(struct exporter *e, const struct exporter_facts *f, int64_t now_ms)
{
    struct view_parts parts = { 0 };
    struct metrics_view v = { .version = SERVICE_API_VERSION, .detection = &e->detection };
    char *text = NULL;
    size_t len = 0;
    int rc;

    rc = fill_fleet(e, f->obs, now_ms, &v, &parts);
    if (rc == 0) {
        fill_counters(f->stats, &v, &parts);
        read_process(&v.process, f->stats->started_unix_ms);
        rc = metrics_write(&v, &text, &len);
    }
    if (rc == 0)
        rc = http_board_publish(e->board, "metrics", text, len, METRICS_CONTENT_TYPE);
    if (rc != 0 && !e->render_failed)
        log_kv(LOG_ERROR, "cannot render /metrics: out of memory; serving the last one", NULL);
    e->render_failed = rc != 0;
    free(text);
    free(parts.services);
    free(parts.instances);
}

void exporter_tick(struct exporter *e, const struct exporter_facts *f, int64_t now_ms)
{
    char why[HTTP_BOARD_REASON_MAX + 1];
    bool ready;

    if (e == NULL)
        return;
    http_board_beat(e->board, now_ms);
    ready = exporter_readiness(f, why, sizeof(why));
    http_board_set_ready(e->board, ready, why);
    if (f->stats == NULL)
        return;
    publish_metrics(e, f, now_ms);
    e->next_due_ms = now_ms + e->interval_ms;
}
