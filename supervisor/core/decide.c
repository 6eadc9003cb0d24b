#include "observer_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STORE_HELD "held: state store unavailable"

/* ---- small helpers ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void decide_reason_printf(char *buf, size_t n, const char *fmt, ...)
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

/* ---- events ---- */

static void escalate(struct observer *o, const struct instance *i, const char *reason, int64_t now_ms)
{
    struct core_escalation e = { .service = i->service, .instance = i, .reason = reason, .at_ms = now_ms };

    o->counters.escalations++;
    if (o->sink.on_escalate != NULL)
        o->sink.on_escalate(o->sink.ctx, &e);
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

/* Whether `s` has its desired number of HEALTHY instances without `i`
 * (which is not healthy): a dead one is then surplus, ECS's replacement has
 * taken its place. */
static bool surplus(const struct service *s, const struct instance *i)
{
    return s->expected && i->health != INST_HEALTHY && s->count[INST_HEALTHY] >= s->desired;
}

/* `i` is surplus: not restarted, not escalated; STOPPED ("replaced"), and
 * forgotten after forget_after_ms like any stopped instance. */
static void replaced(struct observer *o, struct instance *i, int64_t now_ms)
{
    const struct service *s = i->service;
    char reason[REASON_MAX];

    if (policy_phase_in_flight((enum policy_phase)i->policy.phase))
        decide_finish_flight(o, i);
    decide_cancel_pending(o, i);
    i->policy.phase = POLICY_IDLE;
    i->policy.kind = 0;
    decide_reason_printf(reason, sizeof(reason), "replaced: %s has %u of %u healthy; not restarted", s->name,
                         s->count[INST_HEALTHY], s->desired);
    observer_transition(o, i, INST_STOPPED, reason, now_ms);
    observer_reschedule(o, i, now_ms);
}

/* A HEALTHY spell of `healthy_ms` so far (or just ended): a long enough one
 * ends the restart streak, durably. */
void decide_streak_check(struct observer *o, struct instance *i, int64_t healthy_ms, int64_t now_ms)
{
    uint32_t before = i->policy.backoff_step;

    if (before == 0)
        return;
    policy_healthy_spell(&i->policy, &o->policy, healthy_ms);
    if (i->policy.backoff_step != before)
        durable_persist_state(o, i, now_ms);
}

/* An action of ours ended (acked fence, finished or failed restart, gave
 * up): its slot is free for a held one. */
void decide_finish_flight(struct observer *o, struct instance *i)
{
    list_remove(&o->flight, i);
    o->in_flight--;
    i->policy.timer_ms = POLICY_NEVER;
    o->held_dirty = o->held.first != NULL;
}

/* Drops a planned or held action, or a give-up: the instance is back. */
void decide_cancel_pending(struct observer *o, struct instance *i)
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
        if (o->state == OBSERVER_WARMING_UP)
            decide_reason_printf(why, n, "held: warming up");
        else if (o->blind == BLIND_MASS_SILENCE)
            decide_reason_printf(why, n, "held: self-preservation: mass silence for %llds (acting again at %llds)",
                                 (long long)((now_ms - o->blind_since_ms) / 1000),
                                 (long long)(o->policy.self_preservation_max_ms / 1000));
        else
            decide_reason_printf(why, n, "held: self-preservation: %s", o->state_reason);
        return true;
    }
    if (i->policy.kind == CORE_ACT_RESTART && (dep = dependency_down(o, s)) != NULL) {
        decide_reason_printf(why, n, "held: depends on %s (%s)", dep->name,
                             health_svc_name((enum svc_health)dep->health));
        return true;
    }
    if (serving((enum inst_health)i->health) &&
        s->count[INST_HEALTHY] + s->count[INST_DEGRADED] <= 1) {
        decide_reason_printf(why, n, "held: last serving instance of %s", s->name);
        return true;
    }
    limit = policy_max_concurrent(&o->policy, registry_instance_count(o->registry));
    if (o->in_flight >= limit) {
        decide_reason_printf(why, n, "held: %u actions in flight (max %u)", o->in_flight, limit);
        return true;
    }
    if (durable_persisting(o) && !durable_store_open(o, now_ms)) {
        decide_reason_printf(why, n, STORE_HELD);
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
        decide_reason_printf(reason, sizeof(reason), "%s: released (%s)",
                             p->trigger == POLICY_TRIGGER_DEGRADED ? "degraded" : "dead", cause + 6);
    else
        decide_reason_printf(reason, sizeof(reason), "%s: %s",
                             p->trigger == POLICY_TRIGGER_DEGRADED ? "degraded" : "dead", cause);
    if (p->kind == CORE_ACT_FENCE && p->trigger == POLICY_TRIGGER_REFENCE) {
        decide_reason_printf(reason, sizeof(reason), "fenced again: a new life of a fenced instance (until UNFENCE)");
        after.fence_epoch = policy_next_fence_epoch(i->fence_epoch, p->fence_epoch);
        after.fence_issued = after.fence_epoch;
        to = INST_FENCED;
    } else if (p->kind == CORE_ACT_FENCE) {
        decide_reason_printf(reason, sizeof(reason), "crashloop: %u restarts in %llds",
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
    if (durable_persisting(o)) {
        struct policy_persisted rec;

        persist_from_policy(&after, to == INST_FENCED, reason, o->unix_offset_ms, &rec);
        rec.restarts = i->restarts;
        if (!durable_store_put(o, i, &rec, now_ms))
            return false;
    }
    *p = after;
    p->phase = POLICY_SENT;
    p->attempt = 1;
    p->answer = CORE_ACK_NONE;
    p->action_id = ++o->last_action_id;
    p->timer_ms = now_ms + o->policy.ack_timeout_ms;
    i->next_action_ms = 0;
    list_append(&o->flight, i);
    o->in_flight++;
    observer_transition_as(o, i, to, reason, (enum core_action_kind)p->kind, now_ms);
    send_attempt(o, i, now_ms);
    if (p->kind == CORE_ACT_FENCE && p->trigger != POLICY_TRIGGER_REFENCE)
        escalate(o, i, i->reason, now_ms);
    observer_reschedule(o, i, now_ms);
    return true;
}

/* Puts `i`'s due action on the held list (once), its reason `why`. */
void decide_hold(struct observer *o, struct instance *i, const char *why, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;

    if (p->phase != POLICY_HELD) {
        p->phase = POLICY_HELD;
        list_append(&o->held, i);
    }
    p->timer_ms = POLICY_NEVER;
    i->next_action_ms = 0;
    observer_transition(o, i, (enum inst_health)i->health, why, now_ms);
    observer_reschedule(o, i, now_ms);
}

/* `i`'s action is due: issue it, or hold it (on the held list, its reason
 * saying why) until a gate opens. Dropped when its service left the config
 * or had restarts disabled since it was planned. */
static void try_issue(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;
    char why[REASON_MAX];

    if (!i->service->expected || i->service->restart_disabled) {
        decide_cancel_pending(o, i);
        observer_reschedule(o, i, now_ms);
        return;
    }
    if (p->kind == CORE_ACT_RESTART && p->trigger == POLICY_TRIGGER_DEAD && surplus(i->service, i)) {
        replaced(o, i, now_ms);
        return;
    }
    if (gate_closed(o, i, now_ms, why, sizeof(why))) {
        decide_hold(o, i, why, now_ms);
        return;
    }
    if (p->phase == POLICY_HELD) {
        list_remove(&o->held, i);
        p->phase = POLICY_PLANNED;
    }
    if (!issue(o, i, now_ms)) {
        p->phase = POLICY_PLANNED;
        decide_hold(o, i, STORE_HELD, now_ms);
    }
}

/* Plans `kind` for `i` at `at_ms`: now, or on its timer (the feed shows the
 * time as next_action_ms). Under maintenance it is held at once: lifting
 * the flag judges the instance afresh, so no timer is kept. */
void decide_plan(struct observer *o, struct instance *i, enum core_action_kind kind,
                 enum policy_trigger trigger, int64_t at_ms, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;
    const struct maint_entry *m;

    decide_cancel_pending(o, i);
    p->kind = (uint8_t)kind;
    p->trigger = (uint8_t)trigger;
    p->phase = POLICY_PLANNED;
    if (o->n_maint != 0 && (m = maintenance_of(o, i)) != NULL) {
        char why[REASON_MAX];

        maintenance_reason(m, why, sizeof(why));
        decide_hold(o, i, why, now_ms);
        return;
    }
    if (at_ms <= now_ms) {
        try_issue(o, i, now_ms);
        return;
    }
    p->timer_ms = at_ms;
    i->next_action_ms = at_ms;
    i->service->dirty = true;
    observer_reschedule(o, i, now_ms);
}

/* `i` died (or a restart of it failed). While a dependency is down the
 * death is the dependency's: no crash-loop verdict, no backoff, a restart
 * held until it is back. */
void decide_on_death(struct observer *o, struct instance *i, int64_t now_ms)
{
    struct service *s = i->service;
    struct policy_verdict v = { .kind = CORE_ACT_RESTART, .at_ms = now_ms };

    if (!s->expected || s->restart_disabled || i->policy.phase == POLICY_GAVE_UP)
        return;
    if (surplus(s, i)) {
        replaced(o, i, now_ms);
        return;
    }
    if (dependency_down(o, s) == NULL)
        v = policy_after_death(&i->policy, &o->policy, s->crashloop_max, s->crashloop_window_ms,
                               now_ms, &o->rng);
    decide_plan(o, i, v.kind, POLICY_TRIGGER_DEAD, v.at_ms, now_ms);
}

/* The policy's view of every health change (called after its event). */
void decide_health_changed(struct observer *o, struct instance *i, enum inst_health from,
                           enum inst_health to, int64_t since_ms, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;

    if (from == INST_HEALTHY) {
        if (i->service->expected)
            o->n_healthy--;
        decide_streak_check(o, i, now_ms - since_ms, now_ms);
    }
    if (to == INST_HEALTHY && i->service->expected) {
        o->n_healthy++;
        if (o->blind == BLIND_MASS_SILENCE)
            decide_leave_mass_silence_if_over(o, now_ms);
    }
    if (!durable_deciding(o) || policy_phase_owns_health((enum policy_phase)p->phase))
        return;
    if (to == INST_DEAD) {
        decide_on_death(o, i, now_ms);
    } else if (to == INST_DEGRADED && o->policy.degraded_limit_ms != 0 && i->service->expected &&
               !i->service->restart_disabled) {
        decide_plan(o, i, CORE_ACT_RESTART, POLICY_TRIGGER_DEGRADED, now_ms + o->policy.degraded_limit_ms,
                    now_ms);
    } else {
        decide_cancel_pending(o, i);
    }
}

/* A RESTART is over (a new incarnation was heard): the slot is free and the
 * new life's heartbeat decides its health. */
static void restart_done(struct observer *o, struct instance *i)
{
    decide_finish_flight(o, i);
    i->policy.phase = POLICY_IDLE;
    i->policy.kind = 0;
}

/* The action in flight is abandoned and escalated: refused, or never
 * acknowledged. The instance is taken as DEAD and left alone until it is
 * heard from again. An abandoned FENCE is not in force: its record says so
 * (the epoch stays issued). */
static void give_up(struct observer *o, struct instance *i, const char *reason, int64_t now_ms)
{
    bool was_fenced = durable_fenced_now(i);

    decide_finish_flight(o, i);
    i->policy.phase = POLICY_GAVE_UP;
    i->policy.kind = 0;
    observer_transition(o, i, INST_DEAD, reason, now_ms);
    if (was_fenced)
        durable_persist_state(o, i, now_ms);
    escalate(o, i, reason, now_ms);
    observer_reschedule(o, i, now_ms);
}

/* The end of an action that did not happen: a restart of a dead instance
 * whose service has its desired count without it is no loss (replaced);
 * anything else is given up and escalated. */
static void give_up_or_replaced(struct observer *o, struct instance *i, const char *reason, int64_t now_ms)
{
    char copy[REASON_MAX];

    snprintf(copy, sizeof(copy), "%s", reason);   /* `reason` may be i->reason */
    if (i->policy.kind == CORE_ACT_RESTART && i->policy.trigger == POLICY_TRIGGER_DEAD && surplus(i->service, i)) {
        replaced(o, i, now_ms);
        return;
    }
    give_up(o, i, copy, now_ms);
}

/* `i`'s policy timer is due: a planned action, an ack timeout (send again
 * or give up) or a restart timeout (a failed restart: DEAD, and the backoff
 * goes on). Not while the observer is not NORMAL: then timeouts wait, re-armed
 * one ack timeout later, since what is missing may be our own view. */
void decide_policy_timer(struct observer *o, struct instance *i, int64_t now_ms)
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
        } else if (p->kind == CORE_ACT_RESTART && p->trigger == POLICY_TRIGGER_DEAD && surplus(i->service, i)) {
            replaced(o, i, now_ms);   /* its replacement is up meanwhile: nothing to repair */
        } else if (p->answer == CORE_ACK_REFUSED) {
            give_up_or_replaced(o, i, i->reason, now_ms);   /* i->reason: the refusal, noted when it came */
        } else if (p->attempt < o->policy.ack_attempts) {
            const char *why = p->answer == CORE_ACK_NO_RESPONDERS ? "nobody listening"
                              : p->answer == CORE_ACK_RETRYABLE    ? "refused for now"
                                                                   : "unacknowledged";

            p->attempt++;
            p->answer = CORE_ACK_NONE;
            p->action_id = ++o->last_action_id;
            p->timer_ms = now_ms + o->policy.ack_timeout_ms;
            decide_reason_printf(reason, sizeof(reason), "%s sent again (attempt %u of %u): %s",
                                 health_action_name((enum core_action_kind)p->kind), (unsigned)p->attempt,
                                 o->policy.ack_attempts, why);
            observer_emit(o, i->service, i, (enum inst_health)i->health, (enum inst_health)i->health,
                          (enum core_action_kind)p->kind, reason, now_ms);
            send_attempt(o, i, now_ms);
        } else if (p->answer == CORE_ACK_NO_RESPONDERS) {
            decide_reason_printf(reason, sizeof(reason),
                                 "unreachable: nobody listens for %s's control (%u attempts); its task is gone?",
                                 i->name, (unsigned)p->attempt);
            give_up_or_replaced(o, i, reason, now_ms);
        } else if (p->answer == CORE_ACK_RETRYABLE) {
            give_up_or_replaced(o, i, i->reason, now_ms);   /* the last refusal, after every attempt */
        } else {
            decide_reason_printf(reason, sizeof(reason),
                                 "unacknowledged: %s not acknowledged after %u attempts",
                                 health_action_name((enum core_action_kind)p->kind), (unsigned)p->attempt);
            give_up_or_replaced(o, i, reason, now_ms);
        }
        break;
    case POLICY_RESTARTING:
        if (o->state != OBSERVER_NORMAL) {
            p->timer_ms = now_ms + o->policy.ack_timeout_ms;
            break;
        }
        decide_finish_flight(o, i);
        p->phase = POLICY_IDLE;
        p->kind = 0;
        decide_reason_printf(reason, sizeof(reason), "restart timed out after %.1fs",
                             (double)o->policy.restart_timeout_ms / 1000.0);
        observer_transition(o, i, INST_DEAD, reason, now_ms);
        break;
    default:
        break;
    }
    observer_reschedule(o, i, now_ms);
}

/* Tries every held action again if a gate may have opened. The sink may not
 * call back into the observer, so the list changes only through `i`. */
void decide_drain_held(struct observer *o, int64_t now_ms)
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
enum inst_health decide_policy_heartbeat(struct observer *o, struct instance *i, enum inst_event ev,
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
        if (!fence_kept && i->fence_epoch > p->fence_issued) {
            /* It obeyed an UNFENCE (its epoch is above our fence's): lifted. */
            p->phase = POLICY_IDLE;
            p->kind = 0;
            return to;
        }
        if (!fence_kept || (new_life && ev != EV_HB_FENCED)) {
            /* A new life, or one serving again without an UNFENCE: the
             * fence holds (DESIGN.md §6) and is sent again. */
            p->refence = 1;
            *reason = i->reason;
            return INST_FENCED;
        }
        if (ev != EV_HB_FENCED)
            *reason = i->reason;
        return INST_FENCED;
    case POLICY_HELD:
    case POLICY_PLANNED:
        if (p->kind == CORE_ACT_FENCE && p->trigger == POLICY_TRIGGER_REFENCE) {
            *reason = i->reason;   /* fenced still: the fence waits to go out again */
            return INST_FENCED;
        }
        if (p->phase == POLICY_HELD && to == i->health)
            *reason = i->reason;
        return to;
    default:
        return to;
    }
}

/* A fenced instance came back without an UNFENCE (decide_policy_heartbeat
 * marked it): the fence goes out again, now, to the life heard. The
 * record still says fenced; the new FENCE has a new epoch. */
void decide_refence(struct observer *o, struct instance *i, int64_t now_ms)
{
    i->policy.refence = 0;
    if (!durable_deciding(o) || !i->service->expected)
        return;
    i->policy.phase = POLICY_IDLE;
    decide_plan(o, i, CORE_ACT_FENCE, POLICY_TRIGGER_REFENCE, now_ms, now_ms);
}

/* ---- mass silence ---- */

/* A HEALTHY instance went silent (late or dead) at `now_ms`. Too many at
 * once is our problem, not theirs: SELF_PRESERVATION. */
void decide_note_silence(struct observer *o, int64_t now_ms)
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
    o->blind_since_ms = now_ms;
    observer_set_state(o, OBSERVER_SELF_PRESERVATION, reason, now_ms);
}

/* Leaves a mass-silence SELF_PRESERVATION once the share of the instances
 * healthy before it that are still not healthy is back under the ratio;
 * then warms up one interval before acting again. */
void decide_leave_mass_silence_if_over(struct observer *o, int64_t now_ms)
{
    uint32_t missing = o->healthy_before > o->n_healthy ? o->healthy_before - o->n_healthy : 0;
    char reason[128];

    if (policy_mass_silence(&o->policy, missing, o->healthy_before))
        return;
    snprintf(reason, sizeof(reason), "heartbeats back: %u of %u healthy", o->n_healthy, o->healthy_before);
    o->warm_from_ms = now_ms;
    o->warm_until_ms = now_ms;
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    observer_set_state(o, OBSERVER_WARMING_UP, reason, now_ms);
}

/* A mass silence has held actions for self_preservation_max_ms: whatever
 * it is, it is no longer a blip; act again, within the blast radius (the
 * instances still silent are DEAD by now and their restarts are held: the
 * gates let max_concurrent of them go at a time). */
void decide_end_mass_silence_if_too_long(struct observer *o, int64_t now_ms)
{
    char reason[128];

    if (o->blind != BLIND_MASS_SILENCE || now_ms - o->blind_since_ms < (int64_t)o->policy.self_preservation_max_ms)
        return;
    o->counters.self_preservation_expired++;
    snprintf(reason, sizeof(reason), "self-preservation ended after %llds without the heartbeats back: "
             "acting within the blast radius", (long long)((now_ms - o->blind_since_ms) / 1000));
    policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
    observer_set_state(o, OBSERVER_NORMAL, reason, now_ms);
}

/* Unlinks `i` from the policy's lists before it is freed. */
void decide_policy_detach(struct observer *o, struct instance *i)
{
    if (policy_phase_in_flight((enum policy_phase)i->policy.phase))
        decide_finish_flight(o, i);
    else if (i->policy.phase == POLICY_HELD)
        list_remove(&o->held, i);
    durable_set_persist_dirty(o, i, false);
    if (i->health == INST_HEALTHY && i->service->expected)
        o->n_healthy--;
}

void observer_action_result(struct observer *o, uint64_t action_id, enum core_ack ack, const char *error,
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
    if (ack != CORE_ACK_ACCEPTED) {
        /* Noted, decided at the ack timeout: an acceptance may still come. */
        if (ack > p->answer && ack <= CORE_ACK_REFUSED)
            p->answer = (uint8_t)ack;
        if (ack == CORE_ACK_REFUSED || ack == CORE_ACK_RETRYABLE) {
            decide_reason_printf(reason, sizeof(reason), "refused: %s: %s",
                                 health_action_name((enum core_action_kind)p->kind),
                                 error != NULL && error[0] != '\0' ? error : "no reason given");
            observer_transition(o, i, (enum inst_health)i->health, reason, now_ms);
        }
        return;
    }
    if (p->kind == CORE_ACT_RESTART) {
        p->phase = POLICY_RESTARTING;
        p->timer_ms = now_ms + o->policy.restart_timeout_ms;
        observer_reschedule(o, i, now_ms);
    } else {
        decide_finish_flight(o, i);
        p->phase = POLICY_FENCED;
        p->kind = 0;
        observer_reschedule(o, i, now_ms);
    }
    decide_drain_held(o, now_ms);
}
