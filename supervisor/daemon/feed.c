#include "feed.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/subjects.h"

#include "log.h"

struct feed {
    struct bus *bus;
    struct observer *obs;
    char prefix[FLEET_PREFIX_MAX + 1];
    char supervisor_id[FLEET_SUPERVISOR_ID_MAX + 1];
    uint32_t status_interval_ms;
    uint32_t max_feed_bytes;
    uint32_t min_gap_ms;
    uint64_t seq;        /* last feed_seq used */
    uint64_t term;
    bool changed;        /* something changed since the last FleetStatus */
    int64_t last_status_ms;
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
    f->changed = true;
    f->last_status_ms = INT64_MIN / 2;
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
}

static void publish_services(struct feed *f, const struct codec_clock *clk, bool all)
{
    const struct registry *reg = observer_registry(f->obs);

    for (size_t k = 0; k < registry_service_count(reg); k++) {
        struct service *s = registry_service_at(reg, k);
        char subject[FLEET_SUBJECT_MAX];
        uint8_t *buf;
        size_t len;

        if (!all && !s->dirty)
            continue;
        if (codec_service_status_pack(f->obs, s, clk, &buf, &len) != 0)
            continue; /* out of memory: it stays dirty and is tried again */
        s->dirty = false;
        (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_STATUS_SERVICE, f->prefix, s->name, NULL);
        publish(f, subject, buf, len);
        f->counters.service_statuses++;
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

    if (!periodic && !(f->changed && now >= f->last_status_ms + f->min_gap_ms))
        return;
    publish_services(f, clk, periodic);
    publish_fleet(f, clk);
    f->changed = false;
    f->last_status_ms = now;
}

int64_t feed_next_due(const struct feed *f)
{
    int64_t periodic = f->last_status_ms + f->status_interval_ms;
    int64_t coalesced = f->last_status_ms + f->min_gap_ms;

    return f->changed && coalesced < periodic ? coalesced : periodic;
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
