/* Unit tests of the CloudWatch Embedded Metric Format lines
 * (supervisor/daemon/emf.h): every line emf_render writes passes the
 * specification's checker (tests/support/emf_check.h), with the figures
 * where the directives say, for a fleet of 250 services. */
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

#include "corefx.h"
#include "emf.h"
#include "emf_check.h"

#define N_SERVICES 250

/* Splits `text` into lines, checks every one, returns them parsed (an array
 * the caller decrefs). */
static json_t *check_lines(char *text)
{
    json_t *lines = json_array();
    char *save = NULL;

    assert_non_null(text);
    assert_int_equal(text[strlen(text) - 1], '\n');
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char why[256];

        if (emf_check_line(line, why, sizeof why) != 0)
            fail_msg("not EMF (%s): %s", why, line);
        json_array_append_new(lines, json_loads(line, 0, NULL));
    }
    return lines;
}

static double number(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

static const json_t *directive(const json_t *line)
{
    return json_array_get(json_object_get(json_object_get(line, "_aws"), "CloudWatchMetrics"), 0);
}

static void test_fleet_of_250(void **state)
{
    static struct emf_service svcs[N_SERVICES];
    static char names[N_SERVICES][16];
    struct emf_fleet f = {
        .unix_ms = 1764000000123,
        .services_expected = N_SERVICES,
        .services_available = 249,
        .availability = 249.0 / N_SERVICES,
        .instances_expected = 500,
        .instances_healthy = 499,
        .observer_state = "NORMAL",
        .services = svcs,
        .n_services = N_SERVICES,
    };
    json_t *lines, *fleet;
    char *text;

    (void)state;
    for (size_t k = 0; k < N_SERVICES; k++) {
        snprintf(names[k], sizeof names[k], "svc-%zu", k);
        svcs[k] = (struct emf_service){ .name = names[k], .healthy = 2, .desired = 2, .availability_1h = 1.0 };
    }
    svcs[7].healthy = 1;
    svcs[7].availability_1h = 0.75;
    text = emf_render(&f);
    lines = check_lines(text);
    free(text);
    assert_int_equal(json_array_size(lines), 1 + N_SERVICES);

    fleet = json_array_get(lines, 0);
    assert_true(number(json_object_get(fleet, "_aws"), "Timestamp") == 1764000000123.0);
    assert_string_equal(json_string_value(json_object_get(directive(fleet), "Namespace")), EMF_NAMESPACE);
    assert_int_equal(json_array_size(json_array_get(json_object_get(directive(fleet), "Dimensions"), 0)), 0);
    assert_true(number(fleet, "ServicesExpected") == N_SERVICES);
    assert_true(number(fleet, "ServicesAvailable") == 249);
    assert_true(number(fleet, "Availability") == 249.0 / N_SERVICES);
    assert_true(number(fleet, "InstancesExpected") == 500);
    assert_true(number(fleet, "InstancesHealthy") == 499);
    assert_true(number(fleet, "SelfPreservation") == 0);
    assert_string_equal(json_string_value(json_object_get(fleet, "ObserverState")), "NORMAL");

    for (size_t k = 0; k < N_SERVICES; k++) {
        const json_t *line = json_array_get(lines, 1 + k);
        const json_t *set = json_array_get(json_object_get(directive(line), "Dimensions"), 0);

        assert_int_equal(json_array_size(set), 1);
        assert_string_equal(json_string_value(json_array_get(set, 0)), "Service");
        assert_string_equal(json_string_value(json_object_get(line, "Service")), names[k]);
        assert_true(number(line, "HealthyInstances") == svcs[k].healthy);
        assert_true(number(line, "DesiredInstances") == 2);
        assert_true(number(line, "Availability1h") == svcs[k].availability_1h);
    }
    json_decref(lines);
}

static void test_self_preservation_and_not_finite(void **state)
{
    struct emf_service svc = { .name = "web", .availability_1h = NAN };
    struct emf_fleet f = {
        .unix_ms = 5, .availability = INFINITY, .observer_state = "SELF_PRESERVATION",
        .services = &svc, .n_services = 1,
    };
    json_t *lines;
    char *text = emf_render(&f);

    (void)state;
    lines = check_lines(text);
    free(text);
    assert_int_equal(json_array_size(lines), 2);
    assert_true(number(json_array_get(lines, 0), "SelfPreservation") == 1);
    assert_true(number(json_array_get(lines, 0), "Availability") == 0);
    assert_true(number(json_array_get(lines, 1), "Availability1h") == 0);
    json_decref(lines);
}

/* The checker itself refuses what the specification forbids, so a pass
 * above means something. */
static void test_checker_refuses(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"a\":1}",
        "{\"_aws\":{\"CloudWatchMetrics\":[]}}",
        "{\"_aws\":{\"Timestamp\":\"1\",\"CloudWatchMetrics\":[{\"Namespace\":\"N\",\"Dimensions\":[[]],"
        "\"Metrics\":[{\"Name\":\"M\"}]}]},\"M\":1}",
        "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"AWS/X\",\"Dimensions\":[[]],"
        "\"Metrics\":[{\"Name\":\"M\"}]}]},\"M\":1}",
        "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"N\",\"Dimensions\":[[\"D\"]],"
        "\"Metrics\":[{\"Name\":\"M\"}]}]},\"M\":1}",
        "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"N\",\"Dimensions\":[[]],"
        "\"Metrics\":[{\"Name\":\"M\"}]}]},\"M\":\"1\"}",
        "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"N\",\"Dimensions\":[[]],"
        "\"Metrics\":[{\"Name\":\"M\",\"Unit\":\"Furlongs\"}]}]},\"M\":1}",
        "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"N\",\"Dimensions\":[[]],"
        "\"Metrics\":[{\"Name\":\"M\"},{\"Name\":\"M\"}]}]},\"M\":1}",
    };
    const char *good = "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"N\","
                       "\"Dimensions\":[[\"D\"]],\"Metrics\":[{\"Name\":\"M\",\"Unit\":\"Count\"}]}]},"
                       "\"D\":\"x\",\"M\":[1,2]}";
    char why[256];

    (void)state;
    assert_int_equal(emf_check_line(good, why, sizeof why), 0);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        if (emf_check_line(bad[k], why, sizeof why) == 0)
            fail_msg("accepted: %s", bad[k]);
}

/* emf_collect reads the observer's own figures: its summary and each
 * service's counts, on the virtual clock. */
static void test_collect_from_observer(void **state)
{
    struct corefx f;
    struct emf_fleet fleet;
    json_t *lines;
    char *text;

    (void)state;
    corefx_init(&f, COREFX_EVENTS | COREFX_STATES, 0);
    corefx_configure(&f, "web", 2);
    corefx_configure(&f, "db", 1);
    corefx_start_normal(&f);
    corefx_send_serving(&f, "web", "web-1", 1, f.now + 10);
    corefx_send_serving(&f, "web", "web-2", 2, f.now + 10);
    assert_int_equal(emf_collect(f.o, f.now, 1764000000000, &fleet), 0);
    assert_int_equal(fleet.services_expected, 2);
    assert_int_equal(fleet.services_available, 1);
    assert_int_equal(fleet.instances_expected, 3);
    assert_int_equal(fleet.instances_healthy, 2);
    assert_string_equal(fleet.observer_state, "NORMAL");
    assert_int_equal(fleet.n_services, 2);
    for (size_t k = 0; k < fleet.n_services; k++) {
        const struct emf_service *s = &fleet.services[k];

        assert_int_equal(s->healthy, strcmp(s->name, "web") == 0 ? 2 : 0);
        assert_int_equal(s->desired, strcmp(s->name, "web") == 0 ? 2 : 1);
    }
    text = emf_render(&fleet);
    lines = check_lines(text);
    free(text);
    assert_int_equal(json_array_size(lines), 3);
    json_decref(lines);
    emf_fleet_fini(&fleet);
    assert_null(fleet.services);
    corefx_fini(&f);
}

static void test_schedule(void **state)
{
    struct emf_schedule s;

    (void)state;
    emf_schedule_set(&s, 0, 1000);
    assert_true(emf_schedule_next(&s) == INT64_MAX);
    assert_false(emf_schedule_due(&s, 1000000));

    emf_schedule_set(&s, 10, 1000);
    assert_int_equal(emf_schedule_next(&s), 11000);
    assert_false(emf_schedule_due(&s, 10999));
    assert_true(emf_schedule_due(&s, 11000));
    assert_int_equal(emf_schedule_next(&s), 21000);
    assert_false(emf_schedule_due(&s, 11001));
    /* A long sleep skips; it does not burst. */
    assert_true(emf_schedule_due(&s, 95000));
    assert_int_equal(emf_schedule_next(&s), 105000);
    assert_false(emf_schedule_due(&s, 95001));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_of_250),
        cmocka_unit_test(test_self_preservation_and_not_finite),
        cmocka_unit_test(test_checker_refuses),
        cmocka_unit_test(test_collect_from_observer),
        cmocka_unit_test(test_schedule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
