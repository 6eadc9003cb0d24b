#include "hook.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

struct hook_run {
    pid_t pid;          /* 0 = free slot */
    int64_t deadline_ms;
    char target[2 * FLEET_NAME_MAX + 2];
};

struct hooks {
    int64_t timeout_ms;
    struct hook_run runs[HOOK_MAX_RUNNING];
};

int hooks_create(int64_t timeout_ms, struct hooks **out)
{
    struct hooks *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return -1;
    h->timeout_ms = timeout_ms;
    *out = h;
    return 0;
}

void hooks_destroy(struct hooks *h)
{
    if (h == NULL)
        return;
    for (int k = 0; k < HOOK_MAX_RUNNING; k++) {
        if (h->runs[k].pid > 0) {
            kill(-h->runs[k].pid, SIGKILL);
            waitpid(h->runs[k].pid, NULL, 0);
        }
    }
    free(h);
}

extern char **environ;

/* The child's environment: ours plus the target, built before fork so the
 * child (of a multithreaded parent) only makes async-signal-safe calls.
 * Returns a malloc'd NULL-terminated array whose strings are malloc'd too
 * (free with free_env), or NULL. */
static char **build_env(const struct core_escalation *e, const char *supervisor_id)
{
    char incarnation[24];
    const char *vars[][2] = {
        { "FLEET_SERVICE", e->service->name },
        { "FLEET_INSTANCE", e->instance ? e->instance->name : "" },
        { "FLEET_INCARNATION", incarnation },
        { "FLEET_REASON", e->reason ? e->reason : "" },
        { "FLEET_SUPERVISOR_ID", supervisor_id },
    };
    size_t n_vars = sizeof(vars) / sizeof(vars[0]), n_env = 0, k = 0;
    char **env;

    snprintf(incarnation, sizeof(incarnation), "%" PRIu64, e->instance ? e->instance->incarnation : 0);
    while (environ[n_env] != NULL)
        n_env++;
    env = calloc(n_env + n_vars + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (size_t v = 0; v < n_vars; v++) {
        size_t len = strlen(vars[v][0]) + strlen(vars[v][1]) + 2;

        env[k] = malloc(len);
        if (env[k] == NULL)
            goto out_free_env;
        snprintf(env[k++], len, "%s=%s", vars[v][0], vars[v][1]);
    }
    for (size_t i = 0; i < n_env; i++) {
        if (strncmp(environ[i], "FLEET_", 6) == 0)
            continue; /* ours above win; never pass the supervisor's own FLEET_* config */
        env[k] = strdup(environ[i]);
        if (env[k] == NULL)
            goto out_free_env;
        k++;
    }
    return env;

out_free_env:
    for (size_t i = 0; i < k; i++)
        free(env[i]);
    free(env);
    return NULL;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void exec_hook(const char *command, char **env)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the daemon blocks signals for its signalfd */
    signal(SIGPIPE, SIG_DFL);
    setpgid(0, 0);
    execle("/bin/sh", "sh", "-c", command, (char *)NULL, env);
    _exit(127);
}

int hook_run(struct hooks *h, const char *command, const struct core_escalation *e,
             const char *supervisor_id, int64_t now_ms)
{
    struct hook_run *slot = NULL;
    char **env;
    pid_t pid;

    for (int k = 0; k < HOOK_MAX_RUNNING && slot == NULL; k++)
        if (h->runs[k].pid == 0)
            slot = &h->runs[k];
    if (slot == NULL) {
        log_kv(LOG_ERROR, "on_escalate hook not run: too many still running", "service", e->service->name,
               "instance", e->instance ? e->instance->name : "", NULL);
        return -1;
    }
    env = build_env(e, supervisor_id);
    if (env == NULL) {
        log_kv(LOG_ERROR, "on_escalate hook not run: out of memory", NULL);
        return -1;
    }
    fflush(stdout); /* the child must not repeat buffered log lines */
    pid = fork();
    if (pid < 0) {
        log_kv(LOG_ERROR, "on_escalate hook not run: fork failed", "error", strerror(errno), NULL);
        free_env(env);
        return -1;
    }
    if (pid == 0)
        exec_hook(command, env);
    free_env(env);
    setpgid(pid, pid);
    slot->pid = pid;
    slot->deadline_ms = now_ms + h->timeout_ms;
    snprintf(slot->target, sizeof(slot->target), "%s/%s", e->service->name, e->instance ? e->instance->name : "");
    log_kv(LOG_WARN, "on_escalate hook started", "target", slot->target, "reason", e->reason ? e->reason : "",
           NULL);
    return 0;
}

void hook_reap(struct hooks *h)
{
    for (int k = 0; k < HOOK_MAX_RUNNING; k++) {
        struct hook_run *r = &h->runs[k];
        char status[32];
        int st;

        if (r->pid <= 0 || waitpid(r->pid, &st, WNOHANG) != r->pid)
            continue;
        if (WIFEXITED(st))
            snprintf(status, sizeof(status), "exit %d", WEXITSTATUS(st));
        else
            snprintf(status, sizeof(status), "signal %d", WTERMSIG(st));
        log_kv(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? LOG_INFO : LOG_ERROR, "on_escalate hook finished",
               "target", r->target, "status", status, NULL);
        r->pid = 0;
    }
}

void hook_tick(struct hooks *h, int64_t now_ms)
{
    for (int k = 0; k < HOOK_MAX_RUNNING; k++) {
        struct hook_run *r = &h->runs[k];

        if (r->pid <= 0 || now_ms < r->deadline_ms)
            continue;
        log_kv(LOG_ERROR, "on_escalate hook timed out: killing it", "target", r->target, NULL);
        kill(-r->pid, SIGKILL);
        r->deadline_ms = now_ms + 1000; /* reaped on its SIGCHLD */
    }
}

int64_t hook_next_due(const struct hooks *h)
{
    int64_t next = NO_DEADLINE;

    for (int k = 0; k < HOOK_MAX_RUNNING; k++)
        if (h->runs[k].pid > 0 && h->runs[k].deadline_ms < next)
            next = h->runs[k].deadline_ms;
    return next;
}
