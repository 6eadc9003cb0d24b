#include "observer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why the observer is in SELF_PRESERVATION. */
enum blind_cause {
    BLIND_NONE,
    BLIND_LINK,          /* our own NATS link is down */
    BLIND_MASS_SILENCE,  /* too many healthy instances went silent at once */
};

/* An intrusive list of instances through instance.policy_next/prev. An
 * instance is on at most one: held (phase HELD) or in flight (SENT,
 * RESTARTING); its policy phase says which. */
struct inst_list {
    struct instance *first;
    struct instance *last;
};

/* One maintenance flag (observer_set_maintenance). */
struct maint_entry {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];  /* "" = the whole service */
    char reason[MAINT_REASON_MAX + 1];
};

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
    char state_reason[128];

    /* Decisions (policy.h). */
    struct policy_config policy; /* resolved */
    uint64_t rng;                /* xorshift64* state for jitter */
    uint64_t last_action_id;
    uint32_t in_flight;          /* instances on `flight` */
    uint32_t n_healthy;          /* HEALTHY instances, fleet-wide */
    struct inst_list held;       /* due actions behind a closed gate, oldest first */
    struct inst_list flight;     /* actions sent and not finished */
    bool held_dirty;             /* a gate may have opened since `held` was last tried */
    enum blind_cause blind;
    uint32_t healthy_before;     /* mass silence: HEALTHY count the incident is measured against */
    struct policy_silence silence;

    /* Leadership (observer_set_leader). */
    bool leader;
    bool sweep_dead;             /* judge every DEAD instance when this leadership reaches NORMAL */
    uint64_t term;

    /* Durable state (on_persist). */
    int64_t unix_offset_ms;      /* unix_ms - mono_ms, for the times in records */
    bool store_down;             /* the last write failed: no write is tried before... */
    int64_t store_retry_at_ms;   /* ...this time */
    uint32_t n_persist_dirty;    /* instances whose state changed but whose write failed */

    /* Maintenance flags, in the order they were set; few, so a plain array
     * looked up only when a decision is due (never per heartbeat). */
    struct maint_entry *maint;
    size_t n_maint;
    size_t cap_maint;
};

#define STORE_HELD "held: state store unavailable"

/* ---- small helpers ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void reason_printf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

static void list_append(struct inst_list *l, struct instance *i)
{
    i->policy_next = NULL;
    i->policy_prev = l->last;
    if (l->last != NULL)
        l->last->policy_next = i;
    else
        l->first = i;
    l->last = i;
}

static void list_remove(struct inst_list *l, struct instance *i)
{
    if (i->policy_prev != NULL)
        i->policy_prev->policy_next = i->policy_next;
    else
        l->first = i->policy_next;
    if (i->policy_next != NULL)
        i->policy_next->policy_prev = i->policy_prev;
    else
        l->last = i->policy_prev;
    i->policy_next = i->policy_prev = NULL;
}

/* Whether this observer takes decisions at all: it can send actions and
 * leads (see observer.h). */
static bool deciding(const struct observer *o)
{
    return o->sink.on_action != NULL && o->leader;
}

/* Whether its decisions are made durable first. */
static bool persisting(const struct observer *o)
{
    return deciding(o) && o->sink.on_persist != NULL;
}

/* ---- events ---- */

static void emit(struct observer *o, const struct service *s, const struct instance *i,
                 enum inst_health from, enum inst_health to, enum core_action_kind action,
                 const char *reason, int64_t now_ms)
{
    struct core_event ev = {
        .service = s, .instance = i, .from = from, .to = to, .action = action,
        .reason = reason, .at_ms = now_ms,
    };

    if (o->sink.on_event != NULL)
        o->sink.on_event(o->sink.ctx, &ev);
}

static void escalate(struct observer *o, const struct instance *i, const char *reason, int64_t now_ms)
{
    struct core_escalation e = { .service = i->service, .instance = i, .reason = reason, .at_ms = now_ms };

    o->counters.escalations++;
    if (o->sink.on_escalate != NULL)
        o->sink.on_escalate(o->sink.ctx, &e);
}

static bool observing(const struct observer *o)
{
    return o->state == OBSERVER_NORMAL;
}

/* Recomputes a service's health from its counts and feeds its availability.
 * A change may open a dependency gate for held instances. */
static void service_refresh(struct observer *o, struct service *s, int64_t now_ms)
{
    enum svc_health h = health_of_service(s->expected, s->ever_seen, s->count[INST_HEALTHY],
                                          s->count[INST_DEGRADED], s->desired);

    if (h != s->health) {
        s->health = (unsigned char)h;
        s->dirty = true;
        if (o->held.first != NULL)
            o->held_dirty = true;
    }
    availability_update(&s->availability, now_ms, h == SVC_AVAILABLE, observing(o));
}

/* Enters `to` (announced once per change), remembering why. Leaving
 * SELF_PRESERVATION forgets its cause; reaching NORMAL opens the gates. */
static void set_state(struct observer *o, enum observer_state to, const char *reason, int64_t now_ms)
{
    enum observer_state from = o->state;

    snprintf(o->state_reason, sizeof(o->state_reason), "%s", reason);
    if (to != OBSERVER_SELF_PRESERVATION)
        o->blind = BLIND_NONE;
    if (from == to)
        return;
    o->state = to;
    if (to == OBSERVER_NORMAL)
        o->held_dirty = true;
    for (size_t k = 0; k < registry_service_count(o->registry); k++)
        service_refresh(o, registry_service_at(o->registry, k), now_ms);
    if (o->sink.on_state != NULL)
        o->sink.on_state(o->sink.ctx, from, to, reason);
}

/* ---- instance judgement ---- */

static void health_changed(struct observer *o, struct instance *i, enum inst_health from,
                           enum inst_health to, int64_t since_ms, int64_t now_ms);

/* Moves `i` to `to` for `reason`, emitting one event when the health changes
 * or an action is taken (`action` != 0), then lets the policy react. The
 * common case, a heartbeat that changes nothing, copies only a reason that
 * changed. `reason` may be i->reason. */
static void transition_as(struct observer *o, struct instance *i, enum inst_health to,
                          const char *reason, enum core_action_kind action, int64_t now_ms)
{
    struct service *s = i->service;
    enum inst_health from = (enum inst_health)i->health;
    int64_t since = i->health_since_ms;

    if (reason != i->reason && strcmp(i->reason, reason) != 0) {
        snprintf(i->reason, sizeof(i->reason), "%s", reason);
        s->dirty = true;
    }
    if (from == to && action == 0)
        return;
    if (from != to) {
        s->count[from]--;
        s->count[to]++;
        i->health = (unsigned char)to;
        i->health_since_ms = now_ms;
        s->dirty = true;
        o->counters.transitions++;
        service_refresh(o, s, now_ms);
    }
    emit(o, s, i, from, to, action, i->reason, now_ms);
    if (from != to)
        health_changed(o, i, from, to, since, now_ms);
}

static void transition(struct observer *o, struct instance *i, enum inst_health to,
                       const char *reason, int64_t now_ms)
{
    transition_as(o, i, to, reason, 0, now_ms);
}

/* Whether the detector judges `i`'s silence: its health is one that can go
 * late, and no action of ours owns its health (RESTARTING, a fence). */
static bool silence_watched(const struct instance *i)
{
    return health_is_watched((enum inst_health)i->health) &&
           !policy_phase_owns_health((enum policy_phase)i->policy.phase);
}

/* Next time `i` must be judged after `now_ms`: the threshold it has not
 * crossed yet (the silence ceiling can put dead before suspect), or, once it
 * is dead or stopped, when it is forgotten; and the policy's timer if that is
 * earlier. A crossed threshold is never scheduled again, so a state that
 * ignores LATE cannot spin the tick; a policy timer is always in the future
 * or POLICY_NEVER. An instance whose health an action owns is only woken by
 * its timer. */
static void reschedule(struct observer *o, struct instance *i, int64_t now_ms)
{
    int64_t at;

    if (silence_watched(i)) {
        int64_t suspect_at = detector_suspect_at(&i->detector, &o->params);

        at = detector_dead_at(&i->detector, &o->params);
        if (i->health != INST_SUSPECT && suspect_at > now_ms && suspect_at < at)
            at = suspect_at;
    } else if (policy_phase_owns_health((enum policy_phase)i->policy.phase)) {
        at = NO_DEADLINE;
    } else {
        at = i->last_seen_ms + o->forget_after_ms;
    }
    if (i->policy.timer_ms < at)
        at = i->policy.timer_ms;
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
    emit(o, s, NULL, INST_UNSPECIFIED, INST_UNSPECIFIED, 0, reason, now_ms);
}

/* ---- decisions (DESIGN.md §6; the rules are in policy.c) ---- */

static bool serving(enum inst_health h)
{
    return h == INST_HEALTHY || h == INST_DEGRADED;
}

/* The first dependency of `s` that is down (a configured service UNAVAILABLE
 * or MISSING), NULL if none. A dependency this observer does not judge (not
 * configured here: run by another group) never holds anything. */
static const struct service *dependency_down(const struct observer *o, const struct service *s)
{
    for (uint32_t k = 0; k < s->n_depends_on; k++) {
        const struct service *d = registry_service(o->registry, s->depends_on[k]);

        if (d != NULL && d->expected && (d->health == SVC_UNAVAILABLE || d->health == SVC_MISSING))
            return d;
    }
    return NULL;
}

/* ---- durable state (persist.h) ---- */

/* Whether `i`'s record says fenced: a FENCE of ours is in force or in
 * flight (it was written before it was sent). */
static bool fenced_now(const struct instance *i)
{
    const struct policy_instance *p = &i->policy;

    return p->phase == POLICY_FENCED ||
           (policy_phase_in_flight((enum policy_phase)p->phase) && p->kind == CORE_ACT_FENCE);
}

static void set_persist_dirty(struct observer *o, struct instance *i, bool dirty)
{
    if (i->policy.persist_dirty == dirty)
        return;
    i->policy.persist_dirty = dirty;
    if (dirty)
        o->n_persist_dirty++;
    else
        o->n_persist_dirty--;
}

/* Whether a write may be tried at `now_ms`: not before the retry time after
 * a failure. */
static bool store_open(const struct observer *o, int64_t now_ms)
{
    return !o->store_down || now_ms >= o->store_retry_at_ms;
}

/* Hands `rec`, the whole durable state of `i`, to on_persist. On success
 * `i` is clean; on failure no write is tried for ack_timeout_ms. */
static bool store_put(struct observer *o, struct instance *i, const struct policy_persisted *rec,
                      int64_t now_ms)
{
    if (!o->sink.on_persist(o->sink.ctx, i->service, i, rec)) {
        o->store_down = true;
        o->store_retry_at_ms = now_ms + o->policy.ack_timeout_ms;
        return false;
    }
    o->store_down = false;
    set_persist_dirty(o, i, false);
    return true;
}

/* The durable state of `i` changed with no action depending on it (a lift,
 * a give-up, a streak reset): write it now, or mark it to be retried. */
static void persist_state(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_persisted rec;

    if (!persisting(o))
        return;
    if (!store_open(o, now_ms)) {
        set_persist_dirty(o, i, true);
        return;
    }
    persist_from_policy(&i->policy, fenced_now(i), i->reason, o->unix_offset_ms, &rec);
    if (!store_put(o, i, &rec, now_ms))
        set_persist_dirty(o, i, true);
}

/* The store's retry time came (or a write succeeded since marks were left):
 * writes every marked record until one fails, and lets held actions try
 * theirs. Afterwards nothing is marked, or the store is down with its retry
 * time in the future, so the deadline never stays in the past. */
static void store_retry(struct observer *o, int64_t now_ms)
{
    if (o->store_down) {
        if (now_ms < o->store_retry_at_ms)
            return;
        o->store_down = false;
        o->held_dirty = o->held.first != NULL;
    }
    if (o->n_persist_dirty == 0 || !persisting(o))
        return;
    for (size_t k = 0; k < registry_service_count(o->registry) && !o->store_down; k++) {
        struct instance *i = registry_service_at(o->registry, k)->first;

        for (; i != NULL && !o->store_down; i = i->next)
            if (i->policy.persist_dirty)
                persist_state(o, i, now_ms);
    }
}

/* A HEALTHY spell of `healthy_ms` so far (or just ended): a long enough one
 * ends the restart streak, durably. */
static void streak_check(struct observer *o, struct instance *i, int64_t healthy_ms, int64_t now_ms)
{
    uint32_t before = i->policy.backoff_step;

    if (before == 0)
        return;
    policy_healthy_spell(&i->policy, &o->policy, healthy_ms);
    if (i->policy.backoff_step != before)
        persist_state(o, i, now_ms);
}

/* An action of ours ended (acked fence, finished or failed restart, gave
 * up): its slot is free for a held one. */
static void finish_flight(struct observer *o, struct instance *i)
{
    list_remove(&o->flight, i);
    o->in_flight--;
    i->policy.timer_ms = POLICY_NEVER;
    o->held_dirty = o->held.first != NULL;
}

/* Drops a planned or held action, or a give-up: the instance is back. */
static void cancel_pending(struct observer *o, struct instance *i)
{
    struct policy_instance *p = &i->policy;

    if (!policy_phase_pending((enum policy_phase)p->phase) && p->phase != POLICY_GAVE_UP)
        return;
    if (p->phase == POLICY_HELD)
        list_remove(&o->held, i);
    p->phase = POLICY_IDLE;
    p->kind = 0;
    p->trigger = POLICY_TRIGGER_NONE;
    p->timer_ms = POLICY_NEVER;
    if (i->next_action_ms != 0) {
        i->next_action_ms = 0;
        i->service->dirty = true;
    }
}

/* The maintenance flag that holds `i`: its own, else its service's; NULL
 * if none. */
static const struct maint_entry *maintenance_of(const struct observer *o, const struct instance *i)
{
    const struct maint_entry *svc = NULL;

    for (size_t k = 0; k < o->n_maint; k++) {
        const struct maint_entry *m = &o->maint[k];

        if (strcmp(m->service, i->service->name) != 0)
            continue;
        if (m->instance[0] == '\0')
            svc = m;
        else if (strcmp(m->instance, i->name) == 0)
            return m;
    }
    return svc;
}

static void maintenance_reason(const struct maint_entry *m, char *why, size_t n)
{
    if (m->reason[0] != '\0')
        reason_printf(why, n, "held: maintenance: %s", m->reason);
    else
        reason_printf(why, n, "held: maintenance");
}

/* Writes why `i`'s due action may not go now, or returns false. The gates,
 * in order: no maintenance flag may hold it; the observer must be NORMAL (not warming up, not in
 * self-preservation, not a standby); a restart waits for its service's
 * dependencies; an action never takes a service's last serving (HEALTHY or
 * DEGRADED) instance; at most max_concurrent actions are in flight; the
 * state store must not have failed within ack_timeout_ms (the action's
 * record is written before it goes). */
static bool gate_closed(const struct observer *o, const struct instance *i, int64_t now_ms,
                        char *why, size_t n)
{
    const struct service *s = i->service;
    const struct service *dep;
    const struct maint_entry *m;
    uint32_t limit;

    if (o->n_maint != 0 && (m = maintenance_of(o, i)) != NULL) {
        maintenance_reason(m, why, n);
        return true;
    }
    if (o->state != OBSERVER_NORMAL) {
        reason_printf(why, n, "held: %s",
                      o->state == OBSERVER_WARMING_UP ? "warming up" : "self-preservation");
        return true;
    }
    if (i->policy.kind == CORE_ACT_RESTART && (dep = dependency_down(o, s)) != NULL) {
        reason_printf(why, n, "held: depends on %s (%s)", dep->name,
                      health_svc_name((enum svc_health)dep->health));
        return true;
    }
    if (serving((enum inst_health)i->health) &&
        s->count[INST_HEALTHY] + s->count[INST_DEGRADED] <= 1) {
        reason_printf(why, n, "held: last serving instance of %s", s->name);
        return true;
    }
    limit = policy_max_concurrent(&o->policy, registry_instance_count(o->registry));
    if (o->in_flight >= limit) {
        reason_printf(why, n, "held: %u actions in flight (max %u)", o->in_flight, limit);
        return true;
    }
    if (persisting(o) && !store_open(o, now_ms)) {
        reason_printf(why, n, STORE_HELD);
        return true;
    }
    return false;
}

static void send_attempt(struct observer *o, const struct instance *i, int64_t now_ms)
{
    const struct policy_instance *p = &i->policy;
    struct core_action a = {
        .service = i->service,
        .instance = i,
        .kind = (enum core_action_kind)p->kind,
        .action_id = p->action_id,
        .incarnation = i->incarnation,
        .fence_epoch = p->kind == CORE_ACT_FENCE ? p->fence_epoch : 0,
        .attempt = p->attempt,
        .reason = i->reason,
        .at_ms = now_ms,
    };

    o->counters.actions++;
    o->sink.on_action(o->sink.ctx, &a);
}

/* Takes `i`'s planned action now: RESTART (health RESTARTING, counted in the
 * crash-loop tally and the backoff streak) or FENCE (health FENCED, a new
 * epoch, escalated "crashloop"). With on_persist the record of the state
 * after it is written first; if that fails, nothing changes and false is
 * returned (the caller holds the action). Then the event goes out, then the
 * action. */
static bool issue(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct service *s = i->service;
    struct policy_instance *p = &i->policy;
    struct policy_instance after = *p;
    const char *cause = i->reason;
    char reason[REASON_MAX];
    enum inst_health to;

    if (strncmp(cause, "held: ", 6) == 0)
        reason_printf(reason, sizeof(reason), "%s: released (%s)",
                      p->trigger == POLICY_TRIGGER_DEGRADED ? "degraded" : "dead", cause + 6);
    else
        reason_printf(reason, sizeof(reason), "%s: %s",
                      p->trigger == POLICY_TRIGGER_DEGRADED ? "degraded" : "dead", cause);
    if (p->kind == CORE_ACT_FENCE) {
        reason_printf(reason, sizeof(reason), "crashloop: %u restarts in %llds",
                      policy_tally_count(p, s->crashloop_window_ms, now_ms) + 1,
                      (long long)(s->crashloop_window_ms / 1000));
        after.fence_epoch = policy_next_fence_epoch(i->fence_epoch, p->fence_epoch);
        after.fence_issued = after.fence_epoch;
        to = INST_FENCED;
    } else {
        policy_tally_add(&after, now_ms);
        after.backoff_step++;
        to = INST_RESTARTING;
    }
    if (persisting(o)) {
        struct policy_persisted rec;

        persist_from_policy(&after, to == INST_FENCED, reason, o->unix_offset_ms, &rec);
        if (!store_put(o, i, &rec, now_ms))
            return false;
    }
    *p = after;
    p->phase = POLICY_SENT;
    p->attempt = 1;
    p->action_id = ++o->last_action_id;
    p->timer_ms = now_ms + o->policy.ack_timeout_ms;
    i->next_action_ms = 0;
    list_append(&o->flight, i);
    o->in_flight++;
    transition_as(o, i, to, reason, (enum core_action_kind)p->kind, now_ms);
    send_attempt(o, i, now_ms);
    if (p->kind == CORE_ACT_FENCE)
        escalate(o, i, i->reason, now_ms);
    reschedule(o, i, now_ms);
    return true;
}

/* Puts `i`'s due action on the held list (once), its reason `why`. */
static void hold(struct observer *o, struct instance *i, const char *why, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;

    if (p->phase != POLICY_HELD) {
        p->phase = POLICY_HELD;
        list_append(&o->held, i);
    }
    p->timer_ms = POLICY_NEVER;
    i->next_action_ms = 0;
    transition(o, i, (enum inst_health)i->health, why, now_ms);
    reschedule(o, i, now_ms);
}

/* `i`'s action is due: issue it, or hold it (on the held list, its reason
 * saying why) until a gate opens. Dropped when its service left the config
 * or had restarts disabled since it was planned. */
static void try_issue(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;
    char why[REASON_MAX];

    if (!i->service->expected || i->service->restart_disabled) {
        cancel_pending(o, i);
        reschedule(o, i, now_ms);
        return;
    }
    if (gate_closed(o, i, now_ms, why, sizeof(why))) {
        hold(o, i, why, now_ms);
        return;
    }
    if (p->phase == POLICY_HELD) {
        list_remove(&o->held, i);
        p->phase = POLICY_PLANNED;
    }
    if (!issue(o, i, now_ms)) {
        p->phase = POLICY_PLANNED;
        hold(o, i, STORE_HELD, now_ms);
    }
}

/* Plans `kind` for `i` at `at_ms`: now, or on its timer (the feed shows the
 * time as next_action_ms). Under maintenance it is held at once: lifting
 * the flag judges the instance afresh, so no timer is kept. */
static void plan(struct observer *o, struct instance *i, enum core_action_kind kind,
                 enum policy_trigger trigger, int64_t at_ms, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;
    const struct maint_entry *m;

    cancel_pending(o, i);
    p->kind = (uint8_t)kind;
    p->trigger = (uint8_t)trigger;
    p->phase = POLICY_PLANNED;
    if (o->n_maint != 0 && (m = maintenance_of(o, i)) != NULL) {
        char why[REASON_MAX];

        maintenance_reason(m, why, sizeof(why));
        hold(o, i, why, now_ms);
        return;
    }
    if (at_ms <= now_ms) {
        try_issue(o, i, now_ms);
        return;
    }
    p->timer_ms = at_ms;
    i->next_action_ms = at_ms;
    i->service->dirty = true;
    reschedule(o, i, now_ms);
}

/* `i` died (or a restart of it failed). While a dependency is down the
 * death is the dependency's: no crash-loop verdict, no backoff, a restart
 * held until it is back. */
static void on_death(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct service *s = i->service;
    struct policy_verdict v = { .kind = CORE_ACT_RESTART, .at_ms = now_ms };

    if (!s->expected || s->restart_disabled || i->policy.phase == POLICY_GAVE_UP)
        return;
    if (dependency_down(o, s) == NULL)
        v = policy_after_death(&i->policy, &o->policy, s->crashloop_max, s->crashloop_window_ms,
                               now_ms, &o->rng);
    plan(o, i, v.kind, POLICY_TRIGGER_DEAD, v.at_ms, now_ms);
}

static void leave_mass_silence_if_over(struct observer *o, int64_t now_ms);

/* The policy's view of every health change (called after its event). */
static void health_changed(struct observer *o, struct instance *i, enum inst_health from,
                           enum inst_health to, int64_t since_ms, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;

    if (from == INST_HEALTHY) {
        o->n_healthy--;
        streak_check(o, i, now_ms - since_ms, now_ms);
    }
    if (to == INST_HEALTHY) {
        o->n_healthy++;
        if (o->blind == BLIND_MASS_SILENCE)
            leave_mass_silence_if_over(o, now_ms);
    }
    if (!deciding(o) || policy_phase_owns_health((enum policy_phase)p->phase))
        return;
    if (to == INST_DEAD) {
        on_death(o, i, now_ms);
    } else if (to == INST_DEGRADED && o->policy.degraded_limit_ms != 0 && i->service->expected &&
               !i->service->restart_disabled) {
        plan(o, i, CORE_ACT_RESTART, POLICY_TRIGGER_DEGRADED, now_ms + o->policy.degraded_limit_ms, now_ms);
    } else {
        cancel_pending(o, i);
    }
}

/* A RESTART is over (a new incarnation was heard): the slot is free and the
 * new life's heartbeat decides its health. */
static void restart_done(struct observer *o, struct instance *i)
{
    finish_flight(o, i);
    i->policy.phase = POLICY_IDLE;
    i->policy.kind = 0;
}

/* The action in flight is abandoned and escalated: refused, or never
 * acknowledged. The instance is taken as DEAD and left alone until it is
 * heard from again. An abandoned FENCE is not in force: its record says so
 * (the epoch stays issued). */
static void give_up(struct observer *o, struct instance *i, const char *reason, int64_t now_ms)
{
    bool was_fenced = fenced_now(i);

    finish_flight(o, i);
    i->policy.phase = POLICY_GAVE_UP;
    i->policy.kind = 0;
    transition(o, i, INST_DEAD, reason, now_ms);
    if (was_fenced)
        persist_state(o, i, now_ms);
    escalate(o, i, reason, now_ms);
    reschedule(o, i, now_ms);
}

/* `i`'s policy timer is due: a planned action, an ack timeout (send again
 * or give up) or a restart timeout (a failed restart: DEAD, and the backoff
 * goes on). Not while the observer is not NORMAL: then timeouts wait, re-armed
 * one ack timeout later, since what is missing may be our own view. */
static void policy_timer(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;
    char reason[REASON_MAX];

    p->timer_ms = POLICY_NEVER;
    switch ((enum policy_phase)p->phase) {
    case POLICY_PLANNED:
        try_issue(o, i, now_ms);
        break;
    case POLICY_SENT:
        if (o->state != OBSERVER_NORMAL) {
            p->timer_ms = now_ms + o->policy.ack_timeout_ms;
        } else if (p->attempt < o->policy.ack_attempts) {
            p->attempt++;
            p->action_id = ++o->last_action_id;
            p->timer_ms = now_ms + o->policy.ack_timeout_ms;
            reason_printf(reason, sizeof(reason), "%s sent again (attempt %u of %u): unacknowledged",
                          health_action_name((enum core_action_kind)p->kind), (unsigned)p->attempt,
                          o->policy.ack_attempts);
            emit(o, i->service, i, (enum inst_health)i->health, (enum inst_health)i->health,
                 (enum core_action_kind)p->kind, reason, now_ms);
            send_attempt(o, i, now_ms);
        } else {
            reason_printf(reason, sizeof(reason), "unacknowledged: %s not acknowledged after %u attempts",
                          health_action_name((enum core_action_kind)p->kind), (unsigned)p->attempt);
            give_up(o, i, reason, now_ms);
        }
        break;
    case POLICY_RESTARTING:
        if (o->state != OBSERVER_NORMAL) {
            p->timer_ms = now_ms + o->policy.ack_timeout_ms;
            break;
        }
        finish_flight(o, i);
        p->phase = POLICY_IDLE;
        p->kind = 0;
        reason_printf(reason, sizeof(reason), "restart timed out after %.1fs",
                      (double)o->policy.restart_timeout_ms / 1000.0);
        transition(o, i, INST_DEAD, reason, now_ms);
        break;
    default:
        break;
    }
    reschedule(o, i, now_ms);
}

/* Tries every held action again if a gate may have opened. The sink may not
 * call back into the observer, so the list changes only through `i`. */
static void drain_held(struct observer *o, int64_t now_ms)
{
    struct instance *i, *next;

    if (!o->held_dirty)
        return;
    if (o->state == OBSERVER_NORMAL) {
        for (i = o->held.first; i != NULL; i = next) {
            next = i->policy_next;
            try_issue(o, i, now_ms);
        }
    }
    o->held_dirty = false;
}

/* A heartbeat from `i` while an action of ours is pending or owns its
 * health: what its health becomes (`to` is the state table's answer) and
 * with which reason. During a restart the old life's heartbeats change
 * nothing and a new incarnation ends it; a fenced instance that stops or
 * exits stays FENCED, one that serves again was unfenced elsewhere; a held
 * instance keeps its hold reason while its health holds. */
static enum inst_health policy_heartbeat(struct observer *o, struct instance *i, enum inst_event ev,
                                         bool new_life, enum inst_health to, const char **reason)
{
    struct policy_instance *p = &i->policy;
    bool fence_kept = ev == EV_HB_EXITED || ev == EV_HB_STOPPING || ev == EV_HB_FENCED;

    switch ((enum policy_phase)p->phase) {
    case POLICY_SENT:
    case POLICY_RESTARTING:
        if (p->kind == CORE_ACT_RESTART && new_life) {
            restart_done(o, i);
            return to;
        }
        *reason = i->reason;
        return (enum inst_health)i->health;
    case POLICY_FENCED:
        if (!fence_kept) {
            p->phase = POLICY_IDLE;
            p->kind = 0;
            return to;
        }
        if (ev != EV_HB_FENCED)
            *reason = i->reason;
        return INST_FENCED;
    case POLICY_HELD:
        if (to == i->health)
            *reason = i->reason;
        return to;
    default:
        return to;
    }
}

/* ---- mass silence ---- */

/* A HEALTHY instance went silent (late or dead) at `now_ms`. Too many at
 * once is our problem, not theirs: SELF_PRESERVATION. */
static void note_silence(struct observer *o, int64_t now_ms)
{
    uint32_t silenced, before;
    char reason[128];

    policy_silence_note(&o->silence, now_ms);
    if (o->state != OBSERVER_NORMAL && o->state != OBSERVER_WARMING_UP)
        return;
    silenced = policy_silence_count(&o->silence, now_ms);
    before = o->n_healthy + silenced;
    if (!policy_mass_silence(&o->policy, silenced, before))
        return;
    o->healthy_before = before;
    snprintf(reason, sizeof(reason), "mass silence: %u of %u healthy instances silent within %.1fs",
             silenced, before, (double)o->max_interval_ms / 1000.0);
    o->blind = BLIND_MASS_SILENCE;
    set_state(o, OBSERVER_SELF_PRESERVATION, reason, now_ms);
}

/* Leaves a mass-silence SELF_PRESERVATION once the share of the instances
 * healthy before it that are still not healthy is back under the ratio;
 * then warms up one interval before acting again. */
static void leave_mass_silence_if_over(struct observer *o, int64_t now_ms)
{
    uint32_t missing = o->healthy_before > o->n_healthy ? o->healthy_before - o->n_healthy : 0;
    char reason[128];

    if (policy_mass_silence(&o->policy, missing, o->healthy_before))
        return;
    snprintf(reason, sizeof(reason), "heartbeats back: %u of %u healthy", o->n_healthy, o->healthy_before);
    o->warm_from_ms = now_ms;
    o->warm_until_ms = now_ms;
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    set_state(o, OBSERVER_WARMING_UP, reason, now_ms);
}

/* ---- forgetting and judging ---- */

/* Unlinks `i` from the policy's lists before it is freed. */
static void policy_detach(struct observer *o, struct instance *i)
{
    if (policy_phase_in_flight((enum policy_phase)i->policy.phase))
        finish_flight(o, i);
    else if (i->policy.phase == POLICY_HELD)
        list_remove(&o->held, i);
    set_persist_dirty(o, i, false);
    if (i->health == INST_HEALTHY)
        o->n_healthy--;
}

static void forget(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct service *s = i->service;
    char reason[REASON_MAX];

    snprintf(reason, sizeof(reason), "forgotten after %llds silent",
             (long long)((now_ms - i->last_seen_ms) / 1000));
    emit(o, s, i, (enum inst_health)i->health, INST_UNSPECIFIED, 0, reason, now_ms);
    policy_detach(o, i);
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
    enum inst_health h;
    char reason[REASON_MAX];

    if (i->policy.timer_ms <= now_ms)
        policy_timer(o, i, now_ms);
    h = (enum inst_health)i->health;
    if (policy_phase_owns_health((enum policy_phase)i->policy.phase)) {
        /* Only its timer wakes it; policy_timer rescheduled it. */
    } else if (!health_is_watched(h)) {
        if (now_ms >= i->last_seen_ms + o->forget_after_ms) {
            forget(o, i, now_ms);
            return;
        }
    } else {
        double silent_s = (double)(now_ms - i->last_seen_ms) / 1000.0;
        double phi = detector_phi(&i->detector, &o->params, now_ms);
        enum inst_health to;

        if (now_ms >= detector_dead_at(&i->detector, &o->params)) {
            snprintf(reason, sizeof(reason), "silent %.1fs (phi %.1f)", silent_s, phi);
            to = health_next(h, EV_SILENT);
        } else if (now_ms >= detector_suspect_at(&i->detector, &o->params)) {
            snprintf(reason, sizeof(reason), "late %.1fs (phi %.1f)", silent_s, phi);
            to = health_next(h, EV_LATE);
        } else {
            to = INST_UNSPECIFIED; /* no threshold crossed */
        }
        if (to != INST_UNSPECIFIED) {
            transition(o, i, to, reason, now_ms);
            if (h == INST_HEALTHY && to != h)
                note_silence(o, now_ms);
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
            if (!silence_watched(i))
                continue;
            detector_rebase(&i->detector, from_ms);
            reschedule(o, i, from_ms);
        }
    }
}

/* ---- configuration ---- */

/* A service's policy before any config names it (an unexpected service:
 * observed, never acted on). */
static void service_policy_default(struct service *s)
{
    s->crashloop_max = POLICY_CRASHLOOP_MAX_DEFAULT;
    s->crashloop_window_ms = POLICY_CRASHLOOP_WINDOW_DEFAULT_MS;
}

static struct service *add_service(struct observer *o, const char *name, int64_t now_ms)
{
    struct service *s = registry_add_service(o->registry, name);

    if (s == NULL)
        return NULL;
    availability_init(&s->availability, now_ms);
    service_policy_default(s);
    return s;
}

/* Takes a service_config's policy, resolved; `deps` (owned, may be NULL)
 * replaces the service's depends_on. */
static void service_policy_apply(struct service *s, const struct service_config *c,
                                 char (*deps)[FLEET_NAME_MAX + 1])
{
    service_policy_default(s);
    if (c->crashloop_max != 0)
        s->crashloop_max = c->crashloop_max < POLICY_TALLY_MAX ? c->crashloop_max : POLICY_TALLY_MAX;
    if (c->crashloop_window_ms != 0)
        s->crashloop_window_ms = c->crashloop_window_ms;
    s->restart_disabled = c->restart_disabled;
    free(s->depends_on);
    s->depends_on = deps;
    s->n_depends_on = deps != NULL ? (uint32_t)c->n_depends_on : 0;
}

static int apply_services(struct observer *o, const struct observer_config *cfg, int64_t now_ms)
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
        service_policy_apply(s, &cfg->services[k], deps[k]);
    }
    free(deps);
    o->held_dirty = o->held.first != NULL;
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
    free(o->maint);
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
    /* The PRNG runs on: a new seed in a reload is not applied. */
    policy_config_resolve(&o->policy, &cfg->policy);
    for (size_t k = 0; k < registry_service_count(o->registry); k++)
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next)
            reschedule(o, i, now_ms);
    drain_held(o, now_ms);
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
    s = add_service(o, name, now_ms);
    if (s == NULL)
        return NULL;
    s->health = SVC_UNEXPECTED;
    s->dirty = true;
    emit(o, s, NULL, INST_UNSPECIFIED, INST_UNSPECIFIED, 0, "unexpected service: not in the config", now_ms);
    return s;
}

enum hb_verdict observer_heartbeat(struct observer *o, const struct hb_input *hb)
{
    int64_t now = hb->arrival_ms;
    uint32_t interval = hb->interval_ms ? hb->interval_ms : o->default_interval_ms;
    struct service *s;
    struct instance *i;
    enum inst_event ev;
    enum inst_health to;
    const char *why;
    bool new_life = false;
    bool was_fenced;
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
    } else if (!i->heard) {
        /* Made by observer_restore: its first heartbeat, whatever life. */
        i->incarnation = hb->incarnation;
        detector_reset(&i->detector, interval, now);
    } else if (hb->incarnation != i->incarnation) {
        if (hb->incarnation == i->prev_incarnation)
            goto out_stale;
        i->prev_incarnation = i->incarnation;
        i->incarnation = hb->incarnation;
        i->restarts++;
        new_life = true;
        detector_reset(&i->detector, interval, now);
    } else if (hb->seq <= i->seq) {
        goto out_stale;
    } else if (i->health == INST_DEAD || i->health == INST_STOPPED) {
        /* The gap since it was last heard is no inter-arrival sample. */
        detector_reset(&i->detector, interval, now);
    } else {
        detector_observe(&i->detector, interval, now);
    }
    if (interval > o->max_interval_ms) {
        o->max_interval_ms = interval;
        policy_silence_init(&o->silence, interval, now);
    }
    i->heard = true;
    i->seq = hb->seq;
    i->last_seen_ms = now;
    i->fence_epoch = hb->fence_epoch;
    if (hb->fence_epoch > i->policy.fence_epoch)
        i->policy.fence_epoch = hb->fence_epoch;
    i->term_seen = hb->term_seen;
    i->pid = hb->pid;
    i->state = (unsigned char)hb->state;
    s->ever_seen = true;
    o->counters.heartbeats++;

    ev = health_event_of_heartbeat(hb->state, hb->checks_ok);
    describe_heartbeat(hb, ev, reason, sizeof(reason));
    to = health_next((enum inst_health)i->health, ev);
    why = reason;
    was_fenced = fenced_now(i);
    if (i->policy.phase != POLICY_IDLE)
        to = policy_heartbeat(o, i, ev, new_life, to, &why);
    transition(o, i, to, why, now);
    if (was_fenced && !fenced_now(i))
        persist_state(o, i, now); /* the fence was lifted elsewhere */
    if (i->health == INST_HEALTHY && i->policy.backoff_step != 0)
        streak_check(o, i, now - i->health_since_ms, now);
    if (strcmp(i->version, hb->version) != 0) {
        memcpy(i->version, hb->version, sizeof(i->version));
        recompute_versions(o, s, now);
    }
    reschedule(o, i, now);
    if (o->held_dirty)
        drain_held(o, now);
    return HB_ACCEPTED;

out_stale:
    o->counters.stale++;
    return HB_STALE;
}

/* ---- time and the observer's own state ---- */

/* A new leadership reached NORMAL: every instance DEAD with nothing
 * planned (it died while this observer was a standby, which plans nothing)
 * gets the policy's answer now, from its restored record. */
static void sweep_dead(struct observer *o, int64_t now_ms)
{
    o->sweep_dead = false;
    if (!deciding(o))
        return;
    for (size_t k = 0; k < registry_service_count(o->registry); k++) {
        for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next) {
            if (i->health == INST_DEAD && i->policy.phase == POLICY_IDLE)
                on_death(o, i, now_ms);
        }
    }
}

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
            set_state(o, OBSERVER_WARMING_UP, reason, now_ms);
    }
    o->last_tick_ms = now_ms;
    if (o->blind == BLIND_MASS_SILENCE)
        leave_mass_silence_if_over(o, now_ms);
    if (o->state == OBSERVER_WARMING_UP && now_ms >= warm_end(o)) {
        set_state(o, OBSERVER_NORMAL, "warm-up complete", now_ms);
        if (o->sweep_dead)
            sweep_dead(o, now_ms);
    }
    while ((i = registry_due(o->registry, now_ms)) != NULL)
        judge(o, i, now_ms);
    store_retry(o, now_ms);
    drain_held(o, now_ms);
}

void observer_link(struct observer *o, bool up, int64_t now_ms)
{
    if (up == o->link_up)
        return;
    o->link_up = up;
    if (!up) {
        if (o->leader) {
            o->blind = BLIND_LINK;
            set_state(o, OBSERVER_SELF_PRESERVATION, "own NATS link down", now_ms);
        }
        return;
    }
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    /* Nothing to protect before anyone was seen: the first connection
     * warms up for one interval like a start. */
    o->warm_until_ms = registry_instance_count(o->registry) ? now_ms + o->link_grace_ms : now_ms;
    rebase_all(o, o->warm_until_ms);
    o->warm_from_ms = now_ms;
    o->last_tick_ms = now_ms;
    if (o->leader)
        set_state(o, OBSERVER_WARMING_UP, "own NATS link back: grace period for all", now_ms);
}

/* Drops every decision of `i` in progress for a standby: plans and holds
 * go, an action in flight is forgotten (a FENCE as in force, as its record
 * says; a restart's instance is left to its next heartbeat). */
static void abandon_decisions(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;

    if (policy_phase_in_flight((enum policy_phase)p->phase)) {
        bool fence = p->kind == CORE_ACT_FENCE;

        finish_flight(o, i);
        p->phase = fence ? POLICY_FENCED : POLICY_IDLE;
        p->kind = 0;
    } else {
        cancel_pending(o, i);
    }
    set_persist_dirty(o, i, false);
    reschedule(o, i, now_ms);
}

void observer_set_leader(struct observer *o, bool leader, uint64_t term, int64_t now_ms)
{
    char reason[128];

    o->term = term;
    if (leader == o->leader)
        return;
    o->leader = leader;
    if (!leader) {
        for (size_t k = 0; k < registry_service_count(o->registry); k++)
            for (struct instance *i = registry_service_at(o->registry, k)->first; i != NULL; i = i->next)
                abandon_decisions(o, i, now_ms);
        o->held_dirty = false;
        o->sweep_dead = false;
        o->store_down = false;
        set_state(o, OBSERVER_STANDBY, "standby: another supervisor leads", now_ms);
        return;
    }
    o->sweep_dead = true;
    if (!o->link_up) {
        o->blind = BLIND_LINK;
        set_state(o, OBSERVER_SELF_PRESERVATION, "own NATS link down", now_ms);
        return;
    }
    o->warm_from_ms = now_ms;
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    snprintf(reason, sizeof(reason), "leader (term %llu): warming up", (unsigned long long)term);
    set_state(o, OBSERVER_WARMING_UP, reason, now_ms);
}

bool observer_is_leader(const struct observer *o, uint64_t *term)
{
    if (term != NULL)
        *term = o->term;
    return o->leader;
}

void observer_set_unix_offset(struct observer *o, int64_t unix_offset_ms)
{
    o->unix_offset_ms = unix_offset_ms;
}

int observer_restore(struct observer *o, const char *service, const char *instance,
                     const struct policy_persisted *p, int64_t now_ms, int64_t unix_offset_ms)
{
    struct service *s;
    struct instance *i;
    struct policy_instance *pi;

    if (!persist_valid(p) || unix_offset_ms > PERSIST_UNIX_MS_MAX || unix_offset_ms < -PERSIST_UNIX_MS_MAX)
        return -1;
    s = registry_service(o->registry, service);
    if (s == NULL || !s->expected)
        return 0;
    i = registry_instance(o->registry, s, instance);
    if (i == NULL) {
        i = registry_add_instance(o->registry, s, instance);
        if (i == NULL)
            return -1;
        i->last_seen_ms = now_ms; /* forgotten forget_after_ms from now if never heard */
        i->health_since_ms = now_ms;
        s->dirty = true;
    }
    pi = &i->policy;
    persist_to_policy(p, now_ms, unix_offset_ms, pi);
    if (policy_phase_in_flight((enum policy_phase)pi->phase)) {
        /* Our own action is out: it decides, not an older record. */
    } else if (p->fenced) {
        char reason[REASON_MAX];

        cancel_pending(o, i);
        pi->phase = POLICY_FENCED;
        pi->kind = 0;
        snprintf(reason, sizeof(reason), "%s", p->fence_reason[0] ? p->fence_reason : "fenced");
        transition(o, i, INST_FENCED, reason, now_ms);
    } else if (pi->phase == POLICY_FENCED) {
        pi->phase = POLICY_IDLE;
    }
    reschedule(o, i, now_ms);
    return 0;
}

/* ---- maintenance ---- */

/* The flags covering `i` changed. Under one, a decision it needs (planned
 * or held for another gate) is held with the flag's reason; an action in
 * flight or a fence is left alone. Under none, a held decision, or a death
 * nothing was decided for, is judged afresh. Only a deciding observer has
 * decisions to move. */
static void maintenance_apply(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;
    const struct maint_entry *m = maintenance_of(o, i);
    char why[REASON_MAX];

    if (!deciding(o))
        return;
    if (m != NULL) {
        if (policy_phase_pending((enum policy_phase)p->phase)) {
            maintenance_reason(m, why, sizeof(why));
            hold(o, i, why, now_ms);
        }
        return;
    }
    if (p->phase != POLICY_HELD && !(p->phase == POLICY_IDLE && i->health == INST_DEAD))
        return;
    cancel_pending(o, i);
    if (i->health == INST_DEAD)
        on_death(o, i, now_ms);
    else if (i->health == INST_DEGRADED && o->policy.degraded_limit_ms != 0 && i->service->expected &&
             !i->service->restart_disabled)
        plan(o, i, CORE_ACT_RESTART, POLICY_TRIGGER_DEGRADED, now_ms + o->policy.degraded_limit_ms, now_ms);
    if (p->phase == POLICY_IDLE && strncmp(i->reason, "held: maintenance", 17) == 0)
        transition(o, i, (enum inst_health)i->health, "maintenance lifted", now_ms);
    reschedule(o, i, now_ms);
}

static bool name_fits(const char *name)
{
    size_t n = strlen(name);

    return n != 0 && n <= FLEET_NAME_MAX;
}

int observer_set_maintenance(struct observer *o, const char *service, const char *instance,
                             const char *reason, int64_t now_ms)
{
    const char *inst = instance != NULL ? instance : "";
    struct maint_entry *m = NULL;
    struct service *s;
    size_t k;

    if (!name_fits(service) || (instance != NULL && !name_fits(instance)) ||
        (reason != NULL && strlen(reason) > MAINT_REASON_MAX))
        return -1;
    for (k = 0; k < o->n_maint; k++)
        if (strcmp(o->maint[k].service, service) == 0 && strcmp(o->maint[k].instance, inst) == 0)
            break;
    if (k < o->n_maint)
        m = &o->maint[k];
    if (reason == NULL) {
        if (m == NULL)
            return 0;
        memmove(m, m + 1, (o->n_maint - k - 1) * sizeof(*m));
        o->n_maint--;
    } else if (m != NULL) {
        if (strcmp(m->reason, reason) == 0)
            return 0;
        snprintf(m->reason, sizeof(m->reason), "%s", reason);
    } else {
        if (o->n_maint == o->cap_maint) {
            size_t cap = o->cap_maint ? 2 * o->cap_maint : 4;
            struct maint_entry *grown = realloc(o->maint, cap * sizeof(*grown));

            if (grown == NULL)
                return -1;
            o->maint = grown;
            o->cap_maint = cap;
        }
        m = &o->maint[o->n_maint++];
        snprintf(m->service, sizeof(m->service), "%s", service);
        snprintf(m->instance, sizeof(m->instance), "%s", inst);
        snprintf(m->reason, sizeof(m->reason), "%s", reason);
    }
    s = registry_service(o->registry, service);
    if (s == NULL)
        return 0;
    if (instance != NULL) {
        struct instance *i = registry_instance(o->registry, s, instance);

        if (i != NULL)
            maintenance_apply(o, i, now_ms);
    } else {
        for (struct instance *i = s->first; i != NULL; i = i->next)
            maintenance_apply(o, i, now_ms);
    }
    s->dirty = true;
    return 0;
}

size_t observer_maintenance_count(const struct observer *o)
{
    return o->n_maint;
}

void observer_maintenance_at(const struct observer *o, size_t k, const char **service,
                             const char **instance, const char **reason)
{
    const struct maint_entry *m = &o->maint[k];

    *service = m->service;
    *instance = m->instance[0] != '\0' ? m->instance : NULL;
    *reason = m->reason;
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
    /* A failed write waits for its retry time (store_retry). */
    if (o->store_down && (o->n_persist_dirty != 0 || o->held.first != NULL) &&
        o->store_retry_at_ms < next)
        next = o->store_retry_at_ms;
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

void observer_action_result(struct observer *o, uint64_t action_id, bool accepted, const char *error,
                            int64_t now_ms)
{
    struct instance *i;
    struct policy_instance *p;
    char reason[REASON_MAX];

    for (i = o->flight.first; i != NULL; i = i->policy_next)
        if (i->policy.phase == POLICY_SENT && i->policy.action_id == action_id)
            break;
    if (i == NULL)
        return;
    p = &i->policy;
    if (!accepted) {
        reason_printf(reason, sizeof(reason), "refused: %s: %s",
                      health_action_name((enum core_action_kind)p->kind),
                      error != NULL && error[0] != '\0' ? error : "no reason given");
        give_up(o, i, reason, now_ms);
    } else if (p->kind == CORE_ACT_RESTART) {
        p->phase = POLICY_RESTARTING;
        p->timer_ms = now_ms + o->policy.restart_timeout_ms;
        reschedule(o, i, now_ms);
    } else {
        finish_flight(o, i);
        p->phase = POLICY_FENCED;
        p->kind = 0;
        reschedule(o, i, now_ms);
    }
    drain_held(o, now_ms);
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
    if (!silence_watched(i))
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
