/* fleetctl wait, the deploy gate, against a real nats-server, a real
 * fleet-supervisor and real fleet-agent processes: old agents on 1.4.0 are
 * replaced by new ones on 1.5.0 under new instance names, as ECS does. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "fleetfx.h"

#define SVC "story-teller"
#define MAX_AGENTS 6
#define HEALTHY 2   /* INSTANCE_HEALTH_HEALTHY */

static const char services[] = "  - name: " SVC "\n    desired: 2\n";
static const char policy[] = "  backoff_initial_ms: 200\n";

struct fixture {
    struct fleetfx fx;
    struct proc supervisor;
    struct proc agents[MAX_AGENTS];
    struct proc ctl;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(fleetfx_start(&f->fx, true), 0);
    fleetfx_supervisor(&f->fx, &f->supervisor, fleetfx_config(&f->fx, "fleet", policy, "", services));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bool clean = true;

    proc_kill(&f->ctl);
    for (int k = 0; k < MAX_AGENTS; k++)
        if (f->agents[k].pid != 0)
            clean = fleetfx_stop_proc(&f->agents[k]) && clean;
    clean = fleetfx_stop_proc(&f->supervisor) && clean;
    fleetfx_stop(&f->fx);
    free(f);
    assert_true(clean);
    return 0;
}

/* fleet-agent for SVC/instance reporting `version`, wrapping sh -c command. */
static void agent(struct fixture *f, int slot, const char *instance, const char *version, const char *command)
{
    fleetfx_agent_at(&f->fx, &f->agents[slot], f->fx.url, SVC, instance, version, command);
}

static void healthy(struct fixture *f, const char *instance)
{
    assert_true(feedwatch_wait_instance(f->fx.watch, SVC, instance, HEALTHY, FLEETFX_WAIT_MS));
}

/* Two agents on 1.4.0 in slots 0 and 1, HEALTHY on the feed. */
static void old_fleet(struct fixture *f)
{
    agent(f, 0, "st-1", "1.4.0", "exec sleep 3600");
    agent(f, 1, "st-2", "1.4.0", "exec sleep 3600");
    healthy(f, "st-1");
    healthy(f, "st-2");
}

/* Starts fleetctl wait with `args` (NULL-terminated) after the server flag. */
static void start_wait(struct fixture *f, const char *const *args)
{
    char *argv[24] = { "fleetctl", "-s", f->fx.url, "wait" };
    int n = 4;

    for (; *args != NULL && n < 23; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    assert_int_equal(proc_start(&f->ctl, argv, NULL), 0);
}

/* Waits for fleetctl to exit within `bound_ms`; returns its exit code and
 * (caller frees) its output; *took_ms is how long it ran from `started`. */
static int end_wait(struct fixture *f, int bound_ms, char **out)
{
    int st = proc_wait(&f->ctl, bound_ms);

    *out = proc_output(&f->ctl);
    if (st < 0)
        fail_msg("fleetctl wait did not exit within %d ms:\n%s", bound_ms, *out);
    assert_true(proc_output_clean(&f->ctl));
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void expect(const char *out, const char *needle)
{
    if (strstr(out, needle) == NULL)
        fail_msg("'%s' not in fleetctl's output:\n%s", needle, out);
}

/* The last line fleetctl printed. */
static const char *last_line(char *out)
{
    size_t n = strlen(out);
    char *p;

    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    p = strrchr(out, '\n');
    return p != NULL ? p + 1 : out;
}

static void replaced_by_new_version_is_ready(void **state)
{
    struct fixture *f = *state;
    const char *args[] = { SVC, "--version", "1.5.0", "--min-healthy-time", "1s", "--timeout", "30s", NULL };
    char *out;

    old_fleet(f);
    start_wait(f, args);
    assert_true(proc_wait_output(&f->ctl, "0/2 on 1.5.0 healthy (2 on other versions)", FLEETFX_WAIT_MS));
    /* ECS replaces the tasks: new ones under new names, the old ones stop. */
    agent(f, 2, "st-3", "1.5.0", "exec sleep 3600");
    agent(f, 3, "st-4", "1.5.0", "exec sleep 3600");
    healthy(f, "st-3");
    assert_true(fleetfx_stop_proc(&f->agents[0]));
    assert_true(fleetfx_stop_proc(&f->agents[1]));
    assert_int_equal(end_wait(f, 30000, &out), 0);
    assert_string_equal(last_line(out), "fleetctl wait: ready: " SVC " 2/2 on 1.5.0 healthy for 1s");
    free(out);
}

static void crash_looping_new_version_fails_fast(void **state)
{
    struct fixture *f = *state;
    const char *args[] = { SVC, "--version", "1.5.0", "--min-healthy-time", "1s", "--timeout", "20s", NULL };
    int64_t started;
    char *out;
    int rc;

    old_fleet(f);
    start_wait(f, args);
    assert_true(proc_wait_output(&f->ctl, "on other versions", FLEETFX_WAIT_MS));
    started = proc_now_ms();
    agent(f, 2, "st-3", "1.5.0", "sleep 0.3; exit 1");
    agent(f, 3, "st-4", "1.5.0", "sleep 0.3; exit 1");
    /* The supervisor does not restart a dead surplus instance (replacement
     * is not death); ECS replaces the task, which dies too. */
    assert_true(proc_wait_output(&f->ctl, "2 deaths", FLEETFX_WAIT_MS));
    agent(f, 4, "st-5", "1.5.0", "sleep 0.3; exit 1");
    agent(f, 5, "st-6", "1.5.0", "sleep 0.3; exit 1");
    rc = end_wait(f, 60000, &out);
    if (rc != 1)
        fail_msg("exit %d, not 1:\n%s", rc, out);
    if (proc_now_ms() - started > 10000)
        fail_msg("a crash loop took %lld ms to fail the wait (timeout 20 s)", (long long)(proc_now_ms() - started));
    expect(last_line(out), "fleetctl wait: failed: " SVC);
    free(out);
}

static void nothing_new_times_out(void **state)
{
    struct fixture *f = *state;
    const char *args[] = { SVC, "--version", "1.5.0", "--min-healthy-time", "1s", "--timeout", "3s", NULL };
    int64_t started;
    char *out;

    old_fleet(f);
    started = proc_now_ms();
    start_wait(f, args);
    assert_int_equal(end_wait(f, 30000, &out), 3);
    assert_true(proc_now_ms() - started >= 3000);
    assert_string_equal(last_line(out), "fleetctl wait: timed out after 3s: " SVC
                                        " 0/2 on 1.5.0 healthy (2 on other versions)");
    free(out);
}

static void bake_catches_a_death(void **state)
{
    struct fixture *f = *state;
    const char *args[] = { SVC, "--version", "1.5.0", "--min-healthy-time", "1s", "--timeout", "30s",
                           "--bake", "60s", "--json", NULL };
    struct feedwatch_heartbeat hb;
    char *out;

    agent(f, 2, "st-3", "1.5.0", "exec sleep 3600");
    agent(f, 3, "st-4", "1.5.0", "exec sleep 3600");
    healthy(f, "st-3");
    healthy(f, "st-4");
    start_wait(f, args);
    assert_true(proc_wait_output(&f->ctl, "ready, baking", FLEETFX_WAIT_MS));
    assert_true(feedwatch_last_heartbeat(f->fx.watch, SVC, "st-3", &hb));
    assert_true(hb.pid > 0);
    assert_int_equal(kill((pid_t)hb.pid, SIGKILL), 0);
    assert_int_equal(end_wait(f, 30000, &out), 1);
    expect(out, "\"verdict\":\"failed\"");
    expect(out, "fleetctl wait: failed: " SVC "/st-3 on 1.5.0 died during the bake");
    free(out);
}

static void unknown_service_exits_4(void **state)
{
    struct fixture *f = *state;
    const char *args[] = { "no-such-service", "--timeout", "3s", NULL };
    char *out;

    start_wait(f, args);
    assert_int_equal(end_wait(f, 10000, &out), 4);
    expect(out, "unknown service 'no-such-service'");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(replaced_by_new_version_is_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_looping_new_version_fails_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_new_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(bake_catches_a_death, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_service_exits_4, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
