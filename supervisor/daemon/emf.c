/* CloudWatch Embedded Metric Format lines (emf.h). */
#include "emf.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "health.h"
#include "log.h"
#include "observer.h"
#include "registry.h"

/* One metric of a line: its name, its EMF unit, its value. */
struct emf_metric {
    const char *name;
    const char *unit;
    double value;
};

/* A metric's value: an integer when it is one (counts read as 45, not
 * 45.0), 0 when not finite (EMF values must be numbers). */
static json_t *metric_value(double x)
{
    if (!isfinite(x))
        return json_integer(0);
    if (x == floor(x) && fabs(x) < 9007199254740992.0)
        return json_integer((json_int_t)x);
    return json_real(x);
}

/* {"_aws":{"Timestamp":ms,"CloudWatchMetrics":[{"Namespace":...,
 * "Dimensions":[[dim_key?]],"Metrics":[{"Name","Unit"}...]}]}, then, when
 * dim_key is not NULL, dim_key: dim_value, then each metric's value, as
 * top-level members. New reference, or NULL (out of memory). */
static json_t *line_object(int64_t unix_ms, const char *dim_key, const char *dim_value,
                           const struct emf_metric *m, size_t n)
{
    json_t *defs = json_array(), *set = json_array(), *root;
    bool bad = defs == NULL || set == NULL;

    for (size_t k = 0; !bad && k < n; k++)
        bad = json_array_append_new(defs, json_pack("{s:s,s:s}", "Name", m[k].name, "Unit", m[k].unit)) != 0;
    if (!bad && dim_key != NULL)
        bad = json_array_append_new(set, json_string(dim_key)) != 0;
    if (bad)
        goto out_free_parts;
    /* json_pack takes (o) the parts in every case, success or not. */
    root = json_pack("{s:{s:I,s:[{s:s,s:[o],s:o}]}}", "_aws", "Timestamp", (json_int_t)unix_ms,
                     "CloudWatchMetrics", "Namespace", EMF_NAMESPACE, "Dimensions", set, "Metrics", defs);
    if (root == NULL)
        return NULL;
    if (dim_key != NULL)
        bad = json_object_set_new(root, dim_key, json_string(dim_value)) != 0;
    for (size_t k = 0; !bad && k < n; k++)
        bad = json_object_set_new(root, m[k].name, metric_value(m[k].value)) != 0;
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;

out_free_parts:
    json_decref(set);
    json_decref(defs);
    return NULL;
}

/* 15 significant digits: more than any metric means, and 0.978 stays
 * 0.978 rather than 0.97799999999999998. */
#define EMF_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* A growing text buffer; `failed` once an allocation failed. */
struct text {
    char *buf;
    size_t len, cap;
    bool failed;
};

/* Appends `line` (consumed; NULL = out of memory) as compact JSON and '\n'. */
static void text_add_line(struct text *t, json_t *line)
{
    size_t n;

    if (line == NULL || t->failed) {
        t->failed = true;
        json_decref(line);
        return;
    }
    n = json_dumpb(line, NULL, 0, EMF_DUMP_FLAGS);
    if (t->len + n + 2 > t->cap) {
        size_t cap = (t->len + n + 2) * 2;
        char *b = realloc(t->buf, cap);

        if (b == NULL) {
            t->failed = true;
            json_decref(line);
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    json_dumpb(line, t->buf + t->len, n, EMF_DUMP_FLAGS);
    t->len += n;
    t->buf[t->len++] = '\n';
    t->buf[t->len] = '\0';
    json_decref(line);
}

static json_t *fleet_line(const struct emf_fleet *f)
{
    const struct emf_metric m[] = {
        { "ServicesExpected", "Count", f->services_expected },
        { "ServicesAvailable", "Count", f->services_available },
        { "Availability", "None", f->availability },
        { "InstancesExpected", "Count", f->instances_expected },
        { "InstancesHealthy", "Count", f->instances_healthy },
        { "SelfPreservation", "Count",
          f->observer_state != NULL && strcmp(f->observer_state, "SELF_PRESERVATION") == 0 },
    };
    json_t *line = line_object(f->unix_ms, NULL, NULL, m, sizeof m / sizeof m[0]);

    if (line != NULL &&
        json_object_set_new(line, "ObserverState", json_string(f->observer_state ? f->observer_state : "")) != 0) {
        json_decref(line);
        return NULL;
    }
    return line;
}

static json_t *service_line(int64_t unix_ms, const struct emf_service *s)
{
    const struct emf_metric m[] = {
        { "HealthyInstances", "Count", s->healthy },
        { "DesiredInstances", "Count", s->desired },
        { "Availability1h", "None", s->availability_1h },
    };

    return line_object(unix_ms, "Service", s->name, m, sizeof m / sizeof m[0]);
}

char *emf_render(const struct emf_fleet *f)
{
    struct text t = { 0 };

    text_add_line(&t, fleet_line(f));
    for (size_t k = 0; k < f->n_services; k++)
        text_add_line(&t, service_line(f->unix_ms, &f->services[k]));
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}

int emf_collect(struct observer *obs, int64_t now_ms, int64_t unix_ms, struct emf_fleet *out)
{
    const struct registry *reg = observer_registry(obs);
    size_t n = registry_service_count(reg);
    struct emf_service *svcs = calloc(n ? n : 1, sizeof(*svcs));
    struct observer_summary sum;

    if (svcs == NULL)
        return -1;
    for (size_t k = 0; k < n; k++) {
        struct service *s = registry_service_at(reg, k);
        double day;

        svcs[k].name = s->name;
        svcs[k].healthy = s->count[INST_HEALTHY];
        svcs[k].desired = s->desired;
        observer_service_availability(obs, s, now_ms, &svcs[k].availability_1h, &day);
    }
    observer_summary(obs, &sum);
    *out = (struct emf_fleet){
        .unix_ms = unix_ms,
        .services_expected = sum.services_expected,
        .services_available = sum.services_available,
        .availability = sum.availability,
        .instances_expected = sum.instances_expected,
        .instances_healthy = sum.instances_healthy,
        .observer_state = health_observer_name(observer_state(obs)),
        .services = svcs,
        .n_services = n,
    };
    return 0;
}

void emf_fleet_fini(struct emf_fleet *f)
{
    free((void *)f->services);
    f->services = NULL;
    f->n_services = 0;
}

void emf_schedule_set(struct emf_schedule *s, uint32_t interval_s, int64_t now_ms)
{
    s->interval_ms = interval_s * 1000u;
    s->next_ms = now_ms + s->interval_ms;
}

bool emf_schedule_due(struct emf_schedule *s, int64_t now_ms)
{
    if (s->interval_ms == 0 || now_ms < s->next_ms)
        return false;
    s->next_ms += s->interval_ms;
    if (s->next_ms <= now_ms)
        s->next_ms = now_ms + s->interval_ms;
    return true;
}

int64_t emf_schedule_next(const struct emf_schedule *s)
{
    return s->interval_ms == 0 ? INT64_MAX : s->next_ms;
}

void emf_tick(struct emf_schedule *s, struct observer *obs, bool write, int64_t now_ms, int64_t unix_ms)
{
    struct emf_fleet f;
    char *text;

    if (!emf_schedule_due(s, now_ms) || !write)
        return;
    if (emf_collect(obs, now_ms, unix_ms, &f) != 0)
        goto out_oom;
    text = emf_render(&f);
    emf_fleet_fini(&f);
    if (text == NULL)
        goto out_oom;
    log_raw(text, strlen(text));
    free(text);
    return;

out_oom:
    log_kv(LOG_ERROR, "CloudWatch EMF lines skipped: out of memory", NULL);
}
