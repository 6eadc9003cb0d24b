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

#include "feedwatch.h"
#include "fleet/nkey.h"
#include "natsd.h"
#include "proc.h"

#define WAIT_MS 15000

enum { IH_HEALTHY = 2, IH_DEAD = 5, IH_FENCED = 7 };
enum { ACT_RESTART = 1, ACT_FENCE = 2 };
enum { SS_SERVING = 2, SS_FENCED = 6 };
enum { OBS_NORMAL = 2, OBS_SELF_PRESERVATION = 3 };

struct fixture {
    struct natsd natsd;
    struct proc supervisor;
    struct proc agents[2];
    struct proc sim;
    struct feedwatch *watch;
    char dir[64];
    char seed_path[96];
    char config_path[96];
    char hook_path[96];
    char public_key[FLEET_NKEY_PUBLIC_LEN + 1];
};

static void write_file(const char *path, mode_t mode, const char *fmt, ...)
{
    va_list ap;
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* A fresh signing key: seed in a 0600 file, public key for --trust. */
static void make_key(struct fixture *fx)
{
    char seed[FLEET_NKEY_SEED_LEN + 1];
    fleet_keypair *kp = NULL;

    assert_int_equal(fleet_keypair_generate(&kp), FLEET_OK);
    assert_int_equal(fleet_keypair_seed(kp, seed, sizeof(seed)), FLEET_OK);
    assert_int_equal(fleet_keypair_public(kp, fx->public_key, sizeof(fx->public_key)), FLEET_OK);
    write_file(fx->seed_path, 0600, "%s\n", seed);
    memset(seed, 0, sizeof(seed));
    fleet_keypair_destroy(kp);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/fleet-ctl-test-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->seed_path, sizeof(fx->seed_path), "%s/seed", fx->dir);
    snprintf(fx->config_path, sizeof(fx->config_path), "%s/fleet.yaml", fx->dir);
    snprintf(fx->hook_path, sizeof(fx->hook_path), "%s/hook.out", fx->dir);
    make_key(fx);
    assert_int_equal(natsd_start(&fx->natsd, true), 0);
    fx->watch = feedwatch_start(fx->natsd.url);
    assert_non_null(fx->watch);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    bool clean = true;
    char cmd[128];

    for (int k = 0; k < 2; k++) {
        if (proc_signal(&fx->agents[k], SIGTERM) == 0)
            proc_wait(&fx->agents[k], 5000);
        clean = proc_output_clean(&fx->agents[k]) && clean;
        proc_kill(&fx->agents[k]);
    }
    if (proc_signal(&fx->sim, SIGTERM) == 0)
        proc_wait(&fx->sim, 5000);
    clean = proc_output_clean(&fx->sim) && clean;
    proc_kill(&fx->sim);
    if (getenv("FLEET_TEST_VERBOSE") != NULL) {
        char *out = proc_output(&fx->supervisor);

        fprintf(stderr, "--- supervisor output ---\n%s\n", out);
        free(out);
    }
    if (proc_signal(&fx->supervisor, SIGTERM) == 0)
        proc_wait(&fx->supervisor, 5000);
    clean = proc_output_clean(&fx->supervisor) && clean;
    proc_kill(&fx->supervisor);
    feedwatch_stop(fx->watch);
    natsd_stop(&fx->natsd, false);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    assert_true(clean);
    return 0;
}

/* Supervisor with the key, fast cadence and a short backoff, so a test
 * sees several deaths in seconds; `services` is the YAML list. */
static void start_supervisor(struct fixture *fx, const char *policy, const char *services)
{
    char *argv[] = { "fleet-supervisor", "--config", fx->config_path, NULL };

    write_file(fx->config_path, 0644,
               "nats:\n  url: %s\n"
               "supervisor:\n  status_interval_ms: 200\n"
               "detector:\n  default_interval_ms: 200\n  link_grace_ms: 1000\n"
               "control:\n  signing_key_file: %s\n"
               "  on_escalate: 'echo \"$FLEET_SERVICE $FLEET_INSTANCE $FLEET_REASON\" >> %s'\n"
               "policy:\n%s"
               "services:\n%s",
               fx->natsd.url, fx->seed_path, fx->hook_path, policy, services);
    assert_int_equal(proc_start(&fx->supervisor, argv, NULL), 0);
    assert_true(proc_wait_output(&fx->supervisor, "fleet-supervisor started", WAIT_MS));
}

static void start_agent(struct fixture *fx, int k, const char *service, const char *instance, const char *command)
{
    char url_env[96];
    char *env[] = { url_env, NULL };
    char *argv[] = { "fleet-agent", "--service", (char *)service, "--instance", (char *)instance,
                     "--trust", fx->public_key, "--interval-ms", "200", "--grace-ms", "1000",
                     "--", "/bin/sh", "-c", (char *)command, NULL };

    snprintf(url_env, sizeof(url_env), "NATS_URL=%s", fx->natsd.url);
    assert_int_equal(proc_start(&fx->agents[k], argv, env), 0);
}

static struct feedwatch_heartbeat wait_heartbeat(struct fixture *fx, const char *service, const char *instance,
                                                 bool (*ok)(const struct feedwatch_heartbeat *, const void *),
                                                 const void *arg)
{
    struct feedwatch_heartbeat hb = { 0 };

    for (int64_t deadline = proc_now_ms() + WAIT_MS; proc_now_ms() < deadline; nats_Sleep(10))
        if (feedwatch_last_heartbeat(fx->watch, service, instance, &hb) && ok(&hb, arg))
            return hb;
    fail_msg("no heartbeat from %s/%s matching in %d ms (last pid %u incarnation %llu state %d)", service,
             instance, WAIT_MS, hb.pid, (unsigned long long)hb.incarnation, hb.state);
    return hb;
}

static bool serving(const struct feedwatch_heartbeat *hb, const void *arg)
{
    (void)arg;
    return hb->state == SS_SERVING && hb->pid > 0;
}

static bool new_life(const struct feedwatch_heartbeat *hb, const void *arg)
{
    const struct feedwatch_heartbeat *old = arg;

    return hb->state == SS_SERVING && hb->pid != old->pid && hb->incarnation != old->incarnation;
}

static bool fenced(const struct feedwatch_heartbeat *hb, const void *arg)
{
    (void)arg;
    return hb->state == SS_FENCED && hb->fence_epoch > 0;
}

static const char fast_policy[] =
    "  backoff_initial_ms: 200\n"
    "  ack_timeout_ms: 2000\n";

/* A SIGKILLed child: DEAD on the feed, a signed RESTART, a new child. */
static void a_killed_child_is_restarted_by_signed_control(void **state)
{
    struct fixture *fx = *state;
    struct feedwatch_heartbeat first;

    start_supervisor(fx, fast_policy, "  - name: web\n    desired: 1\n");
    start_agent(fx, 0, "web", "web-1", "exec sleep 1000");
    first = wait_heartbeat(fx, "web", "web-1", serving, NULL);
    assert_true(feedwatch_wait_instance(fx->watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
    assert_true(feedwatch_wait_observer(fx->watch, OBS_NORMAL, WAIT_MS));

    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_event(fx->watch, "web", "web-1", IH_DEAD, WAIT_MS) > 0);
    assert_true(feedwatch_wait_action(fx->watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    wait_heartbeat(fx, "web", "web-1", new_life, &first);
    assert_true(feedwatch_wait_instance(fx->watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
}

/* A SIGSTOPped child is a hang: its agent stops vouching for it, the
 * detector declares it DEAD, and it is restarted. */
static void a_stopped_child_is_detected_and_restarted(void **state)
{
    struct fixture *fx = *state;
    struct feedwatch_heartbeat first;

    start_supervisor(fx, fast_policy, "  - name: web\n    desired: 1\n");
    start_agent(fx, 0, "web", "web-1", "exec sleep 1000");
    first = wait_heartbeat(fx, "web", "web-1", serving, NULL);
    assert_true(feedwatch_wait_observer(fx->watch, OBS_NORMAL, WAIT_MS));
    assert_true(feedwatch_wait_instance(fx->watch, "web", "web-1", IH_HEALTHY, WAIT_MS));

    assert_int_equal(kill((pid_t)first.pid, SIGSTOP), 0);
    assert_true(feedwatch_wait_event(fx->watch, "web", "web-1", IH_DEAD, WAIT_MS) > 0);
    assert_true(feedwatch_wait_action(fx->watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    wait_heartbeat(fx, "web", "web-1", new_life, &first);
    assert_true(feedwatch_wait_instance(fx->watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
}

static bool hook_ran(void *arg)
{
    const struct fixture *fx = arg;
    FILE *f = fopen(fx->hook_path, "r");
    char line[256] = "";
    bool ok;

    if (f == NULL)
        return false;
    ok = fgets(line, sizeof(line), f) != NULL && strstr(line, "loop loop-1") != NULL &&
         strstr(line, "crashloop") != NULL;
    fclose(f);
    return ok;
}

/* A child that exits at once on every start: backoff, then FENCE with
 * reason crashloop, the hook run, and the agent keeping it down. */
static void a_crash_looping_child_is_fenced_and_the_hook_runs(void **state)
{
    struct fixture *fx = *state;
    struct feedwatch_heartbeat hb;

    start_supervisor(fx, fast_policy,
                     "  - name: loop\n    desired: 1\n    crashloop_max: 3\n    crashloop_window_s: 60\n");
    start_agent(fx, 0, "loop", "loop-1", "exit 3");
    assert_true(feedwatch_wait_action(fx->watch, "loop", "loop-1", ACT_FENCE, "crashloop", 30000) > 0);
    assert_true(feedwatch_count_actions(fx->watch, "loop", "loop-1", ACT_RESTART) >= 3);
    assert_true(feedwatch_wait_instance(fx->watch, "loop", "loop-1", IH_FENCED, WAIT_MS));
    hb = wait_heartbeat(fx, "loop", "loop-1", fenced, NULL);
    assert_true(hb.fence_epoch >= 1);
    assert_true(proc_wait_until(hook_ran, fx, WAIT_MS, 20));
}

/* 30 % of a simulated fleet silenced at once: the supervisor suspects
 * itself, not them, and restarts nobody. */
static void mass_silence_means_self_preservation_and_no_restarts(void **state)
{
    struct fixture *fx = *state;
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
    start_supervisor(fx, fast_policy, services);
    snprintf(url_env, sizeof(url_env), "NATS_URL=%s", fx->natsd.url);
    assert_int_equal(proc_start(&fx->sim, argv, env), 0);
    assert_true(feedwatch_wait_observer(fx->watch, OBS_NORMAL, WAIT_MS));
    assert_true(feedwatch_wait_service(fx->watch, "svc-1", 1, WAIT_MS));
    feedwatch_reset_observer_states_seen(fx->watch);
    assert_true(proc_wait_output(&fx->sim, "crash", WAIT_MS));
    silenced = proc_now_ms();
    assert_true(feedwatch_wait_observer_seen(fx->watch, OBS_SELF_PRESERVATION, WAIT_MS));
    /* Long past the point where each would be DEAD and restarted. */
    while (proc_now_ms() - silenced < 4000)
        nats_Sleep(50);
    for (int k = 1; k <= 3; k++) {
        char svc[16];

        snprintf(svc, sizeof(svc), "svc-%d", k);
        assert_int_equal(feedwatch_count_actions(fx->watch, svc, "", ACT_RESTART), 0);
        assert_int_equal(feedwatch_count_actions(fx->watch, svc, "", ACT_FENCE), 0);
    }
}

/* One crash in twenty is no mass silence: it is restarted, and the
 * simulated instance obeys through libfleet (a new incarnation, healthy). */
static void a_simulated_instance_obeys_a_signed_restart(void **state)
{
    struct fixture *fx = *state;
    char *argv[] = { "fleet-sim", "--services", "10", "--instances-per-service", "2", "--interval-ms", "200",
                     "--trust", fx->public_key, "--crash", "svc-4-1@3", NULL };
    char url_env[96];
    char *env[] = { url_env, NULL };
    char services[1024] = "";
    struct feedwatch_heartbeat before;

    for (int k = 1; k <= 10; k++) {
        size_t used = strlen(services);

        snprintf(services + used, sizeof(services) - used, "  - name: svc-%d\n    desired: 2\n", k);
    }
    start_supervisor(fx, fast_policy, services);
    snprintf(url_env, sizeof(url_env), "NATS_URL=%s", fx->natsd.url);
    assert_int_equal(proc_start(&fx->sim, argv, env), 0);
    before = wait_heartbeat(fx, "svc-4", "svc-4-1", serving, NULL);
    assert_true(feedwatch_wait_event(fx->watch, "svc-4", "svc-4-1", IH_DEAD, WAIT_MS) > 0);
    assert_true(feedwatch_wait_action(fx->watch, "svc-4", "svc-4-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    assert_true(proc_wait_output(&fx->sim, "restarted", WAIT_MS));
    assert_true(feedwatch_wait_instance(fx->watch, "svc-4", "svc-4-1", IH_HEALTHY, WAIT_MS));
    {
        struct feedwatch_heartbeat after;

        assert_true(feedwatch_last_heartbeat(fx->watch, "svc-4", "svc-4-1", &after));
        assert_true(after.incarnation != before.incarnation);
    }
    assert_int_equal(feedwatch_observer_states_seen(fx->watch) & (1u << OBS_SELF_PRESERVATION), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_killed_child_is_restarted_by_signed_control, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stopped_child_is_detected_and_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(a_crash_looping_child_is_fenced_and_the_hook_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(mass_silence_means_self_preservation_and_no_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(a_simulated_instance_obeys_a_signed_restart, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
