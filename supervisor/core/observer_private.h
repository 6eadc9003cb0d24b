/* Private to the observer (observer.h): the state its files share and the
 * calls they make into each other. Never included outside supervisor/core.
 *
 *   observer.c     create, config, heartbeats, time and link: detection and health
 *   decide.c       decisions (DESIGN.md §6): plans, holds, actions, results,
 *                  retries, escalations, gates, mass silence
 *   maintenance.c  operators' maintenance flags
 *   durable.c      durable state: the on_persist write-ahead and its retries
 *   lead.c         leadership and restored records */
#ifndef CORE_OBSERVER_PRIVATE_H
#define CORE_OBSERVER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observer.h"
#include "servers.h"

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
    char state_reason[128];

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
    struct maint_entry *maint;
    size_t n_maint;
    size_t cap_maint;
};

/* observer.c */
void observer_emit(struct observer *o, const struct service *s, const struct instance *i,
                   enum inst_health from, enum inst_health to, enum core_action_kind action,
                   const char *reason, int64_t now_ms);
void observer_set_state(struct observer *o, enum observer_state to, const char *reason, int64_t now_ms);
void observer_transition_as(struct observer *o, struct instance *i, enum inst_health to,
                            const char *reason, enum core_action_kind action, int64_t now_ms);
void observer_transition(struct observer *o, struct instance *i, enum inst_health to,
                         const char *reason, int64_t now_ms);
void observer_reschedule(struct observer *o, struct instance *i, int64_t now_ms);

/* decide.c */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void decide_reason_printf(char *buf, size_t n, const char *fmt, ...);
void decide_streak_check(struct observer *o, struct instance *i, int64_t healthy_ms, int64_t now_ms);
void decide_finish_flight(struct observer *o, struct instance *i);
void decide_cancel_pending(struct observer *o, struct instance *i);
void decide_hold(struct observer *o, struct instance *i, const char *why, int64_t now_ms);
void decide_plan(struct observer *o, struct instance *i, enum core_action_kind kind,
                 enum policy_trigger trigger, int64_t at_ms, int64_t now_ms);
void decide_on_death(struct observer *o, struct instance *i, int64_t now_ms);
void decide_health_changed(struct observer *o, struct instance *i, enum inst_health from,
                           enum inst_health to, int64_t since_ms, int64_t now_ms);
void decide_policy_timer(struct observer *o, struct instance *i, int64_t now_ms);
void decide_drain_held(struct observer *o, int64_t now_ms);
enum inst_health decide_policy_heartbeat(struct observer *o, struct instance *i, enum inst_event ev,
                                         bool new_life, enum inst_health to, const char **reason);
void decide_note_silence(struct observer *o, int64_t now_ms);
void decide_refence(struct observer *o, struct instance *i, int64_t now_ms);
void decide_leave_mass_silence_if_over(struct observer *o, int64_t now_ms);
void decide_end_mass_silence_if_too_long(struct observer *o, int64_t now_ms);
void decide_policy_detach(struct observer *o, struct instance *i);

/* maintenance.c */
const struct maint_entry *maintenance_of(const struct observer *o, const struct instance *i);
void maintenance_reason(const struct maint_entry *m, char *why, size_t n);

/* durable.c */
bool durable_deciding(const struct observer *o);
bool durable_persisting(const struct observer *o);
bool durable_fenced_now(const struct instance *i);
void durable_set_persist_dirty(struct observer *o, struct instance *i, bool dirty);
bool durable_store_open(const struct observer *o, int64_t now_ms);
bool durable_store_put(struct observer *o, struct instance *i, const struct policy_persisted *rec,
                       int64_t now_ms);
void durable_persist_state(struct observer *o, struct instance *i, int64_t now_ms);
void durable_store_retry(struct observer *o, int64_t now_ms);

/* lead.c */
void lead_sweep_dead(struct observer *o, int64_t now_ms);

#endif
