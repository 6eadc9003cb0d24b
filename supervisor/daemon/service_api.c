#include "service_api.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fleet/subjects.h"

#include "codec.h"
#include "fleet/clock.h"

struct api_route {
    struct ingest *q;
    enum api_request kind;
};

/* One route per subscription; they live as long as the process (the bus
 * keeps pointers to them until bus_close). */
static struct api_route routes[16];
static size_t n_routes;

static void on_request(void *ctx, const char *subject, const char *reply, const void *data, size_t len)
{
    struct api_route *r = ctx;

    (void)subject;
    ingest_request(r->q, (int)r->kind, reply, data, len, fleet_mono_ms());
}

static void on_admin(void *ctx, const char *subject, const char *reply, const void *data, size_t len)
{
    ingest_admin(ctx, subject, reply, data, len, fleet_mono_ms());
}

static int route(struct bus *b, struct ingest *q, const char *subject, const char *queue,
                 enum api_request kind, char *err, size_t errlen)
{
    struct api_route *r;

    if (n_routes == sizeof(routes) / sizeof(routes[0])) {
        snprintf(err, errlen, "too many request routes");
        return -1;
    }
    r = &routes[n_routes++];
    r->q = q;
    r->kind = kind;
    return bus_subscribe(b, subject, queue, on_request, r, err, errlen);
}

int service_api_subscribe(struct bus *b, struct ingest *q, const char *prefix, const char *id,
                          char *err, size_t errlen)
{
    static const struct { const char *verb; enum api_request kind; } srv[] = {
        { "PING", API_SRV_PING }, { "INFO", API_SRV_INFO }, { "STATS", API_SRV_STATS },
    };
    char subject[FLEET_SUBJECT_MAX + 64]; /* also "$SRV.<verb>.<name>.<id>", id up to 63 bytes */

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_STATUS, prefix, NULL, NULL);
    if (route(b, q, subject, NULL, API_QUERY_STATUS, err, errlen) != 0)
        return -1;
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_SERVICE, prefix, NULL, NULL);
    if (route(b, q, subject, NULL, API_QUERY_SERVICE, err, errlen) != 0)
        return -1;
    /* Every replica hears every command (no queue group): admin_exec.h. */
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_ADMIN_ALL, prefix, NULL, NULL);
    if (bus_subscribe(b, subject, NULL, on_admin, q, err, errlen) != 0)
        return -1;
    for (size_t k = 0; k < sizeof(srv) / sizeof(srv[0]); k++) {
        snprintf(subject, sizeof(subject), "$SRV.%s", srv[k].verb);
        if (route(b, q, subject, NULL, srv[k].kind, err, errlen) != 0)
            return -1;
        snprintf(subject, sizeof(subject), "$SRV.%s.%s", srv[k].verb, SERVICE_API_NAME);
        if (route(b, q, subject, NULL, srv[k].kind, err, errlen) != 0)
            return -1;
        snprintf(subject, sizeof(subject), "$SRV.%s.%s.%s", srv[k].verb, SERVICE_API_NAME, id);
        if (route(b, q, subject, NULL, srv[k].kind, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void rfc3339(int64_t unix_ms, char *out, size_t n)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
}

/* The fields every micro response starts with. The metadata is the
 * supervisor's readiness at a glance: its observer state, whether it leads
 * (and in which term), whether its durable state is usable, whether it may
 * act at all. Micro metadata values are strings. */
static json_t *srv_base(const char *type, const struct service_api_stats *st)
{
    char term[24];

    snprintf(term, sizeof(term), "%llu", (unsigned long long)st->term);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "type", type, "name", SERVICE_API_NAME,
                     "id", st->id, "version", SERVICE_API_VERSION, "metadata",
                     "observer", health_observer_name(st->state), "leader", st->leader ? "true" : "false",
                     "term", term, "store", st->store ? st->store : "", "control",
                     st->can_act ? "signing" : "observe only (no signing key)");
}

static json_t *endpoint(const char *name, const char *subject)
{
    return json_pack("{s:s, s:s, s:s, s:n}", "name", name, "subject", subject, "queue_group", "q",
                     "metadata");
}

static json_t *endpoint_list(const struct service_api_stats *st)
{
    char hb[FLEET_SUBJECT_MAX], status[FLEET_SUBJECT_MAX], service[FLEET_SUBJECT_MAX], admin[FLEET_SUBJECT_MAX];

    (void)fleet_subject(hb, sizeof(hb), FLEET_SUBJECT_HB_ALL, st->prefix, NULL, NULL);
    (void)fleet_subject(status, sizeof(status), FLEET_SUBJECT_QUERY_STATUS, st->prefix, NULL, NULL);
    (void)fleet_subject(service, sizeof(service), FLEET_SUBJECT_QUERY_SERVICE, st->prefix, NULL, NULL);
    (void)fleet_subject(admin, sizeof(admin), FLEET_SUBJECT_ADMIN_ALL, st->prefix, NULL, NULL);
    return json_pack("[o, o, o, o]", endpoint("heartbeat", hb), endpoint("status", status),
                     endpoint("service", service), endpoint("admin", admin));
}

static json_t *heartbeat_data(const struct service_api_stats *st)
{
    json_t *refused = json_object();

    for (int r = HB_OK + 1; r < HB_REFUSAL_COUNT; r++)
        json_object_set_new(refused, codec_refusal_name((enum hb_refusal)r),
                            json_integer((json_int_t)st->ingest.refused[r]));
    /* Refused by the core: past the configured limits. */
    json_object_set_new(refused, "limit_services", json_integer((json_int_t)st->observer.limit_services));
    json_object_set_new(refused, "limit_instances", json_integer((json_int_t)st->observer.limit_instances));
    json_object_set_new(refused, "unproven", json_integer((json_int_t)st->observer.unproven));
    json_t *proofs = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                               "proven", (json_int_t)st->proofs.proven,
                               "not_for_us", (json_int_t)st->proofs.unproven,
                               "bad", (json_int_t)st->proofs.bad,
                               "deferred", (json_int_t)st->proofs.deferred,
                               "key_agreements", (json_int_t)st->proofs.agreements,
                               "keys_evicted", (json_int_t)st->proofs.evictions,
                               "contender_heartbeats", (json_int_t)st->observer.contender,
                               "conflicts", (json_int_t)st->observer.conflicts);
    json_t *control = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                                "sent", (json_int_t)st->control.sent,
                                "send_failed", (json_int_t)st->control.send_failed,
                                "acks_accepted", (json_int_t)st->control.acks_accepted,
                                "acks_refused", (json_int_t)st->control.acks_refused,
                                "acks_retryable", (json_int_t)st->control.acks_retryable,
                                "acks_no_responders", (json_int_t)st->control.acks_no_responders,
                                "acks_unmatched", (json_int_t)st->control.acks_unmatched,
                                "acks_malformed", (json_int_t)st->control.acks_malformed);

    return json_pack("{s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:I}",
                     "received", (json_int_t)st->ingest.received,
                     "accepted", (json_int_t)st->observer.heartbeats,
                     "stale", (json_int_t)st->observer.stale,
                     "refused", refused,
                     "slow_consumer_dropped", (json_int_t)st->bus.dropped,
                     "transitions", (json_int_t)st->observer.transitions,
                     "statuses_published", (json_int_t)st->feed.statuses,
                     "events_published", (json_int_t)st->feed.events,
                     "publish_errors", (json_int_t)st->feed.publish_errors,
                     "control", control,
                     "proofs", proofs,
                     "observer_reason", st->state_reason != NULL ? st->state_reason : "",
                     "self_preservation_expired", (json_int_t)st->observer.self_preservation_expired);
}

/* probe: micro (micro_probe.h): pings, answers, every refusal per reason,
 * and the restarts/fences escalated instead of sent (no agent). */
static json_t *micro_data(const struct service_api_stats *st)
{
    const struct micro_probe_counters *m = &st->micro;
    json_t *refused = json_object();

    for (int r = MICRO_OK + 1; r < MICRO_REFUSAL_COUNT; r++)
        json_object_set_new(refused, micro_refusal_name((enum micro_refusal)r), json_integer((json_int_t)m->refused[r]));
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I}",
                     "pings", (json_int_t)m->pings,
                     "ping_failed", (json_int_t)m->ping_failed,
                     "answers", (json_int_t)m->answers,
                     "accepted", (json_int_t)m->accepted,
                     "no_responders", (json_int_t)m->no_responders,
                     "refused", refused,
                     "escalated_no_agent", (json_int_t)st->observer.no_agent,
                     "controls_withheld", (json_int_t)m->controls_withheld);
}

/* The admin endpoint's figures: commands done, dropped (queue full) and
 * refused per rule. */
static void admin_stats(json_t *e, const struct service_api_stats *st)
{
    json_t *refused = json_object();
    uint64_t errors = 0;

    for (int r = ADMIN_ACCEPTED + 1; r < ADMIN_RULE_COUNT; r++) {
        json_object_set_new(refused, admin_rule_name((enum admin_rule)r),
                            json_integer((json_int_t)st->admin.refused[r]));
        errors += st->admin.refused[r];
    }
    json_object_set_new(e, "num_requests", json_integer((json_int_t)(st->admin.done + errors)));
    json_object_set_new(e, "num_errors", json_integer((json_int_t)errors));
    json_object_set_new(e, "data", json_pack("{s:I, s:I, s:o}", "done", (json_int_t)st->admin.done, "dropped",
                                             (json_int_t)st->ingest.admin_dropped, "refused", refused));
}

static json_t *stats_endpoints(const struct service_api_stats *st)
{
    json_t *list = endpoint_list(st);
    json_t *hb = json_array_get(list, 0);
    uint64_t errors = 0;

    for (int r = HB_OK + 1; r < HB_REFUSAL_COUNT; r++)
        errors += st->ingest.refused[r];
    json_object_set_new(hb, "num_requests", json_integer((json_int_t)st->ingest.received));
    json_object_set_new(hb, "num_errors", json_integer((json_int_t)errors));
    json_object_set_new(hb, "last_error", json_string(st->last_refusal ? st->last_refusal : ""));
    json_object_set_new(hb, "processing_time", json_integer(0));
    json_object_set_new(hb, "average_processing_time", json_integer(0));
    json_object_set_new(hb, "data", heartbeat_data(st));
    json_object_set_new(json_object_get(hb, "data"), "micro", micro_data(st));
    for (size_t k = 1; k < json_array_size(list); k++) {
        json_t *e = json_array_get(list, k);

        json_object_set_new(e, "num_requests", json_integer((json_int_t)st->queries));
        json_object_set_new(e, "num_errors", json_integer(0));
        json_object_set_new(e, "last_error", json_string(""));
        json_object_set_new(e, "processing_time", json_integer(0));
        json_object_set_new(e, "average_processing_time", json_integer(0));
        json_object_set_new(e, "data", json_null());
    }
    admin_stats(json_array_get(list, 3), st);   /* the last: endpoint_list's order */
    return list;
}

char *service_api_srv_json(enum api_request kind, const struct service_api_stats *st)
{
    json_t *doc = NULL;
    char started[96];
    char *text;

    switch (kind) {
    case API_SRV_PING:
        doc = srv_base("io.nats.micro.v1.ping_response", st);
        break;
    case API_SRV_INFO:
        doc = srv_base("io.nats.micro.v1.info_response", st);
        if (doc != NULL) {
            json_object_set_new(doc, "description",
                                json_string("Fleet supervisor: heartbeats in, fleet-availability feed out"));
            json_object_set_new(doc, "endpoints", endpoint_list(st));
        }
        break;
    case API_SRV_STATS:
        doc = srv_base("io.nats.micro.v1.stats_response", st);
        if (doc != NULL) {
            rfc3339(st->started_unix_ms, started, sizeof(started));
            json_object_set_new(doc, "started", json_string(started));
            json_object_set_new(doc, "endpoints", stats_endpoints(st));
        }
        break;
    default:
        return NULL;
    }
    if (doc == NULL)
        return NULL;
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}
