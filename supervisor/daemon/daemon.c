#include "daemon.h"

#include <errno.h>
#include <stdatomic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "actuator.h"
#include "admin_exec.h"
#include "bus.h"
#include "codec.h"
#include "exporter.h"
#include "webview.h"
#include "feed.h"
#include "fleet/nkey.h"
#include "fleet/subjects.h"
#include "fleet/url.h"
#include "emf.h"
#include "health_file.h"
#include "hook.h"
#include "ingest.h"
#include "fleet/clock.h"
#include "log.h"
#include "maint_sync.h"
#include "micro_probe.h"
#include "observer.h"
#include "persist.h"
#include "service_api.h"
#include "leadership.h"
#include "store.h"

/* Heartbeats taken from a batch between two looks at the clock: however
 * large a flood's batch, the feed goes out on time between slices. */
#define HEARTBEAT_SLICE 8192
/* Change-driven statuses are coalesced to one per this gap. */
#define FEED_MIN_GAP_MS 100
/* How long SIGTERM waits for deliveries to drain and publications to flush. */
#define DRAIN_TIMEOUT_MS 2000
/* Exit code of a configuration error found at start-up (a bad key file). */
#define EXIT_CONFIG 2
/* The loop wakes at least this often, well under the default stall_ms. */
#define MAX_POLL_MS 500
/* After a batch of heartbeats the loop lets the next one gather this long
 * before taking it (signals and exit reports still end the wait at once). Without it, when
 * the bus reader is the slower side, every heartbeat is a batch of
 * one: a wake-up, a lease look, a tick and a clock read each, which on two
 * cores costs more than the heartbeat itself. 1 ms is nothing next to the
 * detector's thresholds (seconds) and the arrival time is taken at
 * delivery, not here, so no judgement moves. */
#define COALESCE_MS 1

/* A record another writer changed under us (STORE_CONFLICT), to restore
 * into the core once its callback has returned. */
struct reload {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    uint8_t record[PERSIST_PACKED_MAX];
    size_t len;                   /* 0: the key is gone */
    bool usable;                  /* fits a record (else ignored, overwritten by our next write) */
};

struct daemon {
    struct supervisor_config *cfg;
    const char *config_path;
    const struct config_override *overrides;
    size_t n_overrides;
    struct observer *obs;
    struct ingest *queue;
    struct proofcheck *proofs;    /* heartbeat proofs; NULL without a signing key */
    struct bus *bus;
    struct feed *feed;
    struct actuator *actuator;
    struct hooks *hooks;
    struct store *store;          /* JetStream: durable state, lease, audit */
    struct leadership *lead;      /* the lease and the term */
    enum lease_role role;         /* what the observer was last told */
    bool publishing;              /* the feed is ours to publish: leading, or nobody seen leading */
    uint64_t term;                /* the leadership's term: stamped on control and the feed */
    uint64_t generation;          /* leadership_generation() the observer leads for */
    int64_t next_take_ms;         /* a lease won whose state could not be read: when to read again */
    struct reload *reloads;       /* records re-read after a compare-and-set conflict */
    size_t n_reloads, cap_reloads;
    char id[FLEET_SUPERVISOR_ID_MAX + 1]; /* our supervisor id, constant (read on nats.c threads) */
    atomic_int_fast64_t deferred_ms; /* when a status came from a leader, or from an
                                        unsure peer whose id sorts before ours */
    int sigfd;
    const char *health_path;      /* for `fleet-supervisor healthcheck` */
    int64_t next_health_ms;
    struct emf_schedule emf;      /* CloudWatch EMF lines (metrics.emf_interval_s) */
    bool health_write_failed;     /* logged once, until it works again */
    int64_t started_unix_ms;
    uint64_t queries;
    struct codec_clock clk;       /* clock of the work being done now */
    struct ingest_counters logged;/* refusals already reported in the log */
    int64_t next_refusal_log_ms;
    struct maint_sync maint;      /* operators' maintenance flags, reread while leading */
    struct admin_desk admin;      /* operators' signed commands (admin_exec.h) */
    struct exporter *http;        /* the HTTP surface; NULL when http.listen is "" */
    struct micro_probe *micro;    /* probe: micro services' pings (micro_probe.h) */
};

static struct codec_clock clock_now(void)
{
    return (struct codec_clock){ .mono_ms = fleet_mono_ms(), .unix_ms = fleet_unix_ms() };
}

/* ---- callbacks on nats.c threads: hand over only ---- */

static void on_heartbeat(void *ctx, const char *subject, const char *reply, const void *data, size_t len)
{
    struct daemon *d = ctx;

    (void)reply;
    ingest_heartbeat(d->queue, subject, data, len, fleet_mono_ms());
}

static bool heartbeat_room(void *ctx)
{
    struct daemon *d = ctx;

    return ingest_room(d->queue);
}

/* Another supervisor's FleetStatus (our own never comes back: no echo).
 * When nobody is seen leading, the one with the lowest id publishes; a
 * leader's feed always wins. */
static void on_status_heard(void *ctx, const char *subject, const char *reply, const void *data, size_t len)
{
    struct daemon *d = ctx;
    char id[sizeof(d->id)];
    uint64_t term;

    (void)subject;
    (void)reply;
    if (codec_status_publisher(data, len, &term, id, sizeof(id)) != 0 || strcmp(id, d->id) == 0)
        return;
    if (term > 0 || strcmp(id, d->id) < 0)
        atomic_store(&d->deferred_ms, fleet_mono_ms());
}

static void on_link(void *ctx, bool up, const char *url, const char *server_id)
{
    struct daemon *d = ctx;
    char safe[512];

    fleet_url_redact(url, safe, sizeof(safe));
    log_kv(up ? LOG_INFO : LOG_WARN, up ? "NATS link up" : "NATS link down", "url", safe, "server_id",
           server_id, NULL);
    ingest_link(d->queue, up, server_id, fleet_mono_ms());
}

/* ---- observer sink (owner thread) ---- */

static void on_core_event(void *ctx, const struct core_event *ev)
{
    struct daemon *d = ctx;

    log_kv(ev->to == INST_DEAD || ev->to == INST_SUSPECT ? LOG_WARN : LOG_INFO,
           ev->instance ? "instance health changed" : "service event",
           "service", ev->service->name,
           "instance", ev->instance ? ev->instance->name : "",
           "from", health_inst_name(ev->from), "to", health_inst_name(ev->to),
           "reason", ev->reason ? ev->reason : "",
           "operator", ev->operator_name != NULL && ev->operator_name[0] != '\0' ? ev->operator_name : NULL, NULL);
    if (ev->instance != NULL && ev->to == INST_DEAD && ev->from != INST_DEAD)
        exporter_dead(d->http, ev);
    if (d->publishing)
        feed_event(d->feed, ev, &d->clk);
    webview_event(exporter_board(d->http), ev, feed_seq(d->feed), d->term, &d->clk);
}

/* The check right before every action: we lead, the lease is fresh and the
 * store takes writes. */
static bool may_act(const struct daemon *d)
{
    return d->role == LEASE_LEADER && leadership_may_act(d->lead, fleet_mono_ms());
}

/* The core decided: sign and send now. A send that fails is reported to the
 * core like a retryable refusal, so its retry and escalation rules apply. */
static void on_core_action(void *ctx, const struct core_action *a)
{
    struct daemon *d = ctx;
    char attempt[16], why[160];

    snprintf(attempt, sizeof(attempt), "%u", (unsigned)a->attempt);
    if (micro_probe_has(d->micro, a->service->name)) {
        /* Nothing obeys a Control there (the core escalates such decisions
         * instead, service_config.no_agent): a refusal, so it is escalated. */
        micro_probe_withheld(d->micro);
        log_kv(LOG_ERROR, "control not sent: the service is probed with NATS micro and has no agent",
               "action", health_action_name(a->kind), "service", a->service->name, "instance", a->instance->name,
               NULL);
        ingest_ack(d->queue, a->action_id, CORE_ACK_REFUSED, "no agent (probe: micro)", d->clk.mono_ms);
        return;
    }
    if (!may_act(d)) {
        /* The lease lapsed since this was decided: not sent, and not a
         * refusal either; the core times it out, and by then follows the
         * lease (nobody acts). */
        log_kv(LOG_WARN, "control not sent: no longer leading", "service", a->service->name, "instance",
               a->instance->name, "attempt", attempt, NULL);
        return;
    }
    log_kv(LOG_WARN, "control decided", "action", health_action_name(a->kind), "service", a->service->name,
           "instance", a->instance->name, "attempt", attempt, "reason", a->reason ? a->reason : "", NULL);
    if (actuator_send(d->actuator, a, d->term, d->clk.unix_ms, why, sizeof(why)) != 0) {
        log_kv(LOG_ERROR, "control not sent", "service", a->service->name, "instance", a->instance->name,
               "why", why, NULL);
        ingest_ack(d->queue, a->action_id, CORE_ACK_RETRYABLE, why, d->clk.mono_ms);
    }
}

static void on_core_escalate(void *ctx, const struct core_escalation *e)
{
    struct daemon *d = ctx;

    log_kv(LOG_ERROR, "escalation", "service", e->service->name, "instance", e->instance ? e->instance->name : "",
           "reason", e->reason ? e->reason : "", "hook", d->cfg->on_escalate[0] != '\0' ? "on_escalate" : "none",
           NULL);
    if (d->cfg->on_escalate[0] != '\0')
        hook_run(d->hooks, d->cfg->on_escalate, e, d->cfg->supervisor_id, d->clk.mono_ms);
}

/* Keeps the record the store re-read after a conflict, for restore_conflicts. */
static void queue_reload(struct daemon *d, const struct service *s, const struct instance *i)
{
    const void *data;
    struct reload *r;
    size_t len;

    if (d->n_reloads == d->cap_reloads) {
        size_t cap = d->cap_reloads ? 2 * d->cap_reloads : 8;
        struct reload *grown = realloc(d->reloads, cap * sizeof(*grown));

        if (grown == NULL)
            return;   /* the next write conflicts again and is re-read then */
        d->reloads = grown;
        d->cap_reloads = cap;
    }
    r = &d->reloads[d->n_reloads++];
    store_conflict_record(d->store, &data, &len);
    snprintf(r->service, sizeof(r->service), "%s", s->name);
    snprintf(r->instance, sizeof(r->instance), "%s", i->name);
    r->usable = len <= sizeof(r->record);
    r->len = r->usable ? len : 0;
    if (r->usable && len > 0)
        memcpy(r->record, data, len);
}

/* Write-ahead for every restart and fence: the core sends the action only
 * once this returns true, so a restarted or new leader continues the same
 * backoff and crash-loop count and never issues an epoch twice. Only the
 * lease holder, before its lease deadline, may write. A record changed by
 * someone else is re-read and given back to the core, which decides again
 * (restore_conflicts). */
static bool on_core_persist(void *ctx, const struct service *s, const struct instance *i,
                            const struct policy_persisted *p)
{
    struct daemon *d = ctx;
    uint8_t buf[PERSIST_PACKED_MAX];
    size_t len;

    if (!may_act(d)) {
        log_kv(LOG_WARN, "durable write refused: not leading (or the lease lapsed, or JetStream is unavailable); "
                         "holding the action", "service", s->name, "instance", i->name, "why",
               store_available(d->store) ? leadership_why(d->lead) : store_unavailable_reason(d->store), NULL);
        return false;
    }
    if (persist_pack(p, buf, sizeof(buf), &len) != 0) {
        log_kv(LOG_ERROR, "durable record cannot be encoded; holding the action", "service", s->name, "instance",
               i->name, NULL);
        return false;
    }
    switch (store_put_instance(d->store, s->name, i->name, buf, len)) {
    case STORE_WRITTEN:
        return true;
    case STORE_CONFLICT:
        queue_reload(d, s, i);
        return false;
    case STORE_FAILED:
        break;
    }
    log_kv(LOG_ERROR, "durable write failed; holding the action", "service", s->name, "instance", i->name,
           "error", store_last_error(d->store), NULL);
    return false;
}

static void on_observer_state(void *ctx, enum observer_state from, enum observer_state to,
                              const char *reason)
{
    struct daemon *d = ctx;

    /* Before the first connection (no feed yet) being blind is expected. */
    log_kv(to == OBSERVER_SELF_PRESERVATION && d->feed != NULL ? LOG_WARN : LOG_INFO, "observer state changed",
           "from", health_observer_name(from), "to", health_observer_name(to), "reason", reason, NULL);
    if (d->feed != NULL)
        feed_touch(d->feed);
}

/* ---- configuration ---- */

/* Builds the core's view of `cfg` and hands it to `apply`. */
static int with_observer_config(const struct supervisor_config *cfg,
                                int (*apply)(struct daemon *, const struct observer_config *),
                                struct daemon *d)
{
    struct service_config *services = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*services));
    struct observer_config ocfg = { 0 };
    int rc;

    if (services == NULL)
        return -1;
    config_observer(cfg, services, &ocfg);
    rc = apply(d, &ocfg);
    free(services);
    return rc;
}

/* Without a signing key the sink has no on_action: the core then takes no
 * decisions at all (observe only), rather than deciding and failing. */
static int create_observer(struct daemon *d, const struct observer_config *ocfg)
{
    struct observer_sink sink = {
        .ctx = d, .on_event = on_core_event, .on_state = on_observer_state,
        .on_action = actuator_can_act(d->actuator) ? on_core_action : NULL,
        .on_escalate = on_core_escalate,
        .on_persist = on_core_persist,
    };
    struct observer_config seeded = *ocfg;

    if (getrandom(&seeded.policy.rng_seed, sizeof(seeded.policy.rng_seed), 0) !=
        (ssize_t)sizeof(seeded.policy.rng_seed))
        seeded.policy.rng_seed = (uint64_t)d->clk.unix_ms ^ ((uint64_t)getpid() << 32);
    return observer_create(&seeded, &sink, d->clk.mono_ms, &d->obs);
}

static int reconfigure_observer(struct daemon *d, const struct observer_config *ocfg)
{
    return observer_reconfigure(d->obs, ocfg, d->clk.mono_ms);
}

static int load_config(const char *path, const struct config_override *ov, size_t n,
                       struct supervisor_config **out, char *err, size_t errlen)
{
    struct supervisor_config *cfg;

    if (config_load(path, &cfg, err, errlen) != 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        if (config_set(cfg, ov[k].key, ov[k].value, err, errlen) != 0) {
            config_destroy(cfg);
            return -1;
        }
    }
    *out = cfg;
    return 0;
}

static void warn_if_changed(const char *key, const char *was, const char *now)
{
    if (strcmp(was, now) != 0)
        log_kv(LOG_WARN, "config key changed but needs a restart to apply", "key", key, "running", was,
               "configured", now, NULL);
}

/* SIGHUP: a new file that does not load (or does not apply) is refused and
 * the running config stays, in full. */
static void reload(struct daemon *d)
{
    struct supervisor_config *fresh;
    char err[512];

    if (load_config(d->config_path, d->overrides, d->n_overrides, &fresh, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "config reload refused; keeping the running config", "error", err, NULL);
        return;
    }
    d->clk = clock_now();
    if (with_observer_config(fresh, reconfigure_observer, d) != 0) {
        log_kv(LOG_ERROR, "config reload could not be applied; keeping the running config", NULL);
        config_destroy(fresh);
        return;
    }
    warn_if_changed("nats.url", d->cfg->nats_url, fresh->nats_url);
    warn_if_changed("nats.prefix", d->cfg->prefix, fresh->prefix);
    snprintf(fresh->supervisor_id, sizeof(fresh->supervisor_id), "%s", d->cfg->supervisor_id);
    if (micro_probe_configure(d->micro, fresh, d->clk.mono_ms) != 0)
        log_kv(LOG_ERROR, "config reload: out of memory taking the new micro-probed services; keeping the old ones",
               NULL);
    if (admin_gate_set_operators(d->admin.gate, fresh->operators, fresh->n_operators) != 0)
        log_kv(LOG_ERROR, "config reload: out of memory taking the new operators; keeping the old ones", NULL);
    config_destroy(d->cfg);
    d->cfg = fresh;
    emf_schedule_set(&d->emf, fresh->emf_interval_s, d->clk.mono_ms);
    feed_touch(d->feed);
    log_kv(LOG_INFO, "config reloaded", "path", d->config_path ? d->config_path : "(defaults)", NULL);
}

/* ---- the loop ---- */

static void fill_stats(struct daemon *d, struct service_api_stats *st, char *last, size_t n)
{
    memset(st, 0, sizeof(*st));
    st->prefix = d->cfg->prefix;
    st->id = d->cfg->supervisor_id;
    st->started_unix_ms = d->started_unix_ms;
    ingest_counters(d->queue, &st->ingest);
    observer_counters(d->obs, &st->observer);
    feed_counters(d->feed, &st->feed);
    bus_stats(d->bus, &st->bus);
    actuator_counters(d->actuator, &st->control);
    admin_gate_counters(d->admin.gate, &st->admin);
    if (d->proofs != NULL)
        proofcheck_counters(d->proofs, &st->proofs);
    micro_probe_counters(d->micro, &st->micro);
    st->queries = d->queries;
    ingest_last_refusal(d->queue, HB_OK, last, n);
    st->last_refusal = last;
    st->state = observer_state(d->obs);
    st->state_reason = observer_state_reason(d->obs);
    st->leader = d->role == LEASE_LEADER;
    st->term = d->term;
    st->store = store_available(d->store) ? "available" : store_unavailable_reason(d->store);
    st->can_act = actuator_can_act(d->actuator);
}

static void answer(struct daemon *d, const struct ingest_request *r)
{
    struct service_api_stats st;
    char last[160];
    char *json;

    switch ((enum api_request)r->kind) {
    case API_QUERY_STATUS:
        d->queries++;
        feed_answer_status(d->feed, r->reply, &d->clk);
        return;
    case API_QUERY_SERVICE:
        d->queries++;
        feed_answer_service(d->feed, r->reply, r->payload, &d->clk);
        return;
    case API_SRV_PING:
    case API_SRV_INFO:
    case API_SRV_STATS:
        fill_stats(d, &st, last, sizeof(last));
        json = service_api_srv_json((enum api_request)r->kind, &st);
        if (json != NULL) {
            bus_publish(d->bus, r->reply, json, strlen(json));
            free(json);
        }
        return;
    }
}

/* Refusals are counted on the hot path and reported here, at most once a
 * second, so a flood of bad input cannot flood the log. */
static void log_refusals(struct daemon *d)
{
    struct ingest_counters now;
    char last[160];

    if (d->clk.mono_ms < d->next_refusal_log_ms)
        return;
    d->next_refusal_log_ms = d->clk.mono_ms + 1000;
    ingest_counters(d->queue, &now);
    for (int r = HB_OK + 1; r < HB_REFUSAL_COUNT; r++) {
        char count[24], total[24];

        if (now.refused[r] == d->logged.refused[r])
            continue;
        ingest_last_refusal(d->queue, (enum hb_refusal)r, last, sizeof(last));
        snprintf(count, sizeof(count), "%llu", (unsigned long long)(now.refused[r] - d->logged.refused[r]));
        snprintf(total, sizeof(total), "%llu", (unsigned long long)now.refused[r]);
        log_kv(LOG_WARN, "heartbeats refused", "reason", codec_refusal_name((enum hb_refusal)r),
               "count", count, "total", total, "last", last, NULL);
    }
    d->logged = now;
}

static void restore_one(void *ctx, const char *service, const char *instance, const void *data, size_t len)
{
    struct daemon *d = ctx;
    struct policy_persisted p;

    if (persist_unpack(data, len, &p) != 0 ||
        observer_restore(d->obs, service, instance, &p, d->clk.mono_ms, d->clk.unix_ms - d->clk.mono_ms) != 0)
        log_kv(LOG_ERROR, "stored state unreadable; ignored", "service", service, "instance", instance, NULL);
}

/* A new leadership: the store's records and the maintenance flags first (a
 * standby's view of policy is stale), then lead; the core warms up before
 * it acts. Returns false (not leading yet; follow_lease tries again after
 * STORE_TIMEOUT_MS) when the store cannot be read. */
static bool take_lead(struct daemon *d, uint64_t generation)
{
    char term_text[24];

    if (store_load_all(d->store, restore_one, d) != 0 ||
        maint_sync_now(&d->maint, d->store, d->obs, d->clk.mono_ms) != 0) {
        log_kv(LOG_ERROR, "cannot read the durable state; not leading yet", "error", store_last_error(d->store),
               NULL);
        return false;
    }
    if (d->role == LEASE_LEADER) /* a new leadership straight after the last: warm up afresh */
        observer_set_observing(d->obs, "a new leadership begins", d->clk.mono_ms);
    d->generation = generation;
    d->term = leadership_term(d->lead);
    observer_set_leader(d->obs, true, d->term, d->clk.mono_ms);
    snprintf(term_text, sizeof(term_text), "%llu", (unsigned long long)d->term);
    log_kv(LOG_INFO, "leading", "term", term_text, NULL);
    return true;
}

/* While leading: a term an instance obeys above ours (the floor was lost
 * with the lease bucket) is overtaken before we act again, and operators'
 * maintenance flags are reread. */
static void keep_lead(struct daemon *d)
{
    if (leadership_raise_term(d->lead, observer_max_term_seen(d->obs)) == 1) {
        d->term = leadership_term(d->lead);
        observer_set_leader(d->obs, true, d->term, d->clk.mono_ms);
    }
    maint_sync_due(&d->maint, d->store, d->obs, d->clk.mono_ms);
}

/* Whether another supervisor publishes the feed we would publish while
 * unsure: a leader, or an unsure one with a lower id, heard within three
 * status intervals. */
static bool deferring(struct daemon *d)
{
    int64_t heard = atomic_load(&d->deferred_ms);

    return heard != 0 && d->clk.mono_ms - heard < 3 * (int64_t)d->cfg->status_interval_ms;
}

/* Leadership follows the lease (leadership.h). Leading: act and publish.
 * STANDBY (another supervisor leads): neither; detection goes on. UNSURE
 * (nobody is seen leading: the lease or JetStream cannot be reached): not
 * acting, but publishing what we see, since someone must, unless another
 * supervisor does (deferring). */
static void follow_lease(struct daemon *d)
{
    enum lease_role role;

    store_tick(d->store, d->clk.mono_ms);
    /* Reopening the store can wait on JetStream for seconds; what the feed
     * says has not changed meanwhile (no role was decided yet), so it goes
     * out when due rather than after the lease too. */
    d->clk = clock_now();
    if (d->publishing)
        feed_publish_due(d->feed, &d->clk);
    role = leadership_tick(d->lead, d->clk.mono_ms, observer_max_term_seen(d->obs));
    d->clk = clock_now();   /* requests take time */
    if (role == LEASE_LEADER) {
        uint64_t generation = leadership_generation(d->lead);

        if (generation != d->generation || d->role != LEASE_LEADER) {
            /* A failed read waited its whole bound: the next waits as long
             * again before it is tried, so a stream without a leader for
             * seconds costs the loop (heartbeats, the feed) half its time,
             * not all of it. */
            if (d->clk.mono_ms < d->next_take_ms || !take_lead(d, generation))
                role = LEASE_UNSURE;
            if (role == LEASE_UNSURE && d->clk.mono_ms >= d->next_take_ms)
                d->next_take_ms = clock_now().mono_ms + STORE_TIMEOUT_MS;
        } else {
            keep_lead(d);
        }
    }
    if (role != LEASE_LEADER && role != d->role) {
        if (role == LEASE_STANDBY)
            observer_set_leader(d->obs, false, 0, d->clk.mono_ms);
        else
            observer_set_observing(d->obs, leadership_why(d->lead), d->clk.mono_ms);
        d->term = 0;
        d->generation = 0;
    }
    d->role = role;
    d->publishing = role == LEASE_LEADER || (role == LEASE_UNSURE && !deferring(d));
    feed_set_term(d->feed, d->term);
}

/* Records re-read after compare-and-set conflicts go back into the core,
 * which then decides again at once instead of at its next store retry. */
static void restore_conflicts(struct daemon *d)
{
    if (d->n_reloads == 0)
        return;
    for (size_t k = 0; k < d->n_reloads; k++) {
        const struct reload *r = &d->reloads[k];

        log_kv(LOG_WARN, "durable record changed elsewhere: taken as stored, deciding again", "service",
               r->service, "instance", r->instance, "stored", r->len ? "record" : "none", NULL);
        if (r->usable && r->len > 0)
            restore_one(d, r->service, r->instance, r->record, r->len);
    }
    d->n_reloads = 0;
    d->clk = clock_now();
    observer_store_retry_now(d->obs, d->clk.mono_ms);
    observer_tick(d->obs, d->clk.mono_ms);
}

/* About once a second, for the container health check (the image has no
 * curl): proof the loop runs, and whether our NATS link is up. */
static void write_health(struct daemon *d)
{
    struct health_snapshot hs;

    if (d->clk.mono_ms < d->next_health_ms)
        return;
    d->next_health_ms = d->clk.mono_ms + 1000;
    hs = (struct health_snapshot){
        .unix_ms = d->clk.unix_ms,
        .observer_state = health_observer_name(observer_state(d->obs)),
        .leader = d->role == LEASE_LEADER,
        .nats_connected = bus_connected(d->bus),
        .store_status = store_available(d->store) ? "ok" : store_unavailable_reason(d->store),
    };
    if (health_write(d->health_path, &hs) == 0) {
        d->health_write_failed = false;
    } else if (!d->health_write_failed) {
        d->health_write_failed = true;
        log_kv(LOG_ERROR, "cannot write the health file: the container health check will fail", "path",
               d->health_path, "error", strerror(errno), NULL);
    }
}

/* Every iteration: the HTTP board's beat and readiness; the metrics once
 * per status interval. */
static void publish_http(struct daemon *d)
{
    struct service_api_stats st;
    char last[160];
    struct exporter_facts f = {
        .obs = d->obs, .connected = bus_connected(d->bus), .store_ok = store_available(d->store),
        .store_why = store_unavailable_reason(d->store), .role = d->role, .lead_why = leadership_why(d->lead),
    };

    if (d->http == NULL)
        return;
    if (exporter_due(d->http, d->clk.mono_ms)) {
        struct codec_fleet_header hdr = { .feed_seq = feed_seq(d->feed), .term = d->term, .supervisor_id = d->id };

        fill_stats(d, &st, last, sizeof(last));
        f.stats = &st;
        webview_status(exporter_board(d->http), d->obs, &hdr, &d->clk, d->cfg->max_feed_bytes);
    }
    exporter_tick(d->http, &f, d->clk.mono_ms);
}

static void apply_links(struct daemon *d, const struct ingest_link *link, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        observer_set_own_server(d->obs, link[k].server_id);
        observer_link(d->obs, link[k].up, link[k].at_ms);
    }
}

static void process(struct daemon *d, struct ingest_batch *batch)
{
    struct ingest_link links[sizeof(batch->link) / sizeof(batch->link[0])];
    const struct hb_input *run;

    /* The link first, so a leadership won now knows whether it can see
     * (at start the first connection's report is already waiting: without
     * this the new leader would say "own NATS link down" for a moment).
     * Then leadership: its requests can block (each bounded), and what
     * arrived meanwhile must be in the batch judged after them, or a slow
     * JetStream would look like silence from everyone. */
    d->clk = clock_now();
    apply_links(d, links, ingest_take_links(d->queue, links, sizeof(links) / sizeof(links[0])));
    follow_lease(d);
    ingest_take(d->queue, batch);
    d->clk = clock_now();
    observer_set_unix_offset(d->obs, d->clk.unix_ms - d->clk.mono_ms);
    apply_links(d, batch->link, batch->n_link);
    for (size_t k = 0; k < batch->n_ack; k++)
        observer_action_result(d->obs, batch->ack[k].action_id, batch->ack[k].outcome, batch->ack[k].error,
                               batch->ack[k].at_ms);
    for (size_t n, k = 0; (n = ingest_heartbeats(d->queue, batch, &run)) > 0;) {
        for (size_t j = 0; j < n; j++, k++) {
            if (observer_heartbeat(d->obs, &run[j]) == HB_NO_MEMORY)
                log_kv(LOG_ERROR, "cannot track a new instance: out of memory", "service", run[j].service,
                       "instance", run[j].instance, NULL);
            if ((k + 1) % HEARTBEAT_SLICE == 0 && d->publishing) {
                d->clk = clock_now();
                feed_publish_due(d->feed, &d->clk);
            }
        }
    }
    d->clk = clock_now();
    observer_tick(d->obs, d->clk.mono_ms);
    restore_conflicts(d);
    micro_probe_tick(d->micro, d->clk.mono_ms);
    hook_tick(d->hooks, d->clk.mono_ms);
    for (size_t k = 0; k < batch->n_req; k++)
        answer(d, &batch->req[k]);
    for (size_t k = 0; k < batch->n_admin; k++) {
        struct admin_env env = {
            .obs = d->obs, .store = d->store, .bus = d->bus, .leading = may_act(d),
            .mono_ms = d->clk.mono_ms, .unix_ms = d->clk.unix_ms,
        };

        admin_exec(&d->admin, &env, &batch->admin[k]);
    }
    if (d->publishing)
        feed_publish_due(d->feed, &d->clk);
    emf_tick(&d->emf, d->obs, d->publishing, d->clk.mono_ms, d->clk.unix_ms);
    log_refusals(d);
    micro_probe_log(d->micro, d->clk.mono_ms);
    write_health(d);
    publish_http(d);
}

/* How long the loop may sleep: until the first deadline of the core, the
 * feed, a hook's timeout, the store, the lease or the EMF lines (at most
 * MAX_POLL_MS). A
 * query: what is due is done by process(). */
static int poll_timeout(const struct daemon *d)
{
    int64_t next = observer_next_deadline(d->obs);
    /* Not publishing (a standby), the feed's deadline stays in the past. */
    int64_t due = d->publishing ? feed_next_due(d->feed) : INT64_MAX;
    int64_t hooks_due = hook_next_due(d->hooks);
    int64_t wait;

    if (due < next)
        next = due;
    if (hooks_due < next)
        next = hooks_due;
    if (store_next_tick(d->store) < next)
        next = store_next_tick(d->store);
    if (leadership_next_ms(d->lead) < next)
        next = leadership_next_ms(d->lead);
    if (emf_schedule_next(&d->emf) < next)
        next = emf_schedule_next(&d->emf);
    if (exporter_next_due(d->http) < next)
        next = exporter_next_due(d->http);
    if (micro_probe_next_due(d->micro) < next)
        next = micro_probe_next_due(d->micro);
    wait = next - fleet_mono_ms();
    if (wait < 0)
        return 0;
    return wait > MAX_POLL_MS ? MAX_POLL_MS : (int)wait;
}

/* Returns true to keep running. */
static bool handle_signals(struct daemon *d)
{
    struct signalfd_siginfo si;
    bool keep = true;

    while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            reload(d);
        } else if (si.ssi_signo == SIGCHLD) {
            hook_reap(d->hooks);
        } else {
            log_kv(LOG_INFO, "stopping: draining", "signal", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", NULL);
            keep = false;
        }
    }
    return keep;
}

static int run_loop(struct daemon *d)
{
    struct ingest_batch batch = { 0 };
    struct pollfd fds[2] = {
        { .fd = d->sigfd, .events = POLLIN },
        { .fd = ingest_fd(d->queue), .events = POLLIN },
    };
    struct pollfd gather[2] = {
        { .fd = d->sigfd, .events = POLLIN },
        { .fd = ingest_urgent_fd(d->queue), .events = POLLIN },
    };
    bool running = true;

    while (running) {
        if (poll(fds, 2, poll_timeout(d)) < 0 && errno != EINTR) {
            log_kv(LOG_ERROR, "poll failed", "error", strerror(errno), NULL);
            ingest_batch_free(&batch);
            return 1;
        }
        if (fds[0].revents & POLLIN)
            running = handle_signals(d);
        process(d, &batch);
        /* Let the next heartbeats gather; a signal or an exit report
         * (ingest_urgent_fd) ends the wait at once. */
        if (running && batch.n_hb > 0 && poll(gather, 2, COALESCE_MS) > 0 && (gather[0].revents & POLLIN))
            running = handle_signals(d);
    }
    /* Drain: publish what is pending now; bus_close then drains the
     * subscriptions and flushes before the connection closes. */
    process(d, &batch);
    ingest_batch_free(&batch);
    leadership_resign(d->lead, fleet_mono_ms()); /* a standby takes over now, not a lease TTL later */
    return 0;
}

static void sanitize_id(char *id)
{
    for (char *c = id; *c != '\0'; c++)
        if (!fleet_name_valid_n(c, 1))
            *c = '-';
    id[FLEET_NAME_MAX] = '\0';
}

static int open_bus(struct daemon *d)
{
    struct bus_options opts = {
        .url = d->cfg->nats_url, .creds = d->cfg->nats_creds, .name = d->cfg->nats_name,
    };
    char subject[FLEET_SUBJECT_MAX], status_subject[FLEET_SUBJECT_MAX], err[512];

    if (bus_open(&opts, on_link, d, &d->bus, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "cannot start the NATS client", "error", err, NULL);
        return -1;
    }
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_HB_ALL, d->cfg->prefix, NULL, NULL);
    (void)fleet_subject(status_subject, sizeof(status_subject), FLEET_SUBJECT_STATUS, d->cfg->prefix, NULL, NULL);
    if (bus_subscribe_bulk(d->bus, subject, on_heartbeat, heartbeat_room, d, err, sizeof(err)) != 0 ||
        bus_subscribe(d->bus, status_subject, NULL, on_status_heard, d, err, sizeof(err)) != 0 ||
        service_api_subscribe(d->bus, d->queue, d->cfg->prefix, d->cfg->supervisor_id, err, sizeof(err)) != 0 ||
        micro_probe_create(d->bus, d->queue, &d->micro, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "cannot subscribe", "error", err, NULL);
        return -1;
    }
    if (micro_probe_configure(d->micro, d->cfg, fleet_mono_ms()) != 0) {
        log_kv(LOG_ERROR, "cannot set up the micro probes: out of memory", NULL);
        return -1;
    }
    return 0;
}

/* Heartbeat proofs are made for our signing key: without one, nothing can
 * be proven to us (an observing supervisor takes every sender as unproven). */
static int open_proofs(struct daemon *d)
{
    fleet_keypair *kp = NULL;

    if (d->cfg->signing_key_file[0] == '\0')
        return 0;
    if (fleet_keypair_from_seed_file(d->cfg->signing_key_file, &kp) != FLEET_OK) {
        log_kv(LOG_ERROR, "cannot read the signing key", "key", "control.signing_key_file",
               "error", fleet_last_error(), NULL);
        fprintf(stderr, "fleet-supervisor: control.signing_key_file: %s\n", fleet_last_error());
        return -1;
    }
    if (proofcheck_create(kp, d->cfg->proven_keys_cached, d->cfg->key_agreements_per_s, &d->proofs) != 0) {
        log_kv(LOG_ERROR, "cannot set up heartbeat proofs: out of memory", NULL);
        return -1;
    }
    return 0;
}

static int open_actuator(struct daemon *d)
{
    struct actuator_options opts = {
        .prefix = d->cfg->prefix, .signing_key_file = d->cfg->signing_key_file,
        .expiry_ms = d->cfg->control_expiry_ms,
    };
    char err[512];

    if (actuator_create(d->bus, d->queue, &opts, &d->actuator, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "cannot set up control", "error", err, NULL);
        fprintf(stderr, "fleet-supervisor: %s\n", err);
        return -1;
    }
    if (!actuator_can_act(d->actuator))
        log_kv(LOG_WARN, "no signing key (control.signing_key_file / FLEET_SIGNING_KEY_FILE): "
                         "observing only, no restarts or fences", NULL);
    return 0;
}

static int open_store(struct daemon *d)
{
    struct store_options opts = {
        .prefix = d->cfg->prefix, .state_bucket = d->cfg->state_bucket, .lease_bucket = d->cfg->lease_bucket,
        .audit_stream = d->cfg->audit_stream, .nonce_bucket = d->cfg->nonce_bucket,
        .nonce_ttl_ms = ADMIN_NONCE_KEEP_MS, .lease_ttl_ms = d->cfg->lease_ttl_ms,
        .audit_max_age_s = d->cfg->audit_max_age_s, .supervisor_id = d->cfg->supervisor_id,
        .replicas = d->cfg->state_replicas,
    };
    char err[512];

    if (store_open(bus_connection(d->bus), &opts, &d->store, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "cannot set up the JetStream state", "error", err, NULL);
        return -1;
    }
    if (leadership_create(d->store, fleet_mono_ms(), &d->lead) != 0) {
        log_kv(LOG_ERROR, "cannot set up leadership: out of memory", NULL);
        return -1;
    }
    return 0;
}

static int block_signals(int *sigfd)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    /* Blocked before any nats.c thread exists, so every thread inherits it
     * and the signals are only ever read here, as data. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    *sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return *sigfd < 0 ? -1 : 0;
}

int daemon_run(struct supervisor_config *cfg, const char *config_path,
               const struct config_override *overrides, size_t n_overrides)
{
    struct daemon d = {
        .cfg = cfg, .config_path = config_path, .overrides = overrides, .n_overrides = n_overrides,
        .sigfd = -1,
    };
    struct feed_options fo;
    char safe_url[512], err[256];
    int rc = 1;

    sanitize_id(cfg->supervisor_id);
    snprintf(d.id, sizeof(d.id), "%s", cfg->supervisor_id);
    d.health_path = health_default_path();
    d.clk = clock_now();
    d.started_unix_ms = d.clk.unix_ms;
    emf_schedule_set(&d.emf, cfg->emf_interval_s, d.clk.mono_ms);
    if (block_signals(&d.sigfd) != 0) {
        log_kv(LOG_ERROR, "cannot set up signal handling", "error", strerror(errno), NULL);
        goto out_free_config;
    }
    if (open_proofs(&d) != 0) {
        rc = EXIT_CONFIG;
        goto out_close_sigfd;
    }
    if (ingest_create(cfg->prefix, cfg->max_queued_heartbeats, cfg->max_heartbeat_bytes, d.proofs, &d.queue) != 0)
        goto out_destroy_proofs;
    if (admin_desk_open(&d.admin, cfg) != 0)
        goto out_destroy_queue;
    if (hooks_create(cfg->hook_timeout_ms, &d.hooks) != 0)
        goto out_close_desk;
    /* nats.c callbacks only feed the queue, so the bus may run before the
     * observer exists: what it reports waits in the queue for the loop. */
    if (open_bus(&d) != 0)
        goto out_close_bus;
    if (open_actuator(&d) != 0) {
        rc = EXIT_CONFIG;
        goto out_close_bus;
    }
    if (open_store(&d) != 0)
        goto out_close_bus;
    if (with_observer_config(cfg, create_observer, &d) != 0) {
        log_kv(LOG_ERROR, "cannot create the observer", NULL);
        goto out_close_bus;
    }
    /* Nobody leads until the lease says so. */
    d.role = LEASE_STANDBY;
    observer_await_lease(d.obs, d.clk.mono_ms);
    /* Until the first connection is reported, the observer cannot see anyone. */
    observer_link(d.obs, false, d.clk.mono_ms);
    fo = (struct feed_options){
        .prefix = cfg->prefix, .supervisor_id = cfg->supervisor_id,
        .status_interval_ms = cfg->status_interval_ms, .max_feed_bytes = cfg->max_feed_bytes,
        .min_gap_ms = FEED_MIN_GAP_MS, .refresh_ms = cfg->status_refresh_ms,
    };
    if (feed_create(d.bus, d.obs, &fo, &d.feed) != 0)
        goto out_close_bus;
    if (exporter_open(cfg, &d.http, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "cannot start the HTTP server", "key", "http.listen", "error", err, NULL);
        fprintf(stderr, "fleet-supervisor: http.listen: %s\n", err);
        rc = EXIT_CONFIG;
        goto out_destroy_feed;
    }
    webview_page(exporter_board(d.http));
    fleet_url_redact(cfg->nats_url, safe_url, sizeof(safe_url));
    log_kv(LOG_INFO, "fleet-supervisor started", "id", cfg->supervisor_id, "nats", safe_url,
           "prefix", cfg->prefix, "config", config_path ? config_path : "(defaults)", "signer",
           actuator_can_act(d.actuator) ? actuator_public_key(d.actuator) : "none: observing only", NULL);
    rc = run_loop(&d);
    exporter_close(d.http);
out_destroy_feed:
    feed_destroy(d.feed);
out_close_bus:
    /* After bus_close no callback runs, so what they fed can go. */
    leadership_destroy(d.lead);
    store_close(d.store);
    ingest_owner_gone(d.queue);
    bus_close(d.bus, DRAIN_TIMEOUT_MS);
    micro_probe_destroy(d.micro);
    free(d.reloads);
    observer_destroy(d.obs);
    actuator_destroy(d.actuator);
    hooks_destroy(d.hooks);
out_close_desk:
    admin_desk_close(&d.admin);
out_destroy_queue:
    ingest_destroy(d.queue);
out_destroy_proofs:
    proofcheck_destroy(d.proofs);
out_close_sigfd:
    close(d.sigfd);
out_free_config:
    config_destroy(d.cfg);
    return rc;
}
