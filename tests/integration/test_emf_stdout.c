/* CloudWatch EMF lines from a real fleet-supervisor (metrics.emf_interval_s),
 * against a real nats-server and a real agent: every EMF line on its stdout
 * passes the specification's checker (tests/support/emf_check.h), they carry
 * the fleet's figures, and every line of stdout is one whole JSON object
 * (EMF lines never cut into log lines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "emf_check.h"
#include "fleetfx.h"

static const char services[] =
    "  - name: web\n    desired: 1\n"
    "  - name: db\n    desired: 2\n";

/* Every line of `out` is a JSON object; every one with "_aws" passes the
 * checker. Returns how many EMF lines there were; *web_healthy and
 * *fleet_expected get the last values seen (-1: none). */
static int check_output(char *out, double *web_healthy, double *fleet_expected)
{
    char *save = NULL;
    int emf = 0;

    *web_healthy = -1;
    *fleet_expected = -1;
    for (char *line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_t *v = json_loads(line, 0, NULL);
        const char *service;
        char why[256];

        if (!json_is_object(v))
            fail_msg("stdout line is not a JSON object: %s", line);
        if (json_object_get(v, "_aws") != NULL) {
            if (emf_check_line(line, why, sizeof why) != 0)
                fail_msg("not EMF (%s): %s", why, line);
            emf++;
            service = json_string_value(json_object_get(v, "Service"));
            if (service != NULL && strcmp(service, "web") == 0)
                *web_healthy = json_number_value(json_object_get(v, "HealthyInstances"));
            if (service == NULL)
                *fleet_expected = json_number_value(json_object_get(v, "ServicesExpected"));
        }
        json_decref(v);
    }
    return emf;
}

static void emf_lines_on_stdout_pass_the_specification(void **state)
{
    struct fleetfx fx;
    struct proc sup, agent;
    double web_healthy, fleet_expected;
    char *out;
    const char *cfg;

    (void)state;
    assert_int_equal(fleetfx_start(&fx, true), 0);
    cfg = fleetfx_config(&fx, "emf", "  backoff_initial_ms: 200\n", "metrics:\n  emf_interval_s: 1\n", services);
    fleetfx_supervisor(&fx, &sup, cfg);
    fleetfx_agent(&fx, &agent, "web", "web-1", "exec sleep 1000");
    /* The condition: a web line saying its one instance is healthy. */
    assert_true(proc_wait_output(&sup, "\"Service\":\"web\",\"HealthyInstances\":1,", FLEETFX_WAIT_MS));
    assert_true(proc_wait_output(&sup, "\"Service\":\"db\",\"HealthyInstances\":0,", FLEETFX_WAIT_MS));

    out = proc_output(&sup); /* before stopping: the fixture removes the output */
    assert_non_null(out);
    assert_true(check_output(out, &web_healthy, &fleet_expected) >= 3);
    free(out);
    assert_true(web_healthy >= 0);
    assert_true(fleet_expected == 2);
    assert_true(fleetfx_stop_proc(&agent));
    assert_true(fleetfx_stop_proc(&sup));
    fleetfx_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(emf_lines_on_stdout_pass_the_specification),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
