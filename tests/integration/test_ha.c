/* Durable state and leadership on JetStream (issue 4), end to end: a real
 * nats-server with a file store, real supervisors, agents and children. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet/control.h"
#include "fleetfx.h"

#define WAIT_MS FLEETFX_WAIT_MS

enum { IH_HEALTHY = 2, IH_DEAD = 5, IH_FENCED = 7 };
enum { ACT_RESTART = 1, ACT_FENCE = 2 };
enum { OBS_NORMAL = 2, OBS_SELF_PRESERVATION = 3, OBS_STANDBY = 4 };

static const char loop_policy[] = "  backoff_initial_ms: 600\n";
static const char loop_service[] =
    "  - name: loop\n    desired: 1\n    crashloop_max: 4\n    crashloop_window_s: 120\n";

static const char *ha_extra(int lease_ms)
{
    static char extra[96];

    snprintf(extra, sizeof(extra), "state:\n  lease_ttl_ms: %d\n", lease_ms);
    return extra;
}

/* Killed mid crash-loop, a restarted supervisor continues the same count:
 * it fences after crashloop_max restarts in all, as an uninterrupted one
 * would (the unit tests compare the backoff itself). */
static void a_restarted_supervisor_continues_the_crash_loop(void **state)
{
    struct fleetfx_ha *h = *state;
    const char *cfg = fleetfx_config(&h->fx, "a", loop_policy, ha_extra(2000), loop_service);

    fleetfx_supervisor(&h->fx, &h->sup[0], cfg);
    fleetfx_agent(&h->fx, &h->agent, "loop", "loop-1", "sleep 0.3; exit 3");
    for (int64_t deadline = proc_now_ms() + 30000;
         feedwatch_count_actions(h->fx.watch, "loop", "loop-1", ACT_RESTART) < 2 && proc_now_ms() < deadline;)
        nats_Sleep(10);
    assert_int_equal(feedwatch_count_actions(h->fx.watch, "loop", "loop-1", ACT_RESTART), 2);
    assert_int_equal(proc_signal(&h->sup[0], SIGKILL), 0);
    proc_wait(&h->sup[0], 5000);

    fleetfx_supervisor(&h->fx, &h->sup[1], cfg);
    assert_true(feedwatch_wait_action(h->fx.watch, "loop", "loop-1", ACT_FENCE, "crashloop", 60000) > 0);
    /* 4 restarts in all (2 before the kill, 2 after), then the fence. */
    assert_int_equal(feedwatch_count_actions(h->fx.watch, "loop", "loop-1", ACT_RESTART), 4);
    assert_true(feedwatch_wait_instance(h->fx.watch, "loop", "loop-1", IH_FENCED, WAIT_MS));
    fleetfx_wait_heartbeat(&h->fx, "loop", "loop-1", fleetfx_fenced, NULL);
}

static uint64_t status_term(struct fleetfx_ha *h)
{
    Fleet__V1__FleetStatus *fs = feedwatch_latest(h->fx.watch);
    uint64_t term = fs ? fs->term : 0;

    if (fs != NULL)
        fleet__v1__fleet_status__free_unpacked(fs, NULL);
    return term;
}

static bool is_leading(struct proc *p)
{
    return proc_wait_output(p, "\"msg\":\"leading\"", 1);
}

/* Two replicas: one leads; killed, the other leads within the lease TTL
 * plus an interval, with a higher term, and restarts go on. */
static void the_standby_takes_over_when_the_leader_dies(void **state)
{
    struct fleetfx_ha *h = *state;
    const char *cfg = fleetfx_config(&h->fx, "two", "  backoff_initial_ms: 200\n", ha_extra(2000),
                                     "  - name: web\n    desired: 1\n");
    struct feedwatch_heartbeat first;
    uint64_t term1, term2;
    int leader, standby;
    int64_t killed, took_over;

    fleetfx_supervisor(&h->fx, &h->sup[0], cfg);
    fleetfx_supervisor(&h->fx, &h->sup[1], cfg);
    fleetfx_agent(&h->fx, &h->agent, "web", "web-1", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_observer(h->fx.watch, OBS_NORMAL, WAIT_MS));
    leader = is_leading(&h->sup[0]) ? 0 : 1;
    standby = 1 - leader;
    assert_true(is_leading(&h->sup[leader]));
    assert_false(is_leading(&h->sup[standby])); /* exactly one */
    assert_true(proc_wait_output(&h->sup[standby], "standby", WAIT_MS));
    term1 = status_term(h);
    assert_true(term1 > 0);

    assert_int_equal(proc_signal(&h->sup[leader], SIGKILL), 0);
    killed = proc_now_ms();
    proc_wait(&h->sup[leader], 5000);
    assert_true(proc_wait_output(&h->sup[standby], "\"msg\":\"leading\"", WAIT_MS));
    took_over = proc_now_ms();
    assert_in_range(took_over - killed, 0, 2000 + 1000 + 500);
    /* The feed now comes from the new leader, in a higher term (the latest
     * status may still be the old leader's last one for a moment). */
    for (int64_t deadline = proc_now_ms() + WAIT_MS; (term2 = status_term(h)) <= term1 && proc_now_ms() < deadline;)
        nats_Sleep(20);
    assert_true(term2 > term1);
    assert_true(feedwatch_wait_observer(h->fx.watch, OBS_NORMAL, WAIT_MS));

    /* The new leader acts. */
    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_action(h->fx.watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_new_life, &first);
}

/* Sends a DRAIN signed with the supervisors' key in `term` to web-1 as it
 * is now; returns 0 with the ack's error ("" when accepted). */
static int send_control(struct fleetfx_ha *h, const struct feedwatch_heartbeat *target, uint64_t term, char *error,
                        size_t n)
{
    fleet_keypair *kp = NULL;
    fleet_control c = { .incarnation = target->incarnation, .action = FLEET_ACTION_DRAIN, .term = term,
                        .seq = (uint64_t)proc_now_ms() << 20 };
    Fleet__V1__ControlAck *ack;
    uint8_t *envelope = NULL;
    natsMsg *reply = NULL;
    size_t len;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    c.issued_unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    c.expires_unix_ms = c.issued_unix_ms + 10000;
    snprintf(c.service, sizeof(c.service), "web");
    snprintf(c.instance, sizeof(c.instance), "web-1");
    if (fleet_keypair_from_seed_file(h->fx.seed_path, &kp) != FLEET_OK || fleet_control_new_nonce(&c) != FLEET_OK ||
        fleet_control_seal(&c, kp, &envelope, &len) != FLEET_OK)
        return -1;
    fleet_keypair_destroy(kp);
    if (natsConnection_Request(&reply, feedwatch_conn(h->fx.watch), "fleet.v1.ctl.web.web-1", envelope, (int)len,
                               5000) != NATS_OK) {
        free(envelope);
        return -1;
    }
    free(envelope);
    ack = fleet__v1__control_ack__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                         (const uint8_t *)natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    if (ack == NULL)
        return -1;
    snprintf(error, n, "%s", ack->accepted ? "" : ack->error);
    fleet__v1__control_ack__free_unpacked(ack, NULL);
    return 0;
}

/* A leader paused past its lease (SIGSTOP) loses it; resumed, it steps down
 * and never acts, while the new leader does. */
static void a_paused_leader_steps_down_without_acting(void **state)
{
    struct fleetfx_ha *h = *state;
    const char *cfg = fleetfx_config(&h->fx, "pause", "  backoff_initial_ms: 200\n", ha_extra(2000),
                                     "  - name: web\n    desired: 1\n");
    struct feedwatch_heartbeat first;
    uint64_t old_term;
    int leader, other;
    char *out;

    fleetfx_supervisor(&h->fx, &h->sup[0], cfg);
    fleetfx_agent(&h->fx, &h->agent, "web", "web-1", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(proc_wait_output(&h->sup[0], "\"msg\":\"leading\"", WAIT_MS));
    assert_true(feedwatch_wait_observer(h->fx.watch, OBS_NORMAL, WAIT_MS));
    old_term = status_term(h);
    assert_true(old_term > 0);
    fleetfx_supervisor(&h->fx, &h->sup[1], cfg);
    assert_true(proc_wait_output(&h->sup[1], "standby", WAIT_MS));
    leader = 0;
    other = 1;

    assert_int_equal(proc_signal(&h->sup[leader], SIGSTOP), 0);
    assert_true(proc_wait_output(&h->sup[other], "\"msg\":\"leading\"", WAIT_MS));
    /* While the old leader is frozen, a child dies: the new leader restarts it. */
    assert_true(feedwatch_wait_observer(h->fx.watch, OBS_NORMAL, WAIT_MS));
    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_new_life, &first);
    assert_int_equal(proc_signal(&h->sup[leader], SIGCONT), 0);
    assert_true(proc_wait_output(&h->sup[leader], "standby", WAIT_MS));
    /* Resumed, the old leader decided nothing (nothing died before the pause). */
    out = proc_output(&h->sup[leader]);
    assert_null(strstr(out, "control decided"));
    free(out);
    /* And had it tried, the instance would refuse it: it has obeyed the new
     * term (term_seen) and refuses anything from the old one. */
    {
        struct feedwatch_heartbeat now = fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_serving, NULL);
        char error[64];

        assert_true(now.term_seen > old_term);
        assert_int_equal(send_control(h, &now, old_term, error, sizeof(error)), 0);
        assert_string_equal(error, "stale_term");
    }
}

static bool fleetctl_events_show(struct fleetfx_ha *h, const char *needle)
{
    char *argv[] = { "fleetctl", "-s", h->fx.natsd.url, "events", "--since", "1h", NULL };
    char *out = NULL;
    bool found;

    assert_true(proc_run(argv, WAIT_MS, &out, NULL) >= 0);
    found = out != NULL && strstr(out, needle) != NULL;
    free(out);
    return found;
}

/* The audit trail and the state survive a supervisor restart and a NATS
 * server restart (file store). */
static void the_audit_trail_survives_restarts(void **state)
{
    struct fleetfx_ha *h = *state;
    const char *cfg = fleetfx_config(&h->fx, "audit", "  backoff_initial_ms: 200\n", ha_extra(2000),
                                     "  - name: web\n    desired: 1\n");
    struct feedwatch_heartbeat first;

    fleetfx_supervisor(&h->fx, &h->sup[0], cfg);
    fleetfx_agent(&h->fx, &h->agent, "web", "web-1", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_observer(h->fx.watch, OBS_NORMAL, WAIT_MS));
    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_action(h->fx.watch, "web", "web-1", ACT_RESTART, NULL, WAIT_MS) > 0);
    fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_new_life, &first);

    assert_true(fleetctl_events_show(h, "web/web-1"));
    assert_int_equal(proc_signal(&h->sup[0], SIGTERM), 0);
    assert_true(proc_wait(&h->sup[0], WAIT_MS) >= 0);
    natsd_stop(&h->fx.natsd, true);
    assert_int_equal(natsd_restart(&h->fx.natsd), 0);
    fleetfx_supervisor(&h->fx, &h->sup[1], cfg);
    assert_true(proc_wait_output(&h->sup[1], "\"msg\":\"leading\"", WAIT_MS));
    /* Events from before both restarts are still there. */
    assert_true(fleetctl_events_show(h, "RESTARTING"));
    /* No double action: nothing was dead, nothing is restarted again. */
    assert_true(feedwatch_wait_instance(h->fx.watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
    assert_int_equal(feedwatch_count_actions(h->fx.watch, "web", "web-1", ACT_RESTART), 1);
}

/* Without JetStream nobody can lead: observe and publish (someone must),
 * act on nothing, and say so on the feed (SELF_PRESERVATION, with why). */
static void without_jetstream_it_observes_but_does_not_act(void **state)
{
    struct fleetfx_ha *h = *state;
    const char *cfg = fleetfx_config(&h->fx, "nojs", "  backoff_initial_ms: 200\n", "",
                                     "  - name: web\n    desired: 1\n");
    struct feedwatch_heartbeat first, now;

    fleetfx_supervisor(&h->fx, &h->sup[0], cfg);
    assert_true(proc_wait_output(&h->sup[0], "JetStream store unavailable", WAIT_MS));
    fleetfx_agent(&h->fx, &h->agent, "web", "web-1", "exec sleep 1000");
    first = fleetfx_wait_heartbeat(&h->fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_instance(h->fx.watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_event(h->fx.watch, "web", "web-1", IH_DEAD, WAIT_MS) > 0);
    assert_true(feedwatch_wait_observer(h->fx.watch, OBS_SELF_PRESERVATION, WAIT_MS));
    {
        Fleet__V1__FleetStatus *fs = feedwatch_latest(h->fx.watch);

        assert_non_null(fs);
        assert_int_equal(fs->term, 0);   /* nobody leads */
        fleet__v1__fleet_status__free_unpacked(fs, NULL);
    }
    assert_true(proc_wait_output(&h->sup[0], "leader lease unreachable", WAIT_MS));
    /* The feed goes on; the child stays down (the agent waits for a supervisor). */
    assert_true(feedwatch_wait_statuses(h->fx.watch, feedwatch_statuses(h->fx.watch) + 5, WAIT_MS));
    assert_int_equal(feedwatch_count_actions(h->fx.watch, "web", "web-1", ACT_RESTART), 0);
    assert_true(feedwatch_last_heartbeat(h->fx.watch, "web", "web-1", &now));
    assert_int_equal(now.incarnation, first.incarnation);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_restarted_supervisor_continues_the_crash_loop, fleetfx_ha_setup_js,
                                        fleetfx_ha_teardown),
        cmocka_unit_test_setup_teardown(the_standby_takes_over_when_the_leader_dies, fleetfx_ha_setup_js,
                                        fleetfx_ha_teardown),
        cmocka_unit_test_setup_teardown(a_paused_leader_steps_down_without_acting, fleetfx_ha_setup_js,
                                        fleetfx_ha_teardown),
        cmocka_unit_test_setup_teardown(the_audit_trail_survives_restarts, fleetfx_ha_setup_js,
                                        fleetfx_ha_teardown),
        cmocka_unit_test_setup_teardown(without_jetstream_it_observes_but_does_not_act, fleetfx_ha_setup_no_js,
                                        fleetfx_ha_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
