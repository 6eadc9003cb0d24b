/* Unit tests of the Prometheus writer (supervisor/daemon/metrics.h): every
 * family has HELP and TYPE, label values are escaped, the histogram has
 * cumulative buckets up to +Inf with its sum and count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static const char *const families[][2] = {
    { "fleet_services_expected", "gauge" },
    { "fleet_services_available", "gauge" },
    { "fleet_availability_ratio", "gauge" },
    { "fleet_instances", "gauge" },
    { "fleet_service_availability_ratio", "gauge" },
    { "fleet_instance_restarts_total", "counter" },
    { "fleet_heartbeats_received_total", "counter" },
    { "fleet_heartbeats_refused_total", "counter" },
    { "fleet_controls_sent_total", "counter" },
    { "fleet_control_acks_total", "counter" },
    { "fleet_admin_commands_total", "counter" },
    { "fleet_detection_seconds", "histogram" },
    { "fleet_observer_state", "gauge" },
    { "fleet_leader", "gauge" },
    { "fleet_term", "gauge" },
    { "fleet_build_info", "gauge" },
    { "process_resident_memory_bytes", "gauge" },
    { "process_cpu_seconds_total", "counter" },
    { "process_start_time_seconds", "gauge" },
    { "process_open_fds", "gauge" },
    { "process_max_fds", "gauge" },
};

static char *render(const struct metrics_view *v)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(metrics_write(v, &text, &len), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void assert_has(const char *text, const char *line)
{
    if (strstr(text, line) == NULL)
        fail_msg("missing \"%s\" in:\n%s", line, text);
}

static struct metrics_view sample(struct metrics_service *svc, struct metrics_histogram *h)
{
    static const struct metrics_labelled refused[] = { { "malformed", 3 }, { "limit_services", 1 } };
    static const struct metrics_labelled sent[] = { { "restart", 4 } };
    static const struct metrics_labelled acks[] = { { "accepted", 4 } };
    static const struct metrics_admin admin[] = { { "restart", "done", 2 }, { "fence", "bad_signature", 1 } };

    svc[0] = (struct metrics_service){ .name = "web", .availability_1h = 0.5, .availability_24h = 1, .restarts = 7 };
    svc[0].count[INST_HEALTHY] = 2;
    svc[0].count[INST_DEAD] = 1;
    svc[1] = (struct metrics_service){ .name = "we\"ird\\na\nme" };
    return (struct metrics_view){
        .version = "0.1.0", .services_expected = 2, .services_available = 1, .availability = 0.5,
        .services = svc, .n_services = 2, .heartbeats_received = 99,
        .refused = refused, .n_refused = 2, .controls_sent = sent, .n_controls_sent = 1,
        .control_acks = acks, .n_control_acks = 1, .admin = admin, .n_admin = 2, .detection = h,
        .observer = OBSERVER_SELF_PRESERVATION, .leader = true, .term = 3,
        .process = { .resident_bytes = 4096, .cpu_seconds = 1.5, .start_time_seconds = 1.7e9,
                     .open_fds = 12, .max_fds = 1024 },
    };
}

static void test_every_family_has_help_and_type(void **state)
{
    struct metrics_service svc[2];
    struct metrics_histogram h = { 0 };
    struct metrics_view v = sample(svc, &h);
    char *text = render(&v);
    char line[160];

    (void)state;
    for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
        snprintf(line, sizeof(line), "# HELP %s ", families[k][0]);
        assert_has(text, line);
        snprintf(line, sizeof(line), "# TYPE %s %s\n", families[k][0], families[k][1]);
        assert_has(text, line);
    }
    assert_has(text, "\nfleet_services_expected 2\n");
    assert_has(text, "\nfleet_services_available 1\n");
    assert_has(text, "\nfleet_availability_ratio 0.5\n");
    assert_has(text, "fleet_instances{service=\"web\",health=\"healthy\"} 2\n");
    assert_has(text, "fleet_instances{service=\"web\",health=\"dead\"} 1\n");
    assert_has(text, "fleet_instances{service=\"web\",health=\"starting\"} 0\n");
    assert_has(text, "fleet_service_availability_ratio{service=\"web\",window=\"1h\"} 0.5\n");
    assert_has(text, "fleet_service_availability_ratio{service=\"web\",window=\"24h\"} 1\n");
    assert_has(text, "fleet_instance_restarts_total{service=\"web\"} 7\n");
    assert_has(text, "fleet_heartbeats_received_total 99\n");
    assert_has(text, "fleet_heartbeats_refused_total{reason=\"malformed\"} 3\n");
    assert_has(text, "fleet_controls_sent_total{action=\"restart\"} 4\n");
    assert_has(text, "fleet_control_acks_total{result=\"accepted\"} 4\n");
    assert_has(text, "fleet_admin_commands_total{verb=\"fence\",result=\"bad_signature\"} 1\n");
    assert_has(text, "fleet_observer_state{state=\"self_preservation\"} 1\n");
    assert_has(text, "fleet_observer_state{state=\"normal\"} 0\n");
    assert_has(text, "fleet_leader 1\n");
    assert_has(text, "fleet_term 3\n");
    assert_has(text, "fleet_build_info{version=\"0.1.0\"} 1\n");
    assert_has(text, "process_resident_memory_bytes 4096\n");
    assert_has(text, "process_cpu_seconds_total 1.5\n");
    assert_has(text, "process_max_fds 1024\n");
    /* No per-instance series unless asked. */
    assert_null(strstr(text, "fleet_instance_up"));
    free(text);
}

static void test_label_values_escaped(void **state)
{
    struct metrics_service svc[2];
    struct metrics_histogram h = { 0 };
    struct metrics_view v = sample(svc, &h);
    char *text = render(&v);

    (void)state;
    assert_has(text, "fleet_instance_restarts_total{service=\"we\\\"ird\\\\na\\nme\"} 0\n");
    free(text);
}

static void test_histogram_cumulative(void **state)
{
    struct metrics_service svc[2];
    struct metrics_histogram h = { 0 };
    struct metrics_view v = sample(svc, &h);
    char *text;

    (void)state;
    metrics_histogram_observe(&h, 0.05);  /* <= 0.1 */
    metrics_histogram_observe(&h, 0.1);   /* on the bound: le="0.1" */
    metrics_histogram_observe(&h, 1.5);   /* <= 2 */
    metrics_histogram_observe(&h, 120);   /* above every bound */
    metrics_histogram_observe(&h, -1);    /* a clock step: counted as 0 */
    text = render(&v);
    assert_has(text, "fleet_detection_seconds_bucket{le=\"0.1\"} 3\n");
    assert_has(text, "fleet_detection_seconds_bucket{le=\"1\"} 3\n");
    assert_has(text, "fleet_detection_seconds_bucket{le=\"2\"} 4\n");
    assert_has(text, "fleet_detection_seconds_bucket{le=\"60\"} 4\n");
    assert_has(text, "fleet_detection_seconds_bucket{le=\"+Inf\"} 5\n");
    assert_has(text, "fleet_detection_seconds_sum 121.65000000000001\n");
    assert_has(text, "fleet_detection_seconds_count 5\n");
    free(text);
}

static void test_instance_series_opt_in(void **state)
{
    static const struct metrics_instance inst[] = { { "web", "web-1", true }, { "web", "web-2", false } };
    struct metrics_service svc[2];
    struct metrics_view v = sample(svc, NULL);
    char *text;

    (void)state;
    v.instances = inst;
    v.n_instances = 2;
    text = render(&v);
    assert_has(text, "# TYPE fleet_instance_up gauge\n");
    assert_has(text, "fleet_instance_up{service=\"web\",instance=\"web-1\"} 1\n");
    assert_has(text, "fleet_instance_up{service=\"web\",instance=\"web-2\"} 0\n");
    /* No detection yet: the histogram is there, all zeros. */
    assert_has(text, "fleet_detection_seconds_bucket{le=\"+Inf\"} 0\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_family_has_help_and_type),
        cmocka_unit_test(test_label_values_escaped),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_instance_series_opt_in),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
