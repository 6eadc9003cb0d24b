/* The observer's entries for what it observes (observer.h): create and
 * configuration, heartbeats, the passing of time, its own link, and the
 * answers to its actions. Each records the fact, asks the policy (decide.c)
 * and hands the answer to the applier (apply.c). */
#include "observer_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    apply_emit(o, s, NULL, INST_UNSPECIFIED, INST_UNSPECIFIED, 0, reason, now_ms);
}

/* ---- forgetting and judging ---- */

static void forget(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct service *s = i->service;
    char reason[REASON_MAX];

    snprintf(reason, sizeof(reason), "forgotten after %llds silent",
             (long long)((now_ms - i->last_seen_ms) / 1000));
    apply_emit(o, s, i, (enum inst_health)i->health, INST_UNSPECIFIED, 0, reason, now_ms);
    apply_detach(o, i);
    servers_move(&o->servers, i->server, SERVER_NONE);
    registry_remove_instance(o->registry, i);
    s->dirty = true;
    recompute_versions(o, s, now_ms);
    if (!s->expected && s->n_instances == 0) {
        registry_remove_service(o->registry, s);
        o->n_unexpected--;
    } else {
        apply_service_refresh(o, s, now_ms);
    }
}

/* Whether `i`, silent past its dead threshold, is held on its NATS server
 * instead (servers.h): nothing shows that server alive. */
static bool held_on_server(const struct observer *o, const struct instance *i, int64_t now_ms)
{
    struct servers_own own = { .id = o->own_server, .up = o->link_up, .last_heard_ms = o->last_heard_ms };
    int64_t until;

    return servers_explain_silence(&o->servers, i->server, &own, i->last_seen_ms, i->detector.interval_ms,
                                   o->server_grace_ms, now_ms, &until);
}

/* A HEALTHY instance, last heard at `began_ms`, was found silent (late or
 * dead) at `now_ms`: counted by when its silence began, and the policy says
 * whether that many silences beginning together is a mass silence. */
static void note_silence(struct observer *o, int64_t began_ms, int64_t now_ms)
{
    struct decisions d;

    policy_silence_note(&o->silence, began_ms);
    decisions_start(&d, o);
    decide_silence_noted(o, began_ms, &d);
    apply_decisions(o, &d, now_ms);
}

static void judge(struct observer *o, struct instance *i, int64_t now_ms)
{
    enum inst_health h;
    char reason[REASON_MAX];

    if (i->policy.timer_ms <= now_ms) {
        struct decisions d;

        i->policy.timer_ms = POLICY_NEVER;   /* the fact: its timer came */
        decisions_start(&d, o);
        decide_timer(o, i, now_ms, &d);
        apply_decisions(o, &d, now_ms);
    }
    h = (enum inst_health)i->health;
    if (policy_phase_owns_health((enum policy_phase)i->policy.phase)) {
        /* Only its timer wakes it; the answer to its timer rescheduled it. */
    } else if (!health_is_watched(h)) {
        if (now_ms >= i->last_seen_ms + o->forget_after_ms) {
            forget(o, i, now_ms);
            return;
        }
    } else {
        double silent_s = (double)(now_ms - i->last_seen_ms) / 1000.0;
        double phi = detector_phi(&i->detector, &o->params, now_ms);
        bool was_held = i->server_held;
        enum inst_health to;

        i->server_held = false;
        if (now_ms >= detector_dead_at(&i->detector, &o->params) && held_on_server(o, i, now_ms)) {
            /* Late, not dead: its server shows no sign of life (shared fate). */
            servers_hold_reason(&o->servers, i->server, reason, sizeof(reason));
            to = health_next(h, EV_LATE);
            i->server_held = true;
            if (!was_held && to == h) /* a change of health announces itself */
                apply_emit(o, i->service, i, h, to, 0, reason, now_ms);
        } else if (now_ms >= detector_dead_at(&i->detector, &o->params)) {
            snprintf(reason, sizeof(reason), "silent %.1fs (phi %.1f)", silent_s, phi);
            to = health_next(h, EV_SILENT);
        } else if (now_ms >= detector_suspect_at(&i->detector, &o->params)) {
            snprintf(reason, sizeof(reason), "late %.1fs (phi %.1f)", silent_s, phi);
            to = health_next(h, EV_LATE);
        } else {
            to = INST_UNSPECIFIED; /* no threshold crossed */
        }
        if (to != INST_UNSPECIFIED) {
            apply_transition(o, i, to, reason, now_ms);
            if (h == INST_HEALTHY && to != h && i->service->expected)
                note_silence(o, i->last_seen_ms, now_ms);   /* only the configured fleet counts */
        }
    }
    apply_reschedule(o, i, now_ms);
}

/* Gives every watched instance a fresh grace period from `from_ms`: the
 * observer could not see heartbeats, which is nobody's fault but its own. */
static void rebase_all(struct observer *o, int64_t from_ms)
{
    for (size_t k = 0; k < registry_service_count(o->registry); k++) {
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next) {
            if (!state_silence_watched(i))
                continue;
            detector_rebase(&i->detector, from_ms);
            apply_reschedule(o, i, from_ms);
        }
    }
}

/* ---- configuration ---- */

/* A service's policy before any config names it (an unexpected service:
 * observed, never acted on). */
static void service_policy_default(const struct observer *o, struct service *s)
{
    s->crashloop_max = POLICY_CRASHLOOP_MAX_DEFAULT;
    s->crashloop_window_ms = POLICY_CRASHLOOP_WINDOW_DEFAULT_MS;
    s->max_interval_ms = o->interval_cap_ms;
    s->max_instances = o->max_instances_per_unexpected;
}

static struct service *add_service(struct observer *o, const char *name, int64_t now_ms)
{
    struct service *s = registry_add_service(o->registry, name);

    if (s == NULL)
        return NULL;
    availability_init(&s->availability, now_ms);
    service_policy_default(o, s);
    return s;
}

/* The bounds of `cfg` (observer_config's limits and interval clamp). */
static void observer_take_limits(struct observer *o, const struct observer_config *cfg)
{
    o->interval_cap_ms = cfg->max_interval_ms;
    o->max_instances_per_service = cfg->max_instances_per_service;
    o->max_unexpected_services = cfg->max_unexpected_services;
    o->max_instances_per_unexpected = cfg->max_instances_per_unexpected;
}

/* Takes a service_config's policy, resolved; `deps` (owned, may be NULL)
 * replaces the service's depends_on. */
static void service_policy_apply(const struct observer *o, struct service *s, const struct service_config *c,
                                 char (*deps)[FLEET_NAME_MAX + 1])
{
    service_policy_default(o, s);
    if (c->max_interval_ms != 0)
        s->max_interval_ms = c->max_interval_ms;
    s->max_instances = o->max_instances_per_service;
    if (s->max_instances != 0 && c->desired > s->max_instances / 2)
        s->max_instances = c->desired > UINT32_MAX / 2 ? UINT32_MAX : 2 * c->desired;
    if (c->crashloop_max != 0)
        s->crashloop_max = c->crashloop_max < POLICY_TALLY_MAX ? c->crashloop_max : POLICY_TALLY_MAX;
    if (c->crashloop_window_ms != 0)
        s->crashloop_window_ms = c->crashloop_window_ms;
    s->restart_disabled = c->restart_disabled;
    s->no_agent = c->no_agent;
    free(s->depends_on);
    s->depends_on = deps;
    s->n_depends_on = deps != NULL ? (uint32_t)c->n_depends_on : 0;
}

static int take_services(struct observer *o, const struct observer_config *cfg, int64_t now_ms)
{
    struct registry *r = o->registry;
    char (**deps)[FLEET_NAME_MAX + 1];

    /* Allocate and add first (the only steps that can fail) so a failure
     * changes nothing visible: a new empty service not yet marked expected
     * is harmless, and is dropped again below on failure. */
    deps = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*deps));
    if (deps == NULL)
        return -1;
    for (size_t k = 0; k < cfg->n_services; k++) {
        size_t n = cfg->services[k].n_depends_on;

        if (n == 0)
            continue;
        deps[k] = malloc(n * sizeof(*deps[k]));
        if (deps[k] == NULL)
            goto out_drop_unused;
        memcpy(deps[k], cfg->services[k].depends_on, n * sizeof(*deps[k]));
    }
    for (size_t k = 0; k < cfg->n_services; k++) {
        if (registry_service(r, cfg->services[k].name) != NULL)
            continue;
        if (add_service(o, cfg->services[k].name, now_ms) == NULL)
            goto out_drop_unused;
    }
    for (size_t k = 0; k < registry_service_count(r); k++)
        registry_service_at(r, k)->expected = false;
    for (size_t k = 0; k < cfg->n_services; k++) {
        struct service *s = registry_service(r, cfg->services[k].name);

        s->expected = true;
        s->desired = cfg->services[k].desired;
        s->dirty = true;
        service_policy_apply(o, s, &cfg->services[k], deps[k]);
    }
    free(deps);
    o->held_dirty = o->held.first != NULL;
    o->n_unexpected = 0;
    o->n_healthy = 0;
    for (size_t k = registry_service_count(r); k-- > 0;) {
        struct service *s = registry_service_at(r, k);

        if (!s->expected && s->n_instances == 0) {
            registry_remove_service(r, s);
            continue;
        }
        if (!s->expected) {
            service_policy_default(o, s);
            o->n_unexpected++;
        } else {
            o->n_healthy += s->count[INST_HEALTHY];
        }
        apply_service_refresh(o, s, now_ms);
    }
    return 0;

out_drop_unused:
    for (size_t k = registry_service_count(r); k-- > 0;) {
        struct service *s = registry_service_at(r, k);

        if (!s->expected && s->n_instances == 0 && !s->ever_seen)
            registry_remove_service(r, s);
    }
    for (size_t k = 0; k < cfg->n_services; k++)
        free(deps[k]);
    free(deps);
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
    o->server_grace_ms = cfg->server_grace_ms;
    observer_take_limits(o, cfg);
    servers_init(&o->servers);
    o->state = OBSERVER_WARMING_UP;
    o->link_up = true;
    o->leader = true; /* a single supervisor acts; observer_set_leader says otherwise */
    o->warm_from_ms = now_ms;
    o->warm_until_ms = now_ms;
    o->last_tick_ms = now_ms;
    snprintf(o->state_reason, sizeof(o->state_reason), "warming up after start");
    policy_config_resolve(&o->policy, &cfg->policy);
    o->rng = policy_rng_seed(o->policy.rng_seed);
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    if (take_services(o, cfg, now_ms) != 0)
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
    rollout_free(o);
    free(o->maint);
    free(o);
}

int observer_reconfigure(struct observer *o, const struct observer_config *cfg, int64_t now_ms)
{
    uint32_t cap = o->interval_cap_ms, per_service = o->max_instances_per_service;
    uint32_t unexpected = o->max_unexpected_services, per_unexpected = o->max_instances_per_unexpected;

    if (cfg->detector.z_dead <= cfg->detector.z_suspect || cfg->default_interval_ms == 0)
        return -1;
    observer_take_limits(o, cfg);
    if (take_services(o, cfg, now_ms) != 0) {
        o->interval_cap_ms = cap;
        o->max_instances_per_service = per_service;
        o->max_unexpected_services = unexpected;
        o->max_instances_per_unexpected = per_unexpected;
        return -1;
    }
    o->params = cfg->detector;
    o->default_interval_ms = cfg->default_interval_ms;
    if (o->max_interval_ms < o->default_interval_ms)
        o->max_interval_ms = o->default_interval_ms;
    o->forget_after_ms = cfg->forget_after_ms;
    o->stall_ms = cfg->stall_ms;
    o->link_grace_ms = cfg->link_grace_ms;
    o->server_grace_ms = cfg->server_grace_ms;
    /* The PRNG runs on: a new seed in a reload is not applied. */
    policy_config_resolve(&o->policy, &cfg->policy);
    for (size_t k = 0; k < registry_service_count(o->registry); k++)
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next)
            apply_reschedule(o, i, now_ms);
    apply_drain_held(o, now_ms);
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

/* The service `name`, made (unexpected) if new; NULL with *why set when it
 * cannot be: out of memory, or past max_unexpected_services. */
static struct service *service_for(struct observer *o, const char *name, int64_t now_ms, enum hb_verdict *why)
{
    struct service *s = registry_service(o->registry, name);

    if (s != NULL)
        return s;
    if (o->max_unexpected_services != 0 && o->n_unexpected >= o->max_unexpected_services) {
        *why = HB_LIMIT_SERVICES;
        return NULL;
    }
    s = add_service(o, name, now_ms);
    if (s == NULL) {
        *why = HB_NO_MEMORY;
        return NULL;
    }
    o->n_unexpected++;
    s->health = SVC_UNEXPECTED;
    s->dirty = true;
    apply_emit(o, s, NULL, INST_UNSPECIFIED, INST_UNSPECIFIED, 0, "unexpected service: not in the config",
                  now_ms);
    return s;
}

/* `i` was just heard through server `id`. */
static void note_server(struct observer *o, struct instance *i, const char *id, int64_t now)
{
    if (i->server == SERVER_NONE || strcmp(o->servers.slot[i->server].id, id) != 0) {
        uint8_t slot = servers_intern(&o->servers, id);

        servers_move(&o->servers, i->server, slot);
        i->server = slot;
    }
    servers_heard(&o->servers, i->server, now);
    if (now > o->last_heard_ms)
        o->last_heard_ms = now;
    i->server_held = false;
}

/* ---- two lives of one instance (DESIGN.md §7) ---- */

/* True when the current life of keyed `i` is over, so that another proven
 * life may take the name: it announced its end (STOPPING, EXITED), it was
 * judged dead or stopped, it accepted a RESTART, or it has been silent for
 * two of its intervals since the other life appeared without a word after
 * (a process restarted in place). A life that keeps heartbeating is never
 * displaced by another key, whatever that one says. */
static bool life_over(const struct instance *i, int64_t now)
{
    int64_t quiet = 2 * (int64_t)i->detector.interval_ms;

    if (i->state == SERVING_STOPPING || i->state == SERVING_EXITED)
        return true;
    if (i->health == INST_DEAD || i->health == INST_STOPPED || i->health == INST_RESTARTING)
        return true;
    return i->contender_first_ms != 0 && !i->conflict && i->last_seen_ms < i->contender_first_ms &&
           now - i->last_seen_ms >= quiet;
}

/* A proven heartbeat of another life while the current one lives: noted and
 * reported, never judged nor acted on. */
static void note_contender(struct observer *o, struct instance *i, const struct hb_input *hb, int64_t now)
{
    if (i->contender != hb->incarnation) {
        i->contender = hb->incarnation;
        i->contender_first_ms = now;
        i->conflict = false;
    }
    i->contender_last_ms = now;
    o->counters.contender++;
}

/* The current life was heard: while a contender is also alive, that is a
 * conflict to report (once per contender); a contender quiet for three of
 * the current's intervals is forgotten. */
static void check_conflict(struct observer *o, struct instance *i, int64_t now)
{
    char reason[REASON_MAX];

    if (i->contender == 0)
        return;
    if (now - i->contender_last_ms > 3 * (int64_t)i->detector.interval_ms) {
        i->contender = 0;
        i->contender_first_ms = 0;
        i->conflict = false;
        return;
    }
    if (i->conflict || i->contender_first_ms >= now)
        return;
    i->conflict = true;
    o->counters.conflicts++;
    snprintf(reason, sizeof(reason), "conflict: incarnation %016llx also claims this instance; not acted on",
             (unsigned long long)i->contender);
    apply_emit(o, i->service, i, (enum inst_health)i->health, (enum inst_health)i->health, 0, reason, now);
}

enum hb_verdict observer_heartbeat(struct observer *o, const struct hb_input *hb)
{
    int64_t now = hb->arrival_ms;
    uint32_t interval = hb->interval_ms ? hb->interval_ms : o->default_interval_ms;
    enum hb_verdict refused = HB_NO_MEMORY;
    struct service *s;
    struct instance *i;
    enum inst_event ev;
    enum inst_health to;
    struct decisions d;
    bool new_life = false;
    bool was_fenced;
    char reason[REASON_MAX];

    s = service_for(o, hb->service, now, &refused);
    if (s == NULL)
        goto out_refused;
    if (s->max_interval_ms != 0 && interval > s->max_interval_ms)
        interval = s->max_interval_ms;   /* a promise is taken only up to the configured maximum */
    i = registry_instance(o->registry, s, hb->instance);
    if (i == NULL) {
        if (s->max_instances != 0 && s->n_instances >= s->max_instances) {
            refused = HB_LIMIT_INSTANCES;
            goto out_refused;
        }
        i = registry_add_instance(o->registry, s, hb->instance);
        if (i == NULL)
            return HB_NO_MEMORY;
        i->incarnation = hb->incarnation;
        i->keyed = hb->proven;
        detector_reset(&i->detector, interval, now);
    } else if (!i->heard) {
        /* Made by observer_restore: its first heartbeat, whatever life. */
        i->incarnation = hb->incarnation;
        i->keyed = hb->proven;
        detector_reset(&i->detector, interval, now);
    } else if (i->keyed && !hb->proven) {
        /* Its life proves its heartbeats: anything else is someone else's. */
        o->counters.unproven++;
        return HB_UNPROVEN;
    } else if (hb->incarnation != i->incarnation) {
        if (hb->incarnation == i->prev_incarnation)
            goto out_stale;
        if (i->keyed && !life_over(i, now)) {
            note_contender(o, i, hb, now);
            return HB_CONTENDER;
        }
        i->prev_incarnation = i->incarnation;
        i->incarnation = hb->incarnation;
        i->keyed = hb->proven;
        i->contender = 0;
        i->contender_first_ms = 0;
        i->conflict = false;
        i->restarts++;
        new_life = true;
        detector_reset(&i->detector, interval, now);
    } else if (hb->seq <= i->seq) {
        goto out_stale;
    } else if (i->health == INST_DEAD || i->health == INST_STOPPED) {
        /* The gap since it was last heard is no inter-arrival sample. */
        detector_reset(&i->detector, interval, now);
    } else {
        detector_observe(&i->detector, &o->params, interval, now);
    }
    if (interval > o->max_interval_ms && s->expected) {
        /* Fleet-wide timing (warm-up, the mass-silence window) follows the
         * configured fleet only: an unexpected service cannot stretch it. */
        o->max_interval_ms = interval;
        policy_silence_init(&o->silence, interval, now);
    }
    if (hb->proven)
        i->keyed = true;    /* from now on this life's heartbeats must be proven */
    check_conflict(o, i, now);
    i->heard = true;
    i->seq = hb->seq;
    i->last_seen_ms = now;
    note_server(o, i, hb->nats_server, now);
    i->fence_epoch = hb->fence_epoch;
    if (hb->fence_epoch > i->policy.fence_epoch)
        i->policy.fence_epoch = hb->fence_epoch;
    i->term_seen = hb->term_seen;
    if (hb->term_seen > o->max_term_seen)
        o->max_term_seen = hb->term_seen;
    i->pid = hb->pid;
    i->state = (unsigned char)hb->state;
    s->ever_seen = true;
    o->counters.heartbeats++;

    ev = health_event_of_heartbeat(hb->state, hb->checks_ok);
    describe_heartbeat(hb, ev, reason, sizeof(reason));
    /* A new life starts afresh: what the old one announced (a stop) does
     * not cover the new one's exit. */
    to = health_next(new_life ? INST_STARTING : (enum inst_health)i->health, ev);
    was_fenced = state_record_fenced(i);
    if (i->policy.phase == POLICY_IDLE) {
        apply_transition(o, i, to, reason, now);   /* nothing of ours pending: the table's answer */
    } else {
        decisions_start(&d, o);
        decide_heartbeat(o, i, ev, new_life, to, reason, &d);
        apply_decisions(o, &d, now);
    }
    if (i->policy.refence) {
        i->policy.refence = 0;
        decisions_start(&d, o);
        decide_refence(o, i, now, &d);
        apply_decisions(o, &d, now);
    }
    if (was_fenced && !state_record_fenced(i))
        writeahead_persist_state(o, i, now); /* the fence was lifted: an UNFENCE was obeyed */
    if (i->health == INST_HEALTHY && i->policy.backoff_step != 0) {
        decisions_start(&d, o);
        decide_streak(o, i, now - i->health_since_ms, &d);
        apply_decisions(o, &d, now);
    }
    if (new_life && i->policy.persist_dirty == 0)
        writeahead_persist_state(o, i, now);   /* its restart count is durable too */
    if (strcmp(i->version, hb->version) != 0) {
        memcpy(i->version, hb->version, sizeof(i->version));
        recompute_versions(o, s, now);
    }
    apply_reschedule(o, i, now);
    if (o->held_dirty)
        apply_drain_held(o, now);
    return HB_ACCEPTED;

out_stale:
    o->counters.stale++;
    return HB_STALE;

out_refused:
    if (refused == HB_LIMIT_SERVICES)
        o->counters.limit_services++;
    else if (refused == HB_LIMIT_INSTANCES)
        o->counters.limit_instances++;
    return refused;
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
        policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
        o->warm_from_ms = now_ms;
        if (o->leader)
            apply_set_state(o, OBSERVER_WARMING_UP, reason, now_ms);
    }
    o->last_tick_ms = now_ms;
    if (o->blind == BLIND_MASS_SILENCE) {
        struct decisions d;

        decisions_start(&d, o);
        decide_silence_check(o, now_ms, &d);
        apply_decisions(o, &d, now_ms);
    }
    if (o->state == OBSERVER_WARMING_UP && now_ms >= warm_end(o)) {
        apply_set_state(o, OBSERVER_NORMAL, "warm-up complete", now_ms);
        if (o->sweep_dead)
            lead_sweep_dead(o, now_ms);
    }
    while ((i = registry_due(o->registry, now_ms)) != NULL)
        judge(o, i, now_ms);
    writeahead_store_retry(o, now_ms);
    apply_drain_held(o, now_ms);
    if (o->n_rollouts != 0)
        rollout_tick(o, now_ms);
}

void observer_link(struct observer *o, bool up, int64_t now_ms)
{
    if (up == o->link_up)
        return;
    o->link_up = up;
    if (!up) {
        if (o->leader) {
            o->blind = BLIND_LINK;
            apply_set_state(o, OBSERVER_SELF_PRESERVATION, "own NATS link down", now_ms);
        }
        return;
    }
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    /* Nothing to protect before anyone was seen: the first connection
     * warms up for one interval like a start. */
    o->warm_until_ms = registry_instance_count(o->registry) ? now_ms + o->link_grace_ms : now_ms;
    rebase_all(o, o->warm_until_ms);
    if (now_ms > o->warm_from_ms) /* a link event older than a leadership's start shortens nothing */
        o->warm_from_ms = now_ms;
    o->last_tick_ms = now_ms;
    if (o->leader)
        apply_set_state(o, OBSERVER_WARMING_UP, "own NATS link back: grace period for all", now_ms);
}

void observer_set_own_server(struct observer *o, const char *id)
{
    snprintf(o->own_server, sizeof(o->own_server), "%s", id != NULL ? id : "");
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
    if (o->blind == BLIND_MASS_SILENCE && o->blind_since_ms + (int64_t)o->policy.self_preservation_max_ms < next)
        next = o->blind_since_ms + (int64_t)o->policy.self_preservation_max_ms;
    /* A failed write waits for its retry time (writeahead_store_retry). */
    if (o->store_down && (o->n_persist_dirty != 0 || o->held.first != NULL) &&
        o->store_retry_at_ms < next)
        next = o->store_retry_at_ms;
    if (o->n_rollouts != 0 && rollout_next_deadline(o) < next)
        next = rollout_next_deadline(o);
    return next;
}

enum observer_state observer_state(const struct observer *o)
{
    return o->state;
}

const char *observer_state_reason(const struct observer *o)
{
    return o->state_reason;
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
    if (!state_silence_watched(i))
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

/* ---- answers to actions ---- */

void observer_action_result(struct observer *o, uint64_t action_id, enum core_ack ack, const char *error,
                            int64_t now_ms)
{
    struct instance *i;
    struct policy_instance *p;
    struct decisions d;

    for (i = o->flight.first; i != NULL; i = i->policy_next)
        if (i->policy.phase == POLICY_SENT && i->policy.action_id == action_id)
            break;
    if (i == NULL)
        return;
    p = &i->policy;
    /* A non-acceptance is noted, and decided at the ack timeout: an
     * acceptance may still come. */
    if (ack != CORE_ACK_ACCEPTED && ack > p->answer && ack <= CORE_ACK_REFUSED)
        p->answer = (uint8_t)ack;
    decisions_start(&d, o);
    decide_ack(o, i, ack, error, now_ms, &d);
    apply_decisions(o, &d, now_ms);
    if (ack == CORE_ACK_ACCEPTED)
        apply_drain_held(o, now_ms);
}
