/* Unit tests of the canonical proto3 JSON mapping (supervisor/daemon/pbjson.h).
 *
 * Every message is rendered, parsed back with jansson and checked member by
 * member under its lowerCamelCase name: the names, the enum names, 64-bit
 * integers as exact strings, NaN and the infinities, defaults present. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fleet/v1/fleet.pb-c.h"
#include "pb_samples.h"
#include "pbjson.h"

/* Renders `m`, checks it is one line of JSON, returns it parsed (decref). */
static json_t *render_parse(const ProtobufCMessage *m)
{
    char *text = pbjson_render(m);
    json_error_t err;
    json_t *v;

    assert_non_null(text);
    assert_null(strchr(text, '\n'));
    v = json_loads(text, 0, &err);
    if (v == NULL)
        fail_msg("not JSON (%s): %s", err.text, text);
    free(text);
    assert_true(json_is_object(v));
    return v;
}

static void assert_str_member(const json_t *o, const char *key, const char *want)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("member %s is not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void assert_int_member(const json_t *o, const char *key, json_int_t want)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("member %s is not an integer", key);
    assert_int_equal(json_integer_value(v), want);
}

static void assert_real_member(const json_t *o, const char *key, double want)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_number(v))
        fail_msg("member %s is not a number", key);
    assert_true(json_number_value(v) == want);
}

/* `o` has exactly the members `keys` (NULL-ended). */
static void assert_members(const json_t *o, const char *const *keys)
{
    size_t n = 0;

    for (; keys[n] != NULL; n++)
        if (json_object_get(o, keys[n]) == NULL)
            fail_msg("member %s missing", keys[n]);
    assert_int_equal(json_object_size(o), n);
}

/* render_parse, checking the object has exactly the members `keys`. */
static json_t *render_exactly(const ProtobufCMessage *m, const char *const *keys)
{
    json_t *v = render_parse(m);

    assert_members(v, keys);
    return v;
}

static void test_field_names(void **state)
{
    static const struct {
        const char *proto, *json;
    } cases[] = {
        { "generated_unix_ms", "generatedUnixMs" }, { "availability_1h", "availability1h" },
        { "feed_seq", "feedSeq" },                  { "operator", "operator" },
        { "a__b", "aB" },                           { "trailing_", "trailing" },
        { "x_Y", "xY" },
    };
    char buf[64];

    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        assert_string_equal(pbjson_field_name(cases[k].proto, buf, sizeof buf), cases[k].json);
    assert_string_equal(pbjson_field_name("generated_unix_ms", buf, 6), "gener");
}

static void test_fleet_status_every_field(void **state)
{
    static const char *const fleet_keys[] = {
        "generatedUnixMs", "feedSeq", "term", "services", "servicesExpected", "servicesAvailable",
        "availability", "observer", "instancesExpected", "instancesHealthy", "supervisorId", NULL,
    };
    static const char *const service_keys[] = {
        "name", "desired", "healthy", "health", "instances", "availability1h", "availability24h",
        "versions", "expected", NULL,
    };
    static const char *const instance_keys[] = {
        "instance", "health", "lastSeenUnixMs", "phi", "incarnation", "restarts", "fenceEpoch",
        "version", "reason", "nextActionUnixMs", NULL,
    };
    struct pb_sample_fleet sample;
    json_t *root, *s0, *s1, *i0;

    (void)state;
    pb_sample_fleet(&sample);
    root = render_exactly(&sample.fs.base, fleet_keys);
    assert_str_member(root, "generatedUnixMs", "1764000000999");
    assert_str_member(root, "feedSeq", "9007199254740992");
    assert_str_member(root, "term", "7");
    assert_int_member(root, "servicesExpected", 45);
    assert_int_member(root, "servicesAvailable", 44);
    assert_real_member(root, "availability", 44.0 / 45.0); /* exact round trip */
    assert_str_member(root, "observer", "OBSERVER_STATE_SELF_PRESERVATION");
    assert_int_member(root, "instancesExpected", 90);
    assert_int_member(root, "instancesHealthy", 88);
    assert_str_member(root, "supervisorId", "sup-a-1234");
    assert_int_equal(json_array_size(json_object_get(root, "services")), 2);

    s0 = json_array_get(json_object_get(root, "services"), 0);
    assert_members(s0, service_keys);
    assert_str_member(s0, "name", "web");
    assert_int_member(s0, "desired", 3);
    assert_int_member(s0, "healthy", 2);
    assert_str_member(s0, "health", "SERVICE_HEALTH_DEGRADED");
    assert_real_member(s0, "availability1h", 0.5);
    assert_real_member(s0, "availability24h", 0.25);
    assert_true(json_is_true(json_object_get(s0, "expected")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(s0, "versions"), 1)), "1.2.4");

    i0 = json_array_get(json_object_get(s0, "instances"), 0);
    assert_members(i0, instance_keys);
    assert_str_member(i0, "instance", "web-1");
    assert_str_member(i0, "health", "INSTANCE_HEALTH_DEAD");
    assert_str_member(i0, "lastSeenUnixMs", "1764000000123");
    assert_real_member(i0, "phi", 8.5);
    assert_str_member(i0, "incarnation", "18446744073709551615");
    assert_int_member(i0, "restarts", 4000000000);
    assert_str_member(i0, "fenceEpoch", "9007199254740993");
    assert_str_member(i0, "version", "1.2.3");
    assert_str_member(i0, "reason", "silent 5.2s");
    assert_str_member(i0, "nextActionUnixMs", "-1");

    /* Defaults are written, not left out. */
    s1 = json_array_get(json_object_get(root, "services"), 1);
    assert_members(s1, service_keys);
    assert_str_member(s1, "name", "");
    assert_int_member(s1, "desired", 0);
    assert_str_member(s1, "health", "SERVICE_HEALTH_UNSPECIFIED");
    assert_true(json_is_array(json_object_get(s1, "instances")));
    assert_int_equal(json_array_size(json_object_get(s1, "instances")), 0);
    assert_int_equal(json_array_size(json_object_get(s1, "versions")), 0);
    assert_true(json_is_false(json_object_get(s1, "expected")));
    json_decref(root);
}

static void test_event_every_field(void **state)
{
    static const char *const event_keys[] = {
        "feedSeq", "unixMs", "service", "instance", "from", "to", "action", "reason", "term", "operator", NULL,
    };
    static const char *const strings[][2] = {
        { "feedSeq", "12" },
        { "unixMs", "-9223372036854775808" },
        { "service", "web" },
        { "instance", "web-2" },
        { "from", "INSTANCE_HEALTH_HEALTHY" },
        { "action", "ACTION_RESTART" },
        { "reason", "quote \" backslash \\ newline \n tab \t" },
        { "term", "18446744073709551615" },
        { "operator", "alice" },
    };
    Fleet__V1__Event e;
    json_t *root;

    (void)state;
    fleet__v1__event__init(&e);
    e.feed_seq = 12;
    e.unix_ms = INT64_MIN;
    e.service = "web";
    e.instance = "web-2";
    e.from = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY;
    e.to = (Fleet__V1__InstanceHealth)42; /* a number the enum does not name */
    e.action = FLEET__V1__ACTION__ACTION_RESTART;
    e.reason = "quote \" backslash \\ newline \n tab \t";
    e.term = UINT64_MAX;
    e.operator_ = "alice";
    root = render_exactly(&e.base, event_keys);
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
        assert_str_member(root, strings[k][0], strings[k][1]);
    assert_int_member(root, "to", 42);
    json_decref(root);
}

static void test_doubles_not_finite(void **state)
{
    Fleet__V1__ServiceStatus s;
    Fleet__V1__InstanceStatus i;
    json_t *root;

    (void)state;
    fleet__v1__service_status__init(&s);
    s.availability_1h = NAN;
    s.availability_24h = INFINITY;
    root = render_parse(&s.base);
    assert_str_member(root, "availability1h", "NaN");
    assert_str_member(root, "availability24h", "Infinity");
    json_decref(root);
    fleet__v1__instance_status__init(&i);
    i.phi = -INFINITY;
    root = render_parse(&i.base);
    assert_str_member(root, "phi", "-Infinity");
    json_decref(root);
}

/* bytes (base64 with padding), 32-bit signed, bool and a nested message,
 * on messages of fleet.proto that carry them. */
static void test_bytes_signed_and_nested(void **state)
{
    static const struct {
        size_t len;
        const char *b64;
    } cases[] = { { 0, "" }, { 1, "/w==" }, { 2, "//8=" }, { 3, "////" }, { 4, "/////w==" } };
    uint8_t ff[4] = { 0xff, 0xff, 0xff, 0xff };
    Fleet__V1__Heartbeat hb;
    struct pb_sample_heartbeat sample;
    json_t *root, *exit_obj;

    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Fleet__V1__Envelope env;

        fleet__v1__envelope__init(&env);
        env.payload.data = ff;
        env.payload.len = cases[k].len;
        env.signature.data = (uint8_t *)"Man";
        env.signature.len = 3;
        root = render_parse(&env.base);
        assert_str_member(root, "payload", cases[k].b64);
        assert_str_member(root, "signature", "TWFu");
        assert_str_member(root, "signer", "");
        json_decref(root);
    }

    fleet__v1__heartbeat__init(&hb);
    root = render_parse(&hb.base);
    assert_true(json_is_null(json_object_get(root, "exit"))); /* absent message */
    assert_str_member(root, "state", "SERVING_STATE_UNSPECIFIED");
    assert_str_member(root, "incarnationKey", "");
    json_decref(root);

    pb_sample_heartbeat(&sample);
    sample.hb.nats_server = "n\xff\xc3(x\xe2\x82\xac"; /* not UTF-8, then a valid euro sign */
    root = render_parse(&sample.hb.base);
    exit_obj = json_object_get(root, "exit");
    assert_int_member(exit_obj, "code", -1);
    assert_int_member(exit_obj, "signal", 9);
    assert_str_member(exit_obj, "atUnixMs", "5");
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(root, "checks"), 0), "ok")));
    assert_str_member(root, "natsServer", "n\xef\xbf\xbd\xef\xbf\xbd(x\xe2\x82\xac");
    assert_str_member(root, "incarnationKey", "AAH+/38=");
    assert_str_member(root, "state", "SERVING_STATE_SERVING");
    json_decref(root);
}

/* The jansson form and the text agree. */
static void test_object_matches_render(void **state)
{
    Fleet__V1__Event e;
    json_t *obj, *parsed;

    (void)state;
    fleet__v1__event__init(&e);
    e.term = 3;
    obj = pbjson_object(&e.base);
    parsed = render_parse(&e.base);
    assert_true(json_equal(obj, parsed));
    json_decref(obj);
    json_decref(parsed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_names),
        cmocka_unit_test(test_fleet_status_every_field),
        cmocka_unit_test(test_event_every_field),
        cmocka_unit_test(test_doubles_not_finite),
        cmocka_unit_test(test_bytes_signed_and_nested),
        cmocka_unit_test(test_object_matches_render),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
