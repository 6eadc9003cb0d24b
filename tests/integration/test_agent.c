/* fleet-agent against a real nats-server, with real child processes:
 * heartbeats for the child, exit reported at once, signed control obeyed
 * and forged control refused, fencing, stopping, HTTP checks and local
 * restarts without a supervisor. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fleet/control.h"
#include "fleet/heartbeat.h"
#include "fleet/nkey.h"
#include "fleet/v1/fleet.pb-c.h"
#include "natsd.h"
#include "proc.h"

#define SVC "story-teller"

/* What a test needs from one heartbeat (copied out of the unpacked one). */
struct got_hb {
    uint64_t incarnation, seq, fence_epoch;
    int state;
    uint32_t pid;
    bool has_exit;
    int32_t exit_code, exit_signal;
    bool has_check, check_ok;
    char check_name[65], check_detail[256];
    int64_t received_ms;
};

struct ack {
    bool accepted;
    char error[128];
    uint64_t seq;
};

struct fixture {
    struct natsd_client nats;
    fleet_keypair *kp;
    char pub[FLEET_NKEY_PUBLIC_LEN + 1];
    uint64_t seq;               /* control seq, rising across tests (term 1) */
};

static struct fixture fx;

/* Per test: the agent, its heartbeats. */
struct agent_run {
    struct proc p;
    natsSubscription *hb_sub;
    char instance[32];
    struct got_hb last;
};

static int group_setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    if (natsd_client_start(&fx.nats, false) != 0)
        return -1;
    if (fleet_keypair_generate(&fx.kp) != FLEET_OK ||
        fleet_keypair_public(fx.kp, fx.pub, sizeof(fx.pub)) != FLEET_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fleet_keypair_destroy(fx.kp);
    natsd_client_stop(&fx.nats);
    return 0;
}

/* Subscribes to the instance's heartbeats, then starts the agent with the
 * common options, `extra` options (NULL-terminated, may be NULL) and
 * `child` (NULL-terminated). */
static void agent_start(struct agent_run *r, const char *instance, const char *const *extra,
                        const char *const *child)
{
    char subject[128];
    char *argv[64];
    int n = 0;

    memset(r, 0, sizeof(*r));
    snprintf(r->instance, sizeof(r->instance), "%s", instance);
    snprintf(subject, sizeof(subject), "fleet.v1.hb." SVC ".%s", instance);
    assert_int_equal(natsConnection_SubscribeSync(&r->hb_sub, fx.nats.nc, subject), NATS_OK);
    assert_int_equal(natsConnection_Flush(fx.nats.nc), NATS_OK);

    argv[n++] = "fleet-agent";
    argv[n++] = "-s";
    argv[n++] = fx.nats.d.url;
    argv[n++] = "--service";
    argv[n++] = SVC;
    argv[n++] = "--instance";
    argv[n++] = r->instance;
    argv[n++] = "--trust";
    argv[n++] = fx.pub;
    argv[n++] = "--interval-ms";
    argv[n++] = "100";
    argv[n++] = "--grace-ms";
    argv[n++] = "2000";
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[n++] = (char *)extra[i];
    argv[n++] = "--";
    for (size_t i = 0; child[i] != NULL; i++)
        argv[n++] = (char *)child[i];
    argv[n] = NULL;
    assert_int_equal(proc_start(&r->p, argv, NULL), 0);
}

static void agent_finish(struct agent_run *r)
{
    bool clean = proc_output_clean(&r->p);

    if (r->p.pid > 0) {
        proc_signal(&r->p, SIGTERM);
        (void)proc_wait(&r->p, 5000);
    }
    if (!clean || getenv("FLEET_TEST_VERBOSE") != NULL) {
        char *out = proc_output(&r->p);

        fprintf(stderr, "--- agent output ---\n%s\n", out);
        free(out);
    }
    proc_kill(&r->p);
    natsSubscription_Destroy(r->hb_sub);
    assert_true(clean);
}

/* Next heartbeat within `timeout_ms`; true when one arrived. */
static bool next_hb(struct agent_run *r, int timeout_ms, struct got_hb *out)
{
    natsMsg *msg = NULL;
    Fleet__V1__Heartbeat *hb;

    if (natsSubscription_NextMsg(&msg, r->hb_sub, timeout_ms) != NATS_OK)
        return false;
    hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                      (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    assert_non_null(hb);
    memset(out, 0, sizeof(*out));
    out->received_ms = proc_now_ms();
    out->incarnation = hb->incarnation;
    out->seq = hb->seq;
    out->fence_epoch = hb->fence_epoch;
    out->state = (int)hb->state;
    out->pid = hb->pid;
    out->has_exit = hb->exit != NULL;
    if (hb->exit != NULL) {
        out->exit_code = hb->exit->code;
        out->exit_signal = hb->exit->signal;
    }
    if (hb->n_checks > 0) {
        out->has_check = true;
        out->check_ok = hb->checks[0]->ok;
        snprintf(out->check_name, sizeof(out->check_name), "%s", hb->checks[0]->name);
        snprintf(out->check_detail, sizeof(out->check_detail), "%s", hb->checks[0]->detail);
    }
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
    r->last = *out;
    return true;
}

typedef bool (*hb_pred)(const struct got_hb *hb, const void *arg);

/* Waits up to `timeout_ms` for a heartbeat satisfying `pred`. */
static bool wait_hb(struct agent_run *r, hb_pred pred, const void *arg, int timeout_ms, struct got_hb *out)
{
    int64_t deadline = proc_now_ms() + timeout_ms;
    struct got_hb hb = { 0 };

    while (proc_now_ms() < deadline) {
        if (!next_hb(r, (int)(deadline - proc_now_ms()) + 1, &hb))
            return false;
        if (pred(&hb, arg)) {
            if (out != NULL)
                *out = hb;
            return true;
        }
    }
    return false;
}

static bool state_is(const struct got_hb *hb, const void *arg)
{
    return hb->state == *(const int *)arg;
}

static bool serving_not_incarnation(const struct got_hb *hb, const void *arg)
{
    return hb->state == FLEET_STATE_SERVING && hb->incarnation != *(const uint64_t *)arg;
}

static bool new_incarnation(const struct got_hb *hb, const void *arg)
{
    return hb->incarnation != *(const uint64_t *)arg && !hb->has_exit;
}

static bool exited(const struct got_hb *hb, const void *arg)
{
    (void)arg;
    return hb->state == FLEET_STATE_EXITED && hb->has_exit;
}

static bool check_detail_has(const struct got_hb *hb, const void *arg)
{
    return hb->has_check && strstr(hb->check_detail, arg) != NULL;
}

static void wait_state(struct agent_run *r, int state, int timeout_ms, struct got_hb *out)
{
    if (!wait_hb(r, state_is, &state, timeout_ms, out))
        fail_msg("no heartbeat with state %d within %d ms (last state %d)", state, timeout_ms, r->last.state);
}

/* A Control for the instance, in its `incarnation`. */
static fleet_control control_for(const char *instance, uint64_t incarnation, fleet_action action, uint64_t epoch)
{
    fleet_control c;
    int64_t now = 0;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    memset(&c, 0, sizeof(c));
    snprintf(c.service, sizeof(c.service), "%s", SVC);
    snprintf(c.instance, sizeof(c.instance), "%s", instance);
    c.incarnation = incarnation;
    c.action = action;
    c.fence_epoch = epoch;
    c.term = 1;
    c.seq = ++fx.seq;
    c.issued_unix_ms = now;
    c.expires_unix_ms = now + 30000;
    snprintf(c.reason, sizeof(c.reason), "test");
    assert_int_equal(fleet_control_new_nonce(&c), FLEET_OK);
    return c;
}

static void seal(const fleet_control *c, const fleet_keypair *kp, uint8_t **env, size_t *len)
{
    if (fleet_control_seal(c, kp, env, len) != FLEET_OK)
        fail_msg("seal: %s", fleet_last_error());
}

/* Sends an envelope as a request to the instance's control subject and
 * decodes the ControlAck. */
static struct ack request(const char *instance, const uint8_t *env, size_t len)
{
    char subject[128];
    natsMsg *reply = NULL;
    Fleet__V1__ControlAck *a;
    struct ack out = { 0 };
    natsStatus ns;

    snprintf(subject, sizeof(subject), "fleet.v1.ctl." SVC ".%s", instance);
    ns = natsConnection_Request(&reply, fx.nats.nc, subject, env, (int)len, 3000);
    if (ns != NATS_OK)
        fail_msg("request %s: %s", subject, natsStatus_GetText(ns));
    a = fleet__v1__control_ack__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                       (const uint8_t *)natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    assert_non_null(a);
    out.accepted = a->accepted;
    out.seq = a->seq;
    snprintf(out.error, sizeof(out.error), "%s", a->error);
    assert_string_equal(a->service, SVC);
    assert_string_equal(a->instance, instance);
    fleet__v1__control_ack__free_unpacked(a, NULL);
    return out;
}

/* Seals with the trusted key and sends. */
static struct ack command(struct agent_run *r, uint64_t incarnation, fleet_action action, uint64_t epoch)
{
    fleet_control c = control_for(r->instance, incarnation, action, epoch);
    uint8_t *env = NULL;
    size_t len = 0;
    struct ack a;

    seal(&c, fx.kp, &env, &len);
    a = request(r->instance, env, len);
    free(env);
    return a;
}

static bool pid_alive(uint32_t pid)
{
    return pid != 0 && kill((pid_t)pid, 0) == 0;
}

/* The parent pid of `pid`, from /proc; 0 when unknown. */
static pid_t parent_of(uint32_t pid)
{
    char path[64], buf[512];
    FILE *f;
    char *close_paren;
    int ppid = 0;

    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) != NULL && (close_paren = strrchr(buf, ')')) != NULL)
        (void)sscanf(close_paren + 2, "%*c %d", &ppid);
    fclose(f);
    return (pid_t)ppid;
}

/* Open descriptors of `pid`, from /proc; -1 when unknown. */
static int fd_count(uint32_t pid)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%u/fd", pid);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* True once `pid` is gone or a zombie waiting for its reaper: either way it
 * runs no more. Polls for up to timeout_ms. */
static bool pid_gone_within(pid_t pid, int timeout_ms)
{
    for (int waited = 0;; waited += 20) {
        char path[64], buf[512], *close_paren, st = '?';
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "r");
        if (f == NULL)
            return true;
        if (fgets(buf, sizeof(buf), f) != NULL && (close_paren = strrchr(buf, ')')) != NULL)
            (void)sscanf(close_paren + 2, "%c", &st);
        fclose(f);
        if (st == 'Z' || st == 'X')
            return true;
        if (waited >= timeout_ms)
            return false;
        usleep(20000);
    }
}

/* Waits for the pid a grandchild wrote into `path` (after removing it). */
static pid_t grandchild_pid(const char *path, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        FILE *f = fopen(path, "r");
        int pid = 0;

        if (f != NULL) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
            if (pid > 0) {
                (void)unlink(path);
                return (pid_t)pid;
            }
        }
        usleep(20000);
    }
    return 0;
}

static const char *const sleeper[] = { "/bin/sh", "-c", "sleep 1000", NULL };

/* (a) heartbeats carry the child's pid, STARTING then SERVING. */
/* Whether process `pid` maps a file whose path holds `needle`. */
static bool maps_has(pid_t pid, const char *needle)
{
    char path[64], line[512];
    bool found = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_heartbeats_for_child(void **state)
{
    struct agent_run r;
    struct got_hb first = { 0 }, serving = { 0 };

    (void)state;
    agent_start(&r, "a-1", NULL, sleeper);
    assert_true(next_hb(&r, 5000, &first));
    assert_int_equal(first.state, FLEET_STATE_STARTING);
    wait_state(&r, FLEET_STATE_SERVING, 3000, &serving);
    assert_int_equal(serving.incarnation, first.incarnation);
    assert_int_equal(serving.pid, first.pid);
    assert_int_not_equal(serving.pid, (uint32_t)r.p.pid);
    assert_true(pid_alive(serving.pid));
    assert_int_equal(parent_of(serving.pid), r.p.pid);
    /* Nothing of the agent's (NATS socket, signalfd, eventfd) leaked: a
     * leak stays, so wait (briefly) for the count to settle at 0, 1, 2
     * rather than sample it once while the new process may still be
     * starting up under load. */
    for (int64_t deadline = proc_now_ms() + 2000; fd_count(serving.pid) != 3 && proc_now_ms() < deadline;)
        usleep(20000);
    assert_int_equal(fd_count(serving.pid), 3);
    /* No HTTP check, no libcurl (nor its TLS, Kerberos, LDAP...) in memory. */
    assert_false(maps_has(r.p.pid, "libcurl"));
    agent_finish(&r);
}

/* (b) a killed child is reported at once. */
static void test_exit_reported_at_once(void **state)
{
    struct agent_run r;
    struct got_hb serving = { 0 }, dead = { 0 };
    int64_t killed;

    (void)state;
    agent_start(&r, "b-1", (const char *const[]){ "--interval-ms", "1000", NULL }, sleeper);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);
    killed = proc_now_ms();
    assert_int_equal(kill((pid_t)serving.pid, SIGKILL), 0);
    assert_true(wait_hb(&r, exited, NULL, 2000, &dead));
    fprintf(stderr, "exit -> EXITED heartbeat: %lld ms\n", (long long)(dead.received_ms - killed));
    assert_in_range(dead.received_ms - killed, 0, 500);
    assert_int_equal(dead.exit_signal, SIGKILL);
    assert_int_equal(dead.exit_code, 0);
    assert_int_equal(dead.incarnation, serving.incarnation);
    /* No supervisor heard since start-up: the first death restarts at
     * once, not after the 30 s default timeout. */
    assert_true(wait_hb(&r, new_incarnation, &dead.incarnation, 1500, &serving));
    agent_finish(&r);
}

/* (c) a signed RESTART: a new child, a new incarnation. */
static void test_signed_restart(void **state)
{
    struct agent_run r;
    struct got_hb serving = { 0 }, again = { 0 };
    struct ack a;

    (void)state;
    agent_start(&r, "c-1", NULL, sleeper);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);
    a = command(&r, serving.incarnation, FLEET_ACTION_RESTART, 0);
    assert_true(a.accepted);
    assert_string_equal(a.error, "");
    assert_int_equal(a.seq, fx.seq);
    assert_true(wait_hb(&r, serving_not_incarnation, &serving.incarnation, 5000, &again));
    assert_int_not_equal(again.pid, serving.pid);
    assert_true(pid_alive(again.pid));
    assert_false(again.has_exit);
    /* The old child is gone (reaped, not a zombie). */
    assert_false(pid_alive(serving.pid));
    agent_finish(&r);
}

/* (d) forged, tampered and replayed control is refused, the child untouched. */
static void test_refusals(void **state)
{
    struct agent_run r;
    struct got_hb serving = { 0 }, later = { 0 };
    fleet_keypair *stranger = NULL;
    fleet_control c;
    uint8_t *env = NULL;
    size_t len = 0;
    struct ack a;

    (void)state;
    agent_start(&r, "d-1", NULL, sleeper);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);

    assert_int_equal(fleet_keypair_generate(&stranger), FLEET_OK);
    c = control_for(r.instance, serving.incarnation, FLEET_ACTION_RESTART, 0);
    seal(&c, stranger, &env, &len);
    a = request(r.instance, env, len);
    assert_false(a.accepted);
    assert_string_equal(a.error, "untrusted_signer");
    free(env);
    fleet_keypair_destroy(stranger);

    /* Flip a byte of the payload: the Envelope's field 1 starts at byte 0
     * (tag) then a length; its last byte sits well inside the payload. */
    c = control_for(r.instance, serving.incarnation, FLEET_ACTION_RESTART, 0);
    seal(&c, fx.kp, &env, &len);
    env[4] ^= 0x01;
    a = request(r.instance, env, len);
    assert_false(a.accepted);
    assert_true(strcmp(a.error, "bad_signature") == 0 || strcmp(a.error, "malformed") == 0);
    free(env);

    /* A genuine RESUME (harmless while serving), then the same bytes again. */
    c = control_for(r.instance, serving.incarnation, FLEET_ACTION_RESUME, 0);
    seal(&c, fx.kp, &env, &len);
    a = request(r.instance, env, len);
    assert_true(a.accepted);
    a = request(r.instance, env, len);
    assert_false(a.accepted);
    assert_non_null(strstr(a.error, "replayed"));
    free(env);

    /* A RESTART for another life of the instance. */
    c = control_for(r.instance, serving.incarnation + 1, FLEET_ACTION_RESTART, 0);
    seal(&c, fx.kp, &env, &len);
    a = request(r.instance, env, len);
    assert_false(a.accepted);
    assert_string_equal(a.error, "wrong_incarnation");
    free(env);

    assert_true(next_hb(&r, 2000, &later));
    assert_int_equal(later.pid, serving.pid);
    assert_int_equal(later.incarnation, serving.incarnation);
    assert_int_equal(later.state, FLEET_STATE_SERVING);
    assert_true(pid_alive(serving.pid));
    agent_finish(&r);
}

/* (e) FENCE stops the child and keeps it down; UNFENCE (higher epoch)
 * starts it again; a stale epoch and a RESTART while fenced are refused. */
static void test_fence_unfence(void **state)
{
    struct agent_run r;
    struct got_hb serving = { 0 }, fenced = { 0 }, back = { 0 };
    struct ack a;

    (void)state;
    agent_start(&r, "e-1", NULL, sleeper);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);
    a = command(&r, serving.incarnation, FLEET_ACTION_FENCE, 5);
    assert_true(a.accepted);
    wait_state(&r, FLEET_STATE_FENCED, 2000, &fenced);
    assert_int_equal(fenced.fence_epoch, 5);
    /* Stopped (and reaped) well within the grace period. */
    for (int i = 0; i < 100 && pid_alive(serving.pid); i++)
        usleep(20000);
    assert_false(pid_alive(serving.pid));
    /* Still FENCED a while later: the fenced child's exit is not EXITED. */
    for (int i = 0; i < 5; i++) {
        assert_true(next_hb(&r, 1000, &fenced));
        assert_int_equal(fenced.state, FLEET_STATE_FENCED);
        assert_int_equal(fenced.fence_epoch, 5);
    }
    a = command(&r, fenced.incarnation, FLEET_ACTION_RESTART, 0);
    assert_false(a.accepted);
    a = command(&r, fenced.incarnation, FLEET_ACTION_UNFENCE, 4);
    assert_false(a.accepted);
    assert_string_equal(a.error, "stale_fence_epoch");

    a = command(&r, fenced.incarnation, FLEET_ACTION_UNFENCE, 6);
    assert_true(a.accepted);
    assert_true(wait_hb(&r, serving_not_incarnation, &serving.incarnation, 5000, &back));
    assert_int_equal(back.fence_epoch, 6);
    assert_true(pid_alive(back.pid));
    assert_int_not_equal(back.pid, serving.pid);
    agent_finish(&r);
}

/* (f) SIGTERM to the agent: the child gets SIGTERM, the agent exits with
 * the child's status. */
static void test_sigterm_forwarded(void **state)
{
    static const char *const trapper[] = {
        "/bin/sh", "-c", "trap 'exit 7' TERM; echo trap-ready; while :; do sleep 0.05; done", NULL,
    };
    struct agent_run r;
    struct got_hb serving = { 0 }, last = { 0 };
    int st;

    (void)state;
    agent_start(&r, "f-1", NULL, trapper);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);
    assert_true(proc_wait_output(&r.p, "trap-ready", 5000));
    assert_int_equal(proc_signal(&r.p, SIGTERM), 0);
    st = proc_wait(&r.p, 5000);
    assert_true(st >= 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 7);
    assert_false(pid_alive(serving.pid));
    /* Its last words: STOPPING, then EXITED with the code. */
    assert_true(wait_hb(&r, exited, NULL, 1000, &last));
    assert_int_equal(last.exit_code, 7);

    /* A child killed by the signal: 128 + 15. */
    agent_finish(&r);
    agent_start(&r, "f-2", NULL, sleeper);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);
    assert_int_equal(proc_signal(&r.p, SIGTERM), 0);
    st = proc_wait(&r.p, 5000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 128 + SIGTERM);
    agent_finish(&r);
}

/* (f2) The agent owns its whole tree: a grandchild that setsid()s out of
 * the child's process group is gone after a RESTART, a FENCE and the
 * agent's own SIGTERM. */
static void test_tree_swept(void **state)
{
    char pidfile[64], script[512];
    const char *child[4];
    struct agent_run r;
    struct got_hb serving = { 0 }, again = { 0 }, fenced = { 0 };
    pid_t g;
    int st;

    (void)state;
    snprintf(pidfile, sizeof(pidfile), "/tmp/fleet-test-grandchild-%d", (int)getpid());
    (void)unlink(pidfile);
    snprintf(script, sizeof(script),
             "setsid /bin/sh -c 'echo $$ > %s.tmp && mv %s.tmp %s; exec sleep 1000' & exec sleep 1000",
             pidfile, pidfile, pidfile);
    child[0] = "/bin/sh";
    child[1] = "-c";
    child[2] = script;
    child[3] = NULL;
    agent_start(&r, "f-3", NULL, child);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);

    g = grandchild_pid(pidfile, 5000);
    assert_true(g > 0);
    assert_false(pid_gone_within(g, 0));
    assert_true(command(&r, serving.incarnation, FLEET_ACTION_RESTART, 0).accepted);
    assert_true(wait_hb(&r, serving_not_incarnation, &serving.incarnation, 5000, &again));
    assert_true(pid_gone_within(g, 3000));

    g = grandchild_pid(pidfile, 5000);
    assert_true(g > 0);
    assert_true(command(&r, again.incarnation, FLEET_ACTION_FENCE, 3).accepted);
    wait_state(&r, FLEET_STATE_FENCED, 3000, &fenced);
    assert_true(pid_gone_within(g, 3000));
    assert_true(pid_alive(r.p.pid));

    assert_true(command(&r, fenced.incarnation, FLEET_ACTION_UNFENCE, 4).accepted);
    g = grandchild_pid(pidfile, 5000);
    assert_true(g > 0);
    assert_int_equal(proc_signal(&r.p, SIGTERM), 0);
    st = proc_wait(&r.p, 5000);
    assert_true(st >= 0);
    assert_true(pid_gone_within(g, 1000));
    agent_finish(&r);
}

/* A tiny HTTP server answering every request with `code`. */
struct http_srv {
    int fd, port;
    pthread_t thread;
    volatile int code;          /* read by the server thread; a test flips it */
    pthread_mutex_t lock;
};

static void *http_srv_main(void *arg)
{
    struct http_srv *s = arg;

    for (;;) {
        char buf[1024], resp[128];
        int c = accept(s->fd, NULL, NULL);
        int code;

        if (c < 0)
            return NULL;        /* closed by the test */
        (void)read(c, buf, sizeof(buf));
        pthread_mutex_lock(&s->lock);
        code = s->code;
        pthread_mutex_unlock(&s->lock);
        snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code);
        (void)write(c, resp, strlen(resp));
        close(c);
    }
}

static void http_srv_set(struct http_srv *s, int code)
{
    pthread_mutex_lock(&s->lock);
    s->code = code;
    pthread_mutex_unlock(&s->lock);
}

/* (g) an HTTP check: failures make the heartbeat DEGRADED with the detail. */
static void test_http_check(void **state)
{
    struct http_srv srv = { .code = 200 };
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sa);
    struct agent_run r;
    struct got_hb got = { 0 };
    char url[64];

    (void)state;
    pthread_mutex_init(&srv.lock, NULL);
    srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(srv.fd, 16), 0);
    assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&sa, &sl), 0);
    srv.port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&srv.thread, NULL, http_srv_main, &srv), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", srv.port);

    agent_start(&r, "g-1", (const char *const[]){ "--http-check", url, "--check-period-ms", "100", NULL }, sleeper);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &got);
    assert_true(got.has_check);
    assert_string_equal(got.check_name, "http");
    assert_true(got.check_ok);
    assert_true(maps_has(r.p.pid, "libcurl")); /* loaded for the check */

    http_srv_set(&srv, 503);
    wait_state(&r, FLEET_STATE_DEGRADED, 3000, &got);
    assert_false(got.check_ok);
    if (!wait_hb(&r, check_detail_has, ": 503", 2000, &got))
        fail_msg("no detail with 503; last \"%s\"", r.last.check_detail);
    assert_non_null(strstr(got.check_detail, url));

    http_srv_set(&srv, 200);
    wait_state(&r, FLEET_STATE_SERVING, 3000, &got);
    assert_true(got.check_ok);
    agent_finish(&r);

    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(srv.thread, NULL);
    pthread_mutex_destroy(&srv.lock);
}

/* (h) nobody publishes fleet.v1.status: a dead child is restarted locally
 * with a new incarnation, the first death at once (like runsv and s6, no
 * supervisor timeout to wait out after start-up), the next one after a
 * short life only after the backoff's 1 s (-20 %). */
static void test_local_restart_without_supervisor(void **state)
{
    static const char *const short_lived[] = { "/bin/sh", "-c", "sleep 0.3; exit 3", NULL };
    struct agent_run r;
    struct got_hb first = { 0 }, dead = { 0 }, again = { 0 }, dead2 = { 0 }, third = { 0 };

    (void)state;
    agent_start(&r, "h-1", (const char *const[]){ "--supervisor-timeout-ms", "30000", NULL }, short_lived);
    assert_true(next_hb(&r, 5000, &first));
    assert_true(wait_hb(&r, exited, NULL, 3000, &dead));
    assert_int_equal(dead.exit_code, 3);
    assert_int_equal(dead.incarnation, first.incarnation);
    /* At once: well inside the old 1 s +- 20 % and the 30 s timeout. */
    assert_true(wait_hb(&r, new_incarnation, &first.incarnation, 2000, &again));
    assert_true(again.received_ms - dead.received_ms < 700);
    assert_int_not_equal(again.pid, dead.pid);
    /* Its second short life: backed off. */
    assert_true(wait_hb(&r, exited, NULL, 3000, &dead2));
    assert_int_equal(dead2.incarnation, again.incarnation);
    assert_true(wait_hb(&r, new_incarnation, &again.incarnation, 4000, &third));
    assert_in_range(third.received_ms - dead2.received_ms, 700, 3000);
    agent_finish(&r);
}

/* (h3) a command that can no longer be executed (its file is gone since
 * the agent checked it at start): each restart attempt is an exit with
 * code 127 (a shell's), the exec's error is logged, and the attempts are
 * spaced by the backoff, never a busy loop. */
static bool exited_127(const struct got_hb *hb, const void *arg)
{
    (void)arg;
    return hb->state == FLEET_STATE_EXITED && hb->exit_code == 127;
}

static void test_exec_failure_reported(void **state)
{
    char dir[] = "/tmp/fleet-agent-gone-XXXXXX", prog[64], *cp[4];
    const char *child[3];
    struct agent_run r;
    struct got_hb serving = { 0 }, failed = { 0 };
    uint64_t incarnations = 0, last = 0;
    int64_t until;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(prog, sizeof(prog), "%s/sleep", dir);
    cp[0] = "/bin/cp";
    cp[1] = "/bin/sleep";
    cp[2] = prog;
    cp[3] = NULL;
    assert_int_equal(proc_run(cp, 5000, NULL, NULL), 0);
    child[0] = prog;
    child[1] = "1000";
    child[2] = NULL;
    agent_start(&r, "h-3", NULL, child);
    wait_state(&r, FLEET_STATE_SERVING, 5000, &serving);
    assert_int_equal(unlink(prog), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(kill((pid_t)serving.pid, SIGKILL), 0);
    assert_true(wait_hb(&r, exited_127, NULL, 3000, &failed));
    assert_true(proc_wait_output(&r.p, "No such file or directory", 2000));
    /* At once, then 1 s, then 2 s (each +-20 %): at most three failed
     * attempts in 2.5 s of watching, however fast exec fails. */
    last = failed.incarnation;
    incarnations = 1;
    until = proc_now_ms() + 2500;
    while (proc_now_ms() < until) {
        struct got_hb hb = { 0 };

        if (!next_hb(&r, 200, &hb))
            continue;
        assert_int_equal(hb.state, FLEET_STATE_EXITED);
        if (hb.incarnation != last) {
            incarnations++;
            last = hb.incarnation;
        }
    }
    assert_true(incarnations <= 3);
    agent_finish(&r);
}

static void *status_publisher(void *arg)
{
    atomic_bool *stop = arg;

    while (!atomic_load(stop)) {
        (void)natsConnection_Publish(fx.nats.nc, "fleet.v1.status", "x", 1);
        usleep(100000);
    }
    return NULL;
}

/* With a supervisor present, a dead child waits for its RESTART. */
static void test_supervisor_present_keeps_down(void **state)
{
    /* Lives long enough for the agent to hear the publisher first: a death
     * before any FleetStatus is heard is restarted locally at once. */
    static const char *const short_lived[] = { "/bin/sh", "-c", "sleep 1; exit 4", NULL };
    atomic_bool stop = false;
    struct agent_run r;
    struct got_hb dead = { 0 }, later = { 0 };
    pthread_t pub;
    int64_t until;

    (void)state;
    assert_int_equal(pthread_create(&pub, NULL, status_publisher, (void *)&stop), 0);
    agent_start(&r, "h-2", (const char *const[]){ "--supervisor-timeout-ms", "500", NULL }, short_lived);
    assert_true(wait_hb(&r, exited, NULL, 3000, &dead));
    until = proc_now_ms() + 2500;
    while (proc_now_ms() < until) {
        assert_true(next_hb(&r, 1000, &later));
        assert_int_equal(later.incarnation, dead.incarnation);
        assert_int_equal(later.state, FLEET_STATE_EXITED);
    }
    atomic_store(&stop, true);
    pthread_join(pub, NULL);
    agent_finish(&r);
}

/* Bad usage exits 2; so does a missing trusted key. */
static void test_usage_errors(void **state)
{
    char *no_trust[] = { "fleet-agent", "--service", SVC, "--instance", "u-1", "--", "/bin/true", NULL };
    char *bad_flag[] = { "fleet-agent", "--bogus", NULL };
    char *bad_creds[] = { "fleet-agent", "--creds", "/nonexistent/user.creds", "--service", SVC, "--instance", "u-1",
                          "--trust", fx.pub, "--", "/bin/true", NULL };
    struct proc p;
    int st;

    (void)state;
    assert_int_equal(proc_start(&p, no_trust, (char *const[]){ "FLEET_TRUSTED_KEYS=", NULL }), 0);
    st = proc_wait(&p, 5000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_true(proc_wait_output(&p, "no trusted key", 100));
    proc_kill(&p);

    assert_int_equal(proc_start(&p, bad_flag, NULL), 0);
    st = proc_wait(&p, 5000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    proc_kill(&p);

    /* Credentials like every fleet program: a file it cannot read is a usage error naming it. */
    assert_int_equal(proc_start(&p, bad_creds, NULL), 0);
    st = proc_wait(&p, 5000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_true(proc_wait_output(&p, "/nonexistent/user.creds", 100));
    proc_kill(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_heartbeats_for_child),
        cmocka_unit_test(test_exit_reported_at_once),
        cmocka_unit_test(test_signed_restart),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_fence_unfence),
        cmocka_unit_test(test_sigterm_forwarded),
        cmocka_unit_test(test_tree_swept),
        cmocka_unit_test(test_http_check),
        cmocka_unit_test(test_local_restart_without_supervisor),
        cmocka_unit_test(test_exec_failure_reported),
        cmocka_unit_test(test_supervisor_present_keeps_down),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
