/* JSON mirrors of FleetStatus and Event (jansson), for --json. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

/* Each builder below returns a new reference or NULL. The put_* helpers take
 * ownership of `v` even when it is NULL, so a chain of puts records the first
 * failure in `ok` and the caller drops the half-built object once. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (json_object_set_new(o, key, v) != 0)
        *ok = false;
}

static json_t *j_u64(uint64_t v)
{
    char buf[24];

    if (v <= (uint64_t)INT64_MAX)
        return json_integer((json_int_t)v);
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return json_string(buf);
}

static json_t *j_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *j_enum(const ProtobufCEnumDescriptor *desc, int v)
{
    const char *name = render_enum_name(desc, v);

    return name != NULL ? json_string(name) : json_integer(v);
}

/* protobuf-c does not check that strings are UTF-8 and jansson refuses those
 * that are not: such bytes become '?', so a bad peer cannot make the whole
 * message unprintable. */
static json_t *j_str(const char *s)
{
    json_t *j;
    char *copy;

    if (s == NULL)
        return json_string("");
    j = json_string(s);
    if (j != NULL)
        return j;
    copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *c = copy; *c != '\0'; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *instance_json(const Fleet__V1__InstanceStatus *in)
{
    json_t *o = json_object();
    bool ok = o != NULL;

    if (!ok)
        return NULL;
    put(o, "instance", j_str(in->instance), &ok);
    put(o, "health", j_enum(&fleet__v1__instance_health__descriptor, (int)in->health), &ok);
    put(o, "last_seen_unix_ms", json_integer(in->last_seen_unix_ms), &ok);
    put(o, "phi", j_real(in->phi), &ok);
    put(o, "incarnation", j_u64(in->incarnation), &ok);
    put(o, "restarts", json_integer(in->restarts), &ok);
    put(o, "fence_epoch", j_u64(in->fence_epoch), &ok);
    put(o, "version", j_str(in->version), &ok);
    put(o, "reason", j_str(in->reason), &ok);
    put(o, "next_action_unix_ms", json_integer(in->next_action_unix_ms), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *service_json(const Fleet__V1__ServiceStatus *s)
{
    json_t *o = json_object();
    json_t *instances = json_array();
    json_t *versions = json_array();
    bool ok = o != NULL && instances != NULL && versions != NULL;

    for (size_t i = 0; ok && i < s->n_instances; i++)
        if (json_array_append_new(instances, instance_json(s->instances[i])) != 0)
            ok = false;
    for (size_t i = 0; ok && i < s->n_versions; i++)
        if (json_array_append_new(versions, j_str(s->versions[i])) != 0)
            ok = false;
    if (!ok)
        goto out_free_parts;
    put(o, "name", j_str(s->name), &ok);
    put(o, "desired", json_integer(s->desired), &ok);
    put(o, "healthy", json_integer(s->healthy), &ok);
    put(o, "health", j_enum(&fleet__v1__service_health__descriptor, (int)s->health), &ok);
    put(o, "instances", instances, &ok);
    put(o, "availability_1h", j_real(s->availability_1h), &ok);
    put(o, "availability_24h", j_real(s->availability_24h), &ok);
    put(o, "versions", versions, &ok);
    put(o, "expected", json_boolean(s->expected), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;

out_free_parts:
    json_decref(versions);
    json_decref(instances);
    json_decref(o);
    return NULL;
}

json_t *render_status_json(const Fleet__V1__FleetStatus *st)
{
    json_t *o = json_object();
    json_t *services = json_array();
    bool ok = o != NULL && services != NULL;

    for (size_t i = 0; ok && i < st->n_services; i++)
        if (json_array_append_new(services, service_json(st->services[i])) != 0)
            ok = false;
    if (!ok) {
        json_decref(services);
        json_decref(o);
        return NULL;
    }
    put(o, "generated_unix_ms", json_integer(st->generated_unix_ms), &ok);
    put(o, "feed_seq", j_u64(st->feed_seq), &ok);
    put(o, "term", j_u64(st->term), &ok);
    put(o, "services", services, &ok);
    put(o, "services_expected", json_integer(st->services_expected), &ok);
    put(o, "services_available", json_integer(st->services_available), &ok);
    put(o, "availability", j_real(st->availability), &ok);
    put(o, "observer", j_enum(&fleet__v1__observer_state__descriptor, (int)st->observer), &ok);
    put(o, "instances_expected", json_integer(st->instances_expected), &ok);
    put(o, "instances_healthy", json_integer(st->instances_healthy), &ok);
    put(o, "supervisor_id", j_str(st->supervisor_id), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *render_event_json(const Fleet__V1__Event *ev)
{
    json_t *o = json_object();
    bool ok = o != NULL;

    if (!ok)
        return NULL;
    put(o, "feed_seq", j_u64(ev->feed_seq), &ok);
    put(o, "unix_ms", json_integer(ev->unix_ms), &ok);
    put(o, "service", j_str(ev->service), &ok);
    put(o, "instance", j_str(ev->instance), &ok);
    put(o, "from", j_enum(&fleet__v1__instance_health__descriptor, (int)ev->from), &ok);
    put(o, "to", j_enum(&fleet__v1__instance_health__descriptor, (int)ev->to), &ok);
    put(o, "action", j_enum(&fleet__v1__action__descriptor, (int)ev->action), &ok);
    put(o, "reason", j_str(ev->reason), &ok);
    put(o, "term", j_u64(ev->term), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
