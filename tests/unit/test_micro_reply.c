/* Unit tests of the micro ping answer's judge (supervisor/daemon/micro_reply.h):
 * what a NATS micro service answers to $SRV.PING.<name> is accepted with its
 * id and version, and every other answer is refused with its reason, *out
 * untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "micro_reply.h"

/* What nats.js 2.29's `nc.services.add({name: "web", version: "1.2.3"})` answers. */
#define GOOD "{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"kVq3JQ0pX9mWnH2bT7cYzE\"," \
             "\"version\":\"1.2.3\",\"metadata\":{\"region\":\"eu\"}}"

static enum micro_refusal judge(const char *text, struct micro_reply *out)
{
    return micro_reply_parse("web", text, strlen(text), out);
}

/* The refusal of `text`, checking *out was left alone. */
static enum micro_refusal refused(const char *text)
{
    struct micro_reply r;
    enum micro_refusal why;

    memset(&r, 0x5a, sizeof(r));
    why = judge(text, &r);
    for (size_t k = 0; k < sizeof(r); k++)
        assert_int_equal(((unsigned char *)&r)[k], 0x5a);
    return why;
}

static void test_accepts_a_micro_answer(void **state)
{
    struct micro_reply r;

    (void)state;
    assert_int_equal(judge(GOOD, &r), MICRO_OK);
    assert_string_equal(r.id, "kVq3JQ0pX9mWnH2bT7cYzE");
    assert_string_equal(r.version, "1.2.3");
}

/* Fields it does not know, a null metadata, no version at all: still an
 * instance (version "" then). */
static void test_tolerates_what_micro_allows(void **state)
{
    struct micro_reply r;

    (void)state;
    assert_int_equal(judge("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a-1\","
                           "\"version\":\"0.0.1-rc.1+b5\",\"metadata\":null,\"newer\":[1,2]}", &r), MICRO_OK);
    assert_string_equal(r.version, "0.0.1-rc.1+b5");
    assert_int_equal(judge("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a-2\"}", &r),
                     MICRO_OK);
    assert_string_equal(r.id, "a-2");
    assert_string_equal(r.version, "");
}

static void test_refuses_bad_sizes(void **state)
{
    char *big = malloc(MICRO_REPLY_MAX + 2);
    struct micro_reply r;

    (void)state;
    assert_non_null(big);
    assert_int_equal(micro_reply_parse("web", "", 0, &r), MICRO_REFUSE_SIZE);
    /* A valid answer padded past the limit is refused before it is parsed. */
    memset(big, ' ', MICRO_REPLY_MAX + 1);
    memcpy(big, GOOD, strlen(GOOD));
    big[MICRO_REPLY_MAX + 1] = '\0';
    assert_int_equal(micro_reply_parse("web", big, MICRO_REPLY_MAX + 1, &r), MICRO_REFUSE_SIZE);
    /* At the limit exactly it is read. */
    assert_int_equal(micro_reply_parse("web", big, MICRO_REPLY_MAX, &r), MICRO_OK);
    free(big);
}

static void test_refuses_what_is_not_a_json_object(void **state)
{
    (void)state;
    assert_int_equal(refused("not json"), MICRO_REFUSE_JSON);
    assert_int_equal(refused("{\"type\":"), MICRO_REFUSE_JSON);
    assert_int_equal(refused("[1,2,3]"), MICRO_REFUSE_JSON);
    assert_int_equal(refused("\"io.nats.micro.v1.ping_response\""), MICRO_REFUSE_JSON);
    assert_int_equal(refused("\x89PNG\r\n\x1a\n"), MICRO_REFUSE_JSON);
    /* One answer, one meaning: a second "id" is not taken. */
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a\",\"id\":\"b\"}"),
                     MICRO_REFUSE_JSON);
}

static void test_refuses_other_types(void **state)
{
    (void)state;
    assert_int_equal(refused("{\"name\":\"web\",\"id\":\"a\",\"version\":\"1.0.0\"}"), MICRO_REFUSE_TYPE);
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.info_response\",\"name\":\"web\",\"id\":\"a\"}"),
                     MICRO_REFUSE_TYPE);
    assert_int_equal(refused("{\"type\":7,\"name\":\"web\",\"id\":\"a\"}"), MICRO_REFUSE_TYPE);
}

static void test_refuses_answers_for_another_name(void **state)
{
    (void)state;
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"db\",\"id\":\"a\"}"),
                     MICRO_REFUSE_NAME);
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"WEB\",\"id\":\"a\"}"),
                     MICRO_REFUSE_NAME);
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"id\":\"a\"}"), MICRO_REFUSE_NAME);
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":null,\"id\":\"a\"}"),
                     MICRO_REFUSE_NAME);
}

/* An id becomes an instance name, a subject token: [A-Za-z0-9_-], 1-64. */
static void test_refuses_ids_that_are_not_instance_names(void **state)
{
    static const char *const bad[] = {
        "\"\"", "\"a.b\"", "\"a b\"", "\"a*\"", "\">\"", "\"\\u00e9t\\u00e9\"", "42", "null",
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", /* 65 */
    };
    char text[256];

    (void)state;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        snprintf(text, sizeof(text), "{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":%s}", bad[k]);
        assert_int_equal(refused(text), MICRO_REFUSE_ID);
    }
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\"}"), MICRO_REFUSE_ID);
    /* A NUL inside cannot cut an id down to a valid name: jansson refuses it as JSON. */
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a\\u0000b\"}"),
                     MICRO_REFUSE_JSON);
    /* 64 is the longest name. */
    snprintf(text, sizeof(text), "{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"%s\"}",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    {
        struct micro_reply r;

        assert_int_equal(judge(text, &r), MICRO_OK);
        assert_int_equal(strlen(r.id), 64);
    }
}

static void test_refuses_bad_versions(void **state)
{
    char text[512], version[FLEET_VERSION_MAX + 2];
    struct micro_reply r;

    (void)state;
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a\",\"version\":1}"),
                     MICRO_REFUSE_VERSION);
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a\","
                             "\"version\":\"1.0\\n\"}"), MICRO_REFUSE_VERSION);
    assert_int_equal(refused("{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a\","
                             "\"version\":\"1\\u0000.0\"}"), MICRO_REFUSE_JSON);
    memset(version, 'v', FLEET_VERSION_MAX + 1);
    version[FLEET_VERSION_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a\","
                                 "\"version\":\"%s\"}", version);
    assert_int_equal(refused(text), MICRO_REFUSE_VERSION);
    version[FLEET_VERSION_MAX] = '\0';   /* the longest kept */
    snprintf(text, sizeof(text), "{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\",\"id\":\"a\","
                                 "\"version\":\"%s\"}", version);
    assert_int_equal(judge(text, &r), MICRO_OK);
    assert_string_equal(r.version, version);
}

static void test_every_refusal_has_a_name(void **state)
{
    (void)state;
    for (int r = MICRO_OK; r < MICRO_REFUSAL_COUNT; r++) {
        assert_non_null(micro_refusal_name((enum micro_refusal)r));
        assert_string_not_equal(micro_refusal_name((enum micro_refusal)r), "unknown");
    }
    assert_string_equal(micro_refusal_name(MICRO_REFUSE_JSON), "bad_json");
    assert_string_equal(micro_refusal_name(MICRO_REFUSAL_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_a_micro_answer),
        cmocka_unit_test(test_tolerates_what_micro_allows),
        cmocka_unit_test(test_refuses_bad_sizes),
        cmocka_unit_test(test_refuses_what_is_not_a_json_object),
        cmocka_unit_test(test_refuses_other_types),
        cmocka_unit_test(test_refuses_answers_for_another_name),
        cmocka_unit_test(test_refuses_ids_that_are_not_instance_names),
        cmocka_unit_test(test_refuses_bad_versions),
        cmocka_unit_test(test_every_refusal_has_a_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
