/* An operator's order about one instance (observer.h, observer_operator;
 * DESIGN.md §6 "Operators"). decide_operator is a policy answer like those
 * of decide.c: it reads the observer and returns decisions, and apply.c
 * carries them out, so an order goes the one way every action goes:
 * written first, then handed to the edge to sign and send, announced by an
 * event (here in the operator's name). What an order does not share with
 * the policy's own actions: it is immediate (no backoff, no gate but the
 * last-serving guard and the state store), and a RESTART is not counted in
 * the crash-loop tally. */
#include "observer_private.h"

#include <stdio.h>
#include <string.h>

#define refuse(...) (reason_printf(__VA_ARGS__), false)


bool decide_operator(const struct observer *o, struct instance *i, const struct operator_order *ord,
                     int64_t now_ms, struct decisions *d, char *why, size_t why_len)
{
    const struct service *s = i->service;
    const struct policy_instance *p = &i->policy;
    const char *verb = health_action_name(ord->action);
    bool fenced = state_record_fenced(i);
    struct decision *x;

    if (s->no_agent)
        return refuse(why, why_len, "%s has no agent to obey a %s (probe: micro): nothing would act on it; "
                      "restart or fence it through its platform", s->name, verb);
    if (policy_phase_in_flight((enum policy_phase)p->phase))
        return refuse(why, why_len, "busy: a %s of %s/%s is in flight; try again when it is done",
                      health_action_name((enum core_action_kind)p->kind), s->name, i->name);
    switch (ord->action) {
    case CORE_ACT_RESTART:
    case CORE_ACT_DRAIN:
    case CORE_ACT_RESUME:
        if (fenced)
            return refuse(why, why_len, "%s/%s is fenced (epoch %llu): unfence it first", s->name, i->name,
                          (unsigned long long)p->fence_issued);
        /* A stopped instance announced its end (or was replaced): there is
         * no process to act on, and a failed order must not turn it into a
         * death the policy then repairs. */
        if (i->health == INST_STOPPED)
            return refuse(why, why_len, "%s/%s is stopped (%s): there is no process to %s", s->name, i->name,
                          i->reason[0] != '\0' ? i->reason : "it announced its end", verb);
        if (ord->action == CORE_ACT_RESTART && !ord->force &&
            (i->health == INST_HEALTHY || i->health == INST_DEGRADED) &&
            s->count[INST_HEALTHY] + s->count[INST_DEGRADED] <= 1)
            return refuse(why, why_len,
                          "%s/%s is the last serving instance of %s: restarting it takes %s down; "
                          "add --force to do it anyway", s->name, i->name, s->name, s->name);
        break;
    case CORE_ACT_FENCE:
        if (fenced)
            return refuse(why, why_len, "%s/%s is already fenced (epoch %llu)", s->name, i->name,
                          (unsigned long long)p->fence_issued);
        break;
    case CORE_ACT_UNFENCE:
        if (!fenced)
            return refuse(why, why_len, "%s/%s is not fenced", s->name, i->name);
        break;
    default:
        return refuse(why, why_len, "action %d is not an order", (int)ord->action);
    }
    if (state_persists(o) && !state_store_open(o, now_ms))
        return refuse(why, why_len, "the state store is unavailable: nothing can be written before "
                                    "acting; try again shortly");

    decisions_add(d, DEC_CANCEL, i);   /* a planned, held or abandoned action of ours gives way */
    x = decisions_add(d, DEC_ISSUE, i);
    x->after = *p;
    x->after.kind = (uint8_t)ord->action;
    x->after.trigger = POLICY_TRIGGER_OPERATOR;
    x->action = ord->action;
    reason_printf(x->reason, sizeof(x->reason), "%s by %s%s%s", verb, ord->operator_name,
             ord->reason[0] != '\0' ? ": " : "", ord->reason);
    switch (ord->action) {
    case CORE_ACT_RESTART:
        x->health = INST_RESTARTING;   /* and no tally, no streak: not a death */
        break;
    case CORE_ACT_FENCE:
        x->after.fence_epoch = policy_next_fence_epoch(i->fence_epoch, p->fence_epoch);
        x->after.fence_issued = x->after.fence_epoch;
        x->health = INST_FENCED;
        break;
    case CORE_ACT_UNFENCE:
        /* Above the fence's epoch, so the instance obeys it and its
         * heartbeats then show the fence lifted; FENCED until they do. */
        x->after.fence_epoch = policy_next_fence_epoch(i->fence_epoch, p->fence_epoch);
        policy_tally_clear(&x->after);
        x->health = INST_FENCED;
        break;
    default:
        x->health = (enum inst_health)i->health;
        break;
    }
    return true;
}

int operator_apply(struct observer *o, struct instance *i, const struct operator_order *ord, int64_t now_ms,
                   char *why, size_t why_len)
{
    struct decisions d;

    decisions_start(&d, o);
    if (!decide_operator(o, i, ord, now_ms, &d, why, why_len))
        return -1;
    o->operator_name = ord->operator_name;
    apply_decisions(o, &d, now_ms);
    o->operator_name = NULL;
    /* The write-ahead failed: the order was held like the policy's own
     * actions are, but an order is not kept for later. */
    if (i->policy.phase != POLICY_SENT) {
        apply_cancel_pending(o, i);
        reason_printf(why, why_len, "the state store refused the write: %s/%s was not acted on; try again shortly",
                 i->service->name, i->name);
        return -1;
    }
    return 0;
}

int observer_operator(struct observer *o, const struct operator_order *ord, int64_t now_ms, char *result,
                      size_t result_len)
{
    struct service *s;
    struct instance *i;

    if (!o->leader) {
        reason_printf(result, result_len, "this supervisor does not lead: ask the leader");
        return -1;
    }
    if (o->sink.on_action == NULL) {
        reason_printf(result, result_len,
                      "this supervisor cannot act: it has no signing key (control.signing_key_file)");
        return -1;
    }
    s = registry_service(o->registry, ord->service);
    if (s == NULL) {
        reason_printf(result, result_len, "no service %s is known to the supervisor", ord->service);
        return -1;
    }
    if (s->no_agent) {
        reason_printf(result, result_len, "%s has no agent to obey a %s (probe: micro): nothing would act on "
                      "it; restart or fence it through its platform", s->name, health_action_name(ord->action));
        return -1;
    }
    if (ord->instance == NULL) {
        if (ord->action != CORE_ACT_RESTART) {
            reason_printf(result, result_len, "%s needs an instance: SERVICE/INSTANCE",
                          health_action_name(ord->action));
            return -1;
        }
        return rollout_start(o, s, ord, now_ms, result, result_len);
    }
    i = registry_instance(o->registry, s, ord->instance);
    if (i == NULL) {
        reason_printf(result, result_len, "no instance %s/%s is known to the supervisor", ord->service, ord->instance);
        return -1;
    }
    if (operator_apply(o, i, ord, now_ms, result, result_len) != 0)
        return -1;
    reason_printf(result, result_len, "%s of %s/%s sent", health_action_name(ord->action), s->name, i->name);
    return 0;
}

int observer_operator_target(const struct observer *o, const char *service, const char *instance, char *why,
                             size_t why_len)
{
    const struct service *s;

    if (!o->leader) {
        reason_printf(why, why_len, "this supervisor does not lead: ask the leader");
        return -1;
    }
    s = registry_service(o->registry, service);
    if (s == NULL) {
        reason_printf(why, why_len, "no service %s is known to the supervisor", service);
        return -1;
    }
    if (instance != NULL && registry_instance(o->registry, s, instance) == NULL) {
        reason_printf(why, why_len, "no instance %s/%s is known to the supervisor", service, instance);
        return -1;
    }
    return 0;
}

int observer_operator_maintenance(struct observer *o, const char *service, const char *instance,
                                  const char *reason, const char *operator_name, int64_t now_ms, char *result,
                                  size_t result_len)
{
    const struct service *s;
    const struct instance *i = NULL;
    char text[DECISION_REASON_MAX];
    const char *target_sep = instance != NULL ? "/" : "";

    if (observer_operator_target(o, service, instance, result, result_len) != 0)
        return -1;
    if (observer_set_maintenance(o, service, instance, reason, now_ms) != 0) {
        reason_printf(result, result_len, "the maintenance flag cannot be kept: a reason over %d bytes, "
                                          "or out of memory", FLEET_KEPT_REASON_MAX);
        return -1;
    }
    s = registry_service(o->registry, service);
    if (instance != NULL)
        i = registry_instance(o->registry, s, instance);
    if (reason != NULL)
        reason_printf(text, sizeof(text), "maintenance on by %s%s%s", operator_name, reason[0] != '\0' ? ": " : "",
                      reason);
    else
        reason_printf(text, sizeof(text), "maintenance off by %s", operator_name);
    o->operator_name = operator_name;
    apply_emit(o, s, i, i != NULL ? (enum inst_health)i->health : INST_UNSPECIFIED,
               i != NULL ? (enum inst_health)i->health : INST_UNSPECIFIED, 0, text, now_ms);
    o->operator_name = NULL;
    reason_printf(result, result_len, "%s%s%s %s", service, target_sep, instance != NULL ? instance : "",
                  reason != NULL ? "under maintenance" : "out of maintenance");
    return 0;
}
