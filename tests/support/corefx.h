/* Test fixture for the pure core (supervisor/core/): an observer on a virtual
 * clock, fed heartbeats built here, its sink recording everything it is told
 * (events, observer states, actions, escalations, persist writes), and
 * assertions that print both values on failure (libuv's test/task.h).
 *
 * Every helper fails the running cmocka test (fail_msg) rather than return
 * an error: a recorder that is full, an observer that cannot be created, a
 * heartbeat that is refused where acceptance is expected. Nothing here reads
 * a clock; `now` is always the fixture's. */
#ifndef TESTS_COREFX_H
#define TESTS_COREFX_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "observer.h"
#include "persist.h"

#define COREFX_INTERVAL 1000       /* interval every built heartbeat promises, ms */
#define COREFX_FORGET_AFTER 600000 /* the fixture's forget_after_ms: 10 min */
#define COREFX_STALL 5000          /* the fixture's stall_ms */
#define COREFX_SEED 0xC0FFEEULL    /* a fixed policy seed, so runs are identical */

#define COREFX_SERVICES_MAX 8
#define COREFX_DEPS_MAX 4          /* depends_on entries per configured service */
#define COREFX_MAX_EVENTS 8192
#define COREFX_MAX_STATES 64
#define COREFX_MAX_ACTIONS 512
#define COREFX_MAX_ESCALATIONS 64
#define COREFX_MAX_LOG 1024        /* > COREFX_MAX_ACTIONS: actions alone never fill it */
#define COREFX_REASON_LEN (REASON_MAX + 32) /* a service-level event's reason is longer */

/* ---- assertions that print both values ---- */

#define assert_double_near(a, b, eps)                                                   \
    do {                                                                                \
        double a_ = (a), b_ = (b);                                                      \
        if (!(fabs(a_ - b_) <= (eps)))                                                  \
            fail_msg("%s = %.12g, %s = %.12g: differ by more than %g", #a, a_, #b, b_,  \
                     (double)(eps));                                                    \
    } while (0)
#define assert_double_ge(a, b)                                                          \
    do {                                                                                \
        double a_ = (a), b_ = (b);                                                      \
        if (!(a_ >= b_))                                                                \
            fail_msg("%s = %.9g is not >= %s = %.9g", #a, a_, #b, b_);                  \
    } while (0)
#define assert_double_lt(a, b)                                                          \
    do {                                                                                \
        double a_ = (a), b_ = (b);                                                      \
        if (!(a_ < b_))                                                                 \
            fail_msg("%s = %.9g is not < %s = %.9g", #a, a_, #b, b_);                   \
    } while (0)
#define assert_int64_le(a, b)                                                           \
    do {                                                                                \
        int64_t a_ = (a), b_ = (b);                                                     \
        if (!(a_ <= b_))                                                                \
            fail_msg("%s = %lld is not <= %s = %lld", #a, (long long)a_, #b, (long long)b_); \
    } while (0)
#define assert_int64_lt(a, b)                                                           \
    do {                                                                                \
        int64_t a_ = (a), b_ = (b);                                                     \
        if (!(a_ < b_))                                                                 \
            fail_msg("%s = %lld is not < %s = %lld", #a, (long long)a_, #b, (long long)b_); \
    } while (0)
#define assert_int64_eq(a, b)                                                           \
    do {                                                                                \
        int64_t a_ = (a), b_ = (b);                                                     \
        if (a_ != b_)                                                                   \
            fail_msg("%s = %lld, %s = %lld", #a, (long long)a_, #b, (long long)b_);     \
    } while (0)
#define assert_int64_in(v, lo, hi)                                                      \
    do {                                                                                \
        int64_t v_ = (v), lo_ = (lo), hi_ = (hi);                                       \
        if (v_ < lo_ || v_ > hi_)                                                       \
            fail_msg("%s = %lld not in [%lld, %lld]", #v, (long long)v_, (long long)lo_, \
                     (long long)hi_);                                                   \
    } while (0)
#define assert_prefix(s, prefix)                                                        \
    do {                                                                                \
        const char *s_ = (s), *p_ = (prefix);                                           \
        if (strncmp(s_, p_, strlen(p_)) != 0)                                           \
            fail_msg("%s = \"%s\" does not start with \"%s\"", #s, s_, p_);             \
    } while (0)
/* The health of svc/inst (which must exist) is `h`, by name on failure. */
#define assert_health(f, svc, inst, h)                                                  \
    do {                                                                                \
        enum inst_health got_ = corefx_health_of((f), (svc), (inst));                   \
        if (got_ != (h))                                                                \
            fail_msg("%s/%s is %s, expected %s", (svc), (inst), health_inst_name(got_), \
                     health_inst_name(h));                                              \
    } while (0)

/* Jitter and shuffles use the core's own PRNG, policy_rng_next (policy.h):
 * deterministic from a fixed seed. Uniform integer in [lo, hi] (lo <= hi),
 * advancing *state. */
int64_t corefx_rng_between(uint64_t *state, int64_t lo, int64_t hi);

/* ---- the recording sink ---- */

/* Which observer_sink callbacks the fixture installs: a missing one is NULL,
 * as an edge without it would leave it (no on_action: the observer only
 * observes; no on_persist: no write-ahead). */
enum corefx_sinks {
    COREFX_EVENTS = 1 << 0,
    COREFX_STATES = 1 << 1,
    COREFX_ACTIONS = 1 << 2,
    COREFX_ESCALATIONS = 1 << 3,
    COREFX_PERSIST = 1 << 4,
};

struct corefx_event {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1]; /* "" for a service-level event */
    enum inst_health from, to;
    enum core_action_kind action;      /* 0 when the event took none */
    char reason[COREFX_REASON_LEN];
    char operator_name[FLEET_OPERATOR_MAX + 1]; /* "" for the supervisor's own */
    int64_t at_ms;
};

struct corefx_state {
    enum observer_state from, to;
    char reason[128];
};

struct corefx_action {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    enum core_action_kind kind;
    uint64_t id;
    uint64_t incarnation;
    uint64_t fence_epoch;
    uint32_t attempt;
    char reason[COREFX_REASON_LEN];
    int64_t at_ms;
};

struct corefx_escalation {
    char instance[FLEET_NAME_MAX + 1];
    char reason[COREFX_REASON_LEN];
    int64_t at_ms;
};

/* Copies of everything the observer handed its sink, in order; a copy, so
 * it stays valid after the callback (observer.h: pointers are valid during
 * the callback only). */
struct corefx_recorder {
    struct corefx_event events[COREFX_MAX_EVENTS];
    size_t n_events;
    struct corefx_state states[COREFX_MAX_STATES];
    size_t n_states;
    struct corefx_action actions[COREFX_MAX_ACTIONS];
    size_t n_actions;
    struct corefx_escalation escalations[COREFX_MAX_ESCALATIONS];
    size_t n_escalations;
    /* on_persist, as the edge's store: answers `store_ok` (true after
     * init); a stored record is packed (persist_pack must succeed) and
     * replaces the previous one in `kv`, unpacked in `last`. */
    bool store_ok;
    size_t n_persist_calls;
    uint8_t kv[PERSIST_PACKED_MAX];
    size_t kv_len;
    struct policy_persisted last;
    /* The order of writes and actions: 'P' write stored, 'p' write refused,
     * 'A' action sent; NUL-terminated. */
    char log[COREFX_MAX_LOG];
    size_t n_log;
};

/* ---- the fixture: one observer and what it was told ---- */

struct corefx {
    struct corefx_recorder rec;
    /* What corefx_start gives observer_create: corefx_init fills it with
     * the recording callbacks its `sinks` name, ctx = this fixture. A test
     * may wrap one (calling the corefx_record_* it replaces) before start. */
    struct observer_sink sink;
    struct service_config services[COREFX_SERVICES_MAX];
    char deps[COREFX_SERVICES_MAX][COREFX_DEPS_MAX][FLEET_NAME_MAX + 1];
    size_t n_services;
    struct observer_config cfg; /* defaults below; a test may change it before start */
    struct observer *o;         /* NULL until corefx_start */
    int64_t now;                /* the last time given to the observer */
    int64_t unix_offset;        /* unix_ms - mono_ms, set on the observer at start */
    uint64_t seq;               /* next heartbeat seq, shared by all instances */
};

/* Caller-owned storage: zeroes `f`, installs `sinks` (enum corefx_sinks),
 * sets the default detector, COREFX_INTERVAL, COREFX_FORGET_AFTER,
 * COREFX_STALL and `rng_seed` (0: the policy's default), no services, seq 1,
 * a store that takes writes. corefx_fini releases the observer. */
void corefx_init(struct corefx *f, unsigned sinks, uint64_t rng_seed);
/* Destroys the observer (if started); `f` may be initialised again. */
void corefx_fini(struct corefx *f);

/* The same on the heap (fails the test when out of memory); destroy with
 * corefx_destroy, for which NULL is a no-op. */
struct corefx *corefx_create(unsigned sinks, uint64_t rng_seed);
void corefx_destroy(struct corefx *f);
/* A cmocka teardown: corefx_destroy(*state). */
int corefx_teardown(void **state);

/* Adds service `name` wanting `desired` instances to the configuration
 * (before corefx_start, or before an observer_reconfigure with &f->cfg).
 * Returns its entry, owned by `f`. */
struct service_config *corefx_configure(struct corefx *f, const char *name, uint32_t desired);
/* Adds `dep` to the depends_on of `s` (an entry corefx_configure returned). */
void corefx_depends_on(struct corefx *f, struct service_config *s, const char *dep);

/* Creates the observer at `now_ms` with f->cfg and f->sink, then sets
 * f->unix_offset on it. */
void corefx_start(struct corefx *f, int64_t now_ms);
/* Starts at 0, ticks into NORMAL (asserted) at COREFX_INTERVAL and forgets
 * the observer states recorded on the way. */
void corefx_start_normal(struct corefx *f);
/* One tick at `now_ms`, remembered as f->now. */
void corefx_tick(struct corefx *f, int64_t now_ms);
/* Ticks as a daemon would: at every deadline up to `until_ms`, and at least
 * every second so no stall is ever seen; then at `until_ms`. */
void corefx_run_until(struct corefx *f, int64_t until_ms);

/* A heartbeat as an agent sends it: version "1.0.0", COREFX_INTERVAL,
 * SERVING, checks passing, no proof, no fence epoch. */
struct hb_input corefx_heartbeat(const char *service, const char *instance, uint64_t incarnation,
                                 uint64_t seq, int64_t at_ms);
/* Hands `hb` to the observer, moves f->now to its arrival, returns the verdict. */
enum hb_verdict corefx_send(struct corefx *f, const struct hb_input *hb);
/* A heartbeat in `state` with the next seq, asserted accepted. */
void corefx_send_state(struct corefx *f, const char *service, const char *instance, uint64_t incarnation,
                       int64_t at_ms, enum serving_state state);
void corefx_send_serving(struct corefx *f, const char *service, const char *instance, uint64_t incarnation,
                         int64_t at_ms);
void corefx_send_exited(struct corefx *f, const char *service, const char *instance, uint64_t incarnation,
                        int64_t at_ms);

/* Lookups in the observer's registry; the *_of_ health ones fail the test
 * when the service or instance is not there. */
struct service *corefx_service_of(const struct corefx *f, const char *service);
struct instance *corefx_instance_of(const struct corefx *f, const char *service, const char *instance);
enum inst_health corefx_health_of(const struct corefx *f, const char *service, const char *instance);
enum svc_health corefx_svc_health_of(const struct corefx *f, const char *service);

/* The last recorded event (there must be one). */
const struct corefx_event *corefx_last_event(const struct corefx *f);
/* The last event that took an action (there must be one). */
const struct corefx_event *corefx_last_action_event(const struct corefx *f);
/* Asserts `e` is service/instance going from -> to at `at_ms`. */
void corefx_assert_event(const struct corefx_event *e, const char *service, const char *instance,
                         enum inst_health from, enum inst_health to, int64_t at_ms);
/* How many recorded events took an instance to `to`. */
size_t corefx_events_to(const struct corefx *f, enum inst_health to);

/* The last recorded action (there must be one). */
const struct corefx_action *corefx_last_action(const struct corefx *f);
/* Ticks (as corefx_run_until does) until a new action is recorded and
 * returns it; fails the test after `limit_ms`. */
const struct corefx_action *corefx_wait_action(struct corefx *f, int64_t limit_ms);
/* How many recorded actions were for an instance named `instance`. */
size_t corefx_actions_for(const struct corefx *f, const char *instance);

/* The recording callbacks corefx_init installs (ctx: the fixture), for a
 * test that wraps one. */
void corefx_record_event(void *ctx, const struct core_event *ev);
void corefx_record_state(void *ctx, enum observer_state from, enum observer_state to, const char *reason);
void corefx_record_action(void *ctx, const struct core_action *a);
void corefx_record_escalation(void *ctx, const struct core_escalation *e);
bool corefx_record_persist(void *ctx, const struct service *s, const struct instance *i,
                           const struct policy_persisted *rec);

#endif
