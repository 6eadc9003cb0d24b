/* Unit tests of the observing engine (supervisor/core/observer.h): heartbeats
 * and virtual time in, instance/service health, observer state and events out
 * through a recording sink. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "observer.h"
#include "servers.h"

#define INTERVAL 1000         /* default promised interval, ms */
#define FORGET_AFTER 600000   /* 10 min */
#define STALL 5000
#define MAX_EVENTS 4096
#define MAX_STATES 64

#define assert_double_near(a, b, eps)                                                   \
    do {                                                                                \
        double a_ = (a), b_ = (b);                                                      \
        if (!(fabs(a_ - b_) <= (eps)))                                                  \
            fail_msg("%s = %.9g, %s = %.9g: differ by more than %g", #a, a_, #b, b_,    \
                     (double)(eps));                                                    \
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
#define assert_prefix(s, prefix)                                                        \
    do {                                                                                \
        const char *s_ = (s), *p_ = (prefix);                                           \
        if (strncmp(s_, p_, strlen(p_)) != 0)                                           \
            fail_msg("%s = \"%s\" does not start with \"%s\"", #s, s_, p_);             \
    } while (0)

/* ---- recording sink ---- */

struct rec_event {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1]; /* "" for a service-level event */
    enum inst_health from;
    enum inst_health to;
    char reason[REASON_MAX + 32];
    int64_t at_ms;
};

struct rec_state {
    enum observer_state from;
    enum observer_state to;
    char reason[128];
};

struct recorder {
    struct rec_event events[MAX_EVENTS];
    size_t n_events;
    struct rec_state states[MAX_STATES];
    size_t n_states;
};

static void record_event(void *ctx, const struct core_event *ev)
{
    struct recorder *rec = ctx;
    struct rec_event *e;

    assert_int64_lt((int64_t)rec->n_events, MAX_EVENTS);
    e = &rec->events[rec->n_events++];
    snprintf(e->service, sizeof(e->service), "%s", ev->service->name);
    snprintf(e->instance, sizeof(e->instance), "%s", ev->instance ? ev->instance->name : "");
    e->from = ev->from;
    e->to = ev->to;
    snprintf(e->reason, sizeof(e->reason), "%s", ev->reason ? ev->reason : "");
    e->at_ms = ev->at_ms;
}

static void record_state(void *ctx, enum observer_state from, enum observer_state to, const char *reason)
{
    struct recorder *rec = ctx;
    struct rec_state *s;

    assert_int64_lt((int64_t)rec->n_states, MAX_STATES);
    s = &rec->states[rec->n_states++];
    s->from = from;
    s->to = to;
    snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
}

/* ---- fixture ---- */

struct fixture {
    struct recorder rec;
    struct service_config services[8];
    size_t n_services;
    struct observer_config cfg;
    struct observer *o;
    int64_t now;          /* last time given to the observer */
    uint64_t seq;         /* next heartbeat seq, shared by all instances */
};

static struct fixture *new_fixture(void)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    detector_params_default(&f->cfg.detector);
    f->cfg.default_interval_ms = INTERVAL;
    f->cfg.forget_after_ms = FORGET_AFTER;
    f->cfg.stall_ms = STALL;
    f->seq = 1;
    return f;
}

static void configure(struct fixture *f, const char *name, uint32_t desired)
{
    struct service_config *s = &f->services[f->n_services++];

    snprintf(s->name, sizeof(s->name), "%s", name);
    s->desired = desired;
    f->cfg.services = f->services;
    f->cfg.n_services = f->n_services;
}

static void start(struct fixture *f, int64_t now_ms)
{
    struct observer_sink sink = { .ctx = &f->rec, .on_event = record_event, .on_state = record_state };

    assert_int_equal(observer_create(&f->cfg, &sink, now_ms, &f->o), 0);
    f->now = now_ms;
}

static int setup(void **state)
{
    *state = new_fixture();
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    observer_destroy(f->o);
    free(f);
    return 0;
}

/* One tick, remembering the time. */
static void tick(struct fixture *f, int64_t now_ms)
{
    observer_tick(f->o, now_ms);
    f->now = now_ms;
}

/* Ticks as a daemon would: at every deadline up to `until_ms`, and at least
 * every second so no stall is ever seen; then at `until_ms`. */
static void run_until(struct fixture *f, int64_t until_ms)
{
    for (;;) {
        int64_t next = observer_next_deadline(f->o);

        if (next > f->now + 1000)
            next = f->now + 1000;
        if (next <= f->now)
            next = f->now + 1;
        if (next > until_ms)
            break;
        tick(f, next);
    }
    tick(f, until_ms);
}

/* Starts at 0 with the configured services and ticks into NORMAL. */
static void start_normal(struct fixture *f)
{
    start(f, 0);
    tick(f, INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    f->rec.n_states = 0;
}

static struct hb_input heartbeat(const char *service, const char *instance, uint64_t incarnation,
                                 uint64_t seq, int64_t at_ms)
{
    struct hb_input hb;

    memset(&hb, 0, sizeof(hb));
    snprintf(hb.service, sizeof(hb.service), "%s", service);
    snprintf(hb.instance, sizeof(hb.instance), "%s", instance);
    snprintf(hb.version, sizeof(hb.version), "1.0.0");
    hb.incarnation = incarnation;
    hb.seq = seq;
    hb.arrival_ms = at_ms;
    hb.interval_ms = INTERVAL;
    hb.state = SERVING_SERVING;
    hb.checks_ok = true;
    return hb;
}

static enum hb_verdict send(struct fixture *f, const struct hb_input *hb)
{
    enum hb_verdict v = observer_heartbeat(f->o, hb);

    f->now = hb->arrival_ms;
    return v;
}

/* A SERVING heartbeat, incarnation 1, the next seq. */
static void send_serving(struct fixture *f, const char *service, const char *instance, int64_t at_ms)
{
    struct hb_input hb = heartbeat(service, instance, 1, f->seq++, at_ms);

    assert_int_equal(send(f, &hb), HB_ACCEPTED);
}

static void send_state(struct fixture *f, const char *service, const char *instance, int64_t at_ms,
                       enum serving_state state)
{
    struct hb_input hb = heartbeat(service, instance, 1, f->seq++, at_ms);

    hb.state = state;
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
}

static struct service *service_of(const struct fixture *f, const char *name)
{
    return registry_service(observer_registry(f->o), name);
}

static struct instance *instance_of(const struct fixture *f, const char *service, const char *name)
{
    struct service *s = service_of(f, service);

    return s ? registry_instance(observer_registry(f->o), s, name) : NULL;
}

static enum inst_health health_of(const struct fixture *f, const char *service, const char *name)
{
    struct instance *i = instance_of(f, service, name);

    assert_non_null(i);
    return (enum inst_health)i->health;
}

static enum svc_health svc_health_of(const struct fixture *f, const char *service)
{
    struct service *s = service_of(f, service);

    assert_non_null(s);
    return (enum svc_health)s->health;
}

static const struct rec_event *last_event(const struct fixture *f)
{
    assert_true(f->rec.n_events > 0);
    return &f->rec.events[f->rec.n_events - 1];
}

static void assert_event(const struct rec_event *e, const char *service, const char *instance,
                         enum inst_health from, enum inst_health to, int64_t at_ms)
{
    assert_string_equal(e->service, service);
    assert_string_equal(e->instance, instance);
    assert_string_equal(health_inst_name(e->from), health_inst_name(from));
    assert_string_equal(health_inst_name(e->to), health_inst_name(to));
    assert_int_equal(e->at_ms, at_ms);
}

/* How many recorded events took an instance to `to`. */
static size_t events_to(const struct fixture *f, enum inst_health to)
{
    size_t n = 0;

    for (size_t k = 0; k < f->rec.n_events; k++)
        n += f->rec.events[k].instance[0] != '\0' && f->rec.events[k].to == to;
    return n;
}

/* Counts per health and instance totals agree with the instances themselves. */
static void assert_counts_consistent(const struct fixture *f)
{
    const struct registry *r = observer_registry(f->o);
    size_t total = 0;

    for (size_t k = 0; k < registry_service_count(r); k++) {
        const struct service *s = registry_service_at(r, k);
        uint32_t count[INST_HEALTH_COUNT] = { 0 };
        uint32_t n = 0;

        for (const struct instance *i = s->first; i != NULL; i = i->next) {
            count[i->health]++;
            n++;
        }
        assert_int_equal(s->n_instances, n);
        for (int h = 0; h < INST_HEALTH_COUNT; h++)
            if (count[h] != s->count[h])
                fail_msg("service %s: count[%s] = %u, instances say %u", s->name,
                         health_inst_name((enum inst_health)h), s->count[h], count[h]);
        total += n;
    }
    assert_int_equal(registry_instance_count(r), total);
}

/* The deadlines a fresh detector (the prior) gives a heartbeat at `at_ms`. */
static int64_t prior_suspect_at(const struct fixture *f, int64_t at_ms)
{
    struct detector d;

    detector_reset(&d, INTERVAL, at_ms);
    return detector_suspect_at(&d, &f->cfg.detector);
}

static int64_t prior_dead_at(const struct fixture *f, int64_t at_ms)
{
    struct detector d;

    detector_reset(&d, INTERVAL, at_ms);
    return detector_dead_at(&d, &f->cfg.detector);
}

static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- creation and warm-up ---- */

static void test_create_warming_up_with_missing_services(void **state)
{
    struct fixture *f = *state;
    struct observer_summary sum;

    configure(f, "alpha", 2);
    configure(f, "beta", 1);
    start(f, 0);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(registry_service_count(observer_registry(f->o)), 2);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_MISSING);
    assert_int_equal(svc_health_of(f, "beta"), SVC_MISSING);
    assert_true(service_of(f, "alpha")->expected);
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 2);
    assert_int_equal(sum.services_available, 0);
    assert_int_equal(sum.instances_expected, 3);
    assert_int_equal(sum.instances_healthy, 0);
    assert_double_near(sum.availability, 0.0, 0.0);
    assert_int_equal(f->rec.n_events, 0);
}

static void test_create_rejects_bad_config(void **state)
{
    struct fixture *f = *state;
    struct observer *o = (struct observer *)(uintptr_t)0x1;
    struct observer_config cfg = f->cfg;

    memset(&cfg.detector, 0, sizeof(cfg.detector)); /* not prepared */
    assert_int_equal(observer_create(&cfg, NULL, 0, &o), -1);
    assert_ptr_equal(o, (struct observer *)(uintptr_t)0x1);
    cfg = f->cfg;
    cfg.default_interval_ms = 0;
    assert_int_equal(observer_create(&cfg, NULL, 0, &o), -1);
    assert_ptr_equal(o, (struct observer *)(uintptr_t)0x1);
    observer_destroy(NULL);
}

static void test_no_sink_is_fine(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb = heartbeat("ghost", "g-1", 1, 1, 10);

    assert_int_equal(observer_create(&f->cfg, NULL, 0, &f->o), 0);
    assert_int_equal(observer_heartbeat(f->o, &hb), HB_ACCEPTED);
    observer_tick(f->o, 1000);
    observer_tick(f->o, 5000);
    assert_int_equal(health_of(f, "ghost", "g-1"), INST_DEAD);
}

static void test_warming_up_to_normal_after_one_interval(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start(f, 500);
    assert_int_equal(observer_next_deadline(f->o), 500 + INTERVAL);
    tick(f, 500 + INTERVAL - 1);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.n_states, 0);
    tick(f, 500 + INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_states, 1);
    assert_int_equal(f->rec.states[0].from, OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.states[0].to, OBSERVER_NORMAL);
    assert_string_equal(f->rec.states[0].reason, "warm-up complete");
    assert_int_equal(observer_next_deadline(f->o), NO_DEADLINE);
}

static void test_warm_up_lasts_the_longest_promised_interval(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb = heartbeat("alpha", "a-1", 1, 1, 100);

    configure(f, "alpha", 1);
    start(f, 0);
    hb.interval_ms = 5000;
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_int_equal(observer_next_deadline(f->o), 5000);
    tick(f, 1000);
    tick(f, 4999);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    tick(f, 5000);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
}

/* ---- heartbeats and silence ---- */

static void test_heartbeat_makes_healthy(void **state)
{
    struct fixture *f = *state;
    struct observer_counters c;
    struct instance *i;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 1200);
    i = instance_of(f, "alpha", "a-1");
    assert_non_null(i);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(i->last_seen_ms, 1200);
    assert_int_equal(i->incarnation, 1);
    assert_string_equal(i->version, "1.0.0");
    assert_int_equal(f->rec.n_events, 1);
    assert_event(last_event(f), "alpha", "a-1", INST_UNSPECIFIED, INST_HEALTHY, 1200);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_AVAILABLE);
    assert_true(service_of(f, "alpha")->ever_seen);
    /* Further heartbeats on time change nothing visible. */
    send_serving(f, "alpha", "a-1", 2200);
    send_serving(f, "alpha", "a-1", 3200);
    assert_int_equal(f->rec.n_events, 1);
    observer_counters(f->o, &c);
    assert_int_equal(c.heartbeats, 3);
    assert_int_equal(c.stale, 0);
    assert_int_equal(c.transitions, 1);
    assert_counts_consistent(f);
}

static void test_silence_suspect_then_dead_at_detector_times(void **state)
{
    struct fixture *f = *state;
    int64_t suspect_at, dead_at;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    suspect_at = prior_suspect_at(f, 2000);
    dead_at = prior_dead_at(f, 2000);
    assert_int_equal(suspect_at, 2000 + 1765);
    assert_int_equal(dead_at, 2000 + 2307);

    assert_int_equal(observer_next_deadline(f->o), suspect_at);
    tick(f, suspect_at - 1);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_double_near(observer_phi(f->o, instance_of(f, "alpha", "a-1"), 2000), 0.0, 0.0);
    assert_in_range((uint64_t)(observer_phi(f->o, instance_of(f, "alpha", "a-1"), suspect_at) * 100),
                    300, 305);
    tick(f, suspect_at);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_SUSPECT);
    assert_event(last_event(f), "alpha", "a-1", INST_HEALTHY, INST_SUSPECT, suspect_at);
    assert_prefix(last_event(f)->reason, "late 1.8s (phi 3.");
    /* A suspect instance still counts against its service... */
    assert_int_equal(svc_health_of(f, "alpha"), SVC_UNAVAILABLE);

    assert_int_equal(observer_next_deadline(f->o), dead_at);
    tick(f, dead_at - 1);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_SUSPECT);
    tick(f, dead_at);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
    assert_event(last_event(f), "alpha", "a-1", INST_SUSPECT, INST_DEAD, dead_at);
    assert_prefix(last_event(f)->reason, "silent 2.3s (phi 8.");
    assert_string_equal(instance_of(f, "alpha", "a-1")->reason, last_event(f)->reason);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_UNAVAILABLE);
    /* Dead: next judged when it is to be forgotten. */
    assert_int_equal(observer_next_deadline(f->o), 2000 + FORGET_AFTER);
    assert_int_equal(f->rec.n_events, 3);
    assert_counts_consistent(f);
}

static void test_late_tick_goes_straight_to_dead(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    tick(f, 2000 + 4000);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
    assert_event(last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEAD, 6000);
}

static void test_suspect_instance_recovers_on_heartbeat(void **state)
{
    struct fixture *f = *state;
    int64_t suspect_at;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    suspect_at = prior_suspect_at(f, 2000);
    tick(f, suspect_at);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_SUSPECT);
    send_serving(f, "alpha", "a-1", suspect_at + 100);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_event(last_event(f), "alpha", "a-1", INST_SUSPECT, INST_HEALTHY, suspect_at + 100);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_AVAILABLE);
}

static void test_dead_instance_resumes_healthy(void **state)
{
    struct fixture *f = *state;
    int64_t back = 20000;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    run_until(f, 10000);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
    send_serving(f, "alpha", "a-1", back);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_event(last_event(f), "alpha", "a-1", INST_DEAD, INST_HEALTHY, back);
    assert_int_equal(instance_of(f, "alpha", "a-1")->restarts, 0);
    /* The 18 s gap is no sample: the detector starts again from the prior. */
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, back));
    assert_int_equal(instance_of(f, "alpha", "a-1")->detector.samples, 0);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_AVAILABLE);
}

static void test_new_incarnation_counts_restart(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct instance *i;

    configure(f, "alpha", 1);
    start_normal(f);
    hb = heartbeat("alpha", "a-1", 111, 50, 2000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    hb = heartbeat("alpha", "a-1", 222, 1, 3000); /* seq starts over */
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    i = instance_of(f, "alpha", "a-1");
    assert_int_equal(i->incarnation, 222);
    assert_int_equal(i->prev_incarnation, 111);
    assert_int_equal(i->seq, 1);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->detector.samples, 0);
    hb = heartbeat("alpha", "a-1", 333, 1, 4000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_int_equal(i->restarts, 2);
    assert_int_equal(i->health, INST_HEALTHY);
}

static void test_stale_seq_refused_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct instance before, *i;
    struct observer_counters c;
    size_t events;

    configure(f, "alpha", 1);
    start_normal(f);
    hb = heartbeat("alpha", "a-1", 7, 10, 2000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    i = instance_of(f, "alpha", "a-1");
    before = *i;
    events = f->rec.n_events;

    hb = heartbeat("alpha", "a-1", 7, 10, 2500);   /* same seq */
    assert_int_equal(send(f, &hb), HB_STALE);
    hb = heartbeat("alpha", "a-1", 7, 3, 2600);    /* older seq, saying something else */
    hb.state = SERVING_STOPPING;
    snprintf(hb.version, sizeof(hb.version), "2.0.0");
    assert_int_equal(send(f, &hb), HB_STALE);

    assert_memory_equal(i, &before, sizeof(before));
    assert_int_equal(f->rec.n_events, events);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2000));
    observer_counters(f->o, &c);
    assert_int_equal(c.heartbeats, 1);
    assert_int_equal(c.stale, 2);
}

static void test_previous_incarnation_refused(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct instance before, *i;
    size_t events;

    configure(f, "alpha", 1);
    start_normal(f);
    hb = heartbeat("alpha", "a-1", 1, 5, 2000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    hb = heartbeat("alpha", "a-1", 2, 1, 2100);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    i = instance_of(f, "alpha", "a-1");
    before = *i;
    events = f->rec.n_events;
    /* A late heartbeat of the life before, even with a higher seq. */
    hb = heartbeat("alpha", "a-1", 1, 6, 2200);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    assert_int_equal(send(f, &hb), HB_STALE);
    assert_memory_equal(i, &before, sizeof(before));
    assert_int_equal(f->rec.n_events, events);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->health, INST_HEALTHY);
}

static void test_exit_report_dead_immediately_with_code(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    hb = heartbeat("alpha", "a-1", 1, f->seq++, 2300);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    hb.exit_code = 3;
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
    assert_event(last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEAD, 2300);
    assert_string_equal(last_event(f)->reason, "exited with code 3");
    assert_int_equal(svc_health_of(f, "alpha"), SVC_UNAVAILABLE);
    assert_double_near(observer_phi(f->o, instance_of(f, "alpha", "a-1"), 9000), 0.0, 0.0);
}

static void test_exit_report_killed_by_signal(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    hb = heartbeat("alpha", "a-1", 1, f->seq++, 2300);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    hb.exit_code = 0;
    hb.exit_signal = 9;
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_event(last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEAD, 2300);
    assert_string_equal(last_event(f)->reason, "killed by signal 9");
}

static void test_exit_without_exit_info(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    send_state(f, "alpha", "a-1", 2300, SERVING_EXITED);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
    assert_string_equal(last_event(f)->reason, "exited");
}

static void test_stopping_is_stopped_and_never_dead(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    send_state(f, "alpha", "a-1", 2500, SERVING_STOPPING);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_STOPPED);
    assert_event(last_event(f), "alpha", "a-1", INST_HEALTHY, INST_STOPPED, 2500);
    assert_string_equal(last_event(f)->reason, "stopping on purpose");
    assert_int_equal(observer_next_deadline(f->o), 2500 + FORGET_AFTER);
    run_until(f, 2500 + FORGET_AFTER - 1);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_STOPPED);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_int_equal(events_to(f, INST_SUSPECT), 0);
    assert_int_equal(f->rec.n_events, 2);
    assert_double_near(observer_phi(f->o, instance_of(f, "alpha", "a-1"), f->now), 0.0, 0.0);
}

static void test_stopped_instance_serving_again(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_state(f, "alpha", "a-1", 2000, SERVING_STOPPING);
    run_until(f, 30000);
    send_serving(f, "alpha", "a-1", 30000);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_event(last_event(f), "alpha", "a-1", INST_STOPPED, INST_HEALTHY, 30000);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 30000));
}

static void test_failing_check_is_degraded(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    hb = heartbeat("alpha", "a-1", 1, f->seq++, 3000);
    hb.checks_ok = false;
    snprintf(hb.failed_check, sizeof(hb.failed_check), "db: timeout");
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEGRADED);
    assert_event(last_event(f), "alpha", "a-1", INST_HEALTHY, INST_DEGRADED, 3000);
    assert_string_equal(last_event(f)->reason, "db: timeout");
    /* All its instances degraded: the service still answers. */
    assert_int_equal(svc_health_of(f, "alpha"), SVC_DEGRADED);
    send_state(f, "alpha", "a-1", 4000, SERVING_DEGRADED);
    assert_string_equal(instance_of(f, "alpha", "a-1")->reason, "reports degraded");
    send_serving(f, "alpha", "a-1", 5000);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_AVAILABLE);
}

static void test_unspecified_state_counts_as_serving(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_state(f, "alpha", "a-1", 2000, SERVING_UNSPECIFIED);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
}

static void test_zero_interval_uses_default(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb = heartbeat("alpha", "a-1", 1, 1, 2000);

    configure(f, "alpha", 1);
    start_normal(f);
    hb.interval_ms = 0;
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_int_equal(instance_of(f, "alpha", "a-1")->detector.interval_ms, INTERVAL);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2000));
}

/* ---- services ---- */

static void test_missing_service_stays_missing(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    configure(f, "beta", 2);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    run_until(f, 60000);
    assert_int_equal(svc_health_of(f, "beta"), SVC_MISSING);
    assert_false(service_of(f, "beta")->ever_seen);
}

static void test_unexpected_service_appears(void **state)
{
    struct fixture *f = *state;
    struct observer_summary sum;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "ghost", "g-1", 2000);
    assert_int_equal(f->rec.n_events, 2);
    /* First the service-level event, then the instance's. */
    assert_event(&f->rec.events[0], "ghost", "", INST_UNSPECIFIED, INST_UNSPECIFIED, 2000);
    assert_string_equal(f->rec.events[0].reason, "unexpected service: not in the config");
    assert_event(&f->rec.events[1], "ghost", "g-1", INST_UNSPECIFIED, INST_HEALTHY, 2000);
    assert_int_equal(svc_health_of(f, "ghost"), SVC_UNEXPECTED);
    assert_false(service_of(f, "ghost")->expected);
    /* A second instance raises no second service event. */
    send_serving(f, "ghost", "g-2", 2100);
    assert_int_equal(f->rec.n_events, 3);
    /* Not counted in the figures. */
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 1);
    assert_int_equal(sum.services_available, 0);
    assert_int_equal(sum.instances_expected, 1);
}

static void test_version_drift_and_end(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct service *s;

    configure(f, "alpha", 2);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    send_serving(f, "alpha", "a-2", 2000);
    assert_int_equal(f->rec.n_events, 2); /* two instance events, no drift */
    s = service_of(f, "alpha");
    assert_int_equal(s->n_versions, 1);
    assert_false(s->version_drift);

    hb = heartbeat("alpha", "a-2", 2, 1, 3000); /* restarted on a new version */
    snprintf(hb.version, sizeof(hb.version), "1.1.0");
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_true(s->version_drift);
    assert_int_equal(s->n_versions, 2);
    assert_event(last_event(f), "alpha", "", INST_UNSPECIFIED, INST_UNSPECIFIED, 3000);
    assert_prefix(last_event(f)->reason, "version drift:");
    assert_non_null(strstr(last_event(f)->reason, " 1.0.0"));
    assert_non_null(strstr(last_event(f)->reason, " 1.1.0"));

    send_serving(f, "alpha", "a-1", 3500); /* same version again: no new event */
    assert_prefix(last_event(f)->reason, "version drift:");

    hb = heartbeat("alpha", "a-1", 2, 1, 4000);
    snprintf(hb.version, sizeof(hb.version), "1.1.0");
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_false(s->version_drift);
    assert_int_equal(s->n_versions, 1);
    assert_event(last_event(f), "alpha", "", INST_UNSPECIFIED, INST_UNSPECIFIED, 4000);
    assert_string_equal(last_event(f)->reason, "version drift ended: 1.1.0");
}

static void test_summary_figures(void **state)
{
    struct fixture *f = *state;
    struct observer_summary sum;

    configure(f, "alpha", 2);  /* three healthy: counted as two */
    configure(f, "beta", 2);   /* one healthy: DEGRADED */
    configure(f, "gamma", 0);  /* scaled to zero: AVAILABLE */
    configure(f, "delta", 1);  /* never seen: MISSING */
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    send_serving(f, "alpha", "a-2", 2000);
    send_serving(f, "alpha", "a-3", 2000);
    send_serving(f, "beta", "b-1", 2000);
    send_serving(f, "ghost", "g-1", 2000); /* unexpected: not counted */
    assert_int_equal(svc_health_of(f, "alpha"), SVC_AVAILABLE);
    assert_int_equal(svc_health_of(f, "beta"), SVC_DEGRADED);
    assert_int_equal(svc_health_of(f, "gamma"), SVC_AVAILABLE);
    assert_int_equal(svc_health_of(f, "delta"), SVC_MISSING);
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 4);
    assert_int_equal(sum.services_available, 2);
    assert_int_equal(sum.instances_expected, 5);
    assert_int_equal(sum.instances_healthy, 3);
    assert_double_near(sum.availability, 0.5, 1e-12);
}

static void test_summary_nothing_expected_is_fully_available(void **state)
{
    struct fixture *f = *state;
    struct observer_summary sum;

    start_normal(f);
    observer_summary(f->o, &sum);
    assert_int_equal(sum.services_expected, 0);
    assert_double_near(sum.availability, 1.0, 0.0);
}

static void test_service_availability_counts_normal_time_only(void **state)
{
    struct fixture *f = *state;
    double hour, day;
    struct service *s;
    int64_t down_at;

    configure(f, "alpha", 1);
    start(f, 0);
    send_serving(f, "alpha", "a-1", 100);
    run_until(f, 1000); /* warm-up: the down time before is not counted */
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    for (int64_t t = 1500; t <= 600000; t += 1000) {
        run_until(f, t - 1);
        send_serving(f, "alpha", "a-1", t);
    }
    assert_int_equal(f->rec.n_states, 1); /* no stall on the way */
    s = service_of(f, "alpha");
    observer_service_availability(f->o, s, 600000, &hour, &day);
    assert_double_near(hour, 1.0, 0.0);
    assert_double_near(day, 1.0, 0.0);
    /* It hangs: up from NORMAL (1 s) until it is SUSPECT (no healthy
     * instance left), then down as long again. */
    run_until(f, 610000);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
    assert_int_equal(f->rec.events[f->rec.n_events - 2].to, INST_SUSPECT);
    down_at = f->rec.events[f->rec.n_events - 2].at_ms;
    run_until(f, down_at + (down_at - 1000));
    observer_service_availability(f->o, s, down_at + (down_at - 1000), &hour, &day);
    assert_double_near(hour, 0.5, 1e-12);
    assert_double_near(day, 0.5, 1e-12);
}

/* ---- self-preservation, stalls ---- */

/* Three instances heartbeating every second from `from_ms` to `to_ms`. */
static void heartbeat_trio(struct fixture *f, int64_t from_ms, int64_t to_ms, bool with_third)
{
    for (int64_t t = from_ms; t <= to_ms; t += INTERVAL) {
        send_serving(f, "alpha", "a-1", t);
        send_serving(f, "alpha", "a-2", t + 10);
        if (with_third)
            send_serving(f, "alpha", "a-3", t + 20);
        run_until(f, t + INTERVAL - 1);
    }
}

static void test_self_preservation_declares_nobody(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 3);
    start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    assert_int_equal(f->rec.n_events, 3);

    observer_link(f->o, false, 21000);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    assert_int_equal(f->rec.n_states, 1);
    assert_int_equal(f->rec.states[0].from, OBSERVER_NORMAL);
    assert_int_equal(f->rec.states[0].to, OBSERVER_SELF_PRESERVATION);
    assert_string_equal(f->rec.states[0].reason, "own NATS link down");
    observer_link(f->o, false, 21500); /* said once */
    assert_int_equal(f->rec.n_states, 1);
    /* A minute of silence with the daemon ticking away. */
    for (int64_t t = 21000; t <= 81000; t += 250)
        tick(f, t);
    assert_int_equal(events_to(f, INST_SUSPECT), 0);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
}

static void test_self_preservation_then_resume(void **state)
{
    struct fixture *f = *state;
    int64_t back = 81000;

    configure(f, "alpha", 3);
    start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    observer_link(f->o, false, 21000);
    for (int64_t t = 21000; t < back; t += 500)
        tick(f, t);

    observer_link(f->o, true, back);
    f->now = back;
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.states[f->rec.n_states - 1].from, OBSERVER_SELF_PRESERVATION);
    assert_int_equal(f->rec.states[f->rec.n_states - 1].to, OBSERVER_WARMING_UP);
    /* Two resume within the first interval; the third is gone for good. */
    heartbeat_trio(f, back + 300, back + 30000, false);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_int_equal(health_of(f, "alpha", "a-2"), INST_HEALTHY);
    assert_int_equal(health_of(f, "alpha", "a-3"), INST_DEAD);
    assert_int_equal(events_to(f, INST_DEAD), 1);
    assert_string_equal(last_event(f)->instance, "a-3");
    /* Judged from the link's return, not from its last heartbeat at 20 s. */
    assert_int64_le(back + 1000, last_event(f)->at_ms);
    assert_int64_le(last_event(f)->at_ms, back + 3000);
    assert_counts_consistent(f);
}

/* With a link grace, clients get that long to reconnect after our own link
 * returns: warm-up lasts until then and silence is counted from then. */
static void test_link_grace_after_link_returns(void **state)
{
    struct fixture *f = *state;
    const int64_t grace = 10000, back = 81000;
    int64_t dead_at = 0;

    configure(f, "alpha", 3);
    f->cfg.link_grace_ms = grace;
    start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    observer_link(f->o, false, 21000);
    for (int64_t t = 21000; t < back; t += 500)
        tick(f, t);
    observer_link(f->o, true, back);
    f->now = back;
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(observer_next_deadline(f->o), back + grace);
    /* The two reconnect late in the grace period; the third never does. */
    heartbeat_trio(f, back + 8000, back + 40000, false);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    assert_int_equal(health_of(f, "alpha", "a-2"), INST_HEALTHY);
    assert_int_equal(health_of(f, "alpha", "a-3"), INST_DEAD);
    assert_int_equal(events_to(f, INST_DEAD), 1);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (f->rec.events[k].to == INST_DEAD)
            dead_at = f->rec.events[k].at_ms;
    assert_int64_le(back + grace + 1000, dead_at);
    assert_int64_le(dead_at, back + grace + 3000);
    for (size_t k = 0; k < f->rec.n_states; k++)
        if (f->rec.states[k].to == OBSERVER_NORMAL && f->rec.states[k].from == OBSERVER_WARMING_UP)
            assert_string_equal(f->rec.states[k].reason, "warm-up complete");
    assert_counts_consistent(f);
}

static void test_first_link_up_with_nobody_seen_no_grace(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    f->cfg.link_grace_ms = 30000;
    start(f, 0);
    observer_link(f->o, false, 0);
    observer_link(f->o, true, 2000);
    assert_int_equal(observer_next_deadline(f->o), 2000 + INTERVAL);
    tick(f, 2000 + INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
}

/* While its link is down the observer has nothing to do on a timer: its next
 * deadline must not be in the past, or a daemon polling on it spins. */
static void test_self_preservation_next_deadline_not_in_past(void **state)
{
    /* EXPOSES BUG: observer_next_deadline() (observer.c, observer_next_deadline)
     * returns the registry's earliest deadline even while the link is down,
     * though observer_tick() then returns at once and never moves it: after
     * the first deadline passes it stays in the past for the whole outage. */
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    observer_link(f->o, false, 2100);
    tick(f, 10000);
    assert_int64_lt(10000, observer_next_deadline(f->o));
}

static void test_link_flap_in_warm_up(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start(f, 0);
    observer_link(f->o, false, 500);
    tick(f, 1000);
    tick(f, 5000);
    assert_int_equal(observer_state(f->o), OBSERVER_SELF_PRESERVATION);
    observer_link(f->o, true, 6000);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(observer_next_deadline(f->o), 6000 + INTERVAL);
    tick(f, 6000 + INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_states, 3);
}

static void test_stall_gives_everyone_grace(void **state)
{
    struct fixture *f = *state;
    int64_t resumed;

    configure(f, "alpha", 3);
    start_normal(f);
    heartbeat_trio(f, 2000, 20000, true);
    f->rec.n_states = 0;
    /* The supervisor froze for 10 s: no tick, no heartbeat taken. */
    tick(f, 30999);
    assert_int_equal(events_to(f, INST_SUSPECT), 0);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_int_equal(observer_state(f->o), OBSERVER_WARMING_UP);
    assert_int_equal(f->rec.n_states, 1);
    assert_prefix(f->rec.states[0].reason, "observer stalled 10.");
    /* The queued heartbeats arrive and all is well again. */
    resumed = 31005;
    heartbeat_trio(f, resumed, resumed + 10000, true);
    assert_int_equal(events_to(f, INST_SUSPECT), 0);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
}

static void test_tick_gap_within_stall_is_no_stall(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    tick(f, INTERVAL + STALL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    assert_int_equal(f->rec.n_states, 0);
}

/* ---- forgetting ---- */

static void test_forget_dead_instance(void **state)
{
    struct fixture *f = *state;
    size_t events;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    run_until(f, 2000 + FORGET_AFTER - 1);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
    events = f->rec.n_events;
    tick(f, 2000 + FORGET_AFTER);
    assert_null(instance_of(f, "alpha", "a-1"));
    assert_int_equal(f->rec.n_events, events + 1);
    assert_event(last_event(f), "alpha", "a-1", INST_DEAD, INST_UNSPECIFIED, 2000 + FORGET_AFTER);
    assert_string_equal(last_event(f)->reason, "forgotten after 600s silent");
    /* The configured service stays, seen once, now with nobody. */
    assert_non_null(service_of(f, "alpha"));
    assert_int_equal(service_of(f, "alpha")->n_instances, 0);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_UNAVAILABLE);
    assert_int_equal(observer_next_deadline(f->o), NO_DEADLINE);
    assert_counts_consistent(f);
}

static void test_forget_stopped_instance(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_state(f, "alpha", "a-1", 2000, SERVING_STOPPING);
    run_until(f, 2000 + FORGET_AFTER);
    assert_null(instance_of(f, "alpha", "a-1"));
    assert_event(last_event(f), "alpha", "a-1", INST_STOPPED, INST_UNSPECIFIED, 2000 + FORGET_AFTER);
}

static void test_forget_removes_empty_unexpected_service(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "ghost", "g-1", 2000);
    send_serving(f, "ghost", "g-2", 2000);
    send_state(f, "ghost", "g-2", 3000, SERVING_STOPPING);
    run_until(f, 2000 + FORGET_AFTER);
    /* g-1 forgotten, g-2 (last seen at 3 s) not yet: the service stays. */
    assert_null(instance_of(f, "ghost", "g-1"));
    assert_non_null(service_of(f, "ghost"));
    run_until(f, 3000 + FORGET_AFTER);
    assert_null(service_of(f, "ghost"));
    assert_int_equal(registry_service_count(observer_registry(f->o)), 1);
    assert_counts_consistent(f);
}

static void test_forget_ends_version_drift(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;

    configure(f, "alpha", 2);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    hb = heartbeat("alpha", "a-2", 1, 1, 2000);
    snprintf(hb.version, sizeof(hb.version), "2.0.0");
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_true(service_of(f, "alpha")->version_drift);
    /* a-1 keeps going; a-2 dies and is forgotten. */
    for (int64_t t = 3000; t <= 2000 + FORGET_AFTER; t += INTERVAL) {
        send_serving(f, "alpha", "a-1", t);
        run_until(f, t + INTERVAL - 1);
    }
    assert_null(instance_of(f, "alpha", "a-2"));
    assert_false(service_of(f, "alpha")->version_drift);
    assert_string_equal(last_event(f)->reason, "version drift ended: 1.0.0");
}

/* ---- reconfiguration ---- */

static void test_reconfigure_adds_removes_keeps_history(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct instance *i;

    configure(f, "alpha", 1);
    configure(f, "beta", 1);
    start_normal(f);
    hb = heartbeat("alpha", "a-1", 1, 1, 2000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    hb = heartbeat("alpha", "a-1", 2, 1, 2500);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    i = instance_of(f, "alpha", "a-1");

    /* alpha resized to 3, beta dropped, gamma new. */
    f->n_services = 0;
    configure(f, "alpha", 3);
    configure(f, "gamma", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 3000), 0);
    assert_null(service_of(f, "beta"));
    assert_int_equal(svc_health_of(f, "gamma"), SVC_MISSING);
    assert_ptr_equal(instance_of(f, "alpha", "a-1"), i);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->incarnation, 2);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(service_of(f, "alpha")->desired, 3);
    assert_int_equal(svc_health_of(f, "alpha"), SVC_DEGRADED);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2500));
    assert_counts_consistent(f);
}

static void test_reconfigure_unexpected_becomes_expected_and_back(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "ghost", "g-1", 2000);
    assert_int_equal(svc_health_of(f, "ghost"), SVC_UNEXPECTED);
    configure(f, "ghost", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 2100), 0);
    assert_true(service_of(f, "ghost")->expected);
    assert_int_equal(svc_health_of(f, "ghost"), SVC_AVAILABLE);
    /* Dropped from the config while it has an instance: kept, unexpected. */
    f->n_services = 0;
    configure(f, "alpha", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 2200), 0);
    assert_non_null(service_of(f, "ghost"));
    assert_false(service_of(f, "ghost")->expected);
    assert_int_equal(svc_health_of(f, "ghost"), SVC_UNEXPECTED);
    assert_non_null(instance_of(f, "ghost", "g-1"));
}

static void test_reconfigure_dropped_service_goes_when_forgotten(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    configure(f, "beta", 1);
    start_normal(f);
    send_serving(f, "beta", "b-1", 2000);
    send_state(f, "beta", "b-1", 2500, SERVING_STOPPING);
    f->n_services = 0;
    configure(f, "alpha", 1);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 3000), 0);
    assert_int_equal(svc_health_of(f, "beta"), SVC_UNEXPECTED);
    run_until(f, 2500 + FORGET_AFTER);
    assert_null(service_of(f, "beta"));
    assert_event(last_event(f), "beta", "b-1", INST_STOPPED, INST_UNSPECIFIED, 2500 + FORGET_AFTER);
}

static void test_reconfigure_rejects_bad_config(void **state)
{
    struct fixture *f = *state;
    struct observer_config bad;

    configure(f, "alpha", 1);
    start_normal(f);
    bad = f->cfg;
    bad.default_interval_ms = 0;
    assert_int_equal(observer_reconfigure(f->o, &bad, 2000), -1);
    bad = f->cfg;
    bad.detector.z_dead = bad.detector.z_suspect;
    assert_int_equal(observer_reconfigure(f->o, &bad, 2000), -1);
    assert_non_null(service_of(f, "alpha"));
    assert_int_equal(service_of(f, "alpha")->desired, 1);
}

static void test_reconfigure_new_thresholds_reschedule(void **state)
{
    struct fixture *f = *state;
    struct detector d;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    f->cfg.detector.phi_suspect = 1.0;
    assert_int_equal(detector_params_prepare(&f->cfg.detector), 0);
    assert_int_equal(observer_reconfigure(f->o, &f->cfg, 2100), 0);
    detector_reset(&d, INTERVAL, 2000);
    assert_int_equal(observer_next_deadline(f->o), detector_suspect_at(&d, &f->cfg.detector));
}

/* ---- deadlines ---- */

static void test_next_deadline_is_the_earliest(void **state)
{
    struct fixture *f = *state;
    int64_t first;

    configure(f, "alpha", 3);
    start_normal(f);
    send_serving(f, "alpha", "a-1", 2000);
    send_serving(f, "alpha", "a-2", 1500);
    send_serving(f, "alpha", "a-3", 2500);
    first = prior_suspect_at(f, 1500);
    assert_int_equal(observer_next_deadline(f->o), first);
    tick(f, first - 1);
    assert_int_equal(events_to(f, INST_SUSPECT), 0);
    tick(f, first);
    assert_int_equal(events_to(f, INST_SUSPECT), 1);
    assert_event(last_event(f), "alpha", "a-2", INST_HEALTHY, INST_SUSPECT, first);
    assert_int_equal(observer_next_deadline(f->o), prior_suspect_at(f, 2000));
}

static void test_no_instances_no_deadline(void **state)
{
    struct fixture *f = *state;

    configure(f, "alpha", 1);
    start_normal(f);
    assert_int_equal(observer_next_deadline(f->o), NO_DEADLINE);
}

/* Heartbeats that stay within their thresholds while their spread grows
 * until phi alone would wait past the silence ceiling; then the process
 * hangs. DEAD must come at the ceiling (5 intervals after the last). */
static void test_silence_ceiling_honoured(void **state)
{
    /* EXPOSES BUG: observer.c reschedule() schedules a watched, non-SUSPECT
     * instance at detector_suspect_at() only. When the spread is wide,
     * suspect_at is later than detector_dead_at() (capped by the silence
     * ceiling), so the instance is first judged at suspect_at and declared
     * DEAD then, not at the ceiling. Expected: deadline min(suspect_at,
     * dead_at), DEAD at last + 5 x interval. */
    struct fixture *f = *state;
    struct instance *i;
    int64_t t = 2000, dead_at = 0;

    configure(f, "alpha", 1);
    start_normal(f);
    send_serving(f, "alpha", "a-1", t);
    i = instance_of(f, "alpha", "a-1");
    for (int k = 0; k < 400; k++) {
        int64_t want = (k % 2) ? 500 : 3500;
        int64_t limit = detector_suspect_at(&i->detector, &f->cfg.detector) - t - 1;
        int64_t dead_limit = detector_dead_at(&i->detector, &f->cfg.detector) - t - 1;

        if (limit > dead_limit)
            limit = dead_limit;
        t += want < limit ? want : limit;
        run_until(f, t - 1);
        send_serving(f, "alpha", "a-1", t);
    }
    assert_int_equal(events_to(f, INST_SUSPECT), 0);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_HEALTHY);
    /* The premise: phi would cross later than the ceiling. */
    assert_int_equal(detector_dead_at(&i->detector, &f->cfg.detector), t + 5 * INTERVAL);
    assert_int64_lt(t + 5 * INTERVAL, detector_suspect_at(&i->detector, &f->cfg.detector));

    run_until(f, t + 20 * INTERVAL);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (f->rec.events[k].to == INST_DEAD)
            dead_at = f->rec.events[k].at_ms;
    assert_int64_eq(dead_at - t, 5 * INTERVAL);
}

/* ---- a simulated cadence ---- */

static void test_jitter_no_false_dead_then_hang_caught(void **state)
{
    struct fixture *f = *state;
    const char *names[5] = { "a-1", "a-2", "a-3", "a-4", "a-5" };
    int64_t next[5], last[5];
    uint64_t rng = 0x5EED;

    configure(f, "alpha", 5);
    start_normal(f);
    for (int k = 0; k < 5; k++)
        next[k] = 2000 + k * 137;
    /* 20,000 heartbeats each, gaps uniform in [700, 1300] ms. */
    for (int n = 0; n < 5 * 20000; n++) {
        int k = 0;

        for (int j = 1; j < 5; j++)
            if (next[j] < next[k])
                k = j;
        run_until(f, next[k] - 1);
        send_serving(f, "alpha", names[k], next[k]);
        last[k] = next[k];
        next[k] += 700 + (int64_t)(rng_next(&rng) % 601);
    }
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_int_equal(f->rec.n_events, 5);
    /* Now a-3 hangs while the others go on: DEAD within 3 s of its last. */
    for (int64_t t = f->now + 1; t < last[2] + 5000; t += INTERVAL) {
        for (int k = 0; k < 5; k++)
            if (k != 2)
                send_serving(f, "alpha", names[k], t + k);
        run_until(f, t + INTERVAL - 1);
    }
    assert_int_equal(events_to(f, INST_DEAD), 1);
    assert_int_equal(health_of(f, "alpha", "a-3"), INST_DEAD);
    assert_string_equal(last_event(f)->instance, "a-3");
    assert_int64_le(last_event(f)->at_ms - last[2], 3000);
    assert_counts_consistent(f);
}


/* ---- shared fate: silence attributed to a NATS server ---- */

#define SERVER_GRACE 10000

/* Six instances, two per server; we are connected to "NA". */
static const char *const fate_names[6] = { "w-a1", "w-a2", "w-b1", "w-b2", "w-c1", "w-c2" };
static const char *const fate_servers[6] = { "NA", "NA", "NB", "NB", "NCLONGSERVERIDXYZ", "NCLONGSERVERIDXYZ" };

static void send_via(struct fixture *f, const char *instance, const char *server, int64_t at_ms)
{
    struct hb_input hb = heartbeat("web", instance, 1, f->seq++, at_ms);

    snprintf(hb.nats_server, sizeof(hb.nats_server), "%s", server);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
}

/* Every instance `live` says, each second from `from` to `to`, through its
 * server in `servers`, ticking in between. */
static void fate_round(struct fixture *f, const bool live[6], const char *const servers[6], int64_t from,
                       int64_t to)
{
    for (int64_t t = from; t < to; t += INTERVAL) {
        for (int k = 0; k < 6; k++)
            if (live[k])
                send_via(f, fate_names[k], servers[k], t + k);
        run_until(f, t + INTERVAL - 1);
    }
}

static void start_fate(struct fixture *f)
{
    static const bool all[6] = { true, true, true, true, true, true };

    f->cfg.server_grace_ms = SERVER_GRACE;
    configure(f, "web", 6);
    start_normal(f);
    observer_set_own_server(f->o, "NA");
    fate_round(f, all, fate_servers, 2000, 12000);
    assert_int_equal(events_to(f, INST_SUSPECT), 0);
    f->rec.n_events = 0;
}

static void test_a_dead_server_holds_its_instances_not_dead(void **state)
{
    static const bool c_gone[6] = { true, true, true, true, false, false };
    static const bool all[6] = { true, true, true, true, true, true };
    static const char *const moved[6] = { "NA", "NA", "NB", "NB", "NB", "NA" };
    struct fixture *f = *state;
    bool held_seen = false;

    start_fate(f);
    /* NC dies: its two instances fall silent together for 5 s. */
    fate_round(f, c_gone, fate_servers, 12000, 17000);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_int_equal(health_of(f, "web", "w-c1"), INST_SUSPECT);
    assert_int_equal(health_of(f, "web", "w-c2"), INST_SUSPECT);
    assert_string_equal(instance_of(f, "web", "w-c1")->reason,
                        "held: NATS server NCLONGSERVER\u2026 unreachable (2 instances)");
    for (size_t k = 0; k < f->rec.n_events; k++)
        held_seen |= strncmp(f->rec.events[k].reason, "held: NATS server", 17) == 0;
    assert_true(held_seen); /* the hold is on the event stream too */
    /* They reconnect elsewhere: healthy again, nobody was ever dead. */
    fate_round(f, all, moved, 17000, 20000);
    assert_int_equal(health_of(f, "web", "w-c1"), INST_HEALTHY);
    assert_int_equal(health_of(f, "web", "w-c2"), INST_HEALTHY);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_counts_consistent(f);
}

static void test_a_server_hold_ends_after_the_grace(void **state)
{
    static const bool c_gone[6] = { true, true, true, true, false, false };
    struct fixture *f = *state;
    int64_t dead_at = 0;

    start_fate(f);
    fate_round(f, c_gone, fate_servers, 12000, 40000);
    assert_int_equal(health_of(f, "web", "w-c1"), INST_DEAD);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (f->rec.events[k].to == INST_DEAD && dead_at == 0)
            dead_at = f->rec.events[k].at_ms;
    /* NC last carried a heartbeat at 11005 (w-c2's): held until then + grace. */
    assert_int64_le(11005 + SERVER_GRACE, dead_at);
    assert_int64_le(dead_at, 11005 + SERVER_GRACE + INTERVAL);
}

/* A server that still carries a sibling's heartbeats is alive: the silent
 * instance on it is dead on the detector's schedule. */
static void test_silence_on_a_live_server_is_the_instance_s(void **state)
{
    static const bool c1_gone[6] = { true, true, true, true, false, true };
    struct fixture *f = *state;

    start_fate(f);
    fate_round(f, c1_gone, fate_servers, 12000, 16000);
    assert_int_equal(health_of(f, "web", "w-c1"), INST_DEAD);
    assert_int64_le(last_event(f)->at_ms, prior_dead_at(f, 11004) + INTERVAL);
    assert_int_equal(events_to(f, INST_DEAD), 1);
}

/* Our own server answers us: an instance silent on it is dead, however
 * few share it (a single-server fleet judges as before). */
static void test_silence_on_our_own_server_is_the_instance_s(void **state)
{
    static const bool a_gone[6] = { false, false, true, true, true, true };
    struct fixture *f = *state;

    start_fate(f);
    fate_round(f, a_gone, fate_servers, 12000, 16000);
    assert_int_equal(health_of(f, "web", "w-a1"), INST_DEAD);
    assert_int_equal(health_of(f, "web", "w-a2"), INST_DEAD);
    assert_int_equal(events_to(f, INST_DEAD), 2);
}

/* Our own server frozen: our link still looks up (its pings have not
 * failed yet) but nothing reaches us: everyone's silence is held, ours to
 * explain, not theirs. */
static void test_our_own_frozen_server_proves_nothing(void **state)
{
    static const bool none[6] = { false, false, false, false, false, false };
    struct fixture *f = *state;

    start_fate(f);
    fate_round(f, none, fate_servers, 12000, 15000);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    assert_int_equal(health_of(f, "web", "w-a1"), INST_SUSPECT);
    assert_prefix(instance_of(f, "web", "w-a1")->reason, "held: NATS server NA unreachable");
}

static void test_unknown_server_is_never_held(void **state)
{
    struct fixture *f = *state;

    f->cfg.server_grace_ms = SERVER_GRACE;
    configure(f, "web", 1);
    start_normal(f);
    send_serving(f, "web", "w-1", 2000); /* no nats_server: an older client */
    run_until(f, 8000);
    assert_int_equal(health_of(f, "web", "w-1"), INST_DEAD);
}

/* The table of servers is bounded; past it heartbeats carry no attribution
 * and slots come back when their instances leave. */
static void test_server_table_is_bounded(void **state)
{
    struct server_table *t = calloc(1, sizeof(*t));
    char id[32];
    uint8_t slot[SERVERS_MAX + 1];
    int64_t until;

    (void)state;
    assert_non_null(t);
    servers_init(t);
    for (int k = 0; k < SERVERS_MAX; k++) {
        snprintf(id, sizeof(id), "N%d", k);
        slot[k] = servers_intern(t, id);
        assert_true(slot[k] != SERVER_NONE);
        servers_move(t, SERVER_NONE, slot[k]);
    }
    assert_int_equal(servers_intern(t, "Nextra"), SERVER_NONE);
    assert_int_equal(servers_intern(t, "N7"), slot[7]);
    assert_int_equal(servers_intern(t, ""), SERVER_NONE);
    assert_false(servers_explain_silence(t, SERVER_NONE, &(struct servers_own){ .id = "" }, 0, 1000, 10000, 5000,
                                         &until));
    servers_move(t, slot[7], SERVER_NONE); /* its last instance left */
    assert_true(servers_intern(t, "Nextra") != SERVER_NONE);
    free(t);
}


/* ---- bounded by configuration, not by what arrives (issue 9) ---- */

static void test_unexpected_services_are_bounded(void **state)
{
    struct fixture *f = *state;
    struct observer_counters c;
    char name[32];

    f->cfg.max_unexpected_services = 3;
    f->cfg.max_instances_per_unexpected = 2;
    configure(f, "alpha", 1);
    start_normal(f);
    for (int k = 0; k < 5; k++) {
        struct hb_input hb;

        snprintf(name, sizeof(name), "ghost-%d", k);
        hb = heartbeat(name, "g-1", 1, f->seq++, 2000 + k);
        assert_int_equal(send(f, &hb), k < 3 ? HB_ACCEPTED : HB_LIMIT_SERVICES);
    }
    for (int k = 2; k <= 4; k++) {
        struct hb_input hb;

        snprintf(name, sizeof(name), "g-%d", k);
        hb = heartbeat("ghost-0", name, 1, f->seq++, 3000 + k);
        assert_int_equal(send(f, &hb), k <= 2 ? HB_ACCEPTED : HB_LIMIT_INSTANCES);
    }
    observer_counters(f->o, &c);
    assert_int_equal(c.limit_services, 2);
    assert_int_equal(c.limit_instances, 2);
    assert_int_equal(registry_service_count(observer_registry(f->o)), 4);   /* alpha and three ghosts */
    /* A forgotten ghost makes room. */
    run_until(f, 3010 + FORGET_AFTER + 10000);
    {
        struct hb_input hb = heartbeat("ghost-9", "g-1", 1, f->seq++, f->now + 1);

        assert_int_equal(send(f, &hb), HB_ACCEPTED);
    }
}

static void test_instances_per_service_are_bounded_with_room_for_desired(void **state)
{
    struct fixture *f = *state;
    char name[32];
    int accepted = 0;

    f->cfg.max_instances_per_service = 4;
    configure(f, "alpha", 1);
    configure(f, "beta", 3);   /* 2 x desired = 6 above the limit of 4 */
    start_normal(f);
    for (int k = 0; k < 10; k++) {
        struct hb_input a, b;

        snprintf(name, sizeof(name), "i-%d", k);
        a = heartbeat("alpha", name, 1, f->seq++, 2000 + k);
        b = heartbeat("beta", name, 1, f->seq++, 2000 + k);
        accepted += send(f, &a) == HB_ACCEPTED;
        accepted += (send(f, &b) == HB_ACCEPTED) * 100;
    }
    assert_int_equal(accepted, 4 + 6 * 100);
}

/* A ghost promising ten minutes stretches neither the warm-up nor the
 * mass-silence window; a configured service's promise is clamped. */
static void test_promised_intervals_are_clamped_and_ghosts_time_nothing(void **state)
{
    struct fixture *f = *state;
    struct hb_input ghost = heartbeat("ghost", "g-1", 1, 1, 100);
    struct hb_input slow = heartbeat("alpha", "a-1", 1, 2, 110);

    f->cfg.max_interval_ms = 3000;
    configure(f, "alpha", 1);
    start(f, 0);
    ghost.interval_ms = 600000;
    assert_int_equal(send(f, &ghost), HB_ACCEPTED);
    tick(f, INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);   /* the ghost did not stretch it */
    slow.interval_ms = 600000;
    assert_int_equal(send(f, &slow), HB_ACCEPTED);
    assert_int_equal(instance_of(f, "alpha", "a-1")->detector.interval_ms, 3000);
    /* The silence ceiling follows the clamp: DEAD within 5 x 3 s, not 50 min. */
    run_until(f, 110 + 5 * 3000 + 10);
    assert_int_equal(health_of(f, "alpha", "a-1"), INST_DEAD);
}

/* Ghosts going silent together are not a mass silence of the fleet. */
static void test_ghosts_do_not_count_toward_mass_silence(void **state)
{
    struct fixture *f = *state;
    char name[32];

    configure(f, "alpha", 2);
    start_normal(f);
    for (int64_t t = 2000; t < 6000; t += INTERVAL) {
        send_serving(f, "alpha", "a-1", t);
        send_serving(f, "alpha", "a-2", t + 1);
        for (int k = 0; k < 4; k++) {
            struct hb_input hb;

            snprintf(name, sizeof(name), "ghost-%d", k);
            hb = heartbeat(name, "g-1", 1, f->seq++, t + 2 + k);
            assert_int_equal(send(f, &hb), HB_ACCEPTED);
        }
        run_until(f, t + INTERVAL - 1);
    }
    /* The four ghosts vanish at once; alpha goes on. */
    for (int64_t t = 6000; t < 12000; t += INTERVAL) {
        send_serving(f, "alpha", "a-1", t);
        send_serving(f, "alpha", "a-2", t + 1);
        run_until(f, t + INTERVAL - 1);
    }
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    for (size_t k = 0; k < f->rec.n_states; k++)
        assert_true(f->rec.states[k].to != OBSERVER_SELF_PRESERVATION);
}

/* ---- proven lives (DESIGN.md §7) ---- */

static struct hb_input proven(const char *instance, uint64_t incarnation, uint64_t seq, int64_t at_ms)
{
    struct hb_input hb = heartbeat("alpha", instance, incarnation, seq, at_ms);

    hb.proven = true;
    return hb;
}

/* Once a life has proven a heartbeat, what others send in its name (the
 * highest seq, an exit report, a stop) changes nothing and is counted. */
static void test_keyed_life_refuses_unproven(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct instance before, *i;
    struct observer_counters c;
    size_t events;

    configure(f, "alpha", 1);
    start_normal(f);
    hb = proven("a-1", 7, 1, 2000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    i = instance_of(f, "alpha", "a-1");
    assert_true(i->keyed);
    before = *i;
    events = f->rec.n_events;
    hb = heartbeat("alpha", "a-1", 7, UINT64_MAX, 2100);
    assert_int_equal(send(f, &hb), HB_UNPROVEN);
    hb = heartbeat("alpha", "a-1", 7, 2, 2200);
    hb.state = SERVING_EXITED;
    hb.has_exit = true;
    hb.exit_code = 1;
    assert_int_equal(send(f, &hb), HB_UNPROVEN);
    hb = heartbeat("alpha", "a-1", 99, 1, 2300);    /* another life, unproven */
    assert_int_equal(send(f, &hb), HB_UNPROVEN);
    assert_memory_equal(i, &before, sizeof(before));
    assert_int_equal(f->rec.n_events, events);
    /* The real life goes on at its own seq. */
    hb = proven("a-1", 7, 2, 3000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_int_equal(i->seq, 2);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(i->restarts, 0);
    observer_counters(f->o, &c);
    assert_int_equal(c.unproven, 3);
}

/* A sender that does not prove keeps the old rules (the weaker guarantee):
 * its lives replace each other. */
static void test_unproven_sender_keeps_working(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;

    configure(f, "alpha", 1);
    start_normal(f);
    hb = heartbeat("alpha", "a-1", 7, 1, 2000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_false(instance_of(f, "alpha", "a-1")->keyed);
    hb = heartbeat("alpha", "a-1", 8, 1, 2500);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    assert_int_equal(instance_of(f, "alpha", "a-1")->restarts, 1);
    /* Its first proven heartbeat keys the life from then on. */
    hb = proven("a-1", 8, 2, 3000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    hb = heartbeat("alpha", "a-1", 8, 3, 3500);
    assert_int_equal(send(f, &hb), HB_UNPROVEN);
}

/* A second proven life while the first keeps heartbeating: noted, reported
 * once as a conflict, never judged; its exit reports kill nothing. */
static void test_two_live_lives_are_a_conflict_not_an_action(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct instance *i;
    struct observer_counters c;
    size_t conflicts = 0;

    configure(f, "alpha", 1);
    start_normal(f);
    for (int k = 0; k < 5; k++) {
        int64_t t = 2000 + k * INTERVAL;

        hb = proven("a-1", 7, (uint64_t)k + 1, t);
        assert_int_equal(send(f, &hb), HB_ACCEPTED);
        hb = proven("a-1", 66, (uint64_t)k + 1, t + 100);
        if (k == 3) {
            hb.state = SERVING_EXITED;
            hb.has_exit = true;
            hb.exit_signal = 9;
        }
        assert_int_equal(send(f, &hb), HB_CONTENDER);
        run_until(f, t + INTERVAL - 1);
    }
    i = instance_of(f, "alpha", "a-1");
    assert_int_equal(i->incarnation, 7);
    assert_int_equal(i->restarts, 0);
    assert_int_equal(i->health, INST_HEALTHY);
    assert_int_equal(events_to(f, INST_DEAD), 0);
    for (size_t k = 0; k < f->rec.n_events; k++)
        if (strstr(f->rec.events[k].reason, "conflict: incarnation 0000000000000042") != NULL) {
            conflicts++;
            assert_int_equal(f->rec.events[k].from, INST_HEALTHY);
            assert_int_equal(f->rec.events[k].to, INST_HEALTHY);
        }
    assert_int_equal(conflicts, 1);
    observer_counters(f->o, &c);
    assert_int_equal(c.contender, 5);
    assert_int_equal(c.conflicts, 1);
}

/* A new proven life takes the name once the old one is over: it announced
 * its stop, or it fell silent when the new one appeared (a restart in
 * place whose exit report was lost). */
static void test_new_life_after_the_old_one_ends(void **state)
{
    struct fixture *f = *state;
    struct hb_input hb;
    struct instance *i;

    configure(f, "alpha", 2);
    start_normal(f);
    hb = proven("a-1", 7, 1, 2000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    hb = proven("a-1", 7, 2, 2500);
    hb.state = SERVING_STOPPING;
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    hb = proven("a-1", 8, 1, 2600);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    i = instance_of(f, "alpha", "a-1");
    assert_int_equal(i->incarnation, 8);
    assert_int_equal(i->restarts, 1);
    assert_true(i->keyed);

    hb = proven("a-2", 20, 1, 3000);
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    run_until(f, 3500);
    hb = proven("a-2", 21, 1, 3500);       /* a-2 restarted in place, silently */
    assert_int_equal(send(f, &hb), HB_CONTENDER);
    run_until(f, 4500);
    hb = proven("a-2", 21, 2, 4500);       /* old life heard last at 3000: 1.5 intervals */
    assert_int_equal(send(f, &hb), HB_CONTENDER);
    run_until(f, 5000);
    hb = proven("a-2", 21, 3, 5000);       /* two intervals of silence: the old life is over */
    assert_int_equal(send(f, &hb), HB_ACCEPTED);
    i = instance_of(f, "alpha", "a-2");
    assert_int_equal(i->incarnation, 21);
    assert_int_equal(i->restarts, 1);
    assert_int_equal(i->health, INST_HEALTHY);
    /* The old life's heartbeats are now stale. */
    hb = proven("a-2", 20, 9, 5100);
    assert_int_equal(send(f, &hb), HB_STALE);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_warming_up_with_missing_services),
        T(test_create_rejects_bad_config),
        T(test_no_sink_is_fine),
        T(test_warming_up_to_normal_after_one_interval),
        T(test_warm_up_lasts_the_longest_promised_interval),
        T(test_heartbeat_makes_healthy),
        T(test_silence_suspect_then_dead_at_detector_times),
        T(test_late_tick_goes_straight_to_dead),
        T(test_suspect_instance_recovers_on_heartbeat),
        T(test_dead_instance_resumes_healthy),
        T(test_new_incarnation_counts_restart),
        T(test_stale_seq_refused_changes_nothing),
        T(test_previous_incarnation_refused),
        T(test_exit_report_dead_immediately_with_code),
        T(test_exit_report_killed_by_signal),
        T(test_exit_without_exit_info),
        T(test_stopping_is_stopped_and_never_dead),
        T(test_stopped_instance_serving_again),
        T(test_failing_check_is_degraded),
        T(test_unspecified_state_counts_as_serving),
        T(test_zero_interval_uses_default),
        T(test_missing_service_stays_missing),
        T(test_unexpected_service_appears),
        T(test_version_drift_and_end),
        T(test_summary_figures),
        T(test_summary_nothing_expected_is_fully_available),
        T(test_service_availability_counts_normal_time_only),
        T(test_self_preservation_declares_nobody),
        T(test_self_preservation_then_resume),
        T(test_link_grace_after_link_returns),
        T(test_first_link_up_with_nobody_seen_no_grace),
        T(test_self_preservation_next_deadline_not_in_past),
        T(test_link_flap_in_warm_up),
        T(test_stall_gives_everyone_grace),
        T(test_tick_gap_within_stall_is_no_stall),
        T(test_forget_dead_instance),
        T(test_forget_stopped_instance),
        T(test_forget_removes_empty_unexpected_service),
        T(test_forget_ends_version_drift),
        T(test_reconfigure_adds_removes_keeps_history),
        T(test_reconfigure_unexpected_becomes_expected_and_back),
        T(test_reconfigure_dropped_service_goes_when_forgotten),
        T(test_reconfigure_rejects_bad_config),
        T(test_reconfigure_new_thresholds_reschedule),
        T(test_next_deadline_is_the_earliest),
        T(test_no_instances_no_deadline),
        T(test_silence_ceiling_honoured),
        T(test_jitter_no_false_dead_then_hang_caught),
        T(test_a_dead_server_holds_its_instances_not_dead),
        T(test_a_server_hold_ends_after_the_grace),
        T(test_silence_on_a_live_server_is_the_instance_s),
        T(test_silence_on_our_own_server_is_the_instance_s),
        T(test_our_own_frozen_server_proves_nothing),
        T(test_unexpected_services_are_bounded),
        T(test_instances_per_service_are_bounded_with_room_for_desired),
        T(test_promised_intervals_are_clamped_and_ghosts_time_nothing),
        T(test_ghosts_do_not_count_toward_mass_silence),
        T(test_unknown_server_is_never_held),
        T(test_keyed_life_refuses_unproven),
        T(test_unproven_sender_keeps_working),
        T(test_two_live_lives_are_a_conflict_not_an_action),
        T(test_new_life_after_the_old_one_ends),
        cmocka_unit_test(test_server_table_is_bounded),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
