/* The observing engine: turns heartbeats and the passing of time into
 * instance and service health, the observer's own state, events and
 * decisions (restart, fence, escalate; DESIGN.md §6, rules in policy.h).
 *
 * Pure (DESIGN.md §10): every input carries its time (monotonic ms); nothing
 * here reads a clock or does I/O. Events and actions leave through the
 * caller's sink, synchronously, on the calling thread. One thread owns an
 * observer. An observer whose sink has no on_action only observes: it takes
 * no decisions at all (a simulation of detection alone).
 *
 * Decisions need two more things. Leadership (DESIGN.md §8): only the leader
 * acts; a standby (observer_set_leader false) detects and models health like
 * the leader but sends, plans and persists nothing. An observer is created a
 * leader, so a single supervisor without a lease acts as soon as it has
 * warmed up. Durable state: when the sink has on_persist, every change of an
 * instance's durable policy state (persist.h) is written through it before
 * the action that depends on it is sent, and observer_restore brings it back
 * after a restart. */
#ifndef CORE_OBSERVER_H
#define CORE_OBSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detector.h"
#include "fleet/names.h"
#include "health.h"
#include "persist.h"
#include "policy.h"
#include "registry.h"

#define CHECK_DETAIL_MAX 96

/* One configured service. */
struct service_config {
    char name[FLEET_NAME_MAX + 1];
    uint32_t desired;
    uint32_t crashloop_max;       /* restarts allowed per window, 0 = 5; above it FENCE
                                     "crashloop" (at most POLICY_TALLY_MAX) */
    uint32_t crashloop_window_ms; /* 0 = 600000 (10 min) */
    bool restart_disabled;        /* never restart or fence it; it is only observed */
    bool no_agent;                /* nothing obeys a Control for it (probe: micro): a restart or
                                     fence it needs is escalated (on_escalate), never sent */
    uint32_t max_interval_ms;     /* promised intervals above this are taken as it; 0 = the
                                     observer's max_interval_ms */
    const char (*depends_on)[FLEET_NAME_MAX + 1]; /* copied: restarts held while one of */
    size_t n_depends_on;                          /*   these is UNAVAILABLE or MISSING */
};

struct observer_config {
    struct detector_params detector; /* prepared (detector_params_prepare) */
    uint32_t default_interval_ms;    /* prior for heartbeats that promise none; warm-up floor */
    int64_t forget_after_ms;         /* drop DEAD/STOPPED instances silent this long */
    int64_t stall_ms;                /* a gap between ticks this long means we could not see */
    int64_t link_grace_ms;           /* after our own link returns, time clients get to reconnect */
    int64_t server_grace_ms;         /* silence of instances on a NATS server that shows no sign of
                                        life is held on the server at most this long (after it last
                                        carried a heartbeat); 0 = never attributed to a server */
    uint32_t max_interval_ms;        /* longest promised interval taken (clamp); 0 = no clamp */
    /* Bounds on what heartbeats can make the observer track (DESIGN.md §7:
     * set by configuration, never by what arrives); 0 = unbounded. A
     * configured service tracks up to max(max_instances_per_service,
     * 2 x desired) instances. */
    uint32_t max_instances_per_service;
    uint32_t max_unexpected_services;
    uint32_t max_instances_per_unexpected;
    const struct service_config *services; /* borrowed for the call only */
    size_t n_services;
    struct policy_config policy;     /* zeros take the defaults (policy_config_resolve) */
};

/* A decoded, validated heartbeat (the codec's output, the core's input). */
struct hb_input {
    int64_t arrival_ms;     /* monotonic time it reached the supervisor */
    int64_t sent_unix_ms;
    uint64_t incarnation;
    uint64_t seq;
    uint64_t fence_epoch;
    uint64_t term_seen;
    uint32_t interval_ms;   /* 0 = the configured default */
    uint32_t pid;
    enum serving_state state;
    bool checks_ok;
    bool proven;            /* its proof by its incarnation's key was checked (DESIGN.md §7) */
    bool has_exit;
    int32_t exit_code;
    int32_t exit_signal;
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    char version[VERSION_MAX + 1];
    char nats_server[FLEET_SERVER_ID_MAX + 1]; /* server it came through, "" = unknown */
    char failed_check[CHECK_DETAIL_MAX]; /* "name: detail" of the first failing check */
};

/* What the observer made of a heartbeat. */
enum hb_verdict {
    HB_ACCEPTED,
    HB_STALE,       /* seq not above the last one, or from a previous incarnation */
    HB_NO_MEMORY,   /* could not track a new instance; nothing changed */
    HB_LIMIT_SERVICES,  /* a new unexpected service past max_unexpected_services: dropped */
    HB_LIMIT_INSTANCES, /* a new instance past its service's limit: dropped */
    HB_UNPROVEN,    /* unproven, for an instance whose life proves its heartbeats: dropped */
    HB_CONTENDER,   /* a proven other life while the current one lives: noted, never judged */
};

/* One transition, decision or notable change. `instance` is NULL for a
 * service-level event (unexpected service, version drift). `action` is 0 for
 * a plain transition; for an action taken (or sent again) it names it, `from`
 * is the health before and `to` the health the action gives (RESTARTING for
 * a restart, FENCED for a fence). Pointers are valid during the callback
 * only. */
struct core_event {
    const struct service *service;
    const struct instance *instance;
    enum inst_health from;
    enum inst_health to;
    enum core_action_kind action;
    const char *reason;
    const char *operator_name; /* the operator whose order caused it; "" = the supervisor's own */
    int64_t at_ms;
};

/* One attempt of an action, for the edge to sign and send now. Every attempt
 * (retries included) has its own action_id; the edge reports its outcome
 * with observer_action_result(action_id, ...). Pointers are valid during the
 * callback only. */
struct core_action {
    const struct service *service;
    const struct instance *instance;
    enum core_action_kind kind;
    uint64_t action_id;     /* unique per attempt; the edge echoes it in observer_action_result */
    uint64_t incarnation;   /* target's incarnation */
    uint64_t fence_epoch;   /* for FENCE/UNFENCE; 0 otherwise */
    uint32_t attempt;       /* 1 for the first try, 2.. for retries */
    const char *reason;     /* e.g. "dead: silent 2.1s", "crashloop: 6 restarts in 600s" */
    int64_t at_ms;
};

/* Something a person should look at (crash loop fenced, control refused or
 * unacknowledged); the edge runs the configured on_escalate command with the
 * target in its environment. Pointers are valid during the callback only. */
struct core_escalation {
    const struct service *service;
    const struct instance *instance;
    const char *reason;     /* starts with "crashloop", "unacknowledged", "refused" or
                               "no agent" (a no_agent service's restart or fence) */
    int64_t at_ms;
};

/* Every callback is optional and runs synchronously on the observer's
 * thread; none may call back into the observer (report action outcomes
 * later, with observer_action_result).
 *
 * on_persist: the durable state of `i` is now `p` (wall-clock times, see
 * observer_set_unix_offset); the edge stores it (persist_pack) under the
 * instance's key, replacing the previous record, and returns true once it is
 * durable, false if the write failed. It is called only by a deciding
 * leader, only when that state changed: a restart issued, a fence epoch
 * chosen and its FENCE issued, a fence lifted (the instance serves again) or
 * abandoned (refused, unacknowledged), a restart streak ended by a stable
 * spell; never per heartbeat otherwise. It always precedes the on_action of
 * the RESTART or FENCE it records, so no epoch is ever issued twice and a
 * restarted supervisor fences at the same count. On false the action is not
 * sent: the instance is held ("held: state store unavailable") and the write
 * is tried again one ack_timeout_ms later (ticks), then the action goes; a
 * failed write with no action (a lift, a streak reset) is also retried then.
 * Without on_persist nothing is persisted and actions go unconditionally. */
struct observer_sink {
    void *ctx;
    void (*on_event)(void *ctx, const struct core_event *ev);
    void (*on_state)(void *ctx, enum observer_state from, enum observer_state to,
                     const char *reason);
    void (*on_action)(void *ctx, const struct core_action *a);          /* edge signs & sends it now */
    void (*on_escalate)(void *ctx, const struct core_escalation *e);    /* edge runs the on_escalate hook */
    bool (*on_persist)(void *ctx, const struct service *s, const struct instance *i,
                       const struct policy_persisted *p);               /* edge stores it; false = failed */
};

struct observer_summary {
    uint32_t services_expected;
    uint32_t services_available;
    uint32_t instances_expected; /* sum of desired */
    uint32_t instances_healthy;  /* HEALTHY, each service capped at its desired */
    double availability;         /* available / expected; 1.0 when none expected */
};

struct observer_counters {
    uint64_t heartbeats;   /* accepted */
    uint64_t stale;        /* refused as stale */
    uint64_t limit_services;   /* refused: a new unexpected service past the limit */
    uint64_t limit_instances;  /* refused: a new instance past its service's limit */
    uint64_t unproven;     /* refused: unproven heartbeat for an instance whose life proves them */
    uint64_t contender;    /* heartbeats of a second live incarnation (not judged) */
    uint64_t conflicts;    /* times two incarnations of one instance were both heard alive */
    uint64_t transitions;  /* instance health changes */
    uint64_t actions;      /* action attempts handed to on_action */
    uint64_t escalations;
    uint64_t no_agent;     /* restarts/fences of no_agent services escalated instead of sent */
    uint64_t self_preservation_expired; /* mass silences that outlasted self_preservation_max_ms */
};

struct observer;

/* Creates an observer in WARMING_UP at `now_ms` with the configured services
 * MISSING, a leader (term 0) with a unix offset of 0. Returns 0 and *out, or
 * -1 (bad detector params, out of memory; *out untouched). Destroy with
 * observer_destroy. */
int observer_create(const struct observer_config *cfg, const struct observer_sink *sink,
                    int64_t now_ms, struct observer **out);
void observer_destroy(struct observer *o);

/* Applies a new configuration (SIGHUP): services added, removed or resized;
 * instances and their history are kept. Returns 0, or -1 with nothing changed. */
int observer_reconfigure(struct observer *o, const struct observer_config *cfg, int64_t now_ms);

/* Takes one heartbeat. The caller has validated names and sizes. */
enum hb_verdict observer_heartbeat(struct observer *o, const struct hb_input *hb);

/* Judges everything due at `now_ms`; call at least every stall_ms. */
void observer_tick(struct observer *o, int64_t now_ms);

/* The observer's own NATS link went down / came back. While down nothing is
 * declared late or dead. On return every watched instance is judged as if
 * its last heartbeat arrived link_grace_ms from now (clients reconnect on
 * their own schedule, after us), and the observer warms up until then. */
void observer_link(struct observer *o, bool up, int64_t now_ms);

/* The id of the NATS server our own link is connected to ("" unknown), as
 * heartbeats name servers (Heartbeat.nats_server): while our link is up,
 * that server is alive, so silence of instances on it is theirs. */
void observer_set_own_server(struct observer *o, const char *id);

/* An answer to action attempt `action_id` (from on_action), classified by
 * the edge (`error` may be NULL). Acceptance acts at once: an accepted
 * RESTART keeps the instance RESTARTING until a new incarnation is heard or
 * restart_timeout_ms passes. Any other answer is noted and decided at the
 * attempt's ack timeout, so that an acceptance arriving meanwhile wins over a
 * refusal (answers can be forged by anyone who may publish on our inbox):
 * a refusal for good gives up (escalated); a retryable one, no responders,
 * or no answer at all send again, ack_attempts in all; then the instance is
 * given up, "unreachable" when nobody was listening. A dead instance whose
 * service already has `desired` HEALTHY instances is never restarted nor
 * escalated: it is shown STOPPED, "replaced" (ECS started another task).
 * Answers for an attempt no longer awaited (superseded by a retry, timed
 * out, target forgotten) are ignored. */
void observer_action_result(struct observer *o, uint64_t action_id, enum core_ack ack, const char *error,
                            int64_t now_ms);

/* Leadership (DESIGN.md §8; the edge holds the KV lease, `term` is its
 * revision). Losing it: STANDBY at once; planned and held actions are
 * dropped, actions in flight forgotten (their results are ignored; a FENCE
 * in flight counts as in force, as its record says), failed writes are not
 * retried; detection goes on. Gaining it: WARMING_UP for one full max
 * interval (SELF_PRESERVATION if the link is down), then NORMAL, when every
 * instance then DEAD is judged afresh (restart or fence). A standby's policy
 * records are stale (the leader wrote the store), so the edge calls
 * observer_restore for every stored record when it gains leadership, before
 * the warm-up ends. Calling it again with the same `leader` only updates
 * `term`. Not the leader implies no actions, no plans, no on_persist. */
void observer_set_leader(struct observer *o, bool leader, uint64_t term, int64_t now_ms);
/* Neither leading nor a standby: nobody is known to lead (the lease cannot
 * be reached, JetStream is gone). As a standby it decides nothing (what was
 * planned or in flight is dropped as for a standby), but its state is
 * SELF_PRESERVATION with `why` as the reason, since its feed is the one
 * published. observer_set_leader(true, ...) ends it as it ends standby. */
void observer_set_observing(struct observer *o, const char *why, int64_t now_ms);
/* A supervisor that holds a lease starts as this: a standby (as
 * observer_set_leader false) that says it waits for the lease, not that
 * another supervisor leads, which nobody knows yet. */
void observer_await_lease(struct observer *o, int64_t now_ms);

/* The highest term_seen any heartbeat has reported (0 before any): a new
 * leader's term must be above it (DESIGN.md §8). Never lowers. */
uint64_t observer_max_term_seen(const struct observer *o);

/* The store took a write again, or a record that conflicted was restored
 * (observer_restore): held actions and failed writes are tried at the next
 * observer_tick instead of ack_timeout_ms after the failure. */
void observer_store_retry_now(struct observer *o, int64_t now_ms);

/* Whether it leads, and the term last given to observer_set_leader (0 before). */
bool observer_is_leader(const struct observer *o, uint64_t *term);

/* The wall clock's offset from the monotonic one, unix_ms - mono_ms, used
 * only to express durable times (on_persist) in wall-clock ms;
 * |unix_offset_ms| <= PERSIST_UNIX_MS_MAX. The edge sets it before the first
 * tick and may refresh it at any time (the wall clock steps). */
void observer_set_unix_offset(struct observer *o, int64_t unix_offset_ms);

/* Restores the durable state `p` of `instance` of `service` (a record read
 * back from the store; `unix_offset_ms` as in observer_set_unix_offset, for
 * the process now running). Usually at start, before heartbeats, but any
 * time is allowed. A service not in the config: ignored, returns 0. An
 * instance not tracked is created (health UNSPECIFIED, not watched for
 * silence until it heartbeats, forgotten after forget_after_ms unheard).
 * Then its restart tally and streak are replaced by the record's, so backoff
 * and crash-loop fencing continue where the writer left them; fence epochs
 * are raised to the record's (new ones go above it); a record that says
 * fenced makes the instance FENCED (health FENCED, no restarts) unless an
 * action of ours is in flight for it, and a FENCED instance whose record says
 * not fenced returns to IDLE, its next heartbeat deciding its health.
 * Nothing is persisted by restoring. Returns 0, or -1 (`p` not
 * persist_valid, bad offset, out of memory) with nothing changed. */
int observer_restore(struct observer *o, const char *service, const char *instance,
                     const struct policy_persisted *p, int64_t now_ms, int64_t unix_offset_ms);

/* An operator's order (DESIGN.md §6 "Operators"): the edge has checked its
 * signature and what the operator may do; the core judges it against the
 * fleet. Pointers are borrowed for the call. */
struct operator_order {
    enum core_action_kind action; /* RESTART, FENCE, UNFENCE, DRAIN, RESUME */
    const char *service;
    const char *instance;         /* NULL: every instance (RESTART only: a rolling restart) */
    const char *operator_name;    /* named in the events it causes */
    const char *reason;           /* "" allowed */
    bool force;                   /* RESTART: may take the last serving instance down */
    uint32_t batch;               /* rolling restart: instances restarted at once, 0 = 1 */
    uint32_t min_healthy_ms;      /* rolling restart: HEALTHY this long before the next batch */
};

/* Carries out `ord` at `now_ms`, through the same path as the supervisor's
 * own actions (written first, then signed and sent by the edge), announced
 * by an event naming the operator. Unlike the policy's actions an order is
 * immediate: no backoff, not counted in the crash-loop tally, and not held
 * by warm-up, self-preservation, dependencies or the blast radius (a person
 * decided). It is refused, with `result` saying why and nothing changed,
 * when this observer does not lead or cannot act, the target is unknown, an
 * action of ours is in flight for it, a RESTART would take its service's
 * last serving instance down without `force`, the state store is failing,
 * or it makes no sense for the target's state (FENCE of a fenced instance,
 * UNFENCE of one not fenced, RESTART/DRAIN/RESUME of a fenced or a STOPPED
 * one). UNFENCE
 * also clears the instance's crash-loop tally and restart streak. A
 * rolling restart restarts the service's instances `batch` at a time, each
 * next batch only once the previous one is HEALTHY again (a new life) for
 * `min_healthy_ms` and the others still serve; it reports progress as
 * events and stops, saying why, when an instance does not come back within
 * restart_timeout_ms + min_healthy_ms, or is fenced. One rolling restart
 * per service at a time. Returns 0 (`result`: what was done) or -1. */
int observer_operator(struct observer *o, const struct operator_order *ord, int64_t now_ms, char *result,
                      size_t result_len);

/* Whether an operator may name service/instance (`instance` NULL: the
 * whole service): this observer leads and knows the target. Returns 0, or
 * -1 with `why` saying which is not so. */
int observer_operator_target(const struct observer *o, const char *service, const char *instance, char *why,
                             size_t why_len);

/* An operator's maintenance order (the edge has stored the flag first):
 * observer_set_maintenance with `reason` (NULL lifts it), announced by an
 * event in `operator_name`'s name ("maintenance on by alice: <reason>").
 * Refused as observer_operator_target refuses. Returns 0 (`result`: what was
 * done) or -1 (`result`: why). */
int observer_operator_maintenance(struct observer *o, const char *service, const char *instance,
                                  const char *reason, const char *operator_name, int64_t now_ms, char *result,
                                  size_t result_len);

/* One maintenance flag, as the core keeps it and the edge reads it from
 * the store. */
struct maint_flag {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];  /* "" = the whole service */
    char reason[FLEET_KEPT_REASON_MAX + 1];
};

/* Maintenance (DESIGN.md §8): an operator's hold on a whole service
 * (`instance` NULL) or on one instance, with a reason (UTF-8, at most
 * FLEET_KEPT_REASON_MAX bytes; "" is allowed). Under maintenance an instance is
 * observed as usual, but no restart or fence is sent for it: a decision it
 * needs (planned or due) is held, its reason "held: maintenance: <reason>";
 * an action already in flight is not recalled. An instance-level flag wins
 * over its service's for the reason. `reason` NULL lifts the flag: every
 * affected instance holding a decision, or dead with none, is judged
 * afresh (restart now or after its backoff, or a crash-loop fence). Flags
 * may name services and instances not (yet) known; they are kept as given
 * and apply when those appear. Setting the same reason again changes
 * nothing. A standby keeps the flags (it plans nothing anyway), so the edge
 * sets them on every replica or at least before observer_set_leader(true).
 * The caller has validated the names. Returns 0, or -1 (a name or reason too
 * long, out of memory) with nothing changed. */
int observer_set_maintenance(struct observer *o, const char *service, const char *instance,
                             const char *reason, int64_t now_ms);

/* The maintenance flags, for the edge to compare with what it stored:
 * index `k` < observer_maintenance_count(); *instance is NULL for a whole
 * service. Pointers are valid until the next observer_set_maintenance.
 * Flags keep the order they were set in; lifting one shifts those after it
 * down by one (so lifting while walking from the end is safe). */
size_t observer_maintenance_count(const struct observer *o);
void observer_maintenance_at(const struct observer *o, size_t k, const char **service,
                             const char **instance, const char **reason);

/* Earliest time observer_tick has work to do: NO_DEADLINE if none, and
 * while the link is down (nothing is judged then). */
int64_t observer_next_deadline(const struct observer *o);

enum observer_state observer_state(const struct observer *o);
/* Why the observer is in its state (e.g. "mass silence: 30 of 100 healthy
 * instances silent within 1.0s"); valid until the next call into it. */
const char *observer_state_reason(const struct observer *o);
const struct registry *observer_registry(const struct observer *o);
void observer_summary(const struct observer *o, struct observer_summary *out);
void observer_counters(const struct observer *o, struct observer_counters *out);

/* Current suspicion of an instance (0 for instances not watched). */
double observer_phi(const struct observer *o, const struct instance *i, int64_t now_ms);

/* Rolling availability of a service at `now_ms` (integrates, hence not const). */
void observer_service_availability(struct observer *o, struct service *s, int64_t now_ms,
                                   double *hour, double *day);

#endif
