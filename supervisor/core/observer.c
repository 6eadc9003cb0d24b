#include "observer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct observer {
    struct registry *registry;
    struct observer_sink sink;
    struct detector_params params;
    uint32_t default_interval_ms;
    uint32_t max_interval_ms;  /* largest promised interval seen (>= default) */
    int64_t forget_after_ms;
    int64_t stall_ms;
    int64_t link_grace_ms;
    enum observer_state state;
    bool link_up;
    int64_t warm_from_ms;      /* WARMING_UP lasts one max interval from this... */
    int64_t warm_until_ms;     /* ...and at least until this */
    int64_t last_tick_ms;
    struct observer_counters counters;
};

/* ---- events ---- */

static void emit(struct observer *o, const struct service *s, const struct instance *i,
                 enum inst_health from, enum inst_health to, const char *reason, int64_t now_ms)
{
    struct core_event ev = {
        .service = s, .instance = i, .from = from, .to = to, .reason = reason, .at_ms = now_ms,
    };

    if (o->sink.on_event != NULL)
        o->sink.on_event(o->sink.ctx, &ev);
}

static bool observing(const struct observer *o)
{
    return o->state == OBSERVER_NORMAL;
}

/* Recomputes a service's health from its counts and feeds its availability. */
static void service_refresh(struct observer *o, struct service *s, int64_t now_ms)
{
    enum svc_health h = health_of_service(s->expected, s->ever_seen, s->count[INST_HEALTHY],
                                          s->count[INST_DEGRADED], s->desired);

    if (h != s->health) {
        s->health = (unsigned char)h;
        s->dirty = true;
    }
    availability_update(&s->availability, now_ms, h == SVC_AVAILABLE, observing(o));
}

static void set_state(struct observer *o, enum observer_state to, const char *reason, int64_t now_ms)
{
    enum observer_state from = o->state;

    if (from == to)
        return;
    o->state = to;
    for (size_t k = 0; k < registry_service_count(o->registry); k++)
        service_refresh(o, registry_service_at(o->registry, k), now_ms);
    if (o->sink.on_state != NULL)
        o->sink.on_state(o->sink.ctx, from, to, reason);
}

/* ---- instance judgement ---- */

static void transition(struct observer *o, struct instance *i, enum inst_health to,
                       const char *reason, int64_t now_ms)
{
    struct service *s = i->service;
    enum inst_health from = (enum inst_health)i->health;

    if (from == to) {
        /* The common case, every heartbeat: copy only a reason that changed. */
        if (strcmp(i->reason, reason) != 0) {
            snprintf(i->reason, sizeof(i->reason), "%s", reason);
            s->dirty = true;
        }
        return;
    }
    snprintf(i->reason, sizeof(i->reason), "%s", reason);
    s->count[from]--;
    s->count[to]++;
    i->health = (unsigned char)to;
    i->health_since_ms = now_ms;
    s->dirty = true;
    o->counters.transitions++;
    service_refresh(o, s, now_ms);
    emit(o, s, i, from, to, reason, now_ms);
}

/* Next time `i` must be judged after `now_ms`: the threshold it has not
 * crossed yet (the silence ceiling can put dead before suspect), or, once it
 * is dead or stopped, when it is forgotten. A crossed threshold is never
 * scheduled again, so a state that ignores LATE cannot spin the tick. */
static void reschedule(struct observer *o, struct instance *i, int64_t now_ms)
{
    int64_t at;

    if (health_is_watched((enum inst_health)i->health)) {
        int64_t suspect_at = detector_suspect_at(&i->detector, &o->params);

        at = detector_dead_at(&i->detector, &o->params);
        if (i->health != INST_SUSPECT && suspect_at > now_ms && suspect_at < at)
            at = suspect_at;
    } else {
        at = i->last_seen_ms + o->forget_after_ms;
    }
    registry_schedule(o->registry, i, at);
}

static void recompute_versions(struct observer *o, struct service *s, int64_t now_ms)
{
    char reason[REASON_MAX];
    size_t used;
    bool drift;

    s->n_versions = 0;
    for (struct instance *i = s->first; i != NULL; i = i->next) {
        uint32_t k;

        if (i->version[0] == '\0')
            continue;
        for (k = 0; k < s->n_versions && strcmp(s->versions[k], i->version) != 0; k++)
            ;
        if (k == s->n_versions && k < SERVICE_VERSIONS_MAX)
            memcpy(s->versions[s->n_versions++], i->version, sizeof(s->versions[0]));
    }
    s->dirty = true;
    drift = s->n_versions > 1;
    if (drift == s->version_drift)
        return;
    s->version_drift = drift;
    used = (size_t)snprintf(reason, sizeof(reason), "%s", drift ? "version drift:" : "version drift ended:");
    for (uint32_t k = 0; k < s->n_versions && used < sizeof(reason); k++)
        used += (size_t)snprintf(reason + used, sizeof(reason) - used, " %s", s->versions[k]);
    emit(o, s, NULL, INST_UNSPECIFIED, INST_UNSPECIFIED, reason, now_ms);
}

static void forget(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct service *s = i->service;
    char reason[REASON_MAX];

    snprintf(reason, sizeof(reason), "forgotten after %llds silent",
             (long long)((now_ms - i->last_seen_ms) / 1000));
    emit(o, s, i, (enum inst_health)i->health, INST_UNSPECIFIED, reason, now_ms);
    registry_remove_instance(o->registry, i);
    s->dirty = true;
    recompute_versions(o, s, now_ms);
    if (!s->expected && s->n_instances == 0)
        registry_remove_service(o->registry, s);
    else
        service_refresh(o, s, now_ms);
}

static void judge(struct observer *o, struct instance *i, int64_t now_ms)
{
    enum inst_health h = (enum inst_health)i->health;
    char reason[REASON_MAX];

    if (!health_is_watched(h)) {
        if (now_ms >= i->last_seen_ms + o->forget_after_ms) {
            forget(o, i, now_ms);
            return;
        }
    } else {
        double silent_s = (double)(now_ms - i->last_seen_ms) / 1000.0;
        double phi = detector_phi(&i->detector, &o->params, now_ms);

        if (now_ms >= detector_dead_at(&i->detector, &o->params)) {
            snprintf(reason, sizeof(reason), "silent %.1fs (phi %.1f)", silent_s, phi);
            transition(o, i, health_next(h, EV_SILENT), reason, now_ms);
        } else if (now_ms >= detector_suspect_at(&i->detector, &o->params)) {
            snprintf(reason, sizeof(reason), "late %.1fs (phi %.1f)", silent_s, phi);
            transition(o, i, health_next(h, EV_LATE), reason, now_ms);
        }
    }
    reschedule(o, i, now_ms);
}

/* Gives every watched instance a fresh grace period from `from_ms`: the
 * observer could not see heartbeats, which is nobody's fault but its own. */
static void rebase_all(struct observer *o, int64_t from_ms)
{
    for (size_t k = 0; k < registry_service_count(o->registry); k++) {
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next) {
            if (!health_is_watched((enum inst_health)i->health))
                continue;
            detector_rebase(&i->detector, from_ms);
            reschedule(o, i, from_ms);
        }
    }
}

/* ---- configuration ---- */

static int apply_services(struct observer *o, const struct observer_config *cfg, int64_t now_ms)
{
    struct registry *r = o->registry;

    /* Add first (the only step that can fail) so a failure changes nothing
     * visible: a new empty service not yet marked expected is harmless, and
     * is dropped again below on failure. */
    for (size_t k = 0; k < cfg->n_services; k++) {
        if (registry_service(r, cfg->services[k].name) != NULL)
            continue;
        if (registry_add_service(r, cfg->services[k].name) == NULL)
            goto out_drop_unused;
        availability_init(&registry_service(r, cfg->services[k].name)->availability, now_ms);
    }
    for (size_t k = 0; k < registry_service_count(r); k++)
        registry_service_at(r, k)->expected = false;
    for (size_t k = 0; k < cfg->n_services; k++) {
        struct service *s = registry_service(r, cfg->services[k].name);

        s->expected = true;
        s->desired = cfg->services[k].desired;
        s->dirty = true;
    }
    for (size_t k = registry_service_count(r); k-- > 0;) {
        struct service *s = registry_service_at(r, k);

        if (!s->expected && s->n_instances == 0)
            registry_remove_service(r, s);
        else
            service_refresh(o, s, now_ms);
    }
    return 0;

out_drop_unused:
    for (size_t k = registry_service_count(r); k-- > 0;) {
        struct service *s = registry_service_at(r, k);

        if (!s->expected && s->n_instances == 0 && !s->ever_seen)
            registry_remove_service(r, s);
    }
    return -1;
}

int observer_create(const struct observer_config *cfg, const struct observer_sink *sink,
                    int64_t now_ms, struct observer **out)
{
    struct observer *o;

    if (cfg->detector.z_dead <= cfg->detector.z_suspect || cfg->default_interval_ms == 0)
        return -1;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return -1;
    if (registry_create(&o->registry) != 0)
        goto out_free_observer;
    if (sink != NULL)
        o->sink = *sink;
    o->params = cfg->detector;
    o->default_interval_ms = cfg->default_interval_ms;
    o->max_interval_ms = cfg->default_interval_ms;
    o->forget_after_ms = cfg->forget_after_ms;
    o->stall_ms = cfg->stall_ms;
    o->link_grace_ms = cfg->link_grace_ms;
    o->state = OBSERVER_WARMING_UP;
    o->link_up = true;
    o->warm_from_ms = now_ms;
    o->warm_until_ms = now_ms;
    o->last_tick_ms = now_ms;
    if (apply_services(o, cfg, now_ms) != 0)
        goto out_destroy_registry;
    *out = o;
    return 0;

out_destroy_registry:
    registry_destroy(o->registry);
out_free_observer:
    free(o);
    return -1;
}

void observer_destroy(struct observer *o)
{
    if (o == NULL)
        return;
    registry_destroy(o->registry);
    free(o);
}

int observer_reconfigure(struct observer *o, const struct observer_config *cfg, int64_t now_ms)
{
    if (cfg->detector.z_dead <= cfg->detector.z_suspect || cfg->default_interval_ms == 0)
        return -1;
    if (apply_services(o, cfg, now_ms) != 0)
        return -1;
    o->params = cfg->detector;
    o->default_interval_ms = cfg->default_interval_ms;
    if (o->max_interval_ms < o->default_interval_ms)
        o->max_interval_ms = o->default_interval_ms;
    o->forget_after_ms = cfg->forget_after_ms;
    o->stall_ms = cfg->stall_ms;
    o->link_grace_ms = cfg->link_grace_ms;
    for (size_t k = 0; k < registry_service_count(o->registry); k++)
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next)
            reschedule(o, i, now_ms);
    return 0;
}

/* ---- heartbeats ---- */

static void describe_heartbeat(const struct hb_input *hb, enum inst_event ev, char *out, size_t n)
{
    out[0] = '\0';
    switch (ev) {
    case EV_HB_EXITED:
        if (hb->has_exit && hb->exit_signal != 0)
            snprintf(out, n, "killed by signal %d", (int)hb->exit_signal);
        else if (hb->has_exit)
            snprintf(out, n, "exited with code %d", (int)hb->exit_code);
        else
            snprintf(out, n, "exited");
        break;
    case EV_HB_DEGRADED:
        snprintf(out, n, "%s", hb->failed_check[0] ? hb->failed_check : "reports degraded");
        break;
    case EV_HB_STOPPING: snprintf(out, n, "stopping on purpose"); break;
    case EV_HB_FENCED: snprintf(out, n, "fenced (epoch %llu)", (unsigned long long)hb->fence_epoch); break;
    case EV_HB_DRAINING: snprintf(out, n, "draining"); break;
    case EV_HB_STARTING: snprintf(out, n, "starting"); break;
    default: break;
    }
}

static struct service *service_for(struct observer *o, const char *name, int64_t now_ms)
{
    struct service *s = registry_service(o->registry, name);

    if (s != NULL)
        return s;
    s = registry_add_service(o->registry, name);
    if (s == NULL)
        return NULL;
    availability_init(&s->availability, now_ms);
    s->health = SVC_UNEXPECTED;
    s->dirty = true;
    emit(o, s, NULL, INST_UNSPECIFIED, INST_UNSPECIFIED, "unexpected service: not in the config", now_ms);
    return s;
}

enum hb_verdict observer_heartbeat(struct observer *o, const struct hb_input *hb)
{
    int64_t now = hb->arrival_ms;
    uint32_t interval = hb->interval_ms ? hb->interval_ms : o->default_interval_ms;
    struct service *s;
    struct instance *i;
    enum inst_event ev;
    char reason[REASON_MAX];

    s = service_for(o, hb->service, now);
    if (s == NULL)
        return HB_NO_MEMORY;
    i = registry_instance(o->registry, s, hb->instance);
    if (i == NULL) {
        i = registry_add_instance(o->registry, s, hb->instance);
        if (i == NULL)
            return HB_NO_MEMORY;
        i->incarnation = hb->incarnation;
        detector_reset(&i->detector, interval, now);
    } else if (hb->incarnation != i->incarnation) {
        if (hb->incarnation == i->prev_incarnation)
            goto out_stale;
        i->prev_incarnation = i->incarnation;
        i->incarnation = hb->incarnation;
        i->restarts++;
        detector_reset(&i->detector, interval, now);
    } else if (hb->seq <= i->seq) {
        goto out_stale;
    } else if (i->health == INST_DEAD || i->health == INST_STOPPED) {
        /* The gap since it was last heard is no inter-arrival sample. */
        detector_reset(&i->detector, interval, now);
    } else {
        detector_observe(&i->detector, interval, now);
    }
    if (interval > o->max_interval_ms)
        o->max_interval_ms = interval;
    i->seq = hb->seq;
    i->last_seen_ms = now;
    i->fence_epoch = hb->fence_epoch;
    i->term_seen = hb->term_seen;
    i->pid = hb->pid;
    i->state = (unsigned char)hb->state;
    s->ever_seen = true;
    o->counters.heartbeats++;

    ev = health_event_of_heartbeat(hb->state, hb->checks_ok);
    describe_heartbeat(hb, ev, reason, sizeof(reason));
    transition(o, i, health_next((enum inst_health)i->health, ev), reason, now);
    if (strcmp(i->version, hb->version) != 0) {
        memcpy(i->version, hb->version, sizeof(i->version));
        recompute_versions(o, s, now);
    }
    reschedule(o, i, now);
    return HB_ACCEPTED;

out_stale:
    o->counters.stale++;
    return HB_STALE;
}

/* ---- time and the observer's own state ---- */

static int64_t warm_end(const struct observer *o)
{
    int64_t by_interval = o->warm_from_ms + o->max_interval_ms;

    return by_interval > o->warm_until_ms ? by_interval : o->warm_until_ms;
}

void observer_tick(struct observer *o, int64_t now_ms)
{
    struct instance *i;

    if (!o->link_up)
        return;
    if (now_ms - o->last_tick_ms > o->stall_ms) {
        char reason[80];

        snprintf(reason, sizeof(reason), "observer stalled %.1fs: grace period for all",
                 (double)(now_ms - o->last_tick_ms) / 1000.0);
        rebase_all(o, now_ms);
        o->warm_from_ms = now_ms;
        set_state(o, OBSERVER_WARMING_UP, reason, now_ms);
    }
    o->last_tick_ms = now_ms;
    if (o->state == OBSERVER_WARMING_UP && now_ms >= warm_end(o))
        set_state(o, OBSERVER_NORMAL, "warm-up complete", now_ms);
    while ((i = registry_due(o->registry, now_ms)) != NULL)
        judge(o, i, now_ms);
}

void observer_link(struct observer *o, bool up, int64_t now_ms)
{
    if (up == o->link_up)
        return;
    o->link_up = up;
    if (!up) {
        set_state(o, OBSERVER_SELF_PRESERVATION, "own NATS link down", now_ms);
        return;
    }
    /* Nothing to protect before anyone was seen: the first connection
     * warms up for one interval like a start. */
    o->warm_until_ms = registry_instance_count(o->registry) ? now_ms + o->link_grace_ms : now_ms;
    rebase_all(o, o->warm_until_ms);
    o->warm_from_ms = now_ms;
    o->last_tick_ms = now_ms;
    set_state(o, OBSERVER_WARMING_UP, "own NATS link back: grace period for all", now_ms);
}

int64_t observer_next_deadline(const struct observer *o)
{
    int64_t next;

    /* Blind while the link is down: nothing is judged until it returns. */
    if (!o->link_up)
        return NO_DEADLINE;
    next = registry_next_deadline(o->registry);

    if (o->state == OBSERVER_WARMING_UP && o->link_up && warm_end(o) < next)
        next = warm_end(o);
    return next;
}

enum observer_state observer_state(const struct observer *o)
{
    return o->state;
}

const struct registry *observer_registry(const struct observer *o)
{
    return o->registry;
}

void observer_summary(const struct observer *o, struct observer_summary *out)
{
    struct observer_summary sum = { 0 };

    for (size_t k = 0; k < registry_service_count(o->registry); k++) {
        const struct service *s = registry_service_at(o->registry, k);
        uint32_t healthy = s->count[INST_HEALTHY];

        if (!s->expected)
            continue;
        sum.services_expected++;
        if (s->health == SVC_AVAILABLE)
            sum.services_available++;
        sum.instances_expected += s->desired;
        sum.instances_healthy += healthy < s->desired ? healthy : s->desired;
    }
    sum.availability = sum.services_expected
                           ? (double)sum.services_available / (double)sum.services_expected
                           : 1.0;
    *out = sum;
}

void observer_counters(const struct observer *o, struct observer_counters *out)
{
    *out = o->counters;
}

double observer_phi(const struct observer *o, const struct instance *i, int64_t now_ms)
{
    if (!health_is_watched((enum inst_health)i->health))
        return 0.0;
    return detector_phi(&i->detector, &o->params, now_ms);
}

void observer_service_availability(struct observer *o, struct service *s, int64_t now_ms,
                                   double *hour, double *day)
{
    (void)o;
    *hour = availability_hour(&s->availability, now_ms);
    *day = availability_day(&s->availability, now_ms);
}
