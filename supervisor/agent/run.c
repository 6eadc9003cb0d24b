/* The agent's state machine: one child, its life and what the heartbeats
 * say about it. Main thread only.
 *
 * Reported state while a child runs: STARTING until every configured check
 * has passed once (at once without checks), then SERVING, DEGRADED while a
 * check fails, DRAINING after DRAIN until RESUME. FENCED from FENCE until
 * UNFENCE (the child is stopped and kept down; its exit is expected and not
 * reported as EXITED). STOPPING while the agent stops the child on purpose.
 * An unplanned exit is reported at once as EXITED with its code or signal.
 *
 * A dead child stays down while a supervisor is present (a FleetStatus seen
 * within --supervisor-timeout-ms): the supervisor decides, with a signed
 * RESTART. Without one (none heard since the agent started, or none for the
 * timeout) the agent restarts it itself: a first death at once, then spaced
 * by struct backoff. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "agent.h"

static const char *action_name(fleet_action act)
{
    switch (act) {
    case FLEET_ACTION_RESTART: return "restart";
    case FLEET_ACTION_FENCE: return "fence";
    case FLEET_ACTION_UNFENCE: return "unfence";
    case FLEET_ACTION_DRAIN: return "drain";
    case FLEET_ACTION_RESUME: return "resume";
    default: return "unspecified";
    }
}

void agent_init(struct agent *a, const struct agent_opts *opts, struct mailbox *mb, struct presence *presence)
{
    memset(a, 0, sizeof(*a));
    a->opts = opts;
    a->mb = mb;
    a->presence = presence;
    a->phase = PHASE_DOWN;
    exec_check_init(&a->exec, opts->exec_check, opts->check_period_ms);
}

/* The state a running child's heartbeats should carry. */
static fleet_serving_state running_state(const struct agent *a)
{
    bool http = a->opts->http_check != NULL, exec = a->opts->exec_check != NULL;

    if (a->draining)
        return FLEET_STATE_DRAINING;
    if ((http && !a->http_passed) || (exec && !a->exec_passed))
        return FLEET_STATE_STARTING;
    if ((http && !a->http_ok) || (exec && !a->exec_ok))
        return FLEET_STATE_DEGRADED;
    return FLEET_STATE_SERVING;
}

/* Re-asserts the state of a running child (a no-op send-wise when it is
 * already what the heartbeats say). */
static void sync_state(struct agent *a)
{
    if (a->hb != NULL && a->phase == PHASE_RUNNING && !a->fenced && !a->shutting_down)
        (void)fleet_hb_set_state(a->hb, running_state(a));
}

/* Forgets the previous life's check results and schedules the checks. */
static void reset_checks(struct agent *a, int64_t now_ms)
{
    a->http_ok = a->exec_ok = a->http_passed = a->exec_passed = false;
    http_check_set_gen(a->http, a->gen);
    if (a->exec.cmd != NULL)
        a->exec.next_due_ms = now_ms + a->exec.period_ms;
}

/* Starts a child; on an exec failure reports it as an exit with code 127,
 * at once, like any other death. */
static void start_child(struct agent *a, int64_t now_ms)
{
    int e = child_spawn(a->opts->path, a->opts->argv, -1, -1, -1, &a->pid);

    a->restart_at_ms = 0;
    a->draining = false;
    a->gen++;
    a->started_ms = now_ms;
    if (e != 0) {
        agent_log(AGENT_ERROR, "cannot start the command",
                  json_pack("{s:s, s:s}", "path", a->opts->path, "error", strerror(e)));
        a->pid = 0;
        a->phase = PHASE_DOWN;
        a->has_status = true;
        a->last_status = 127 << 8;      /* what a shell reports for this */
        if (a->hb != NULL) {
            (void)fleet_hb_new_incarnation(a->hb);
            (void)fleet_hb_set_exit(a->hb, 127, 0, fleet_unix_ms());
        }
        a->restart_at_ms = now_ms + backoff_next_ms(&a->backoff, 0);
        return;
    }
    a->phase = PHASE_RUNNING;
    agent_log(AGENT_INFO, "child started", json_pack("{s:i, s:I}", "pid", (int)a->pid, "life", (json_int_t)a->gen));
    if (a->hb == NULL)
        return;                          /* the first life: agent_attach reports it */
    if (fleet_hb_new_incarnation(a->hb) != FLEET_OK)
        agent_log(AGENT_WARN, "no new incarnation: keeping the old one",
                  json_pack("{s:s}", "error", fleet_last_error()));
    fleet_hb_set_pid(a->hb, (uint32_t)a->pid);
    reset_checks(a, now_ms);
    (void)fleet_hb_send(a->hb);          /* the new life, STARTING, at once */
    sync_state(a);
}

int agent_first_start(struct agent *a, int64_t now_ms)
{
    start_child(a, now_ms);
    return a->phase == PHASE_RUNNING ? 0 : ENOEXEC;
}

void agent_attach(struct agent *a, fleet_hb *hb, struct http_check *http, int64_t now_ms)
{
    a->hb = hb;
    a->http = http;
    if (a->phase == PHASE_DOWN) {       /* the first exec failed */
        (void)fleet_hb_set_exit(hb, child_exit_code(a->last_status), 0, fleet_unix_ms());
        return;
    }
    reset_checks(a, now_ms);
    (void)fleet_hb_send(hb);             /* STARTING first, whatever the cadence thread does */
    sync_state(a);
}

/* A stopped child is a hung service: the agent stops vouching for it, so
 * the supervisor's detector sees the silence and decides, exactly as for a
 * hung process that heartbeats itself. Continued, it vouches again. */
static void set_stopped(struct agent *a, bool stopped, int sig)
{
    if (a->stopped == stopped)
        return;
    a->stopped = stopped;
    if (a->hb != NULL)
        (void)fleet_hb_set_paused(a->hb, stopped);
    agent_log(stopped ? AGENT_WARN : AGENT_INFO,
              stopped ? "child stopped: heartbeats paused until it continues" : "child continued: heartbeats resumed",
              json_pack("{s:i, s:i}", "pid", (int)a->pid, "signal", sig));
}

/* Signals the child's group and everything else it left under us (a
 * grandchild that setsid()s is in no group of ours), sparing the exec check. */
static void signal_service(struct agent *a, int sig)
{
    pid_t keep[1] = { a->exec.pid };
    size_t n = 0;

    if (a->pid > 0)
        (void)child_signal_group(a->pid, sig);
    if (child_signal_tree(sig, keep, 1, &n) == 0 && n > 0 && sig == SIGKILL)
        agent_log(AGENT_INFO, "swept what the service left behind",
                  json_pack("{s:I, s:i}", "processes", (json_int_t)n, "signal", sig));
}

/* Signals a running child's group and gives it the grace period; from then
 * on its exit leads to `after`. Already stopping: the latest intent wins,
 * except that nothing overrides the agent's own shutdown. No child: acts on
 * `after` at once. */
static void stop_child(struct agent *a, int sig, enum agent_after after, int64_t now_ms)
{
    if (a->phase == PHASE_STOPPING) {
        if (a->after != AFTER_EXIT)
            a->after = after;
        if (after == AFTER_EXIT)
            (void)child_signal_group(a->pid, sig);
        return;
    }
    if (a->phase == PHASE_DOWN) {
        if (after == AFTER_START)
            start_child(a, now_ms);
        return;
    }
    a->phase = PHASE_STOPPING;
    a->after = after;
    a->kill_at_ms = now_ms + a->opts->grace_ms;
    signal_service(a, sig);
    if (a->stopped)
        signal_service(a, SIGCONT); /* a stopped process cannot act on SIGTERM */
}

/* The loop should end: exit with the last child's status (0 if none). */
static void finish(struct agent *a)
{
    a->done = true;
    a->exit_code = a->has_status ? child_exit_code(a->last_status) : 0;
}

static void on_child_exit(struct agent *a, int status, int64_t now_ms)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    enum agent_phase was = a->phase;

    /* The report first: nothing else may delay it (a stopped child that
     * died must be reported too). */
    set_stopped(a, false, 0);
    if (a->hb != NULL && !a->fenced && !(was == PHASE_STOPPING && a->after == AFTER_START))
        (void)fleet_hb_set_exit(a->hb, code, sig, fleet_unix_ms());
    /* Nothing of the service outlives its leader: its group, and whatever it
     * forked into sessions of its own. */
    signal_service(a, SIGKILL);
    agent_log(was == PHASE_RUNNING ? AGENT_WARN : AGENT_INFO, "child exited",
              json_pack("{s:i, s:i, s:i, s:I}", "pid", (int)a->pid, "code", code, "signal", sig,
                        "lived_ms", (json_int_t)(now_ms - a->started_ms)));
    a->pid = 0;
    a->phase = PHASE_DOWN;
    a->has_status = true;
    a->last_status = status;
    a->draining = false;
    http_check_set_gen(a->http, 0);
    a->exec.next_due_ms = 0;
    if (was == PHASE_STOPPING) {
        if (a->after == AFTER_EXIT)
            finish(a);
        else if (a->after == AFTER_START && !a->fenced)
            start_child(a, now_ms);
        return;
    }
    if (a->shutting_down) {
        finish(a);
        return;
    }
    a->restart_at_ms = now_ms + backoff_next_ms(&a->backoff, now_ms - a->started_ms);
}

/* child_reap_all callback. */
static void on_reaped(void *ctx, pid_t pid, int status)
{
    struct agent *a = ctx;
    int64_t now_ms = fleet_mono_ms();

    if (WIFSTOPPED(status) || WIFCONTINUED(status)) {
        if (a->phase != PHASE_DOWN && pid == a->pid)
            set_stopped(a, WIFSTOPPED(status), WIFSTOPPED(status) ? WSTOPSIG(status) : 0);
        return; /* a stopped check or orphan is still alive: nothing to reap */
    }
    if (a->phase != PHASE_DOWN && pid == a->pid) {
        on_child_exit(a, status, now_ms);
    } else if (a->exec.pid > 0 && pid == a->exec.pid) {
        struct check_result r;

        exec_check_finish(&a->exec, status, now_ms, &r);
        if (r.gen == a->gen && a->phase == PHASE_RUNNING) {
            a->exec_ok = r.ok;
            a->exec_passed |= r.ok;
            if (a->hb != NULL)
                (void)fleet_hb_set_check(a->hb, "exec", r.ok, r.detail);
            sync_state(a);
        }
    }
    /* else: an orphan we adopted as subreaper; reaping it was the point */
}

void agent_on_signal(struct agent *a, int sig, int64_t now_ms)
{
    if (sig == SIGCHLD) {
        child_reap_all(on_reaped, a);
        return;
    }
    if (sig == SIGHUP) {
        if (a->phase == PHASE_RUNNING && kill(a->pid, SIGHUP) != 0 && errno != ESRCH)
            agent_log(AGENT_WARN, "cannot forward SIGHUP", json_pack("{s:s}", "error", strerror(errno)));
        return;
    }
    /* SIGTERM / SIGINT: stop the child within its grace and exit with its status. */
    agent_log(AGENT_INFO, "stopping", json_pack("{s:s}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    if (!a->shutting_down && a->hb != NULL)
        (void)fleet_hb_set_state(a->hb, FLEET_STATE_STOPPING);
    a->shutting_down = true;
    if (a->phase == PHASE_DOWN) {
        finish(a);
        return;
    }
    stop_child(a, sig, AFTER_EXIT, now_ms);
}

void agent_on_command(struct agent *a, const struct agent_command *c, int64_t now_ms)
{
    agent_log(AGENT_INFO, "control", json_pack("{s:s, s:I, s:I}", "action", action_name(c->action),
                                              "seq", (json_int_t)c->seq, "fence_epoch", (json_int_t)c->fence_epoch));
    if (a->shutting_down)
        return;
    switch (c->action) {
    case FLEET_ACTION_RESTART:
        if (a->fenced)
            return;     /* refused by the handler already; a late one is moot */
        if (a->phase == PHASE_RUNNING)
            (void)fleet_hb_set_state(a->hb, FLEET_STATE_STOPPING);
        stop_child(a, SIGTERM, AFTER_START, now_ms);
        break;
    case FLEET_ACTION_FENCE:
        a->fenced = true;
        a->restart_at_ms = 0;
        /* obey records the epoch too, but only after the handler returned:
         * set it first so no FENCED heartbeat goes out without it. */
        fleet_hb_set_fence_epoch(a->hb, c->fence_epoch);
        (void)fleet_hb_set_state(a->hb, FLEET_STATE_FENCED);
        if (a->phase != PHASE_DOWN)
            stop_child(a, SIGTERM, AFTER_STAY, now_ms);
        break;
    case FLEET_ACTION_UNFENCE:
        a->fenced = false;
        fleet_hb_set_fence_epoch(a->hb, c->fence_epoch);
        if (a->phase == PHASE_RUNNING)
            sync_state(a);
        else
            stop_child(a, SIGTERM, AFTER_START, now_ms);   /* starts it, now or once stopped */
        break;
    case FLEET_ACTION_DRAIN:
        if (a->phase != PHASE_RUNNING || a->fenced)
            return;
        a->draining = true;
        if (kill(a->pid, a->opts->drain_signal) != 0 && errno != ESRCH)
            agent_log(AGENT_WARN, "cannot send the drain signal", json_pack("{s:s}", "error", strerror(errno)));
        sync_state(a);
        break;
    case FLEET_ACTION_RESUME:
        a->draining = false;
        sync_state(a);
        break;
    default:
        break;
    }
}

void agent_on_http(struct agent *a, const struct check_result *r)
{
    if (r->gen != a->gen || a->phase != PHASE_RUNNING)
        return;         /* for an earlier life */
    a->http_ok = r->ok;
    a->http_passed |= r->ok;
    (void)fleet_hb_set_check(a->hb, "http", r->ok, r->detail);
    sync_state(a);
}

void agent_on_exec_readable(struct agent *a)
{
    exec_check_read(&a->exec);
}

static int64_t earliest(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

int64_t agent_on_tick(struct agent *a, int64_t now_ms)
{
    int64_t next = INT64_MAX;

    if (a->phase == PHASE_STOPPING && a->kill_at_ms != INT64_MAX) {
        if (now_ms >= a->kill_at_ms) {
            agent_log(AGENT_WARN, "grace period over: SIGKILL",
                      json_pack("{s:i, s:i}", "pid", (int)a->pid, "grace_ms", (int)a->opts->grace_ms));
            signal_service(a, SIGKILL);
            a->kill_at_ms = INT64_MAX;
        } else {
            next = earliest(next, a->kill_at_ms);
        }
    }
    if (a->exec.cmd != NULL) {
        if (a->exec.pid > 0) {
            exec_check_expire(&a->exec, now_ms);
            if (!a->exec.timed_out)
                next = earliest(next, a->exec.deadline_ms);
        } else if (a->phase == PHASE_RUNNING && a->exec.next_due_ms != 0) {
            if (now_ms >= a->exec.next_due_ms) {
                int e = exec_check_run(&a->exec, a->gen, now_ms);

                if (e != 0) {
                    agent_log(AGENT_WARN, "cannot run the exec check", json_pack("{s:s}", "error", strerror(e)));
                    a->exec.next_due_ms = now_ms + a->exec.period_ms;
                    next = earliest(next, a->exec.next_due_ms);
                } else {
                    next = earliest(next, a->exec.deadline_ms);
                }
            } else {
                next = earliest(next, a->exec.next_due_ms);
            }
        }
    }
    if (a->phase == PHASE_DOWN && a->restart_at_ms != 0 && !a->fenced && !a->shutting_down) {
        int64_t absent_at = presence_absent_at(a->presence, a->opts->supervisor_timeout_ms);
        int64_t at = a->restart_at_ms > absent_at ? a->restart_at_ms : absent_at;

        if (now_ms >= at) {
            agent_log(AGENT_INFO, "no supervisor: restarting the child locally",
                      json_pack("{s:I}", "supervisor_timeout_ms", (json_int_t)a->opts->supervisor_timeout_ms));
            start_child(a, now_ms);
            if (a->phase == PHASE_DOWN && a->restart_at_ms != 0)
                next = earliest(next, a->restart_at_ms);
        } else {
            next = earliest(next, at);
        }
    }
    return next;
}
