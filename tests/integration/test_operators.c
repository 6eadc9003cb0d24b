/* Operators steer the fleet (issue 11), end to end with real keys: a real
 * nats-server -js, two real supervisor replicas (one leads), real agents
 * supervising real children, and fleetctl or hand-sealed envelopes.
 * Allowed commands are carried out through the signed Control path and
 * named in the events; refused ones say which rule; a standby never
 * answers; a rolling restart restarts every instance once and never leaves
 * fewer than two of three HEALTHY on the feed. */
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

#include "fleet/admin.h"
#include "fleet/clock.h"
#include "fleetfx.h"

#define WAIT_MS FLEETFX_WAIT_MS

enum { ACT_RESTART = 1, ACT_FENCE = 2, ACT_UNFENCE = 3 };
enum { OBS_NORMAL = 2 };
enum { IH_HEALTHY = 2 };

struct admin_fx {
    struct fleetfx_ha ha;
    struct fleetfx_operator alice, bob, carol;   /* carol is in no config */
    struct proc extra[2];                          /* more agents */
};

static int setup(void **state)
{
    struct admin_fx *f = calloc(1, sizeof(*f));

    if (f == NULL || fleetfx_start(&f->ha.fx, true) != 0)
        return -1;
    fleetfx_operator_key(&f->ha.fx, "alice", &f->alice);
    fleetfx_operator_key(&f->ha.fx, "bob", &f->bob);
    fleetfx_operator_key(&f->ha.fx, "carol", &f->carol);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct admin_fx *f = *state;
    bool clean = true;

    for (int k = 0; k < 2; k++)
        if (f->extra[k].pid > 0)
            clean &= fleetfx_stop_proc(&f->extra[k]);
    *state = &f->ha;   /* the first member: fleetfx_ha_teardown frees f */
    fleetfx_ha_teardown(state);
    assert_true(clean);
    return 0;
}

/* alice may do everything; bob may restart story-* services only. */
static const char *config(struct admin_fx *f, const char *name, const char *services)
{
    char extra[1024];

    snprintf(extra, sizeof(extra),
             "state:\n  lease_ttl_ms: 2000\n"
             "operators:\n"
             "  - name: alice\n    key: %s\n    verbs: [\"*\"]\n    services: [\"*\"]\n"
             "  - name: bob\n    key: %s\n    verbs: [restart]\n    services: [\"story-*\"]\n",
             f->alice.public_key, f->bob.public_key);
    return fleetfx_config(&f->ha.fx, name, "  backoff_initial_ms: 200\n", extra, services);
}

/* fleetctl -s URL ARGS... signed with `who`'s key; exit code, output in *out. */
static int fleetctl(struct admin_fx *f, const struct fleetfx_operator *who, char **out, ...)
{
    char *argv[20] = { "fleetctl", "-s", f->ha.fx.natsd.url, "--timeout-ms", "5000" };
    int argc = 5;
    va_list ap;

    va_start(ap, out);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 19;)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    setenv("FLEET_OPERATOR_KEY_FILE", who->seed_path, 1);
    return fleetfx_run(argv, out);
}

/* Asserts fleetctl exits `code` and its output contains `part`. */
static void expect(struct admin_fx *f, const struct fleetfx_operator *who, int code, const char *part,
                   const char *verb, const char *target)
{
    char *out = NULL;
    int rc = fleetctl(f, who, &out, verb, target, NULL);

    if (rc != code || strstr(out, part) == NULL)
        fail_msg("fleetctl %s %s: exit %d (expected %d), output: %s (expected to contain \"%s\")", verb, target,
                 rc, code, out, part);
    free(out);
}

static void start_fleet(struct admin_fx *f, const char *cfg, bool standby)
{
    fleetfx_supervisor(&f->ha.fx, &f->ha.sup[0], cfg);
    assert_true(proc_wait_output(&f->ha.sup[0], "\"msg\":\"leading\"", WAIT_MS));
    if (standby)
        fleetfx_supervisor(&f->ha.fx, &f->ha.sup[1], cfg);
    fleetfx_agent(&f->ha.fx, &f->ha.agent, "web", "web-1", "exec sleep 1000");
    fleetfx_agent(&f->ha.fx, &f->extra[0], "web", "web-2", "exec sleep 1000");
    fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-1", fleetfx_serving, NULL);
    fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-2", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_observer(f->ha.fx.watch, OBS_NORMAL, WAIT_MS));
    assert_true(feedwatch_wait_instance(f->ha.fx.watch, "web", "web-2", IH_HEALTHY, WAIT_MS));
}

/* A command sealed here, as any client written from DESIGN.md would. */
static void seal_with(const struct fleetfx_operator *who, fleet_admin_verb verb, const char *service,
                      const char *instance, int64_t issued_ms, const char *reason, uint8_t **env, size_t *len)
{
    fleet_admin_command c;
    fleet_keypair *kp = NULL;

    memset(&c, 0, sizeof(c));
    c.verb = verb;
    snprintf(c.service, sizeof(c.service), "%s", service);
    snprintf(c.instance, sizeof(c.instance), "%s", instance);
    c.issued_unix_ms = issued_ms;
    c.expires_unix_ms = issued_ms + FLEET_ADMIN_DEFAULT_TTL_MS;
    snprintf(c.reason, sizeof(c.reason), "%s", reason);
    assert_int_equal(fleet_admin_new_nonce(&c), FLEET_OK);
    assert_int_equal(fleet_keypair_from_seed_file(who->seed_path, &kp), FLEET_OK);
    assert_int_equal(fleet_admin_seal(&c, kp, env, len), FLEET_OK);
    fleet_keypair_destroy(kp);
}

static void seal(const struct fleetfx_operator *who, fleet_admin_verb verb, const char *service,
                 const char *instance, int64_t issued_ms, uint8_t **env, size_t *len)
{
    seal_with(who, verb, service, instance, issued_ms, "", env, len);
}

/* Sends `env` on fleet.v1.admin.<verb> and returns the AdminReply's error
 * ("" when ok) in out[n]; fails the test when nobody answers. */
static void send_raw(struct admin_fx *f, const char *verb, const uint8_t *env, size_t len, char *out, size_t n)
{
    char subject[64];
    Fleet__V1__AdminReply *r;
    char *reply;
    int reply_len = 0;

    snprintf(subject, sizeof(subject), "fleet.v1.admin.%s", verb);
    reply = feedwatch_request(f->ha.fx.watch, subject, env, (int)len, &reply_len, 5000);
    assert_non_null(reply);
    r = fleet__v1__admin_reply__unpack(NULL, (size_t)reply_len, (const uint8_t *)reply);
    free(reply);
    assert_non_null(r);
    snprintf(out, n, "%s", r->ok ? "" : r->error);
    fleet__v1__admin_reply__free_unpacked(r, NULL);
}

static void allowed_restart_and_every_refusal(void **state)
{
    struct admin_fx *f = *state;
    struct feedwatch_heartbeat before;
    char op[65], why[320];
    uint8_t *env;
    size_t len;
    char *out = NULL;

    start_fleet(f, config(f, "verbs", "  - name: web\n    desired: 2\n"), false);
    before = fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-1", fleetfx_serving, NULL);

    /* Allowed: carried out, the child replaced, the event names alice. */
    assert_int_equal(fleetctl(f, &f->alice, &out, "restart", "web/web-1", "--reason", "new config", NULL), 0);
    assert_non_null(strstr(out, "RESTART of web/web-1 sent"));
    free(out);
    fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-1", fleetfx_new_life, &before);
    assert_true(feedwatch_wait_action(f->ha.fx.watch, "web", "web-1", ACT_RESTART, "RESTART by alice: new config",
                                      WAIT_MS) > 0);
    assert_true(feedwatch_action_operator(f->ha.fx.watch, "web", "web-1", ACT_RESTART, op, sizeof(op)));
    assert_string_equal(op, "alice");
    assert_true(proc_wait_output(&f->ha.sup[0], "\"msg\":\"admin command done\",\"operator\":\"alice\"", WAIT_MS));

    /* Refused, each naming its rule; nothing done. */
    expect(f, &f->bob, 1, "refused: verb_not_allowed: operator bob may not fence", "fence", "web/web-1");
    expect(f, &f->bob, 1, "refused: service_not_allowed: operator bob may not act on web", "restart", "web/web-2");
    expect(f, &f->carol, 1, "refused: unknown_operator", "restart", "web/web-2");
    expect(f, &f->alice, 1, "refused: unknown_target: no instance web/web-9 is known", "restart", "web/web-9");

    /* Tampered: one byte of the signed payload changed. */
    seal(&f->alice, FLEET_VERB_RESTART, "web", "web-2", fleet_unix_ms(), &env, &len);
    env[len / 2] ^= 0x01;
    send_raw(f, "restart", env, len, why, sizeof(why));
    free(env);
    assert_true(strncmp(why, "bad_signature", 13) == 0 || strncmp(why, "malformed", 9) == 0);
    /* Expired: issued two minutes ago with a 30 s window. */
    seal(&f->alice, FLEET_VERB_DRAIN, "web", "web-2", fleet_unix_ms() - 120000, &env, &len);
    send_raw(f, "drain", env, len, why, sizeof(why));
    free(env);
    assert_true(strncmp(why, "expired", 7) == 0);
    /* On another verb's subject. */
    seal(&f->alice, FLEET_VERB_RESTART, "web", "web-2", fleet_unix_ms(), &env, &len);
    send_raw(f, "fence", env, len, why, sizeof(why));
    assert_true(strncmp(why, "wrong_subject", 13) == 0);
    /* Replayed: the same envelope resent from the bus. The first is done
     * (web-2 restarts), the second refused. */
    send_raw(f, "restart", env, len, why, sizeof(why));
    assert_string_equal(why, "");
    send_raw(f, "restart", env, len, why, sizeof(why));
    free(env);
    assert_true(strncmp(why, "replayed", 8) == 0);
    assert_int_equal(feedwatch_count_actions(f->ha.fx.watch, "web", "web-2", ACT_RESTART), 1);
    assert_int_equal(feedwatch_count_actions(f->ha.fx.watch, "web", "web-1", ACT_RESTART), 1);
    assert_int_equal(feedwatch_count_actions(f->ha.fx.watch, "web", "web-1", ACT_FENCE), 0);
    assert_true(proc_wait_output(&f->ha.sup[0], "\"msg\":\"admin command refused\"", WAIT_MS));
}

/* A supervisor that was not listening when a command was carried out (here:
 * a new life of the only one) refuses it replayed from the bus: the nonce
 * is in JetStream, not only in the memory of the life that heard it. */
static void replay_after_a_restart_is_refused(void **state)
{
    struct admin_fx *f = *state;
    const char *cfg = config(f, "replay", "  - name: web\n    desired: 2\n");
    struct feedwatch_heartbeat before;
    char why[320];
    uint8_t *env, *fresh;
    size_t len, fresh_len;

    start_fleet(f, cfg, false);
    before = fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-2", fleetfx_serving, NULL);
    seal(&f->alice, FLEET_VERB_RESTART, "web", "web-2", fleet_unix_ms(), &env, &len);
    send_raw(f, "restart", env, len, why, sizeof(why));
    assert_string_equal(why, "");
    before = fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-2", fleetfx_new_life, &before);

    /* A new life of the supervisor: it never heard the command. */
    assert_true(fleetfx_stop_proc(&f->ha.sup[0]));
    fleetfx_supervisor(&f->ha.fx, &f->ha.sup[0], cfg);
    assert_true(proc_wait_output(&f->ha.sup[0], "\"msg\":\"leading\"", WAIT_MS));
    assert_true(feedwatch_wait_instance(f->ha.fx.watch, "web", "web-2", IH_HEALTHY, WAIT_MS));
    send_raw(f, "restart", env, len, why, sizeof(why));
    free(env);
    if (strncmp(why, "replayed", 8) != 0)
        fail_msg("the replayed command got \"%s\", not a replayed refusal", why);
    assert_non_null(strstr(why, "carried out before"));
    /* A new command is carried out as ever: its nonce is claimed too (a
     * maintenance flag: done once stored, whatever the new life has heard). */
    seal_with(&f->alice, FLEET_VERB_MAINTENANCE_ON, "web", "web-2", fleet_unix_ms(), "replay test", &fresh,
              &fresh_len);
    send_raw(f, "maintenance-on", fresh, fresh_len, why, sizeof(why));
    free(fresh);
    assert_string_equal(why, "");
}

/* Two replicas hear every command; only the leader answers: one reply. */
static void only_the_leader_answers(void **state)
{
    struct admin_fx *f = *state;
    natsConnection *nc = feedwatch_conn(f->ha.fx.watch);
    natsSubscription *sub = NULL;
    natsMsg *msg = NULL;
    char inbox[64];
    uint8_t *env;
    size_t len;
    int answers = 0;

    start_fleet(f, config(f, "standby", "  - name: web\n    desired: 2\n"), true);
    assert_true(proc_wait_output(&f->ha.sup[1], "standby", WAIT_MS));   /* as test_ha waits for one */
    snprintf(inbox, sizeof(inbox), "_INBOX.admin-test.%d", (int)getpid());
    assert_int_equal(natsConnection_SubscribeSync(&sub, nc, inbox), NATS_OK);
    seal(&f->carol, FLEET_VERB_RESTART, "web", "web-1", fleet_unix_ms(), &env, &len);
    assert_int_equal(natsConnection_PublishRequest(nc, "fleet.v1.admin.restart", inbox, env, (int)len), NATS_OK);
    free(env);
    /* Every answer that comes within 2 s is counted (a standby that
     * answered would do so as fast as the leader). */
    while (natsSubscription_NextMsg(&msg, sub, 2000) == NATS_OK) {
        answers++;
        natsMsg_Destroy(msg);
    }
    natsSubscription_Destroy(sub);
    assert_int_equal(answers, 1);
}

static void fence_and_unfence_through_fleetctl(void **state)
{
    struct admin_fx *f = *state;
    struct feedwatch_heartbeat fenced;
    char op[65];

    start_fleet(f, config(f, "fence", "  - name: web\n    desired: 2\n"), false);
    expect(f, &f->alice, 0, "FENCE of web/web-1 sent", "fence", "web/web-1");
    fenced = fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-1", fleetfx_fenced, NULL);
    assert_true(feedwatch_action_operator(f->ha.fx.watch, "web", "web-1", ACT_FENCE, op, sizeof(op)));
    assert_string_equal(op, "alice");
    expect(f, &f->alice, 1, "is already fenced", "fence", "web/web-1");
    expect(f, &f->alice, 1, "is fenced (epoch", "restart", "web/web-1");
    expect(f, &f->alice, 0, "UNFENCE of web/web-1 sent", "unfence", "web/web-1");
    fleetfx_wait_heartbeat(&f->ha.fx, "web", "web-1", fleetfx_serving, NULL);
    assert_true(feedwatch_wait_instance(f->ha.fx.watch, "web", "web-1", IH_HEALTHY, WAIT_MS));
    assert_true(feedwatch_action_operator(f->ha.fx.watch, "web", "web-1", ACT_UNFENCE, op, sizeof(op)));
    assert_string_equal(op, "alice");
    (void)fenced;
}

/* Rolling restart of a 3-instance service: each instance restarted exactly
 * once, never fewer than 2 HEALTHY on the feed, fleetctl returns when done. */
static void rolling_restart_keeps_two_of_three(void **state)
{
    struct admin_fx *f = *state;
    struct feedwatch_heartbeat lives[3];
    const char *names[3] = { "web-1", "web-2", "web-3" };
    char *out = NULL;

    start_fleet(f, config(f, "roll", "  - name: web\n    desired: 3\n"), false);
    fleetfx_agent(&f->ha.fx, &f->extra[1], "web", "web-3", "exec sleep 1000");
    for (int k = 0; k < 3; k++) {
        lives[k] = fleetfx_wait_heartbeat(&f->ha.fx, "web", names[k], fleetfx_serving, NULL);
        assert_true(feedwatch_wait_instance(f->ha.fx.watch, "web", names[k], IH_HEALTHY, WAIT_MS));
    }
    feedwatch_track_healthy(f->ha.fx.watch, "web");
    assert_int_equal(fleetctl(f, &f->alice, &out, "restart", "web", "--min-healthy-time", "1s", "--reason",
                              "roll 1.5.0", NULL), 0);
    assert_non_null(strstr(out, "rolling restart of web: 3 instances, 1 at a time"));
    assert_non_null(strstr(out, "done: 3 instances of web restarted"));
    free(out);
    for (int k = 0; k < 3; k++) {
        fleetfx_wait_heartbeat(&f->ha.fx, "web", names[k], fleetfx_new_life, &lives[k]);
        assert_int_equal(feedwatch_count_actions(f->ha.fx.watch, "web", names[k], ACT_RESTART), 1);
    }
    assert_true(feedwatch_min_healthy(f->ha.fx.watch) >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(allowed_restart_and_every_refusal, setup, teardown),
        cmocka_unit_test_setup_teardown(only_the_leader_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(replay_after_a_restart_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(fence_and_unfence_through_fleetctl, setup, teardown),
        cmocka_unit_test_setup_teardown(rolling_restart_keeps_two_of_three, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
