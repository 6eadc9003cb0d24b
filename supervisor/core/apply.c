/* The applier (observer_private.h): the one place the policy's decisions
 * change the observer, and the mechanics the entries share with it: health
 * transitions and their events (s6's announce), the observer's own state,
 * the held and in-flight lists, actions, escalations.
 *
 * A change of health is a fact: the applier asks the policy about it
 * (decide_health_changed) and applies the answer before the decisions that
 * came after the transition, as a nested call would, but from an agenda: no
 * decision is applied from inside another, and nothing here is re-entered. */
#include "observer_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the held and in-flight lists ---- */

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

/* ---- events and the observer's own state ---- */

void apply_emit(struct observer *o, const struct service *s, const struct instance *i, enum inst_health from,
                enum inst_health to, enum core_action_kind action, const char *reason, int64_t now_ms)
{
    struct core_event ev = {
        .service = s, .instance = i, .from = from, .to = to, .action = action,
        .reason = reason, .operator_name = o->operator_name != NULL ? o->operator_name : "", .at_ms = now_ms,
    };

    if (o->sink.on_event != NULL)
        o->sink.on_event(o->sink.ctx, &ev);
}

/* Recomputes a service's health from its counts and feeds its availability.
 * A change may open a dependency gate for held instances. */
void apply_service_refresh(struct observer *o, struct service *s, int64_t now_ms)
{
    enum svc_health h = health_of_service(s->expected, s->ever_seen, s->count[INST_HEALTHY],
                                          s->count[INST_DEGRADED], s->desired);

    if (h != s->health) {
        s->health = (unsigned char)h;
        s->dirty = true;
        if (o->held.first != NULL)
            o->held_dirty = true;
    }
    availability_update(&s->availability, now_ms, h == SVC_AVAILABLE, o->state == OBSERVER_NORMAL);
}

/* Enters `to` (announced once per change), remembering why. Leaving
 * SELF_PRESERVATION forgets its cause; reaching NORMAL opens the gates. */
void apply_set_state(struct observer *o, enum observer_state to, const char *reason, int64_t now_ms)
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
        apply_service_refresh(o, registry_service_at(o->registry, k), now_ms);
    if (o->sink.on_state != NULL)
        o->sink.on_state(o->sink.ctx, from, to, reason);
}

/* How often an instance held on its server is judged again: its server
 * may show signs of life (or the hold run out) at any heartbeat. */
static int64_t server_recheck_ms(const struct instance *i)
{
    int64_t step = i->detector.interval_ms / 4;

    return step < 50 ? 50 : step;
}

/* Next time `i` must be judged after `now_ms`: the threshold it has not
 * crossed yet (the silence ceiling can put dead before suspect), or, once it
 * is dead or stopped, when it is forgotten; and the policy's timer if that is
 * earlier. A crossed threshold is never scheduled again, so a state that
 * ignores LATE cannot spin the tick; a policy timer is always in the future
 * or POLICY_NEVER. An instance whose health an action owns is only woken by
 * its timer; one held on its server, every server_recheck_ms. */
void apply_reschedule(struct observer *o, struct instance *i, int64_t now_ms)
{
    int64_t at;

    if (state_silence_watched(i) && i->server_held) {
        at = now_ms + server_recheck_ms(i);
    } else if (state_silence_watched(i)) {
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

/* ---- the agenda ---- */

/* Decisions still to apply, the next on top. Its depth is bounded by the
 * policy: a transition's answer holds at most one question, whose answer
 * holds at most one transition, whose answer holds nothing more to ask
 * (an action in flight owns the health it gave). */
#define AGENDA_MAX 32
struct agenda {
    size_t n;
    struct decision d[AGENDA_MAX];
};

/* Puts `d`'s decisions on top of the agenda, the first one topmost. */
static void agenda_push(struct agenda *a, const struct decisions *d)
{
    if (a->n + d->n > AGENDA_MAX)
        abort();   /* beyond the bound above: a bug in the policy */
    for (size_t k = d->n; k-- > 0;)
        a->d[a->n++] = d->d[k];
}

/* Puts one decision of `kind` about `i` on top of the agenda. */
static struct decision *agenda_add(struct agenda *a, enum decision_kind kind, struct instance *i)
{
    struct decision *x;

    if (a->n == AGENDA_MAX)
        abort();
    x = &a->d[a->n++];
    decision_init(x, kind, i);
    return x;
}

/* Moves `i` to `to` for `reason`, emitting one event when the health changes
 * or an action is taken (`action` != 0). The common case, a heartbeat that
 * changes nothing, copies only a reason that changed. `reason` may be
 * i->reason. A change of health is recorded (counts, the fleet's HEALTHY
 * count) and the policy's answer to it goes on top of `a`. */
static void transition(struct observer *o, struct agenda *a, struct instance *i, enum inst_health to,
                       const char *reason, enum core_action_kind action, int64_t now_ms)
{
    struct service *s = i->service;
    enum inst_health from = (enum inst_health)i->health;
    int64_t since = i->health_since_ms;
    struct decisions d;

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
        apply_service_refresh(o, s, now_ms);
    }
    apply_emit(o, s, i, from, to, action, i->reason, now_ms);
    if (from == to)
        return;
    if (from == INST_HEALTHY && s->expected)
        o->n_healthy--;
    if (to == INST_HEALTHY && s->expected)
        o->n_healthy++;
    decisions_start(&d, o);
    decide_health_changed(o, i, from, to, since, now_ms, &d);
    o->rng = d.rng;
    agenda_push(a, &d);
}

/* Asks the policy question `x` and puts its answer on top of `a`. */
static void ask(struct observer *o, struct agenda *a, const struct decision *x, int64_t now_ms)
{
    struct decisions d;

    decisions_start(&d, o);
    switch (x->question) {
    case ASK_DUE: decide_due(o, x->instance, now_ms, &d); break;
    case ASK_DEATH: decide_death(o, x->instance, now_ms, &d); break;
    case ASK_HEALTH: decide_health_act(o, x->instance, x->health, now_ms, &d); break;
    case ASK_MAINT_LIFTED: decide_maintenance_lifted(o, x->instance, &d); break;
    }
    o->rng = d.rng;
    agenda_push(a, &d);
}

/* ---- actions ---- */

static void escalate(struct observer *o, const struct instance *i, const char *reason, int64_t now_ms)
{
    struct core_escalation e = { .service = i->service, .instance = i, .reason = reason, .at_ms = now_ms };

    o->counters.escalations++;
    if (i->service->no_agent)
        o->counters.no_agent++;
    if (o->sink.on_escalate != NULL)
        o->sink.on_escalate(o->sink.ctx, &e);
}

/* Hands the attempt in flight of `i` to on_action. */
static void send_attempt(struct observer *o, const struct instance *i, int64_t now_ms)
{
    const struct policy_instance *p = &i->policy;
    struct core_action act = {
        .service = i->service,
        .instance = i,
        .kind = (enum core_action_kind)p->kind,
        .action_id = p->action_id,
        .incarnation = i->incarnation,
        .fence_epoch = p->kind == CORE_ACT_FENCE || p->kind == CORE_ACT_UNFENCE ? p->fence_epoch : 0,
        .attempt = p->attempt,
        .reason = i->reason,
        .at_ms = now_ms,
    };

    o->counters.actions++;
    o->sink.on_action(o->sink.ctx, &act);
}

/* An action of ours ended (acked fence, finished or failed restart, gave
 * up): its slot is free for a held one. */
void apply_finish_flight(struct observer *o, struct instance *i)
{
    list_remove(&o->flight, i);
    o->in_flight--;
    i->policy.timer_ms = POLICY_NEVER;
    o->held_dirty = o->held.first != NULL;
}

/* Drops a planned or held action, or a give-up: the instance is back. */
void apply_cancel_pending(struct observer *o, struct instance *i)
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

/* Puts `i`'s due action on the held list (once), its reason `why`. */
static void hold(struct observer *o, struct agenda *a, struct instance *i, const char *why, int64_t now_ms)
{
    struct policy_instance *p = &i->policy;

    if (p->phase != POLICY_HELD) {
        p->phase = POLICY_HELD;
        list_append(&o->held, i);
    }
    p->timer_ms = POLICY_NEVER;
    i->next_action_ms = 0;
    transition(o, a, i, (enum inst_health)i->health, why, 0, now_ms);
    apply_reschedule(o, i, now_ms);
}

/* Takes `i`'s planned action now (decision `x`): with on_persist the record
 * of the state after it is written first; if that fails nothing changes but
 * the phase (PLANNED) and the policy's answer to the failure goes on top of
 * `a`. Else the record is `x`'s, the action is in flight, and its event,
 * the action itself, an escalation and a reschedule follow, in that order. */
static void issue(struct observer *o, struct agenda *a, const struct decision *x, int64_t now_ms)
{
    struct instance *i = x->instance;
    struct policy_instance *p = &i->policy;

    if (p->phase == POLICY_HELD) {
        list_remove(&o->held, i);
        p->phase = POLICY_PLANNED;
    }
    if (state_persists(o)) {
        struct policy_persisted rec;

        persist_from_policy(&x->after, x->health == INST_FENCED, x->reason, o->unix_offset_ms, &rec);
        rec.restarts = i->restarts;
        if (!writeahead_store_put(o, i, &rec, now_ms)) {
            struct decisions d;

            p->phase = POLICY_PLANNED;
            decisions_start(&d, o);
            decide_store_failed(o, i, &d);
            agenda_push(a, &d);
            return;
        }
    }
    *p = x->after;
    p->phase = POLICY_SENT;
    p->attempt = 1;
    p->answer = CORE_ACK_NONE;
    p->action_id = ++o->last_action_id;
    p->timer_ms = now_ms + o->policy.ack_timeout_ms;
    i->next_action_ms = 0;
    list_append(&o->flight, i);
    o->in_flight++;
    agenda_add(a, DEC_RESCHEDULE, i);
    if (x->escalate)
        snprintf(agenda_add(a, DEC_ESCALATE, i)->reason, DECISION_REASON_MAX, "%s", x->reason);
    agenda_add(a, DEC_SEND, i);
    transition(o, a, i, x->health, x->reason, x->action, now_ms);
}

/* Applies decision `x`; what it leads to goes on top of `a`. */
static void apply_one(struct observer *o, struct agenda *a, const struct decision *x, int64_t now_ms)
{
    struct instance *i = x->instance;
    struct policy_instance *p = i != NULL ? &i->policy : NULL;

    switch (x->kind) {
    case DEC_TRANSITION:
        transition(o, a, i, x->health, x->reason, x->action, now_ms);
        break;
    case DEC_RESCHEDULE:
        apply_reschedule(o, i, now_ms);
        break;
    case DEC_CANCEL:
        apply_cancel_pending(o, i);
        break;
    case DEC_PLAN:
        apply_cancel_pending(o, i);
        p->kind = (uint8_t)x->action;
        p->trigger = (uint8_t)x->trigger;
        p->phase = POLICY_PLANNED;
        break;
    case DEC_TIMER:
        p->timer_ms = x->at_ms;
        i->next_action_ms = x->at_ms;
        i->service->dirty = true;
        apply_reschedule(o, i, now_ms);
        break;
    case DEC_HOLD:
        hold(o, a, i, x->reason, now_ms);
        break;
    case DEC_ISSUE:
        issue(o, a, x, now_ms);
        break;
    case DEC_SEND:
        send_attempt(o, i, now_ms);
        break;
    case DEC_RESEND:
        p->attempt++;
        p->answer = CORE_ACK_NONE;
        p->action_id = ++o->last_action_id;
        p->timer_ms = x->at_ms;
        apply_emit(o, i->service, i, (enum inst_health)i->health, (enum inst_health)i->health,
                   (enum core_action_kind)p->kind, x->reason, now_ms);
        send_attempt(o, i, now_ms);
        break;
    case DEC_REARM:
        p->timer_ms = x->at_ms;
        break;
    case DEC_END_ACTION:
        if (policy_phase_in_flight((enum policy_phase)p->phase))
            apply_finish_flight(o, i);
        apply_cancel_pending(o, i);
        p->phase = POLICY_IDLE;
        p->kind = 0;
        break;
    case DEC_GIVE_UP:
        if (policy_phase_in_flight((enum policy_phase)p->phase))
            apply_finish_flight(o, i);
        p->phase = POLICY_GAVE_UP;
        p->kind = 0;
        break;
    case DEC_MARK_REFENCE:
        p->refence = 1;
        break;
    case DEC_AWAIT_RESTART:
        p->phase = POLICY_RESTARTING;
        p->timer_ms = x->at_ms;
        break;
    case DEC_FENCE_HOLDS:
        apply_finish_flight(o, i);
        p->phase = POLICY_FENCED;
        p->kind = 0;
        break;
    case DEC_STREAK:
        p->backoff_step = x->backoff_step;
        writeahead_persist_state(o, i, now_ms);
        break;
    case DEC_PERSIST:
        writeahead_persist_state(o, i, now_ms);
        break;
    case DEC_ESCALATE:
        /* No Control announces it (none is sent): an event of its own says why. */
        if (i->service->no_agent)
            apply_emit(o, i->service, i, (enum inst_health)i->health, (enum inst_health)i->health, 0, x->reason,
                       now_ms);
        escalate(o, i, x->reason, now_ms);
        break;
    case DEC_MASS_SILENCE:
        o->healthy_before = x->healthy_before;
        o->blind = BLIND_MASS_SILENCE;
        o->blind_since_ms = now_ms;
        apply_set_state(o, OBSERVER_SELF_PRESERVATION, x->reason, now_ms);
        break;
    case DEC_SILENCE_OVER:
        o->warm_from_ms = now_ms;
        o->warm_until_ms = now_ms;
        policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
        apply_set_state(o, OBSERVER_WARMING_UP, x->reason, now_ms);
        break;
    case DEC_SILENCE_EXPIRED:
        o->counters.self_preservation_expired++;
        policy_silence_init(&o->silence, o->max_interval_ms, now_ms);
        apply_set_state(o, OBSERVER_NORMAL, x->reason, now_ms);
        break;
    case DEC_ASK:
        ask(o, a, x, now_ms);
        break;
    }
}

static void run(struct observer *o, struct agenda *a, int64_t now_ms)
{
    while (a->n != 0) {
        struct decision x = a->d[--a->n];

        apply_one(o, a, &x, now_ms);
    }
}

void apply_decisions(struct observer *o, const struct decisions *d, int64_t now_ms)
{
    struct agenda a;

    o->rng = d->rng;
    a.n = 0;
    agenda_push(&a, d);
    run(o, &a, now_ms);
}

void apply_transition(struct observer *o, struct instance *i, enum inst_health to, const char *reason,
                      int64_t now_ms)
{
    struct agenda a;

    a.n = 0;
    transition(o, &a, i, to, reason, 0, now_ms);
    run(o, &a, now_ms);
}

/* Asks the policy again about every held action if a gate may have opened.
 * The sink may not call back into the observer, so the list changes only
 * through the instance asked about. */
void apply_drain_held(struct observer *o, int64_t now_ms)
{
    struct instance *i, *next;

    if (!o->held_dirty)
        return;
    if (o->state == OBSERVER_NORMAL) {
        for (i = o->held.first; i != NULL; i = next) {
            struct decisions d;

            next = i->policy_next;
            decisions_start(&d, o);
            decide_due(o, i, now_ms, &d);
            apply_decisions(o, &d, now_ms);
        }
    }
    o->held_dirty = false;
}

/* Unlinks `i` from the policy's lists before it is freed. */
void apply_detach(struct observer *o, struct instance *i)
{
    if (policy_phase_in_flight((enum policy_phase)i->policy.phase))
        apply_finish_flight(o, i);
    else if (i->policy.phase == POLICY_HELD)
        list_remove(&o->held, i);
    writeahead_set_dirty(o, i, false);
    if (i->health == INST_HEALTHY && i->service->expected)
        o->n_healthy--;
}
