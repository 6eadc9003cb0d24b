#include "corefx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

int64_t corefx_rng_between(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(policy_rng_next(state) % (uint64_t)(hi - lo + 1));
}

/* ---- the recording sink ---- */

static void log_char(struct corefx_recorder *rec, char c)
{
    if (rec->n_log + 1 >= COREFX_MAX_LOG)
        fail_msg("log full");
    rec->log[rec->n_log++] = c;
    rec->log[rec->n_log] = '\0';
}

void corefx_record_event(void *ctx, const struct core_event *ev)
{
    struct corefx_recorder *rec = &((struct corefx *)ctx)->rec;
    struct corefx_event *e;

    if (rec->n_events == COREFX_MAX_EVENTS)
        fail_msg("too many events");
    e = &rec->events[rec->n_events++];
    snprintf(e->service, sizeof(e->service), "%s", ev->service->name);
    snprintf(e->instance, sizeof(e->instance), "%s", ev->instance ? ev->instance->name : "");
    e->from = ev->from;
    e->to = ev->to;
    e->action = ev->action;
    snprintf(e->reason, sizeof(e->reason), "%s", ev->reason ? ev->reason : "");
    snprintf(e->operator_name, sizeof(e->operator_name), "%s", ev->operator_name ? ev->operator_name : "");
    e->at_ms = ev->at_ms;
}

void corefx_record_state(void *ctx, enum observer_state from, enum observer_state to, const char *reason)
{
    struct corefx_recorder *rec = &((struct corefx *)ctx)->rec;
    struct corefx_state *s;

    if (rec->n_states == COREFX_MAX_STATES)
        fail_msg("too many states");
    s = &rec->states[rec->n_states++];
    s->from = from;
    s->to = to;
    snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
}

void corefx_record_action(void *ctx, const struct core_action *a)
{
    struct corefx_recorder *rec = &((struct corefx *)ctx)->rec;
    struct corefx_action *r;

    if (rec->n_actions == COREFX_MAX_ACTIONS)
        fail_msg("too many actions");
    r = &rec->actions[rec->n_actions++];
    snprintf(r->service, sizeof(r->service), "%s", a->service->name);
    snprintf(r->instance, sizeof(r->instance), "%s", a->instance->name);
    r->kind = a->kind;
    r->id = a->action_id;
    r->incarnation = a->incarnation;
    r->fence_epoch = a->fence_epoch;
    r->attempt = a->attempt;
    snprintf(r->reason, sizeof(r->reason), "%s", a->reason);
    r->at_ms = a->at_ms;
    log_char(rec, 'A');
}

void corefx_record_escalation(void *ctx, const struct core_escalation *e)
{
    struct corefx_recorder *rec = &((struct corefx *)ctx)->rec;
    struct corefx_escalation *r;

    if (rec->n_escalations == COREFX_MAX_ESCALATIONS)
        fail_msg("too many escalations");
    r = &rec->escalations[rec->n_escalations++];
    snprintf(r->instance, sizeof(r->instance), "%s", e->instance->name);
    snprintf(r->reason, sizeof(r->reason), "%s", e->reason);
    r->at_ms = e->at_ms;
}

/* Stores the record as the edge would: packed, replacing the previous one. */
bool corefx_record_persist(void *ctx, const struct service *s, const struct instance *i,
                           const struct policy_persisted *p)
{
    struct corefx_recorder *rec = &((struct corefx *)ctx)->rec;

    (void)s;
    (void)i;
    rec->n_persist_calls++;
    if (!rec->store_ok) {
        log_char(rec, 'p');
        return false;
    }
    assert_int_equal(persist_pack(p, rec->kv, sizeof(rec->kv), &rec->kv_len), 0);
    rec->last = *p;
    log_char(rec, 'P');
    return true;
}

/* ---- the fixture ---- */

void corefx_init(struct corefx *f, unsigned sinks, uint64_t rng_seed)
{
    memset(f, 0, sizeof(*f));
    f->sink.ctx = f;
    f->sink.on_event = (sinks & COREFX_EVENTS) ? corefx_record_event : NULL;
    f->sink.on_state = (sinks & COREFX_STATES) ? corefx_record_state : NULL;
    f->sink.on_action = (sinks & COREFX_ACTIONS) ? corefx_record_action : NULL;
    f->sink.on_escalate = (sinks & COREFX_ESCALATIONS) ? corefx_record_escalation : NULL;
    f->sink.on_persist = (sinks & COREFX_PERSIST) ? corefx_record_persist : NULL;
    detector_params_default(&f->cfg.detector);
    assert_int_equal(detector_params_prepare(&f->cfg.detector), 0);
    f->cfg.default_interval_ms = COREFX_INTERVAL;
    f->cfg.forget_after_ms = COREFX_FORGET_AFTER;
    f->cfg.stall_ms = COREFX_STALL;
    f->cfg.policy.rng_seed = rng_seed;
    f->seq = 1;
    f->rec.store_ok = true;
}

void corefx_fini(struct corefx *f)
{
    observer_destroy(f->o);
    f->o = NULL;
}

struct corefx *corefx_create(unsigned sinks, uint64_t rng_seed)
{
    struct corefx *f = malloc(sizeof(*f));

    assert_non_null(f);
    corefx_init(f, sinks, rng_seed);
    return f;
}

void corefx_destroy(struct corefx *f)
{
    if (f == NULL)
        return;
    corefx_fini(f);
    free(f);
}

int corefx_teardown(void **state)
{
    corefx_destroy(*state);
    return 0;
}

struct service_config *corefx_configure(struct corefx *f, const char *name, uint32_t desired)
{
    struct service_config *s;

    if (f->n_services == COREFX_SERVICES_MAX)
        fail_msg("too many services");
    s = &f->services[f->n_services++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->desired = desired;
    f->cfg.services = f->services;
    f->cfg.n_services = f->n_services;
    return s;
}

void corefx_depends_on(struct corefx *f, struct service_config *s, const char *dep)
{
    size_t k = (size_t)(s - f->services);

    if (s->n_depends_on == COREFX_DEPS_MAX)
        fail_msg("too many dependencies");
    snprintf(f->deps[k][s->n_depends_on], sizeof(f->deps[k][0]), "%s", dep);
    s->depends_on = (const char (*)[FLEET_NAME_MAX + 1])f->deps[k];
    s->n_depends_on++;
}

void corefx_start(struct corefx *f, int64_t now_ms)
{
    assert_int_equal(observer_create(&f->cfg, &f->sink, now_ms, &f->o), 0);
    observer_set_unix_offset(f->o, f->unix_offset);
    f->now = now_ms;
}

void corefx_start_normal(struct corefx *f)
{
    corefx_start(f, 0);
    corefx_tick(f, COREFX_INTERVAL);
    assert_int_equal(observer_state(f->o), OBSERVER_NORMAL);
    f->rec.n_states = 0;
}

void corefx_tick(struct corefx *f, int64_t now_ms)
{
    observer_tick(f->o, now_ms);
    f->now = now_ms;
}

/* The next time a daemon would tick: the observer's next deadline, but at
 * least 1 ms and at most a second from now. */
static int64_t next_tick(const struct corefx *f)
{
    int64_t next = observer_next_deadline(f->o);

    if (next > f->now + 1000)
        next = f->now + 1000;
    if (next <= f->now)
        next = f->now + 1;
    return next;
}

void corefx_run_until(struct corefx *f, int64_t until_ms)
{
    for (int64_t next = next_tick(f); next <= until_ms; next = next_tick(f))
        corefx_tick(f, next);
    corefx_tick(f, until_ms);
}

struct hb_input corefx_heartbeat(const char *service, const char *instance, uint64_t incarnation,
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
    hb.interval_ms = COREFX_INTERVAL;
    hb.state = SERVING_SERVING;
    hb.checks_ok = true;
    return hb;
}

enum hb_verdict corefx_send(struct corefx *f, const struct hb_input *hb)
{
    enum hb_verdict v = observer_heartbeat(f->o, hb);

    f->now = hb->arrival_ms;
    return v;
}

void corefx_send_state(struct corefx *f, const char *service, const char *instance, uint64_t incarnation,
                       int64_t at_ms, enum serving_state state)
{
    struct hb_input hb = corefx_heartbeat(service, instance, incarnation, f->seq++, at_ms);

    hb.state = state;
    assert_int_equal(corefx_send(f, &hb), HB_ACCEPTED);
}

void corefx_send_serving(struct corefx *f, const char *service, const char *instance, uint64_t incarnation,
                         int64_t at_ms)
{
    corefx_send_state(f, service, instance, incarnation, at_ms, SERVING_SERVING);
}

void corefx_send_exited(struct corefx *f, const char *service, const char *instance, uint64_t incarnation,
                        int64_t at_ms)
{
    corefx_send_state(f, service, instance, incarnation, at_ms, SERVING_EXITED);
}

struct service *corefx_service_of(const struct corefx *f, const char *service)
{
    return registry_service(observer_registry(f->o), service);
}

struct instance *corefx_instance_of(const struct corefx *f, const char *service, const char *instance)
{
    struct service *s = corefx_service_of(f, service);

    return s ? registry_instance(observer_registry(f->o), s, instance) : NULL;
}

enum inst_health corefx_health_of(const struct corefx *f, const char *service, const char *instance)
{
    struct instance *i = corefx_instance_of(f, service, instance);

    assert_non_null(i);
    return (enum inst_health)i->health;
}

enum svc_health corefx_svc_health_of(const struct corefx *f, const char *service)
{
    struct service *s = corefx_service_of(f, service);

    assert_non_null(s);
    return (enum svc_health)s->health;
}

const struct corefx_event *corefx_last_event(const struct corefx *f)
{
    assert_true(f->rec.n_events > 0);
    return &f->rec.events[f->rec.n_events - 1];
}

const struct corefx_event *corefx_last_action_event(const struct corefx *f)
{
    for (size_t k = f->rec.n_events; k-- > 0;)
        if (f->rec.events[k].action != 0)
            return &f->rec.events[k];
    fail_msg("no action event");
    return NULL;
}

void corefx_assert_event(const struct corefx_event *e, const char *service, const char *instance,
                         enum inst_health from, enum inst_health to, int64_t at_ms)
{
    assert_string_equal(e->service, service);
    assert_string_equal(e->instance, instance);
    assert_string_equal(health_inst_name(e->from), health_inst_name(from));
    assert_string_equal(health_inst_name(e->to), health_inst_name(to));
    assert_int_equal(e->at_ms, at_ms);
}

size_t corefx_events_to(const struct corefx *f, enum inst_health to)
{
    size_t n = 0;

    for (size_t k = 0; k < f->rec.n_events; k++)
        n += f->rec.events[k].instance[0] != '\0' && f->rec.events[k].to == to;
    return n;
}

const struct corefx_action *corefx_last_action(const struct corefx *f)
{
    assert_true(f->rec.n_actions > 0);
    return &f->rec.actions[f->rec.n_actions - 1];
}

const struct corefx_action *corefx_wait_action(struct corefx *f, int64_t limit_ms)
{
    size_t n = f->rec.n_actions;
    int64_t until = f->now + limit_ms;

    while (f->rec.n_actions == n) {
        int64_t next = next_tick(f);

        if (next > until)
            fail_msg("no action within %lld ms", (long long)limit_ms);
        corefx_tick(f, next);
    }
    return corefx_last_action(f);
}

size_t corefx_actions_for(const struct corefx *f, const char *instance)
{
    size_t n = 0;

    for (size_t k = 0; k < f->rec.n_actions; k++)
        n += strcmp(f->rec.actions[k].instance, instance) == 0;
    return n;
}
