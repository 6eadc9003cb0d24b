/* fleet/subjects.h: every subject of DESIGN.md §3, built from one table;
 * the tail parser and the prefix rule the programs share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/subjects.h"

static void check(enum fleet_subject kind, const char *prefix, const char *service, const char *instance,
                  const char *want)
{
    char out[FLEET_SUBJECT_MAX];

    assert_int_equal(fleet_subject(out, sizeof(out), kind, prefix, service, instance), strlen(want));
    assert_string_equal(out, want);
}

static void test_every_subject_of_the_contract(void **state)
{
    (void)state;
    check(FLEET_SUBJECT_HB, "fleet", "web", "web-1", "fleet.v1.hb.web.web-1");
    check(FLEET_SUBJECT_HB_ALL, "fleet", NULL, NULL, "fleet.v1.hb.>");
    check(FLEET_SUBJECT_CTL, "fleet", "web", "web-1", "fleet.v1.ctl.web.web-1");
    check(FLEET_SUBJECT_STATUS, "fleet", "ignored", NULL, "fleet.v1.status");
    check(FLEET_SUBJECT_STATUS_SERVICE, "fleet", "web", NULL, "fleet.v1.status.web");
    check(FLEET_SUBJECT_EVENTS, "fleet", "web", NULL, "fleet.v1.events.web");
    check(FLEET_SUBJECT_EVENTS_ALL, "fleet", NULL, NULL, "fleet.v1.events.>");
    check(FLEET_SUBJECT_QUERY_STATUS, "fleet", NULL, NULL, "fleet.v1.query.status");
    check(FLEET_SUBJECT_QUERY_SERVICE, "fleet", NULL, NULL, "fleet.v1.query.service");
    check(FLEET_SUBJECT_ADMIN, "fleet", "maintenance-on", NULL, "fleet.v1.admin.maintenance-on");
    check(FLEET_SUBJECT_ADMIN_ALL, "fleet", NULL, NULL, "fleet.v1.admin.*");
    check(FLEET_SUBJECT_HB, "studio.prod", "a", "b", "studio.prod.v1.hb.a.b");
}

static void test_longest_valid_subject_fits(void **state)
{
    char prefix[FLEET_PREFIX_MAX + 1], name[FLEET_NAME_MAX + 1], out[FLEET_SUBJECT_MAX];

    (void)state;
    memset(prefix, 'p', FLEET_PREFIX_MAX);
    prefix[FLEET_PREFIX_MAX] = '\0';
    prefix[60] = '.'; /* tokens of at most FLEET_NAME_MAX */
    prefix[121] = '.';
    memset(name, 'n', FLEET_NAME_MAX);
    name[FLEET_NAME_MAX] = '\0';
    assert_true(fleet_prefix_valid(prefix));
    for (int k = 0; k < FLEET_SUBJECT_KINDS; k++)
        assert_true(fleet_subject(out, sizeof(out), (enum fleet_subject)k, prefix, name, name) > 0);
}

static void test_refusals_leave_the_buffer_untouched(void **state)
{
    char out[16] = "untouched";

    (void)state;
    assert_int_equal(fleet_subject(out, sizeof(out), FLEET_SUBJECT_HB, "fleet", "web", "web-1"), 0);
    assert_string_equal(out, "untouched"); /* too small */
    assert_int_equal(fleet_subject(out, sizeof(out), FLEET_SUBJECT_CTL, "f", "web", NULL), 0);
    assert_int_equal(fleet_subject(out, sizeof(out), FLEET_SUBJECT_EVENTS, "f", NULL, NULL), 0);
    assert_int_equal(fleet_subject(out, sizeof(out), FLEET_SUBJECT_KINDS, "f", NULL, NULL), 0);
    assert_int_equal(fleet_subject(out, sizeof(out), FLEET_SUBJECT_STATUS, NULL, NULL, NULL), 0);
    assert_string_equal(out, "untouched");
    /* exactly fitting: "f.v1.status" is 11 bytes, 12 with the NUL */
    assert_int_equal(fleet_subject(out, 11, FLEET_SUBJECT_STATUS, "f", NULL, NULL), 0);
    assert_int_equal(fleet_subject(out, 12, FLEET_SUBJECT_STATUS, "f", NULL, NULL), 11);
}

static void test_tail_after_the_fixed_part(void **state)
{
    (void)state;
    assert_string_equal(fleet_subject_tail("fleet.v1.hb.web.web-1", 5, FLEET_SUBJECT_HB), "web.web-1");
    assert_string_equal(fleet_subject_tail("a.b.v1.ctl.x.y", 3, FLEET_SUBJECT_CTL), "x.y");
    assert_string_equal(fleet_subject_tail("fleet.v1.events.web", 5, FLEET_SUBJECT_EVENTS), "web");
    assert_string_equal(fleet_subject_tail("fleet.v1.admin.restart", 5, FLEET_SUBJECT_ADMIN), "restart");
    assert_string_equal(fleet_subject_tail("fleet.v1.hb.", 5, FLEET_SUBJECT_HB), "");
    assert_null(fleet_subject_tail("fleet.v1.hb", 5, FLEET_SUBJECT_HB));
    assert_null(fleet_subject_tail("fleet.v1.hbx.a.b", 5, FLEET_SUBJECT_HB));
    assert_null(fleet_subject_tail("fleet.v2.hb.a.b", 5, FLEET_SUBJECT_HB));
    assert_null(fleet_subject_tail("fleetXv1.hb.a.b", 5, FLEET_SUBJECT_HB));
    assert_null(fleet_subject_tail("fleet.v1.ctl.a.b", 5, FLEET_SUBJECT_HB));
    assert_null(fleet_subject_tail("fleet", 5, FLEET_SUBJECT_HB));
    assert_null(fleet_subject_tail("fleet.v1.status", 5, FLEET_SUBJECT_STATUS)); /* no tail to give */
}

static void test_prefix_rule(void **state)
{
    char long_prefix[FLEET_PREFIX_MAX + 2];

    (void)state;
    assert_true(fleet_prefix_valid("fleet"));
    assert_true(fleet_prefix_valid("studio.prod-1.fleet_x"));
    assert_false(fleet_prefix_valid(""));
    assert_false(fleet_prefix_valid(NULL));
    assert_false(fleet_prefix_valid("a..b"));
    assert_false(fleet_prefix_valid(".a"));
    assert_false(fleet_prefix_valid("a."));
    assert_false(fleet_prefix_valid("a.*"));
    assert_false(fleet_prefix_valid("a.>"));
    assert_false(fleet_prefix_valid("a b"));
    memset(long_prefix, 'a', sizeof(long_prefix) - 1);
    long_prefix[sizeof(long_prefix) - 1] = '\0';
    for (size_t k = 50; k < sizeof(long_prefix) - 1; k += 51)
        long_prefix[k] = '.';
    assert_false(fleet_prefix_valid(long_prefix)); /* 129 bytes */
    long_prefix[FLEET_PREFIX_MAX] = '\0';
    assert_true(fleet_prefix_valid(long_prefix)); /* 128 bytes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_subject_of_the_contract),
        cmocka_unit_test(test_longest_valid_subject_fits),
        cmocka_unit_test(test_refusals_leave_the_buffer_untouched),
        cmocka_unit_test(test_tail_after_the_fixed_part),
        cmocka_unit_test(test_prefix_rule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
