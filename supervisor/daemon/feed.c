#include "feed.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/subjects.h"

#include "log.h"

/* A gap of more than this many status intervals between two
 * feed_publish_due calls means the feed was not ours to publish. */
#define PUBLISH_GAP_INTERVALS 3

struct feed {
    struct bus *bus;
    struct observer *obs;
    char prefix[FLEET_PREFIX_MAX + 1];
    char supervisor_id[FLEET_SUPERVISOR_ID_MAX + 1];
    uint32_t status_interval_ms;
    uint32_t max_feed_bytes;
    uint32_t min_gap_ms;
    uint32_t refresh_ms;
    uint64_t seq;        /* last feed_seq used */
    uint64_t term;
    bool changed;        /* something changed since the last FleetStatus */
    bool detail_changed; /* something changed since the last pass over dirty services */
    int64_t last_status_ms;
    int64_t last_detail_ms;  /* the last pass over dirty services */
    int64_t last_refresh_ms; /* when refresh_credit was last topped up */
    int64_t last_call_ms;    /* the last feed_publish_due: a gap means we were not publishing */
    uint64_t refresh_credit; /* service-ms earned towards the next refreshes (see refresh_step) */
    size_t refresh_cursor;   /* registry index of the next service to refresh */
    struct feed_counters counters;
};

int feed_create(struct bus *bus, struct observer *obs, const struct feed_options *opts,
                struct feed **out)
{
    struct feed *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->bus = bus;
    f->obs = obs;
    snprintf(f->prefix, sizeof(f->prefix), "%s", opts->prefix);
    snprintf(f->supervisor_id, sizeof(f->supervisor_id), "%s", opts->supervisor_id);
    f->status_interval_ms = opts->status_interval_ms;
    f->max_feed_bytes = opts->max_feed_bytes;
    f->min_gap_ms = opts->min_gap_ms;
    f->refresh_ms = opts->refresh_ms != 0 ? opts->refresh_ms : opts->status_interval_ms;
    f->changed = true;
    f->detail_changed = true;
    f->last_status_ms = INT64_MIN / 2;
    f->last_detail_ms = INT64_MIN / 2;
    f->last_refresh_ms = INT64_MIN / 2;
    f->last_call_ms = INT64_MIN / 2;
    *out = f;
    return 0;
}

void feed_destroy(struct feed *f)
{
    free(f);
}

static void publish(struct feed *f, const char *subject, uint8_t *buf, size_t len)
{
    if (bus_publish(f->bus, subject, buf, len) != 0) {
        f->counters.publish_errors++;
        if (f->counters.publish_errors == 1 || f->counters.publish_errors % 1000 == 0)
            log_kv(LOG_WARN, "feed publish failed (NATS link down?)", "subject", subject, NULL);
    }
    free(buf);
}

void feed_event(struct feed *f, const struct core_event *ev, const struct codec_clock *clk)
{
    char subject[FLEET_SUBJECT_MAX];
    uint8_t *buf;
    size_t len;

    f->changed = true;
    f->detail_changed = true;
    if (codec_event_pack(ev, f->seq + 1, f->term, clk, &buf, &len) != 0) {
        log_kv(LOG_ERROR, "cannot encode event: out of memory", "service", ev->service->name, NULL);
        return;
    }
    f->seq++;
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_EVENTS, f->prefix, ev->service->name, NULL);
    publish(f, subject, buf, len);
    f->counters.events++;
}

void feed_touch(struct feed *f)
{
    f->changed = true;
    f->detail_changed = true;
}

/* Publishes one service's ServiceStatus (every instance) on
 * <prefix>.v1.status.<service> and clears its dirty mark; out of memory
 * leaves it dirty, to be tried again. */
static void publish_service(struct feed *f, struct service *s, const struct codec_clock *clk)
{
    char subject[FLEET_SUBJECT_MAX];
    uint8_t *buf;
    size_t len;

    if (codec_service_status_pack(f->obs, s, clk, &buf, &len) != 0)
        return;
    s->dirty = false;
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_STATUS_SERVICE, f->prefix, s->name, NULL);
    publish(f, subject, buf, len);
    f->counters.service_statuses++;
}

/* The change pass: every dirty service, once. Walks the services (not
 * their instances); packs only what changed. */
static void publish_dirty(struct feed *f, const struct codec_clock *clk)
{
    const struct registry *reg = observer_registry(f->obs);

    for (size_t k = 0; k < registry_service_count(reg); k++) {
        struct service *s = registry_service_at(reg, k);

        if (s->dirty)
            publish_service(f, s, clk);
    }
    f->detail_changed = false;
    f->last_detail_ms = clk->mono_ms;
}

/* The slow refresh: n services per refresh_ms, spread evenly over time.
 * Each call earns n x (ms since the last call) of credit, at most one full
 * round (a stalled loop does not burst), and spends refresh_ms of it per
 * service published, round-robin from the cursor. With refresh_ms equal to
 * the status interval every service goes out every interval (the feed
 * before issue 13). */
static void refresh_step(struct feed *f, const struct codec_clock *clk)
{
    const struct registry *reg = observer_registry(f->obs);
    size_t n = registry_service_count(reg);
    uint64_t round = (uint64_t)n * f->refresh_ms;
    int64_t elapsed = clk->mono_ms - f->last_refresh_ms;

    f->last_refresh_ms = clk->mono_ms;
    if (n == 0)
        return;
    if (elapsed < 0 || (uint64_t)elapsed >= f->refresh_ms)
        f->refresh_credit = round;
    else
        f->refresh_credit += (uint64_t)n * (uint64_t)elapsed;
    if (f->refresh_credit > round)
        f->refresh_credit = round;
    while (f->refresh_credit >= f->refresh_ms) {
        if (f->refresh_cursor >= n)
            f->refresh_cursor = 0;
        publish_service(f, registry_service_at(reg, f->refresh_cursor++), clk);
        f->refresh_credit -= f->refresh_ms;
    }
}

static void publish_fleet(struct feed *f, const struct codec_clock *clk)
{
    struct codec_fleet_header hdr = {
        .feed_seq = f->seq + 1, .term = f->term, .supervisor_id = f->supervisor_id,
    };
    char subject[FLEET_SUBJECT_MAX];
    uint8_t *buf;
    size_t len;

    if (codec_fleet_status_pack(f->obs, &hdr, clk, f->max_feed_bytes, &buf, &len) != 0) {
        log_kv(LOG_ERROR, "cannot encode fleet status: out of memory", NULL);
        return;
    }
    f->seq++;
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_STATUS, f->prefix, NULL, NULL);
    publish(f, subject, buf, len);
    f->counters.statuses++;
}

void feed_publish_due(struct feed *f, const struct codec_clock *clk)
{
    int64_t now = clk->mono_ms;
    bool periodic = now >= f->last_status_ms + f->status_interval_ms;
    bool coalesced = f->changed && now >= f->last_status_ms + f->min_gap_ms;
    bool detail_due = now >= f->last_detail_ms + f->status_interval_ms;

    /* Back from not publishing (start, standby, a stalled loop): whoever
     * listens may have missed detail, so the next refresh is a full round. */
    if (now - f->last_call_ms > PUBLISH_GAP_INTERVALS * (int64_t)f->status_interval_ms)
        f->last_refresh_ms = INT64_MIN / 2;
    f->last_call_ms = now;
    if (!periodic && !coalesced && !(f->detail_changed && detail_due))
        return;
    /* Detail first, then the summary that counts it: a reader of both sees
     * the instance lists no older than the FleetStatus that follows. The
     * refresh goes before the change pass: what it published is no longer
     * dirty (at start every service goes once, not twice). */
    if (periodic || coalesced)
        refresh_step(f, clk);
    if (detail_due && (f->detail_changed || periodic))
        publish_dirty(f, clk);
    if (periodic || coalesced) {
        publish_fleet(f, clk);
        f->changed = false;
        f->last_status_ms = now;
    }
}

int64_t feed_next_due(const struct feed *f)
{
    int64_t periodic = f->last_status_ms + f->status_interval_ms;
    int64_t next = periodic;

    if (f->changed && f->last_status_ms + f->min_gap_ms < next)
        next = f->last_status_ms + f->min_gap_ms;
    if (f->detail_changed && f->last_detail_ms + f->status_interval_ms < next)
        next = f->last_detail_ms + f->status_interval_ms;
    return next;
}

void feed_answer_status(struct feed *f, const char *reply, const struct codec_clock *clk)
{
    struct codec_fleet_header hdr = {
        .feed_seq = f->seq, .term = f->term, .supervisor_id = f->supervisor_id,
    };
    uint8_t *buf;
    size_t len;

    if (codec_fleet_status_pack(f->obs, &hdr, clk, f->max_feed_bytes, &buf, &len) == 0)
        publish(f, reply, buf, len);
}

void feed_answer_service(struct feed *f, const char *reply, const char *service,
                         const struct codec_clock *clk)
{
    struct service *s = NULL;
    uint8_t *buf;
    size_t len;

    if (fleet_name_valid(service))
        s = registry_service(observer_registry(f->obs), service);
    if (s != NULL) {
        if (codec_service_status_pack(f->obs, s, clk, &buf, &len) == 0)
            publish(f, reply, buf, len);
        return;
    }
    if (codec_unknown_service_pack(fleet_name_valid(service) ? service : "", &buf, &len) == 0)
        publish(f, reply, buf, len);
}

void feed_set_term(struct feed *f, uint64_t term)
{
    f->term = term;
}

uint64_t feed_seq(const struct feed *f)
{
    return f->seq;
}

void feed_counters(const struct feed *f, struct feed_counters *out)
{
    *out = f->counters;
}
