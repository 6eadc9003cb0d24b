/* The signed control plane end to end: a real nats-server, the real
 * fleet-supervisor with a signing key, real fleet-agent processes wrapping
 * real children, real signals, and a feed subscriber watching it all. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleetfx.h"

#define WAIT_MS FLEETFX_WAIT_MS

enum { IH_HEALTHY = 2, IH_DEAD = 5, IH_FENCED = 7 };
enum { ACT_RESTART = 1, ACT_FENCE = 2 };
enum { OBS_NORMAL = 2, OBS_SELF_PRESERVATION = 3 };

struct fixture {
    struct fleetfx fx;
    struct proc supervisor;
    struct proc agents[2];
    struct proc sim;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(fleetfx_start(&f->fx, true), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bool clean = true;

    for (int k = 0; k < 2; k++)
        clean = fleetfx_stop_proc(&f->agents[k]) && clean;
    clean = fleetfx_stop_proc(&f->sim) && clean;
    clean = fleetfx_stop_proc(&f->supervisor) && clean;
    fleetfx_stop(&f->fx);
    free(f);
    assert_true(clean);
    return 0;
}

static const char fast_policy[] =
    "  backoff_initial_ms: 200\n"
    "  ack_timeout_ms: 2000\n";

/* Supervisor with the key, fast cadence and a short backoff, so a test
 * sees several deaths in seconds; `services` is the YAML list. */
static void start_supervisor(struct fixture *f, const char *policy, const char *services)
{
    fleetfx_supervisor(&f->fx, &f->supervisor, fleetfx_config(&f->fx, "fleet", policy, "", services));
}

/* A SIGKILLed child: DEAD on the feed, a signed RESTART, a new child. */
static void a_killed_child_is_restarted_by_signed_control(void **state)
{
    struct fixture *f = *state;
    struct feedwatch_heartbeat first;

    start_supervisor(f, fast_policy, "  - name: web\n    desired: 1\n");
    fleetfx_agent(&f->fx, &f->agents[0], "web", "web-1", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&f->fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_instance(f->fx.watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
    assert_true(feedwatch_wait_observer(f->fx.watch, OBS_NORMAL, WAIT_MS));

    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_event(f->fx.watch, "web", "web-1", IH_DEAD, WAIT_MS) > 0);
    assert_true(feedwatch_wait_action(f->fx.watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    fleetfx_wait_heartbeat(&f->fx, "web", "web-1", fleetfx_new_life, &first);
    assert_true(feedwatch_wait_instance(f->fx.watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
}

/* A SIGSTOPped child is a hang: its agent stops vouching for it, the
 * detector declares it DEAD, and it is restarted. */
static void a_stopped_child_is_detected_and_restarted(void **state)
{
    struct fixture *f = *state;
    struct feedwatch_heartbeat first;

    start_supervisor(f, fast_policy, "  - name: web\n    desired: 1\n");
    fleetfx_agent(&f->fx, &f->agents[0], "web", "web-1", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&f->fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_observer(f->fx.watch, OBS_NORMAL, WAIT_MS));
    assert_true(feedwatch_wait_instance(f->fx.watch, "web", "web-1", IH_HEALTHY, WAIT_MS));

    assert_int_equal(kill((pid_t)first.pid, SIGSTOP), 0);
    assert_true(feedwatch_wait_event(f->fx.watch, "web", "web-1", IH_DEAD, WAIT_MS) > 0);
    assert_true(feedwatch_wait_action(f->fx.watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    fleetfx_wait_heartbeat(&f->fx, "web", "web-1", fleetfx_new_life, &first);
    assert_true(feedwatch_wait_instance(f->fx.watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
}

static bool hook_ran(void *arg)
{
    const struct fleetfx *fx = arg;
    FILE *out = fopen(fx->hook_path, "r");
    char line[256] = "";
    bool ok;

    if (out == NULL)
        return false;
    ok = fgets(line, sizeof(line), out) != NULL && strstr(line, "loop loop-1") != NULL &&
         strstr(line, "crashloop") != NULL;
    fclose(out);
    return ok;
}

/* A child that exits at once on every start: backoff, then FENCE with
 * reason crashloop, the hook run, and the agent keeping it down. */
static void a_crash_looping_child_is_fenced_and_the_hook_runs(void **state)
{
    struct fixture *f = *state;
    struct feedwatch_heartbeat hb;

    start_supervisor(f, fast_policy,
                     "  - name: loop\n    desired: 1\n    crashloop_max: 3\n    crashloop_window_s: 60\n");
    fleetfx_agent(&f->fx, &f->agents[0], "loop", "loop-1", "exit 3");
    assert_true(feedwatch_wait_action(f->fx.watch, "loop", "loop-1", ACT_FENCE, "crashloop", 30000) > 0);
    assert_true(feedwatch_count_actions(f->fx.watch, "loop", "loop-1", ACT_RESTART) >= 3);
    assert_true(feedwatch_wait_instance(f->fx.watch, "loop", "loop-1", IH_FENCED, WAIT_MS));
    hb = fleetfx_wait_heartbeat(&f->fx, "loop", "loop-1", fleetfx_fenced, NULL);
    assert_true(hb.fence_epoch >= 1);
    assert_true(proc_wait_until(hook_ran, &f->fx, WAIT_MS, 20));
}

static bool fenced_new_life(const struct feedwatch_heartbeat *hb, const void *arg)
{
    const struct feedwatch_heartbeat *old = arg;

    return hb->state == FLEET__V1__SERVING_STATE__SERVING_STATE_FENCED && hb->incarnation != old->incarnation &&
           hb->fence_epoch >= old->fence_epoch;
}

/* A fence lasts until UNFENCE (DESIGN.md §6): the fenced instance's agent
 * restarted (as ECS would restart its task under the same name) comes back
 * as a new life with fence epoch 0 and a child that looks fine; it is
 * fenced again at once, the child kept down, and never restarted. */
static void a_fence_holds_across_an_agent_restart(void **state)
{
    struct fixture *f = *state;
    struct feedwatch_heartbeat fenced, again;
    int restarts;

    start_supervisor(f, fast_policy,
                     "  - name: loop\n    desired: 1\n    crashloop_max: 3\n    crashloop_window_s: 60\n");
    fleetfx_agent(&f->fx, &f->agents[0], "loop", "loop-1", "exit 3");
    assert_true(feedwatch_wait_action(f->fx.watch, "loop", "loop-1", ACT_FENCE, "crashloop", 30000) > 0);
    fenced = fleetfx_wait_heartbeat(&f->fx, "loop", "loop-1", fleetfx_fenced, NULL);
    assert_true(fleetfx_stop_proc(&f->agents[0]));
    restarts = feedwatch_count_actions(f->fx.watch, "loop", "loop-1", ACT_RESTART);

    fleetfx_agent(&f->fx, &f->agents[0], "loop", "loop-1", "exec sleep 1000");
    again = fleetfx_wait_heartbeat(&f->fx, "loop", "loop-1", fenced_new_life, &fenced);
    assert_true(again.fence_epoch >= 1);
    assert_true(feedwatch_wait_instance(f->fx.watch, "loop", "loop-1", IH_FENCED, WAIT_MS));
    assert_int_equal(feedwatch_count_actions(f->fx.watch, "loop", "loop-1", ACT_RESTART), restarts);
}

/* 30 % of a simulated fleet silenced at once: the supervisor suspects
 * itself, not them, and restarts nobody. */
static void mass_silence_means_self_preservation_and_no_restarts(void **state)
{
    struct fixture *f = *state;
    char *argv[] = { "fleet-sim", "--services", "10", "--instances-per-service", "2", "--interval-ms", "200",
                     "--crash", "svc-1@4", "--crash", "svc-2@4", "--crash", "svc-3@4", NULL };
    char url_env[96];
    char *env[] = { url_env, NULL };
    char services[1024] = "";
    int64_t silenced;

    for (int k = 1; k <= 10; k++) {
        size_t used = strlen(services);

        snprintf(services + used, sizeof(services) - used, "  - name: svc-%d\n    desired: 2\n", k);
    }
    start_supervisor(f, fast_policy, services);
    snprintf(url_env, sizeof(url_env), "NATS_URL=%s", f->fx.natsd.url);
    assert_int_equal(proc_start(&f->sim, argv, env), 0);
    assert_true(feedwatch_wait_observer(f->fx.watch, OBS_NORMAL, WAIT_MS));
    assert_true(feedwatch_wait_service(f->fx.watch, "svc-1", 1, WAIT_MS));
    feedwatch_reset_observer_states_seen(f->fx.watch);
    assert_true(proc_wait_output(&f->sim, "crash", WAIT_MS));
    silenced = proc_now_ms();
    assert_true(feedwatch_wait_observer_seen(f->fx.watch, OBS_SELF_PRESERVATION, WAIT_MS));
    /* Long past the point where each would be DEAD and restarted. */
    while (proc_now_ms() - silenced < 4000)
        nats_Sleep(50);
    for (int k = 1; k <= 3; k++) {
        char svc[16];

        snprintf(svc, sizeof(svc), "svc-%d", k);
        assert_int_equal(feedwatch_count_actions(f->fx.watch, svc, "", ACT_RESTART), 0);
        assert_int_equal(feedwatch_count_actions(f->fx.watch, svc, "", ACT_FENCE), 0);
    }
}

/* A serving heartbeat that reports an obeyed term. */
static bool obeys_a_term(const struct feedwatch_heartbeat *hb, const void *arg)
{
    (void)arg;
    return fleetfx_serving(hb, NULL) && hb->term_seen != 0;
}

/* One crash in twenty is no mass silence: it is restarted, and the
 * simulated instance obeys through libfleet (a new incarnation, healthy). */
static void a_simulated_instance_obeys_a_signed_restart(void **state)
{
    struct fixture *f = *state;
    char *argv[] = { "fleet-sim", "--services", "10", "--instances-per-service", "2", "--interval-ms", "200",
                     "--trust", f->fx.public_key, "--crash", "svc-4-1@3", NULL };
    char url_env[96];
    char *env[] = { url_env, NULL };
    char services[1024] = "";
    struct feedwatch_heartbeat before;

    for (int k = 1; k <= 10; k++) {
        size_t used = strlen(services);

        snprintf(services + used, sizeof(services) - used, "  - name: svc-%d\n    desired: 2\n", k);
    }
    start_supervisor(f, fast_policy, services);
    snprintf(url_env, sizeof(url_env), "NATS_URL=%s", f->fx.natsd.url);
    assert_int_equal(proc_start(&f->sim, argv, env), 0);
    before = fleetfx_wait_heartbeat(&f->fx, "svc-4", "svc-4-1", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_event(f->fx.watch, "svc-4", "svc-4-1", IH_DEAD, WAIT_MS) > 0);
    assert_true(feedwatch_wait_action(f->fx.watch, "svc-4", "svc-4-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    assert_true(proc_wait_output(&f->sim, "restarted", WAIT_MS));
    assert_true(feedwatch_wait_instance(f->fx.watch, "svc-4", "svc-4-1", IH_HEALTHY, WAIT_MS));
    {
        struct feedwatch_heartbeat after;

        assert_true(feedwatch_last_heartbeat(f->fx.watch, "svc-4", "svc-4-1", &after));
        assert_true(after.incarnation != before.incarnation);
    }
    assert_int_equal(feedwatch_observer_states_seen(f->fx.watch) & (1u << OBS_SELF_PRESERVATION), 0);
    /* It now obeys the leader's own term: no reason to raise the term (it
     * was raised at every obeyed control once, churning the fencing token). */
    {
        char *out;

        fleetfx_wait_heartbeat(&f->fx, "svc-4", "svc-4-1", obeys_a_term, NULL);
        fleetfx_wait_heartbeat(&f->fx, "svc-4", "svc-4-1", fleetfx_serving, NULL);
        fleetfx_wait_heartbeat(&f->fx, "svc-4", "svc-4-1", fleetfx_serving, NULL);
        out = proc_output(&f->supervisor);
        assert_non_null(out);
        assert_null(strstr(out, "term raised above one an instance obeys"));
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_killed_child_is_restarted_by_signed_control, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stopped_child_is_detected_and_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(a_crash_looping_child_is_fenced_and_the_hook_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(a_fence_holds_across_an_agent_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(mass_silence_means_self_preservation_and_no_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(a_simulated_instance_obeys_a_signed_restart, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
