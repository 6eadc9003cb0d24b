/* On a real NATS cluster of three nodes (issue 8): every program connects
 * with the comma-separated list, the durable state is replicated, and a
 * node that dies or freezes causes no RESTART, no FENCE and no DEAD, while a
 * real death is still repaired; terms never go back and a record changed
 * by hand holds nothing. Agents are pinned to nodes (one URL each) as ECS
 * tasks would be; the supervisor gets the whole list. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fleetfx.h"

#define WAIT_MS FLEETFX_WAIT_MS
#define AGENTS 6
#define FAULT_MS 12000
/* The longest the status feed (every 200 ms here) may stay silent while a
 * node is down: three bounded JetStream requests in a row. */
#define MAX_SILENCE_MS 3000
#define JS_WAIT_MS 20000

enum { IH_HEALTHY = 2, IH_DEAD = 5, IH_FENCED = 7 };
enum { ACT_RESTART = 1, ACT_FENCE = 2 };
enum { OBS_NORMAL = 2 };

struct cl {
    struct fleetfx fx;
    struct proc sup;
    struct proc agent[AGENTS];
    char names[AGENTS][16];
};

static int setup(void **state)
{
    struct cl *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    assert_int_equal(fleetfx_start_cluster(&c->fx, 3), 0);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct cl *c = *state;
    bool clean = true;

    for (int k = 0; k < AGENTS; k++)
        clean = fleetfx_stop_proc(&c->agent[k]) && clean;
    clean = fleetfx_stop_proc(&c->sup) && clean;
    fleetfx_stop(&c->fx);
    free(c);
    assert_true(clean);
    return 0;
}

static const char web_services[] = "  - name: web\n    desired: 6\n";

/* The supervisor on the whole list, `n` agents of "web" pinned round-robin
 * to the nodes, every one HEALTHY and the observer NORMAL. */
static void start_fleet(struct cl *c, const char *extra, int n)
{
    const char *cfg = fleetfx_config(&c->fx, "sup", "  backoff_initial_ms: 200\n", extra, web_services);

    fleetfx_supervisor(&c->fx, &c->sup, cfg);
    for (int k = 0; k < n; k++) {
        snprintf(c->names[k], sizeof(c->names[k]), "web-%d", k + 1);
        fleetfx_agent_at(&c->fx, &c->agent[k], c->fx.cluster.node[k % 3].url, "web", c->names[k], NULL,
                         "exec sleep 1000");
    }
    for (int k = 0; k < n; k++) {
        fleetfx_wait_heartbeat(&c->fx, "web", c->names[k], fleetfx_serving, NULL);
        assert_true(feedwatch_wait_instance(c->fx.watch, "web", c->names[k], IH_HEALTHY, WAIT_MS));
    }
    assert_true(feedwatch_wait_observer(c->fx.watch, OBS_NORMAL, WAIT_MS));
}

/* The node the supervisor's connection is on now (its last "NATS link up"). */
static int supervisor_node(struct cl *c)
{
    char *out = proc_output(&c->sup), *last = NULL, *p = out;
    int node = -1;

    while ((p = strstr(p, "\"msg\":\"NATS link up\"")) != NULL)
        last = p++;
    for (int k = 0; last != NULL && k < 3; k++) {
        char needle[96];
        char *eol = strchr(last, '\n');

        snprintf(needle, sizeof(needle), "\"url\":\"%s\"", c->fx.cluster.node[k].url);
        if (strstr(last, needle) != NULL && (eol == NULL || strstr(last, needle) < eol))
            node = k;
    }
    free(out);
    assert_true(node >= 0);
    return node;
}

static int dead_events(struct cl *c)
{
    return feedwatch_count_events(c->fx.watch, "web", "", IH_DEAD);
}

static int actions(struct cl *c)
{
    return feedwatch_count_actions(c->fx.watch, "web", "", ACT_RESTART) +
           feedwatch_count_actions(c->fx.watch, "web", "", ACT_FENCE);
}

static void wait_all_healthy(struct cl *c, int n)
{
    for (int k = 0; k < n; k++)
        assert_true(feedwatch_wait_instance(c->fx.watch, "web", c->names[k], IH_HEALTHY, 20000));
}

/* A JetStream context on the test's own connection. Its requests wait
 * JS_WAIT_MS, not nats.c's 5 s: creating or reading a replicated stream
 * waits for the cluster's meta leader, which on a loaded two-core machine
 * can take longer than that (seen as NATS_TIMEOUT in a full parallel run). */
static jsCtx *cluster_js(struct cl *c)
{
    jsCtx *js = NULL;
    jsOptions jo;

    assert_int_equal(jsOptions_Init(&jo), NATS_OK);
    jo.Wait = JS_WAIT_MS;
    assert_int_equal(natsConnection_JetStream(&js, feedwatch_conn(c->fx.watch), &jo), NATS_OK);
    return js;
}

/* What JetStream reports for `stream`: its replicas (-1 when it cannot be
 * read) and, with `leader`, the index of the node leading them (-1 when
 * none; the servers are named n1..n3 by natsd.c). */
static int stream_facts(struct cl *c, const char *stream, int *leader)
{
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    int n = -1, node = -1;

    js = cluster_js(c);
    if (js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK) {
        const char *name = si->Cluster != NULL ? si->Cluster->Leader : NULL;

        n = (int)si->Config->Replicas;
        if (name != NULL && name[0] == 'n' && name[1] >= '1' && name[1] <= '3' && name[2] == '\0')
            node = name[1] - '1';
        jsStreamInfo_Destroy(si);
    }
    jsCtx_Destroy(js);
    if (leader != NULL)
        *leader = node;
    return n;
}

static int replicas_of(struct cl *c, const char *stream) { return stream_facts(c, stream, NULL); }

static int run_tool(char *const argv[], char **output)
{
    int st = proc_run(argv, 20000, output, NULL);

    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Every program takes the list: the supervisor (with spaces after the
 * commas), agents, fleetctl and fleet-sim; and the state is replicated 3
 * times with default settings. */
static void every_program_connects_with_the_list_and_state_is_replicated(void **state)
{
    struct cl *c = *state;
    char *argv_status[] = { "fleetctl", "-s", c->fx.url, "status", NULL };
    char *argv_sim[] = { "fleet-sim", "-s", c->fx.cluster.urls, "--services", "2", "--interval-ms", "200",
                         "--duration-s", "3", NULL };
    char *out = NULL;

    start_fleet(c, "", 3);
    assert_int_equal(run_tool(argv_status, &out), 0);
    assert_non_null(strstr(out, "web"));
    free(out);
    assert_int_equal(run_tool(argv_sim, &out), 0);
    free(out);
    assert_true(feedwatch_wait_service(c->fx.watch, "svc-1", 5 /* UNEXPECTED */, WAIT_MS));
    assert_int_equal(replicas_of(c, "KV_fleet_state"), 3);
    assert_int_equal(replicas_of(c, "KV_fleet_leader"), 3);
    assert_int_equal(replicas_of(c, "KV_fleet_admin_nonces"), 3);
    assert_int_equal(replicas_of(c, "FLEET_AUDIT"), 3);
}

/* A state bucket made with one replica (by an older version, or by hand)
 * is raised, and the log says so. */
static void an_existing_bucket_with_one_replica_is_raised(void **state)
{
    struct cl *c = *state;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    kvConfig kc;

    js = cluster_js(c);
    kvConfig_Init(&kc);
    kc.Bucket = "fleet_state";
    kc.History = 1;
    kc.Replicas = 1;
    assert_int_equal(js_CreateKeyValue(&kv, js, &kc), NATS_OK);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    assert_int_equal(replicas_of(c, "KV_fleet_state"), 1);

    start_fleet(c, "", 1);
    assert_true(proc_wait_output(&c->sup, "replicas raised", WAIT_MS));
    assert_int_equal(replicas_of(c, "KV_fleet_state"), 3);
}

/* SIGKILL of a node the supervisor is not on (the one leading the lease
 * stream, when it can be: the harder case): its two agents move to other
 * nodes; nobody is DEAD, nothing is restarted or fenced, the feed goes on;
 * then a real death is still repaired with a node down. */
static void a_killed_node_acts_on_nothing_and_a_real_death_is_still_repaired(void **state)
{
    struct cl *c = *state;
    struct feedwatch_heartbeat first;
    uint64_t statuses;
    int victim;

    start_fleet(c, "", AGENTS);
    stream_facts(c, "KV_fleet_leader", &victim);
    if (victim < 0 || victim == supervisor_node(c))
        victim = (supervisor_node(c) + 1) % 3;
    statuses = feedwatch_statuses(c->fx.watch);
    feedwatch_gap_reset(c->fx.watch);
    natsd_kill(&c->fx.cluster.node[victim]);
    nats_Sleep(FAULT_MS);
    assert_int_equal(actions(c), 0);
    assert_int_equal(dead_events(c), 0);
    /* The feed went on. Not at its full rate: the node led the lease
     * stream, JetStream re-elects for seconds and the supervisor's bounded
     * requests (STORE_TIMEOUT_MS, 1 s) wait on the owner thread meanwhile;
     * but never silent for longer than a few of them. */
    fprintf(stderr, "# statuses during the fault: %llu (nominal %d), longest silence %lld ms\n",
            (unsigned long long)(feedwatch_statuses(c->fx.watch) - statuses), FAULT_MS / 200,
            (long long)feedwatch_max_gap_ms(c->fx.watch));
    assert_true(feedwatch_statuses(c->fx.watch) > statuses + FAULT_MS / 200 / 4);
    assert_true(feedwatch_max_gap_ms(c->fx.watch) <= MAX_SILENCE_MS);
    wait_all_healthy(c, AGENTS);
    assert_int_equal(actions(c), 0);

    /* A real death, on a node still up: repaired (the state store takes
     * writes with one node of three down). */
    first = fleetfx_wait_heartbeat(&c->fx, "web", c->names[(victim + 1) % 3], fleetfx_serving, NULL);
    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    assert_true(feedwatch_wait_action(c->fx.watch, "web", c->names[(victim + 1) % 3], ACT_RESTART, NULL, 40000) > 0);
    fleetfx_wait_heartbeat(&c->fx, "web", c->names[(victim + 1) % 3], fleetfx_new_life, &first);
}

/* SIGSTOP of a node for 12 s, then SIGCONT: its agents leave it when its
 * pings go unanswered; the supervisor holds their silence on the server. */
static void freeze(struct cl *c, int victim)
{
    uint64_t statuses = feedwatch_statuses(c->fx.watch);

    natsd_pause(&c->fx.cluster.node[victim]);
    nats_Sleep(FAULT_MS);
    natsd_resume(&c->fx.cluster.node[victim]);
    assert_int_equal(actions(c), 0);
    assert_int_equal(dead_events(c), 0);
    assert_true(feedwatch_statuses(c->fx.watch) > statuses);
    wait_all_healthy(c, AGENTS);
    nats_Sleep(2000);   /* and nothing comes after the thaw either */
    assert_int_equal(actions(c), 0);
    assert_int_equal(dead_events(c), 0);
}

static void a_frozen_node_acts_on_nothing(void **state)
{
    struct cl *c = *state;

    start_fleet(c, "", AGENTS);
    freeze(c, (supervisor_node(c) + 1) % 3);
}

/* The node the supervisor itself is on freezes: it cannot see anyone until
 * its own pings give up and it reconnects; that is its blindness, not the
 * fleet's deaths. */
static void the_supervisor_s_own_node_frozen_acts_on_nothing(void **state)
{
    struct cl *c = *state;

    start_fleet(c, "", AGENTS);
    freeze(c, supervisor_node(c));
}

/* Control at a term; the instance obeys it (new life) and reports it. */
static uint64_t restart_through_supervisor(struct cl *c, const char *instance, int restarts_before)
{
    struct feedwatch_heartbeat first = fleetfx_wait_heartbeat(&c->fx, "web", instance, fleetfx_serving, NULL);
    struct feedwatch_heartbeat now;

    assert_int_equal(kill((pid_t)first.pid, SIGKILL), 0);
    for (int64_t end = proc_now_ms() + 40000;
         feedwatch_count_actions(c->fx.watch, "web", instance, ACT_RESTART) <= restarts_before &&
         proc_now_ms() < end;)
        nats_Sleep(20);
    assert_int_equal(feedwatch_count_actions(c->fx.watch, "web", instance, ACT_RESTART), restarts_before + 1);
    now = fleetfx_wait_heartbeat(&c->fx, "web", instance, fleetfx_new_life, &first);
    return now.term_seen;
}

static uint64_t feed_term(struct cl *c)
{
    Fleet__V1__FleetStatus *fs = feedwatch_latest(c->fx.watch);
    uint64_t term = fs != NULL ? fs->term : 0;

    if (fs != NULL)
        fleet__v1__fleet_status__free_unpacked(fs, NULL);
    return term;
}

/* The lease bucket deleted while leading at a high term: the next control
 * carries a higher term and is obeyed (instances refuse lower ones). */
static void a_deleted_lease_bucket_never_takes_the_term_back(void **state)
{
    struct cl *c = *state;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    kvConfig kc;
    uint64_t rev, high, later, obeyed;

    /* A long history in the lease bucket first: the lease's revision is high. */
    js = cluster_js(c);
    kvConfig_Init(&kc);
    kc.Bucket = "fleet_leader";
    kc.History = 1;
    kc.TTL = 2000LL * 1000000;
    kc.Replicas = 3;
    assert_int_equal(js_CreateKeyValue(&kv, js, &kc), NATS_OK);
    for (int k = 0; k < 100; k++)
        assert_int_equal(kvStore_PutString(&rev, kv, "filler", "x"), NATS_OK);
    kvStore_Destroy(kv);

    start_fleet(c, "", 1);
    high = feed_term(c);
    assert_true(high > 100);
    obeyed = restart_through_supervisor(c, "web-1", 0);
    assert_int_equal(obeyed, high);

    assert_int_equal(js_DeleteStream(js, "KV_fleet_leader", NULL, NULL), NATS_OK);
    jsCtx_Destroy(js);
    for (int64_t end = proc_now_ms() + 30000; (later = feed_term(c)) <= high && proc_now_ms() < end;)
        nats_Sleep(50);
    assert_true(later > high);
    assert_true(feedwatch_wait_observer(c->fx.watch, OBS_NORMAL, WAIT_MS));
    obeyed = restart_through_supervisor(c, "web-1", 1);
    assert_true(obeyed > high);   /* accepted: not refused as stale_term */
}

/* A state record rewritten from outside: the next action on that instance
 * still happens (the conflict is re-read, not retried for ever). */
static void a_record_rewritten_by_hand_holds_nothing(void **state)
{
    struct cl *c = *state;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    uint64_t rev;

    start_fleet(c, "", 1);
    (void)restart_through_supervisor(c, "web-1", 0);
    js = cluster_js(c);
    assert_int_equal(js_KeyValue(&kv, js, "fleet_state"), NATS_OK);
    assert_int_equal(kvStore_PutString(&rev, kv, "inst.web.web-1", "rewritten by hand"), NATS_OK);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    (void)restart_through_supervisor(c, "web-1", 1);
    assert_true(proc_wait_output(&c->sup, "changed elsewhere", 1));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(every_program_connects_with_the_list_and_state_is_replicated),
        T(an_existing_bucket_with_one_replica_is_raised),
        T(a_killed_node_acts_on_nothing_and_a_real_death_is_still_repaired),
        T(a_frozen_node_acts_on_nothing),
        T(the_supervisor_s_own_node_frozen_acts_on_nothing),
        T(a_deleted_lease_bucket_never_takes_the_term_back),
        T(a_record_rewritten_by_hand_holds_nothing),
    };
#undef T

    if (getenv("FLEET_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("FLEET_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
