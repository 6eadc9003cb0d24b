/* libfleet heartbeat options: validation, bounds and the error convention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/heartbeat.h"
#include "fleet/names.h"
#include "fleet/status.h"

static int opts_setup(void **state)
{
    fleet_hb_opts *o = NULL;

    if (fleet_hb_opts_create(&o) != FLEET_OK)
        return -1;
    *state = o;
    return 0;
}

static int opts_teardown(void **state)
{
    fleet_hb_opts_destroy(*state);
    return 0;
}

static void assert_bad_name(fleet_status s, const char *expect_in_error)
{
    assert_int_equal(s, FLEET_ERR_BAD_NAME);
    assert_non_null(strstr(fleet_last_error(), expect_in_error));
}

static void test_service_names_refused(void **state)
{
    fleet_hb_opts *o = *state;
    char long_name[FLEET_NAME_MAX + 2];

    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';    /* 65 chars */
    assert_bad_name(fleet_hb_opts_set_service(o, ""), "empty");
    assert_bad_name(fleet_hb_opts_set_service(o, NULL), "empty");
    assert_bad_name(fleet_hb_opts_set_service(o, long_name), "longer than 64");
    assert_bad_name(fleet_hb_opts_set_service(o, "story teller"), "' '");
    assert_bad_name(fleet_hb_opts_set_service(o, "a.b"), "'.'");
    assert_bad_name(fleet_hb_opts_set_service(o, "*"), "'*'");
    assert_bad_name(fleet_hb_opts_set_service(o, ">"), "'>'");
    assert_bad_name(fleet_hb_opts_set_instance(o, "x>"), "instance");
    assert_non_null(strstr(fleet_last_error(), "[A-Za-z0-9_-]"));
}

static void test_names_accepted(void **state)
{
    fleet_hb_opts *o = *state;
    char max_name[FLEET_NAME_MAX + 1];

    memset(max_name, 'Z', sizeof(max_name) - 1);
    max_name[sizeof(max_name) - 1] = '\0';      /* exactly 64 chars */
    assert_int_equal(fleet_hb_opts_set_service(o, "story-teller"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_instance(o, "story_teller-1"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_service(o, max_name), FLEET_OK);
}

static void test_interval_bounds(void **state)
{
    fleet_hb_opts *o = *state;

    assert_int_equal(fleet_hb_opts_set_interval_ms(o, FLEET_HB_INTERVAL_MIN_MS - 1), FLEET_ERR_INVALID_ARG);
    assert_non_null(strstr(fleet_last_error(), "49"));
    assert_int_equal(fleet_hb_opts_set_interval_ms(o, FLEET_HB_INTERVAL_MAX_MS + 1), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_interval_ms(o, 0), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_interval_ms(o, FLEET_HB_INTERVAL_MIN_MS), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_interval_ms(o, FLEET_HB_INTERVAL_MAX_MS), FLEET_OK);
}

static void test_text_and_prefix_bounds(void **state)
{
    fleet_hb_opts *o = *state;
    char long_version[FLEET_HB_VERSION_MAX + 2];

    memset(long_version, '1', sizeof(long_version) - 1);
    long_version[sizeof(long_version) - 1] = '\0';
    assert_int_equal(fleet_hb_opts_set_version(o, long_version), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_version(o, "1.4\n2"), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_version(o, "1.4.2"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_host(o, NULL), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_host(o, "ip-10-0-1-7.ec2.internal"), FLEET_OK);

    assert_int_equal(fleet_hb_opts_set_prefix(o, "acme.fleet"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_prefix(o, "fleet"), FLEET_OK);
    assert_bad_name(fleet_hb_opts_set_prefix(o, ""), "empty");
    assert_bad_name(fleet_hb_opts_set_prefix(o, "a..b"), "no empty token");
    assert_bad_name(fleet_hb_opts_set_prefix(o, "fleet."), "no empty token");
    assert_bad_name(fleet_hb_opts_set_prefix(o, "fleet.*"), "wildcards");
    assert_bad_name(fleet_hb_opts_set_prefix(o, ">"), "wildcards");

    assert_int_equal(fleet_hb_opts_set_incarnation(o, 0), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_incarnation(o, 42), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_url(o, ""), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_url(o, "nats://127.0.0.1:1"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_url(o, "nats://127.0.0.1:2"), FLEET_OK);  /* replaces, no leak */
}

static void test_null_arguments(void **state)
{
    fleet_hb_counters c;

    (void)state;
    assert_int_equal(fleet_hb_opts_create(NULL), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_service(NULL, "a"), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_opts_set_interval_ms(NULL, 1000), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_send(NULL), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_stats(NULL, &c), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_set_state(NULL, FLEET_STATE_SERVING), FLEET_ERR_INVALID_ARG);
    fleet_hb_opts_destroy(NULL);
    fleet_hb_destroy(NULL);
}

/* Sentinel for "untouched out-parameter". */
static fleet_hb *const untouched = (fleet_hb *)&untouched;

static void test_create_needs_service_and_instance(void **state)
{
    fleet_hb_opts *o = *state;
    fleet_hb *hb = untouched;
    fleet_status s;

    s = fleet_hb_create(o, &hb);
    assert_true(s == FLEET_ERR_INVALID_ARG || s == FLEET_ERR_BAD_NAME);
    assert_ptr_equal(hb, untouched);
    assert_non_null(strstr(fleet_last_error(), "service"));

    assert_int_equal(fleet_hb_opts_set_service(o, "story-teller"), FLEET_OK);
    s = fleet_hb_create(o, &hb);
    assert_true(s == FLEET_ERR_INVALID_ARG || s == FLEET_ERR_BAD_NAME);
    assert_ptr_equal(hb, untouched);
    assert_non_null(strstr(fleet_last_error(), "instance"));

    assert_int_equal(fleet_hb_create(NULL, &hb), FLEET_ERR_INVALID_ARG);
    assert_ptr_equal(hb, untouched);
}

/* A failed setter leaves the option as it was: create still sees the old
 * valid name. Uses a non-autonomous sender on a connection that never comes
 * up (nats.c retries in the background), so no server is needed. */
static void test_failed_setter_keeps_old_value(void **state)
{
    fleet_hb_opts *o = *state;
    fleet_hb *hb = NULL;
    fleet_hb_counters c;

    assert_int_equal(fleet_hb_opts_set_service(o, "story-teller"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_instance(o, "story-teller-1"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_instance(o, "a.b"), FLEET_ERR_BAD_NAME);
    assert_int_equal(fleet_hb_opts_set_autonomous(o, false), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_url(o, "nats://127.0.0.1:1"), FLEET_OK);
    assert_int_equal(fleet_hb_create(o, &hb), FLEET_OK);
    assert_non_null(hb);
    assert_int_not_equal(fleet_hb_incarnation(hb), 0);
    assert_int_equal(fleet_hb_set_state(hb, (fleet_serving_state)99), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_hb_set_check(hb, "a b", true, NULL), FLEET_ERR_BAD_NAME);
    assert_int_equal(fleet_hb_stats(hb, &c), FLEET_OK);
    assert_int_equal(c.sent + c.failed, 0);
    fleet_hb_destroy(hb);
}

static void test_status_text(void **state)
{
    (void)state;
    for (int s = FLEET_OK; s <= FLEET_ERR_SYSTEM; s++) {
        const char *text = fleet_status_text((fleet_status)s);

        assert_non_null(text);
        assert_true(text[0] != '\0');
        assert_string_not_equal(text, "unknown status");
    }
    assert_string_equal(fleet_status_text(FLEET_OK), "ok");
    assert_string_equal(fleet_status_text((fleet_status)1000), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_names_refused, opts_setup, opts_teardown),
        cmocka_unit_test_setup_teardown(test_names_accepted, opts_setup, opts_teardown),
        cmocka_unit_test_setup_teardown(test_interval_bounds, opts_setup, opts_teardown),
        cmocka_unit_test_setup_teardown(test_text_and_prefix_bounds, opts_setup, opts_teardown),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test_setup_teardown(test_create_needs_service_and_instance, opts_setup, opts_teardown),
        cmocka_unit_test_setup_teardown(test_failed_setter_keeps_old_value, opts_setup, opts_teardown),
        cmocka_unit_test(test_status_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
