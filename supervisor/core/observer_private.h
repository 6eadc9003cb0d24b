/* Private to the observer (observer.h): the state its files share, the
 * decisions its policy returns, and the calls between its files. Never
 * included outside supervisor/core.
 *
 * The flow is one way, as s6-supervise drives a service through its
 * [state][event] table: an entry point records a fact, asks the policy, and
 * applies the decisions it returns; the policy reads the state and changes
 * nothing. Calls point down only:
 *
 *   observer.c     entries: create, config, heartbeats, time, link, action results
 *   lead.c         entries: leadership, restored records
 *   maintenance.c  entries: operators' maintenance flags
 *        |  record a fact, ask decide_*, hand the answer to apply_decisions
 *        v
 *   apply.c        the one place decisions are applied: health transitions and
 *                  their events, plans, holds, actions, escalations, the
 *                  observer's own state; a transition's answer from the policy
 *                  is applied next, from an agenda, never by re-entering
 *        v
 *   writeahead.c   durable state: the on_persist write-ahead and its retries
 *                  (the record's byte layout is persist.c's)
 *        v
 *   decide.c       the policy (DESIGN.md §6), pure: (state, fact, time, config)
 *                  -> a short list of struct decision; reads, never writes */
#ifndef CORE_OBSERVER_PRIVATE_H
#define CORE_OBSERVER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "observer.h"
#include "servers.h"

/* Bytes of the observer's state reason and of a decision's reason, NUL
 * included (an instance's reason is shorter: REASON_MAX). */
#define DECISION_REASON_MAX 128

/* Why the observer is in SELF_PRESERVATION. */
enum blind_cause {
    BLIND_NONE,
    BLIND_LINK,          /* our own NATS link is down */
    BLIND_MASS_SILENCE,  /* too many healthy instances went silent at once */
    BLIND_AUTHORITY,     /* not leading and nobody else seen leading (observer_set_observing) */
};

/* An intrusive list of instances through instance.policy_next/prev. An
 * instance is on at most one: held (phase HELD) or in flight (SENT,
 * RESTARTING); its policy phase says which. */
struct inst_list {
    struct instance *first;
    struct instance *last;
};

struct observer {
    struct registry *registry;
    struct observer_sink sink;
    struct detector_params params;
    uint32_t default_interval_ms;
    uint32_t max_interval_ms;  /* largest promised interval of a configured service's instance seen
                                  (>= default), clamped: warm-up and the mass-silence window */
    uint32_t interval_cap_ms;  /* detector.max_interval_ms: the clamp for services without one */
    uint32_t max_instances_per_service;
    uint32_t max_unexpected_services;
    uint32_t max_instances_per_unexpected;
    uint32_t n_unexpected;     /* unexpected services tracked */
    int64_t forget_after_ms;
    int64_t stall_ms;
    int64_t link_grace_ms;
    int64_t server_grace_ms;
    enum observer_state state;
    bool link_up;
    int64_t warm_from_ms;      /* WARMING_UP lasts one max interval from this... */
    int64_t warm_until_ms;     /* ...and at least until this */
    int64_t last_tick_ms;
    struct observer_counters counters;
    char state_reason[DECISION_REASON_MAX];

    /* Decisions (policy.h). */
    struct policy_config policy; /* resolved */
    uint64_t rng;                /* xorshift64* state for jitter */
    uint64_t last_action_id;
    uint32_t in_flight;          /* instances on `flight` */
    uint32_t n_healthy;          /* HEALTHY instances of configured services, fleet-wide */
    struct inst_list held;       /* due actions behind a closed gate, oldest first */
    struct inst_list flight;     /* actions sent and not finished */
    bool held_dirty;             /* a gate may have opened since `held` was last tried */
    enum blind_cause blind;
    uint32_t healthy_before;     /* mass silence: HEALTHY count the incident is measured against */
    int64_t blind_since_ms;      /* mass silence: when it began (bounded by self_preservation_max_ms) */
    struct policy_silence silence;

    /* Leadership (observer_set_leader). */
    bool leader;
    uint64_t max_term_seen;      /* highest term_seen heard */
    bool sweep_dead;             /* judge every DEAD instance when this leadership reaches NORMAL */
    uint64_t term;

    /* Durable state (on_persist). */
    int64_t unix_offset_ms;      /* unix_ms - mono_ms, for the times in records */
    bool store_down;             /* the last write failed: no write is tried before... */
    int64_t store_retry_at_ms;   /* ...this time */
    uint32_t n_persist_dirty;    /* instances whose state changed but whose write failed */

    /* Shared fate: the servers heartbeats come through, and ours. */
    struct server_table servers;
    char own_server[FLEET_SERVER_ID_MAX + 1];
    int64_t last_heard_ms;       /* arrival of the last heartbeat accepted from anyone */

    /* Maintenance flags, in the order they were set; few, so a plain array
     * looked up only when a decision is due (never per heartbeat). */
    struct maint_flag *maint;
    size_t n_maint;
    size_t cap_maint;

    /* Operators (operator.c, rollout.c). */
    const char *operator_name;   /* while an order is applied: its operator, for the events */
    struct rollout *rollouts;    /* rolling restarts under way, one per service at most */
    size_t n_rollouts;
};

/* ---- predicates on the state, for every layer (no file of their own) ---- */

/* Whether this observer takes decisions at all: it can send actions and
 * leads (see observer.h). */
static inline bool state_acts(const struct observer *o)
{
    return o->sink.on_action != NULL && o->leader;
}

/* Whether its decisions are made durable first. */
static inline bool state_persists(const struct observer *o)
{
    return state_acts(o) && o->sink.on_persist != NULL;
}

/* Whether a write may be tried at `now_ms`: not before the retry time after
 * a failure. */
static inline bool state_store_open(const struct observer *o, int64_t now_ms)
{
    return !o->store_down || now_ms >= o->store_retry_at_ms;
}

/* Whether `i`'s record says fenced: a FENCE of ours is in force or in
 * flight (it was written before it was sent), or is to be sent again to a
 * new life (held or planned). */
static inline bool state_record_fenced(const struct instance *i)
{
    const struct policy_instance *p = &i->policy;

    return p->phase == POLICY_FENCED ||
           (policy_phase_in_flight((enum policy_phase)p->phase) && p->kind == CORE_ACT_FENCE) ||
           (policy_phase_pending((enum policy_phase)p->phase) && p->kind == CORE_ACT_FENCE &&
            p->trigger == POLICY_TRIGGER_REFENCE);
}

/* Whether the detector judges `i`'s silence: its health is one that can go
 * late, and no action of ours owns its health (RESTARTING, a fence). */
static inline bool state_silence_watched(const struct instance *i)
{
    return health_is_watched((enum inst_health)i->health) &&
           !policy_phase_owns_health((enum policy_phase)i->policy.phase);
}

/* ---- decisions: what the policy returns, as data ---- */

/* A question the policy answers only once the decisions before it are
 * applied (its answer depends on them): the applier asks it then. */
enum decide_question {
    ASK_DUE,            /* i's planned action is due now (decide_due) */
    ASK_DEATH,          /* i is dead: restart, fence, or nothing (decide_death) */
    ASK_HEALTH,         /* what i's new health `health` calls for (decide_health_act) */
    ASK_MAINT_LIFTED,   /* a hold by maintenance that nothing replaced is lifted */
};

enum decision_kind {
    DEC_TRANSITION,     /* health `health`, reason `reason`, announced with `action` (0 = a
                           plain transition); a change of health is a fact the policy is
                           asked about (decide_health_changed), its answer applied next */
    DEC_RESCHEDULE,     /* i's next judgement is computed again */
    DEC_CANCEL,         /* a planned or held action, or a give-up, is dropped */
    DEC_PLAN,           /* what was pending is dropped; `action` (`trigger`) is planned */
    DEC_TIMER,          /* the planned action waits for its timer, at `at_ms` */
    DEC_HOLD,           /* the due action waits on the held list; `reason` says why */
    DEC_ISSUE,          /* the planned action goes: `after` is written (on_persist) first,
                           then health `health` with `reason`, the action is sent and,
                           when `escalate`, escalated; a failed write holds it instead */
    DEC_SEND,           /* the attempt in flight goes to on_action (the end of a DEC_ISSUE) */
    DEC_RESEND,         /* the action in flight is sent again; `reason` announces it */
    DEC_REARM,          /* i's policy timer is set again, to `at_ms` (timeouts wait) */
    DEC_END_ACTION,     /* the action in flight, pending or in force is over (a restart done,
                           failed or not needed, a fence lifted): the instance is IDLE */
    DEC_GIVE_UP,        /* the action in flight (if any) is abandoned: the instance is GAVE_UP */
    DEC_MARK_REFENCE,   /* the fence must go out again (policy.refence) */
    DEC_AWAIT_RESTART,  /* the RESTART was accepted: RESTARTING until `at_ms` */
    DEC_FENCE_HOLDS,    /* the FENCE was accepted: in force */
    DEC_STREAK,         /* the restart streak is now `backoff_step`, written durably */
    DEC_PERSIST,        /* i's durable state changed: write it (or mark it for a retry) */
    DEC_ESCALATE,       /* a person should look: on_escalate with `reason` */
    DEC_MASS_SILENCE,   /* SELF_PRESERVATION for a mass silence of `healthy_before` (reason) */
    DEC_SILENCE_OVER,   /* the mass silence is over: WARMING_UP (reason) */
    DEC_SILENCE_EXPIRED,/* the mass silence lasted too long: NORMAL again (reason) */
    DEC_ASK,            /* ask the policy `question` now, and apply its answer next */
};

/* One decision about `instance` (NULL for the observer's own state). */
struct decision {
    enum decision_kind kind;
    struct instance *instance;
    enum inst_health health;
    enum core_action_kind action;
    enum policy_trigger trigger;
    enum decide_question question;
    bool escalate;
    int64_t at_ms;
    uint32_t backoff_step;
    uint32_t healthy_before;
    struct policy_instance after;   /* DEC_ISSUE: the policy record once it went */
    char reason[DECISION_REASON_MAX]; /* an instance's are at most REASON_MAX - 1 bytes */
};

/* The policy's answer to one fact: a short list in order, owned by the
 * caller. `rng` is the jitter PRNG's state: the asker copies the
 * observer's in and takes it back after (the policy draws from it). */
#define DECISIONS_MAX 8
struct decisions {
    size_t n;
    uint64_t rng;
    struct decision d[DECISIONS_MAX];
};

/* Starts decision `x` of `kind` about `i`, its details empty. */
static inline void decision_init(struct decision *x, enum decision_kind kind, struct instance *i)
{
    x->kind = kind;
    x->instance = i;
    x->health = INST_UNSPECIFIED;
    x->action = 0;
    x->trigger = POLICY_TRIGGER_NONE;
    x->question = ASK_DUE;
    x->escalate = false;
    x->at_ms = 0;
    x->backoff_step = 0;
    x->healthy_before = 0;
    x->reason[0] = '\0';
}

/* An empty answer, the observer's PRNG state copied in. */
static inline void decisions_start(struct decisions *d, const struct observer *o)
{
    d->n = 0;
    d->rng = o->rng;
}

/* Appends a decision of `kind` about `i` and returns it for its details.
 * The lists are short by construction (DECISIONS_MAX bounds the longest
 * answer a policy gives); a full list is a bug in its caller. */
static inline struct decision *decisions_add(struct decisions *d, enum decision_kind kind, struct instance *i)
{
    struct decision *x;

    if (d->n == DECISIONS_MAX)
        abort();
    x = &d->d[d->n++];
    decision_init(x, kind, i);
    return x;
}

/* decide.c: the policy. Every function is pure: it reads `o` and `i` and
 * appends to `d` (never more than DECISIONS_MAX in all), changing nothing
 * else. */
void decide_heartbeat(const struct observer *o, struct instance *i, enum inst_event ev, bool new_life,
                      enum inst_health to, const char *reason, struct decisions *d);
void decide_health_changed(const struct observer *o, struct instance *i, enum inst_health from,
                           enum inst_health to, int64_t since_ms, int64_t now_ms, struct decisions *d);
void decide_health_act(const struct observer *o, struct instance *i, enum inst_health to, int64_t now_ms,
                       struct decisions *d);
void decide_death(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d);
void decide_due(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d);
void decide_store_failed(const struct observer *o, struct instance *i, struct decisions *d);
void decide_timer(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d);
void decide_ack(const struct observer *o, struct instance *i, enum core_ack ack, const char *error,
                int64_t now_ms, struct decisions *d);
void decide_refence(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d);
void decide_streak(const struct observer *o, struct instance *i, int64_t healthy_ms, struct decisions *d);
void decide_maintenance(const struct observer *o, struct instance *i, int64_t now_ms, struct decisions *d);
void decide_maintenance_lifted(const struct observer *o, struct instance *i, struct decisions *d);
void decide_silence_noted(const struct observer *o, int64_t began_ms, struct decisions *d);
void decide_silence_check(const struct observer *o, int64_t now_ms, struct decisions *d);

/* decide.c: snprintf for reasons, which are cut at `n` by design (the
 * compiler is not asked to prove they fit). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void reason_printf(char *buf, size_t n, const char *fmt, ...);

/* apply.c: the applier, and the mechanics it shares with the entries.
 * apply_decisions applies `d` in order (taking back its PRNG state), each
 * change of health followed by the policy's answer to it. */
void apply_decisions(struct observer *o, const struct decisions *d, int64_t now_ms);
void apply_transition(struct observer *o, struct instance *i, enum inst_health to, const char *reason,
                      int64_t now_ms);
void apply_emit(struct observer *o, const struct service *s, const struct instance *i, enum inst_health from,
                enum inst_health to, enum core_action_kind action, const char *reason, int64_t now_ms);
void apply_set_state(struct observer *o, enum observer_state to, const char *reason, int64_t now_ms);
void apply_service_refresh(struct observer *o, struct service *s, int64_t now_ms);
void apply_reschedule(struct observer *o, struct instance *i, int64_t now_ms);
void apply_finish_flight(struct observer *o, struct instance *i);
void apply_cancel_pending(struct observer *o, struct instance *i);
void apply_drain_held(struct observer *o, int64_t now_ms);
void apply_detach(struct observer *o, struct instance *i);

/* writeahead.c: the write-ahead of durable state (on_persist). */
void writeahead_set_dirty(struct observer *o, struct instance *i, bool dirty);
bool writeahead_store_put(struct observer *o, struct instance *i, const struct policy_persisted *rec,
                       int64_t now_ms);
void writeahead_persist_state(struct observer *o, struct instance *i, int64_t now_ms);
void writeahead_store_retry(struct observer *o, int64_t now_ms);

/* lead.c */
void lead_sweep_dead(struct observer *o, int64_t now_ms);

/* operator.c: an operator's order about one instance. decide_operator is
 * the policy's answer to it (false, with `why`, when it is refused; the
 * decisions then empty); operator_apply applies it in the operator's name
 * and checks it went: 0, or -1 with `why` (the write-ahead failed) and the
 * order dropped. */
bool decide_operator(const struct observer *o, struct instance *i, const struct operator_order *ord,
                     int64_t now_ms, struct decisions *d, char *why, size_t why_len);
int operator_apply(struct observer *o, struct instance *i, const struct operator_order *ord, int64_t now_ms,
                   char *why, size_t why_len);

/* rollout.c: rolling restarts. rollout_start begins one for `s` (0, or -1
 * with `why`); rollout_tick moves every one on at `now_ms` (from
 * observer_tick); rollout_next_deadline is when one must be looked at
 * again (NO_DEADLINE if none); rollout_drop_all ends them (leadership lost:
 * the new leader does not carry them on) with an event each; rollout_free
 * frees them. */
int rollout_start(struct observer *o, struct service *s, const struct operator_order *ord, int64_t now_ms,
                  char *why, size_t why_len);
void rollout_tick(struct observer *o, int64_t now_ms);
int64_t rollout_next_deadline(const struct observer *o);
void rollout_drop_all(struct observer *o, const char *why, int64_t now_ms);
void rollout_free(struct observer *o);

#endif
