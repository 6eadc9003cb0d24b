/* The policy's answers (DESIGN.md §6; the rules are in policy.c): given the
 * observer's state, one fact about an instance and the time, the decisions
 * to apply, as data (observer_private.h). Nothing here changes the observer,
 * calls its sink or applies anything: apply.c does, in the order given.
 * `i` is not const only because the decisions name it. */
#include "observer_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_HELD "held: state store unavailable"

void reason_printf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

/* ---- building the answer (decisions_add, observer_private.h, and these) ---- */

static void add_reason(struct decisions *d, enum decision_kind kind, struct instance *i, const char *reason)
{
    struct decision *x = decisions_add(d, kind, i);

    snprintf(x->reason, sizeof(x->reason), "%s", reason);
}

static void add_transition(struct decisions *d, struct instance *i, enum inst_health to, const char *reason,
                           enum core_action_kind action)
{
    struct decision *x = decisions_add(d, DEC_TRANSITION, i);

    x->health = to;
    x->action = action;
    snprintf(x->reason, sizeof(x->reason), "%s", reason);
}

static void add_ask(struct decisions *d, struct instance *i, enum decide_question q, enum inst_health h)
{
    struct decision *x = decisions_add(d, DEC_ASK, i);

    x->question = q;
    x->health = h;
}

/* ---- gates and lookups ---- */

static bool serving(enum inst_health h)
{
    return h == INST_HEALTHY || h == INST_DEGRADED;
}

/* The maintenance flag that holds `i`: its own, else its service's; NULL
 * if none. */
static const struct maint_flag *maintenance_of(const struct observer *o, const struct instance *i)
{
    const struct maint_flag *svc = NULL;

    for (size_t k = 0; k < o->n_maint; k++) {
        const struct maint_flag *m = &o->maint[k];

        if (strcmp(m->service, i->service->name) != 0)
            continue;
        if (m->instance[0] == '\0')
            svc = m;
        else if (strcmp(m->instance, i->name) == 0)
            return m;
    }
    return svc;
}

static void maintenance_reason(const struct maint_flag *m, char *why, size_t n)
{
    if (m->reason[0] != '\0')
        reason_printf(why, n, "held: maintenance: %s", m->reason);
    else
        reason_printf(why, n, "held: maintenance");
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

/* Whether `i`'s planned or in-flight action is a restart of a dead
 * instance whose service no longer needs it. */
static bool restart_surplus(const struct instance *i)
{
    return i->policy.kind == CORE_ACT_RESTART && i->policy.trigger == POLICY_TRIGGER_DEAD &&
           surplus(i->service, i);
}

/* Writes why `i`'s due action of `kind` may not go now, or returns false.
 * The gates, in order: no maintenance flag may hold it; the observer must
 * be NORMAL (not warming up, not in self-preservation, not a standby); a
 * restart waits for its service's dependencies; an action never takes a
 * service's last serving (HEALTHY or DEGRADED) instance; at most
 * max_concurrent actions are in flight; the state store must not have
 * failed within ack_timeout_ms (the action's record is written before it
 * goes). */
static bool gate_closed(const struct observer *o, const struct instance *i, int64_t now_ms,
                        char *why, size_t n)
{
    const struct service *s = i->service;
    const struct service *dep;
    const struct maint_flag *m;
    uint32_t limit;

    if (o->n_maint != 0 && (m = maintenance_of(o, i)) != NULL) {
        maintenance_reason(m, why, n);
        return true;
    }
    if (o->state != OBSERVER_NORMAL) {
        if (o->state == OBSERVER_WARMING_UP)
            reason_printf(why, n, "held: warming up");
        else if (o->blind == BLIND_MASS_SILENCE)
            reason_printf(why, n, "held: self-preservation: mass silence for %llds (acting again at %llds)",
                                 (long long)((now_ms - o->blind_since_ms) / 1000),
                                 (long long)(o->policy.self_preservation_max_ms / 1000));
        else
            reason_printf(why, n, "held: self-preservation: %s", o->state_reason);
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
    if (state_persists(o) && !state_store_open(o, now_ms)) {
        reason_printf(why, n, STORE_HELD);
        return true;
    }
    return false;
}

/* ---- answers ---- */

/* `i` is surplus: not restarted, not escalated; STOPPED ("replaced"), and
 * forgotten after forget_after_ms like any stopped instance. */
static void replaced(struct instance *i, struct decisions *d)
{
    const struct service *s = i->service;
    char reason[REASON_MAX];

    decisions_add(d, DEC_END_ACTION, i);
    reason_printf(reason, sizeof(reason), "replaced: %s has %u of %u healthy; not restarted", s->name,
                         s->count[INST_HEALTHY], s->desired);
    add_transition(d, i, INST_STOPPED, reason, 0);
    decisions_add(d, DEC_RESCHEDULE, i);
}

/* Plans `kind` for `i` at `at_ms`: now (the policy is asked what the due
 * action meets once it is planned), or on its timer (the feed shows the
 * time as next_action_ms). Under maintenance it is held at once: lifting
 * the flag judges the instance afresh, so no timer is kept. */
static void plan(const struct observer *o, struct instance *i, enum core_action_kind kind,
                 enum policy_trigger trigger, int64_t at_ms, int64_t now_ms, struct decisions *d)
{
    struct decision *x = decisions_add(d, DEC_PLAN, i);
    const struct maint_flag *m;

    x->action = kind;
    x->trigger = trigger;
    if (o->n_maint != 0 && (m = maintenance_of(o, i)) != NULL) {
        char why[REASON_MAX];

        maintenance_reason(m, why, sizeof(why));
        add_reason(d, DEC_HOLD, i, why);
        return;
    }
    if (at_ms <= now_ms) {
        add_ask(d, i, ASK_DUE, INST_UNSPECIFIED);
        return;
    }
    decisions_add(d, DEC_TIMER, i)->at_ms = at_ms;
}

/* `i` died (or a restart of it failed). While a dependency is down the
 * death is the dependency's: no crash-loop verdict, no backoff, a restart
 * held until it is back. */
void decide_death(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d)
{
    const struct service *s = i->service;
    struct policy_verdict v = { .kind = CORE_ACT_RESTART, .at_ms = now_ms };

    if (!s->expected || s->restart_disabled || i->policy.phase == POLICY_GAVE_UP)
        return;
    if (surplus(s, i)) {
        replaced(i, d);
        return;
    }
    if (dependency_down(o, s) == NULL)
        v = policy_after_death(&i->policy, &o->policy, s->crashloop_max, s->crashloop_window_ms,
                               now_ms, &d->rng);
    plan(o, i, v.kind, POLICY_TRIGGER_DEAD, v.at_ms, now_ms, d);
}

/* A HEALTHY spell of `healthy_ms` so far (or just ended): a long enough one
 * ends the restart streak, durably. */
void decide_streak(const struct observer *o, struct instance *i, int64_t healthy_ms, struct decisions *d)
{
    struct policy_instance p = i->policy;

    if (p.backoff_step == 0)
        return;
    policy_healthy_spell(&p, &o->policy, healthy_ms);
    if (p.backoff_step != i->policy.backoff_step)
        decisions_add(d, DEC_STREAK, i)->backoff_step = p.backoff_step;
}

/* Whether a mass silence is over: the share of the instances healthy before
 * it that are still not healthy is back under the ratio. */
static void silence_over(const struct observer *o, struct decisions *d)
{
    uint32_t missing = o->healthy_before > o->n_healthy ? o->healthy_before - o->n_healthy : 0;
    char reason[DECISION_REASON_MAX];

    if (policy_mass_silence(&o->policy, missing, o->healthy_before))
        return;
    snprintf(reason, sizeof(reason), "heartbeats back: %u of %u healthy", o->n_healthy, o->healthy_before);
    add_reason(d, DEC_SILENCE_OVER, NULL, reason);
}

/* The policy's view of a change of `i`'s health from `from` (entered at
 * `since_ms`) to `to`, asked after its event (the HEALTHY count already
 * follows it): the restart streak a healthy spell ends, the end of a mass
 * silence, then (once those are applied) what the new health calls for. */
void decide_health_changed(const struct observer *o, struct instance *i, enum inst_health from,
                           enum inst_health to, int64_t since_ms, int64_t now_ms, struct decisions *d)
{
    if (from == INST_HEALTHY)
        decide_streak(o, i, now_ms - since_ms, d);
    if (to == INST_HEALTHY && i->service->expected && o->blind == BLIND_MASS_SILENCE)
        silence_over(o, d);
    add_ask(d, i, ASK_HEALTH, to);
}

/* What health `to` calls for, for a deciding observer whose action does not
 * own `i`'s health: a death's answer, a restart planned after
 * degraded_limit_ms, or nothing pending. */
void decide_health_act(const struct observer *o, struct instance *i, enum inst_health to, int64_t now_ms,
                       struct decisions *d)
{
    if (!state_acts(o) || policy_phase_owns_health((enum policy_phase)i->policy.phase))
        return;
    if (to == INST_DEAD)
        decide_death(o, i, now_ms, d);
    else if (to == INST_DEGRADED && o->policy.degraded_limit_ms != 0 && i->service->expected &&
             !i->service->restart_disabled)
        plan(o, i, CORE_ACT_RESTART, POLICY_TRIGGER_DEGRADED, now_ms + o->policy.degraded_limit_ms, now_ms, d);
    else
        decisions_add(d, DEC_CANCEL, i);
}

/* `i`'s due action, caused by `what` (e.g. "dead: silent 1.2s"), would go
 * to a service nothing obeys (no_agent: probe micro): it is escalated
 * instead, never sent, and the instance is left alone (GAVE_UP) until it is
 * heard from again. Its health stays; its reason says why, and so does the
 * escalation's own event (apply.c). */
static void escalate_no_agent(struct instance *i, const char *what, struct decisions *d)
{
    char reason[REASON_MAX];

    reason_printf(reason, sizeof(reason), "no agent: %s escalated, not sent (%s)",
                  health_action_name((enum core_action_kind)i->policy.kind), what);
    decisions_add(d, DEC_CANCEL, i);
    decisions_add(d, DEC_GIVE_UP, i);
    add_transition(d, i, (enum inst_health)i->health, reason, 0);
    add_reason(d, DEC_ESCALATE, i, reason);
    decisions_add(d, DEC_RESCHEDULE, i);
}

/* `i`'s planned action is due: it goes, or it is held (on the held list, its
 * reason saying why) until a gate opens. Dropped when its service left the
 * config or had restarts disabled since it was planned. A RESTART goes with
 * the crash-loop tally and the backoff streak counted (health RESTARTING); a
 * FENCE with a new epoch (health FENCED), escalated "crashloop" unless it is
 * a fence sent again. */
void decide_due(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d)
{
    const struct service *s = i->service;
    const struct policy_instance *p = &i->policy;
    const char *cause = i->reason;
    const char *what = p->trigger == POLICY_TRIGGER_DEGRADED ? "degraded" : "dead";
    char why[REASON_MAX];
    struct decision *x;

    if (!s->expected || s->restart_disabled) {
        decisions_add(d, DEC_CANCEL, i);
        decisions_add(d, DEC_RESCHEDULE, i);
        return;
    }
    if (restart_surplus(i)) {
        replaced(i, d);
        return;
    }
    if (gate_closed(o, i, now_ms, why, sizeof(why))) {
        add_reason(d, DEC_HOLD, i, why);
        return;
    }
    if (s->no_agent) {
        reason_printf(why, sizeof(why), "%s: %s", what, strncmp(cause, "held: ", 6) == 0 ? cause + 6 : cause);
        escalate_no_agent(i, why, d);
        return;
    }
    x = decisions_add(d, DEC_ISSUE, i);
    x->after = *p;
    x->action = (enum core_action_kind)p->kind;
    if (strncmp(cause, "held: ", 6) == 0)
        reason_printf(x->reason, REASON_MAX, "%s: released (%s)", what, cause + 6);
    else
        reason_printf(x->reason, REASON_MAX, "%s: %s", what, cause);
    if (p->kind == CORE_ACT_FENCE && p->trigger == POLICY_TRIGGER_REFENCE) {
        reason_printf(x->reason, REASON_MAX,
                             "fenced again: a new life of a fenced instance (until UNFENCE)");
        x->after.fence_epoch = policy_next_fence_epoch(i->fence_epoch, p->fence_epoch);
        x->after.fence_issued = x->after.fence_epoch;
        x->health = INST_FENCED;
    } else if (p->kind == CORE_ACT_FENCE) {
        reason_printf(x->reason, REASON_MAX, "crashloop: %u restarts in %llds",
                             policy_tally_count(p, s->crashloop_window_ms, now_ms) + 1,
                             (long long)(s->crashloop_window_ms / 1000));
        x->after.fence_epoch = policy_next_fence_epoch(i->fence_epoch, p->fence_epoch);
        x->after.fence_issued = x->after.fence_epoch;
        x->health = INST_FENCED;
        x->escalate = true;
    } else {
        policy_tally_add(&x->after, now_ms);
        x->after.backoff_step++;
        x->health = INST_RESTARTING;
    }
}

/* The record of `i`'s due action could not be written: the action is held
 * until the store takes writes again (observer.h, on_persist). */
void decide_store_failed(const struct observer *o, struct instance *i, struct decisions *d)
{
    (void)o;
    add_reason(d, DEC_HOLD, i, STORE_HELD);
}

/* An operator's order in flight is abandoned (refused, never acknowledged,
 * nobody listening): nothing is escalated (the operator sees the event)
 * and nothing is concluded about the instance's life: it is SUSPECT until
 * its heartbeats, or their absence, say more. A FENCE that did not go is not
 * in force (its record says so); an UNFENCE that did not go leaves the fence
 * in force. */
static void operator_gave_up(struct instance *i, const char *reason, bool was_fenced, struct decisions *d)
{
    if (i->policy.kind == CORE_ACT_UNFENCE) {
        decisions_add(d, DEC_FENCE_HOLDS, i);
        add_transition(d, i, INST_FENCED, reason, 0);
    } else {
        decisions_add(d, DEC_END_ACTION, i);
        add_transition(d, i, INST_SUSPECT, reason, 0);
        if (was_fenced)
            decisions_add(d, DEC_PERSIST, i);
    }
    decisions_add(d, DEC_RESCHEDULE, i);
}

/* The action in flight is abandoned and escalated: refused, or never
 * acknowledged. The instance is taken as DEAD and left alone until it is
 * heard from again. An abandoned FENCE is not in force: its record says so
 * (the epoch stays issued). A restart of a dead instance whose service has
 * its desired count without it is no loss: replaced. */
static void give_up_or_replaced(struct instance *i, const char *reason, struct decisions *d)
{
    bool was_fenced = state_record_fenced(i);

    if (i->policy.trigger == POLICY_TRIGGER_OPERATOR) {
        operator_gave_up(i, reason, was_fenced, d);
        return;
    }
    if (restart_surplus(i)) {
        replaced(i, d);
        return;
    }
    decisions_add(d, DEC_GIVE_UP, i);
    add_transition(d, i, INST_DEAD, reason, 0);
    if (was_fenced)
        decisions_add(d, DEC_PERSIST, i);
    add_reason(d, DEC_ESCALATE, i, reason);
    decisions_add(d, DEC_RESCHEDULE, i);
}

/* `i`'s policy timer came (the applier has cleared it): a planned action, an
 * ack timeout (send again or give up) or a restart timeout (a failed
 * restart: DEAD, and the backoff goes on). Not while the observer is not
 * NORMAL: then timeouts wait, re-armed one ack timeout later, since what is
 * missing may be our own view. */
void decide_timer(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d)
{
    const struct policy_instance *p = &i->policy;
    const char *name = health_action_name((enum core_action_kind)p->kind);
    char reason[REASON_MAX];

    switch ((enum policy_phase)p->phase) {
    case POLICY_PLANNED:
        decide_due(o, i, now_ms, d);
        break;
    case POLICY_SENT:
        if (o->state != OBSERVER_NORMAL) {
            decisions_add(d, DEC_REARM, i)->at_ms = now_ms + o->policy.ack_timeout_ms;
        } else if (restart_surplus(i)) {
            replaced(i, d);   /* its replacement is up meanwhile: nothing to repair */
        } else if (p->answer == CORE_ACK_REFUSED) {
            give_up_or_replaced(i, i->reason, d);   /* i->reason: the refusal, noted when it came */
        } else if (p->attempt < o->policy.ack_attempts) {
            const char *why = p->answer == CORE_ACK_NO_RESPONDERS ? "nobody listening"
                              : p->answer == CORE_ACK_RETRYABLE    ? "refused for now"
                                                                   : "unacknowledged";
            struct decision *x = decisions_add(d, DEC_RESEND, i);

            x->at_ms = now_ms + o->policy.ack_timeout_ms;
            reason_printf(x->reason, REASON_MAX, "%s sent again (attempt %u of %u): %s", name,
                                 (unsigned)p->attempt + 1, o->policy.ack_attempts, why);
        } else if (p->answer == CORE_ACK_NO_RESPONDERS) {
            reason_printf(reason, sizeof(reason),
                                 "unreachable: nobody listens for %s's control (%u attempts); its task is gone?",
                                 i->name, (unsigned)p->attempt);
            give_up_or_replaced(i, reason, d);
        } else if (p->answer == CORE_ACK_RETRYABLE) {
            give_up_or_replaced(i, i->reason, d);   /* the last refusal, after every attempt */
        } else {
            reason_printf(reason, sizeof(reason), "unacknowledged: %s not acknowledged after %u attempts",
                                 name, (unsigned)p->attempt);
            give_up_or_replaced(i, reason, d);
        }
        break;
    case POLICY_RESTARTING:
        if (o->state != OBSERVER_NORMAL) {
            decisions_add(d, DEC_REARM, i)->at_ms = now_ms + o->policy.ack_timeout_ms;
            break;
        }
        decisions_add(d, DEC_END_ACTION, i);
        reason_printf(reason, sizeof(reason), "restart timed out after %.1fs",
                             (double)o->policy.restart_timeout_ms / 1000.0);
        add_transition(d, i, INST_DEAD, reason, 0);
        break;
    default:
        break;
    }
    decisions_add(d, DEC_RESCHEDULE, i);
}

/* An answer to `i`'s attempt in flight (the applier has noted a
 * non-acceptance in policy.answer). A refusal is only announced: it is
 * decided at the ack timeout, so that an acceptance arriving meanwhile
 * wins. An accepted RESTART waits for a new life; an accepted FENCE is in
 * force, as the fence stays after an accepted UNFENCE until a heartbeat
 * shows its epoch; an accepted DRAIN or RESUME is done. */
void decide_ack(const struct observer *o, struct instance *i, enum core_ack ack, const char *error,
                int64_t now_ms, struct decisions *d)
{
    const struct policy_instance *p = &i->policy;
    char reason[REASON_MAX];

    if (ack == CORE_ACK_REFUSED || ack == CORE_ACK_RETRYABLE) {
        reason_printf(reason, sizeof(reason), "refused: %s: %s",
                             health_action_name((enum core_action_kind)p->kind),
                             error != NULL && error[0] != '\0' ? error : "no reason given");
        add_transition(d, i, (enum inst_health)i->health, reason, 0);
        return;
    }
    if (ack != CORE_ACK_ACCEPTED)
        return;
    if (p->kind == CORE_ACT_RESTART)
        decisions_add(d, DEC_AWAIT_RESTART, i)->at_ms = now_ms + o->policy.restart_timeout_ms;
    else if (p->kind == CORE_ACT_FENCE || p->kind == CORE_ACT_UNFENCE)
        decisions_add(d, DEC_FENCE_HOLDS, i);   /* an UNFENCE: fenced until a heartbeat shows its epoch */
    else
        decisions_add(d, DEC_END_ACTION, i);    /* DRAIN, RESUME: the heartbeats show the rest */
    decisions_add(d, DEC_RESCHEDULE, i);
}

/* A heartbeat from `i`, whose event `ev` the state table answers with `to`
 * (`reason` describing it): the health it enters, and what an action of
 * ours pending or owning its health makes of it. During a restart the old
 * life's heartbeats change nothing and a new incarnation ends it; a fenced
 * instance that stops or exits stays FENCED, one that serves again was
 * unfenced elsewhere (its epoch above our fence's) or is fenced again; a
 * held instance keeps its hold reason while its health holds. */
void decide_heartbeat(const struct observer *o, struct instance *i, enum inst_event ev, bool new_life,
                      enum inst_health to, const char *reason, struct decisions *d)
{
    const struct policy_instance *p = &i->policy;
    bool fence_kept = ev == EV_HB_EXITED || ev == EV_HB_STOPPING || ev == EV_HB_FENCED;

    (void)o;
    switch ((enum policy_phase)p->phase) {
    case POLICY_SENT:
    case POLICY_RESTARTING:
        if (p->kind == CORE_ACT_RESTART && new_life) {
            decisions_add(d, DEC_END_ACTION, i);   /* the new life's heartbeat decides its health */
            break;
        }
        to = (enum inst_health)i->health;
        reason = i->reason;
        break;
    case POLICY_FENCED:
        if (!fence_kept && i->fence_epoch > p->fence_issued) {
            decisions_add(d, DEC_END_ACTION, i);   /* it obeyed an UNFENCE: lifted */
            break;
        }
        if (!fence_kept || (new_life && ev != EV_HB_FENCED)) {
            /* A new life, or one serving again without an UNFENCE: the
             * fence holds (DESIGN.md §6) and is sent again. */
            decisions_add(d, DEC_MARK_REFENCE, i);
            reason = i->reason;
        } else if (ev != EV_HB_FENCED) {
            reason = i->reason;
        }
        to = INST_FENCED;
        break;
    case POLICY_HELD:
    case POLICY_PLANNED:
        if (p->kind == CORE_ACT_FENCE && p->trigger == POLICY_TRIGGER_REFENCE) {
            to = INST_FENCED;
            reason = i->reason;   /* fenced still: the fence waits to go out again */
        } else if (p->phase == POLICY_HELD && to == i->health) {
            reason = i->reason;
        }
        break;
    default:
        break;
    }
    add_transition(d, i, to, reason, 0);
}

/* A fenced instance came back without an UNFENCE (decide_heartbeat marked
 * it, the applier has cleared the mark): the fence goes out again, now, to
 * the life heard. The record still says fenced; the new FENCE has a new
 * epoch. */
void decide_refence(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d)
{
    if (!state_acts(o) || !i->service->expected)
        return;
    plan(o, i, CORE_ACT_FENCE, POLICY_TRIGGER_REFENCE, now_ms, now_ms, d);
}

/* The maintenance flags covering `i` changed. Under one, a decision it needs
 * (planned or held for another gate) is held with the flag's reason; an
 * action in flight or a fence is left alone. Under none, a held decision,
 * or a death nothing was decided for, is judged afresh. Only a deciding
 * observer has decisions to move. */
void decide_maintenance(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d)
{
    const struct policy_instance *p = &i->policy;
    const struct maint_flag *m = maintenance_of(o, i);
    char why[REASON_MAX];

    if (!state_acts(o))
        return;
    if (m != NULL) {
        if (policy_phase_pending((enum policy_phase)p->phase)) {
            maintenance_reason(m, why, sizeof(why));
            add_reason(d, DEC_HOLD, i, why);
        }
        return;
    }
    if (p->phase != POLICY_HELD && !(p->phase == POLICY_IDLE && i->health == INST_DEAD))
        return;
    decisions_add(d, DEC_CANCEL, i);
    if (i->health == INST_DEAD)
        add_ask(d, i, ASK_DEATH, INST_DEAD);
    else if (i->health == INST_DEGRADED && o->policy.degraded_limit_ms != 0 && i->service->expected &&
             !i->service->restart_disabled)
        plan(o, i, CORE_ACT_RESTART, POLICY_TRIGGER_DEGRADED, now_ms + o->policy.degraded_limit_ms, now_ms, d);
    add_ask(d, i, ASK_MAINT_LIFTED, INST_UNSPECIFIED);
    decisions_add(d, DEC_RESCHEDULE, i);
}

/* After a lift was judged: an instance still showing a maintenance hold
 * with nothing pending says the hold is gone. */
void decide_maintenance_lifted(const struct observer *o, struct instance *i, struct decisions *d)
{
    (void)o;
    if (i->policy.phase == POLICY_IDLE && strncmp(i->reason, "held: maintenance", 17) == 0)
        add_transition(d, i, (enum inst_health)i->health, "maintenance lifted", 0);
}

/* ---- mass silence ---- */

/* A HEALTHY instance, silent since `began_ms`, was just found so, and the
 * observer has counted it: too many silences beginning together is our
 * problem, not theirs: SELF_PRESERVATION. */
void decide_silence_noted(const struct observer *o, int64_t began_ms, struct decisions *d)
{
    struct policy_silence window = o->silence;   /* counting rolls the window: a copy */
    uint32_t silenced, before;
    struct decision *x;

    if (o->state != OBSERVER_NORMAL && o->state != OBSERVER_WARMING_UP)
        return;
    silenced = policy_silence_count(&window, began_ms);
    before = o->n_healthy + silenced;
    if (!policy_mass_silence(&o->policy, silenced, before))
        return;
    x = decisions_add(d, DEC_MASS_SILENCE, NULL);
    x->healthy_before = before;
    snprintf(x->reason, sizeof(x->reason), "mass silence: %u of %u healthy instances silent within %.1fs",
             silenced, before, (double)o->max_interval_ms / 1000.0);
}

/* A mass silence at a tick: over once enough heartbeats are back (then the
 * observer warms up one interval before acting again); else, once it has
 * held actions for self_preservation_max_ms, it is no longer a blip: act
 * again, within the blast radius (the instances still silent are DEAD by
 * now and their restarts are held: the gates let max_concurrent of them go
 * at a time). */
void decide_silence_check(const struct observer *o, int64_t now_ms, struct decisions *d)
{
    size_t before = d->n;
    char reason[DECISION_REASON_MAX];

    if (o->blind != BLIND_MASS_SILENCE)
        return;
    silence_over(o, d);
    if (d->n != before || now_ms - o->blind_since_ms < (int64_t)o->policy.self_preservation_max_ms)
        return;
    snprintf(reason, sizeof(reason), "self-preservation ended after %llds without the heartbeats back: "
             "acting within the blast radius", (long long)((now_ms - o->blind_since_ms) / 1000));
    add_reason(d, DEC_SILENCE_EXPIRED, NULL, reason);
}
