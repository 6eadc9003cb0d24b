/* Maintenance flags (issues 4 and 11), end to end: `fleetctl maintenance`
 * signs the command with an operator's key; the leading supervisor (real,
 * on a real nats-server -js) stores the flag in its state bucket and holds
 * restarts for it, durably across its own restart, and resumes when it is
 * lifted. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleetfx.h"

#define WAIT_MS FLEETFX_WAIT_MS
/* How long "no restart" is watched for: several lease ticks (TTL 2 s,
 * renewal every ~0.7 s) and many heartbeat intervals (0.2 s). */
#define QUIET_MS 3000

enum { IH_DEAD = 5 };
enum { ACT_RESTART = 1 };
enum { OBS_NORMAL = 2 };

/* The operator every test signs as (made by operators_yaml). */
static struct fleetfx_operator alice;

/* The top-level YAML of a supervisor that lets alice do everything, after
 * `extra`; in a static buffer. */
static const char *operators_yaml(struct fleetfx_ha *m, const char *extra)
{
    static char yaml[512];

    fleetfx_operator_key(&m->fx, "alice", &alice);
    snprintf(yaml, sizeof(yaml), "%soperators:\n  - name: alice\n    key: %s\n    verbs: [\"*\"]\n"
             "    services: [\"*\"]\n", extra, alice.public_key);
    return yaml;
}

/* Runs fleetctl with `args` (NULL-terminated, after the server flag) to its
 * end; returns its exit code and, if `out` is set, its output (free it).
 * FLEET_OPERATOR_KEY_FILE names alice's key, as an operator's shell would. */
static int fleetctl(struct fleetfx_ha *m, char **out, ...)
{
    char *argv[16] = { "fleetctl", "-s", m->fx.natsd.url };
    int argc = 3, status;
    va_list ap;

    va_start(ap, out);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 15;)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    setenv("FLEET_OPERATOR_KEY_FILE", alice.seed_path, 1);
    status = proc_run(argv, WAIT_MS, out, NULL);
    assert_true(status >= 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The reason the latest status gives for service/instance ("" if absent). */
static void instance_reason(struct fleetfx_ha *m, const char *service, const char *instance, char *out, size_t n)
{
    Fleet__V1__FleetStatus *fs = feedwatch_latest(m->fx.watch);

    out[0] = '\0';
    if (fs == NULL)
        return;
    for (size_t s = 0; s < fs->n_services; s++) {
        if (strcmp(fs->services[s]->name, service) != 0)
            continue;
        for (size_t i = 0; i < fs->services[s]->n_instances; i++)
            if (strcmp(fs->services[s]->instances[i]->instance, instance) == 0)
                snprintf(out, n, "%s", fs->services[s]->instances[i]->reason);
    }
    fleet__v1__fleet_status__free_unpacked(fs, NULL);
}

/* Waits until the feed says web-1 is DEAD and held for maintenance, then
 * watches QUIET_MS more: no restart, still held. */
static void assert_held_for_maintenance(struct fleetfx_ha *m, const char *why)
{
    char reason[128] = "";
    int64_t deadline = proc_now_ms() + WAIT_MS;

    while (proc_now_ms() < deadline) {
        instance_reason(m, "web", "web-1", reason, sizeof(reason));
        if (strstr(reason, "maintenance") != NULL &&
            feedwatch_instance_health(m->fx.watch, "web", "web-1") == IH_DEAD)
            break;
        nats_Sleep(20);
    }
    assert_string_equal(reason, why);
    nats_Sleep(QUIET_MS);
    assert_int_equal(feedwatch_count_actions(m->fx.watch, "web", "web-1", ACT_RESTART), 0);
    assert_int_equal(feedwatch_instance_health(m->fx.watch, "web", "web-1"), IH_DEAD);
    instance_reason(m, "web", "web-1", reason, sizeof(reason));
    assert_string_equal(reason, why);
}

/* on → the child is killed and stays down, durably (a restarted supervisor
 * holds it too); off → restarted. */
static void maintenance_holds_restarts_durably_until_lifted(void **state)
{
    struct fleetfx_ha *m = *state;
    const char *cfg = fleetfx_config(&m->fx, "maint", "  backoff_initial_ms: 200\n",
                                     operators_yaml(m, "state:\n  lease_ttl_ms: 2000\n"),
                                     "  - name: web\n    desired: 1\n");
    struct feedwatch_heartbeat first, now;
    char *out = NULL;

    fleetfx_supervisor(&m->fx, &m->sup[0], cfg);
    fleetfx_agent(&m->fx, &m->agent, "web", "web-1", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&m->fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(proc_wait_output(&m->sup[0], "\"msg\":\"leading\"", WAIT_MS));
    assert_true(feedwatch_wait_observer(m->fx.watch, OBS_NORMAL, WAIT_MS));

    assert_int_equal(fleetctl(m, &out, "maintenance", "on", "web", "--reason", "kernel upgrade", NULL), 0);
    assert_non_null(strstr(out, "web under maintenance: kernel upgrade"));
    free(out);
    assert_true(proc_wait_output(&m->sup[0], "\"msg\":\"admin command done\",\"operator\":\"alice\","
                                             "\"verb\":\"maintenance-on\"", WAIT_MS));
    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_event(m->fx.watch, "web", "web-1", IH_DEAD, WAIT_MS) > 0);
    assert_held_for_maintenance(m, "held: maintenance: kernel upgrade");

    /* Durable: a supervisor killed and started again still holds it. */
    assert_int_equal(proc_signal(&m->sup[0], SIGKILL), 0);
    proc_wait(&m->sup[0], 5000);
    feedwatch_reset_observer_states_seen(m->fx.watch);
    fleetfx_supervisor(&m->fx, &m->sup[1], cfg);
    assert_true(proc_wait_output(&m->sup[1], "\"msg\":\"leading\"", WAIT_MS));
    assert_true(feedwatch_wait_observer_seen(m->fx.watch, OBS_NORMAL, WAIT_MS));
    assert_held_for_maintenance(m, "held: maintenance: kernel upgrade");
    assert_true(feedwatch_last_heartbeat(m->fx.watch, "web", "web-1", &now));
    assert_int_equal(now.incarnation, first.incarnation);

    assert_int_equal(fleetctl(m, &out, "maintenance", "list", NULL), 0);
    assert_non_null(strstr(out, "kernel upgrade"));
    free(out);

    /* Lifted: judged afresh, restarted. */
    assert_int_equal(fleetctl(m, &out, "maintenance", "off", "web", NULL), 0);
    assert_non_null(strstr(out, "web out of maintenance"));
    free(out);
    assert_true(feedwatch_wait_action(m->fx.watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    fleetfx_wait_heartbeat(&m->fx, "web", "web-1", fleetfx_new_life, &first);
    assert_int_equal(fleetctl(m, &out, "maintenance", "list", NULL), 0);
    assert_non_null(strstr(out, "nothing under maintenance"));
    free(out);
}

/* An instance-level flag holds that instance only; a flag on an instance
 * the supervisor does not know is refused (exit 1), naming it. */
static void instance_flag_holds_only_that_instance(void **state)
{
    struct fleetfx_ha *m = *state;
    const char *cfg = fleetfx_config(&m->fx, "inst", "  backoff_initial_ms: 200\n",
                                     operators_yaml(m, "state:\n  lease_ttl_ms: 2000\n"),
                                     "  - name: web\n    desired: 2\n");
    struct feedwatch_heartbeat first, second;
    struct proc web2;
    char *out = NULL;

    memset(&web2, 0, sizeof(web2));
    fleetfx_supervisor(&m->fx, &m->sup[0], cfg);
    fleetfx_agent(&m->fx, &m->agent, "web", "web-1", "exec sleep 1000");
    fleetfx_agent(&m->fx, &web2, "web", "web-2", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&m->fx, "web", "web-1", fleetfx_serving, NULL);
    second = fleetfx_wait_heartbeat(&m->fx, "web", "web-2", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_observer(m->fx.watch, OBS_NORMAL, WAIT_MS));
    assert_int_equal(fleetctl(m, &out, "maintenance", "on", "web/web-9", "--reason", "typo", NULL), 1);
    assert_non_null(strstr(out, "no instance web/web-9 is known to the supervisor"));
    free(out);
    assert_int_equal(fleetctl(m, &out, "maintenance", "on", "web/web-2", "--reason", "disk swap", NULL), 0);
    assert_non_null(strstr(out, "web/web-2 under maintenance: disk swap"));
    free(out);
    /* web-1 is not held: restarted; web-2 is. */
    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_action(m->fx.watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    assert_int_equal(kill((pid_t)second.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_event(m->fx.watch, "web", "web-2", IH_DEAD, WAIT_MS) > 0);
    nats_Sleep(QUIET_MS);
    assert_int_equal(feedwatch_count_actions(m->fx.watch, "web", "web-2", ACT_RESTART), 0);
    assert_int_equal(fleetctl(m, &out, "maintenance", "off", "web", "--instance", "web-2", NULL), 0);
    assert_non_null(strstr(out, "web/web-2 out of maintenance"));
    free(out);
    assert_true(feedwatch_wait_action(m->fx.watch, "web", "web-2", ACT_RESTART, NULL, WAIT_MS) > 0);
    assert_true(fleetfx_stop_proc(&web2));
}

/* Clear errors: a bad name or no reason is a usage error (2); with no
 * supervisor the command says nobody answered (3); listing without
 * JetStream fails (1) and says to start the server with -js. */
static void errors_are_clear(void **state)
{
    struct fleetfx_ha *m = *state;
    char *out = NULL;

    fleetfx_operator_key(&m->fx, "alice", &alice);
    assert_int_equal(fleetctl(m, &out, "maintenance", "on", "no.such", "--reason", "x", NULL), 2);
    assert_non_null(strstr(out, "not a service name"));
    free(out);
    assert_int_equal(fleetctl(m, &out, "maintenance", "on", "web", "--instance", "a*b", NULL), 2);
    free(out);
    assert_int_equal(fleetctl(m, &out, "maintenance", "sideways", "web", NULL), 2);
    free(out);
    assert_int_equal(fleetctl(m, &out, "maintenance", "on", "web", NULL), 2);
    assert_non_null(strstr(out, "on wants --reason"));
    free(out);
    assert_int_equal(fleetctl(m, &out, "maintenance", "on", "web", "--reason", "x", NULL), 3);
    assert_non_null(strstr(out, "no leading supervisor answered"));
    free(out);
    assert_int_equal(fleetctl(m, &out, "maintenance", "list", NULL), 1);
    assert_non_null(strstr(out, "-js"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(maintenance_holds_restarts_durably_until_lifted, fleetfx_ha_setup_js,
                                        fleetfx_ha_teardown),
        cmocka_unit_test_setup_teardown(instance_flag_holds_only_that_instance, fleetfx_ha_setup_js,
                                        fleetfx_ha_teardown),
        cmocka_unit_test_setup_teardown(errors_are_clear, fleetfx_ha_setup_no_js,
                                        fleetfx_ha_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
