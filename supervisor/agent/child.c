/* Child processes: spawn with a clean slate, signal a group, reap all.
 *
 * Between fork and exec the child runs only async-signal-safe calls: the
 * agent is multi-threaded (nats.c, the HTTP check) and another thread may
 * have held malloc's or stdio's lock at the fork. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

/* Marks every descriptor from 3 up close-on-exec, so nothing of ours (NATS
 * and curl sockets included, whatever flags their libraries used) leaks into
 * the program. Async-signal-safe. */
static void cloexec_from_3(void)
{
    struct rlimit rl;

#ifdef CLOSE_RANGE_CLOEXEC
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    /* Kernels before 5.11: walk the table. */
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576)
        rl.rlim_cur = 1048576;
    for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* In the forked child: never returns. Reports an errno on `errfd` (which
 * closes on a successful exec, so the parent reads EOF). */
static void exec_child(const char *path, char *const argv[], int in, int out, int err, int errfd)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigset_t none;
    int e;

    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The agent ignores SIGPIPE and blocks the signals it reads from its
     * signalfd; both would survive exec. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    if ((in >= 0 && dup2(in, STDIN_FILENO) < 0) || (out >= 0 && dup2(out, STDOUT_FILENO) < 0) ||
        (err >= 0 && dup2(err, STDERR_FILENO) < 0))
        goto out_report;
    cloexec_from_3();
    execve(path, argv, environ);
out_report:
    e = errno;
    while (write(errfd, &e, sizeof(e)) < 0 && errno == EINTR)
        ;
    _exit(127);
}

int child_spawn(const char *path, char *const argv[], int in, int out, int err, pid_t *pid)
{
    int errpipe[2];
    int child_errno = 0;
    ssize_t n;
    pid_t p;

    if (pipe2(errpipe, O_CLOEXEC) != 0)
        return errno;
    p = fork();
    if (p < 0) {
        int e = errno;

        close(errpipe[0]);
        close(errpipe[1]);
        return e;
    }
    if (p == 0) {
        close(errpipe[0]);
        exec_child(path, argv, in, out, err, errpipe[1]);
    }
    close(errpipe[1]);
    /* Also from here, so no signal to the group can precede the child's own
     * setpgid. EACCES once it has exec'd: harmless, it did it itself. */
    (void)setpgid(p, p);
    do
        n = read(errpipe[0], &child_errno, sizeof(child_errno));
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof(child_errno)) {
        /* exec failed: the child is _exit'ing; reap it here, it was never
         * anything the caller knew about. */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        return child_errno != 0 ? child_errno : ENOEXEC;
    }
    *pid = p;
    return 0;
}

int child_signal_group(pid_t pgid, int sig)
{
    if (pgid <= 1)
        return EINVAL;      /* never kill(-1) or kill(0) by accident */
    if (kill(-pgid, sig) == 0 || errno == ESRCH)
        return 0;
    return errno;
}

/* The parent of `pid` from /proc/<pid>/stat (field 4, after the command
 * name in parentheses, which may itself hold spaces or parentheses), or -1. */
static pid_t parent_of(pid_t pid)
{
    char path[32], buf[512];
    const char *close;
    long ppid;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    close = strrchr(buf, ')');
    if (close == NULL || sscanf(close + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

struct proc_list {
    pid_t *pid, *ppid;
    size_t n, cap;
};

static int list_processes(struct proc_list *l)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (d == NULL)
        return errno;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        pid_t ppid;

        if (*end != '\0' || pid <= 0 || (ppid = parent_of((pid_t)pid)) < 0)
            continue;
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 256;
            pid_t *a = realloc(l->pid, cap * sizeof(*a)), *b;

            if (a == NULL)
                break;
            l->pid = a;
            b = realloc(l->ppid, cap * sizeof(*b));
            if (b == NULL)
                break;
            l->ppid = b;
            l->cap = cap;
        }
        l->pid[l->n] = (pid_t)pid;
        l->ppid[l->n] = ppid;
        l->n++;
    }
    closedir(d);
    return 0;
}

static bool kept(pid_t pid, const pid_t *keep, size_t n_keep)
{
    for (size_t k = 0; k < n_keep; k++)
        if (keep[k] > 0 && keep[k] == pid)
            return true;
    return false;
}

int child_signal_tree(int sig, const pid_t *keep, size_t n_keep, size_t *signalled)
{
    struct proc_list l = { 0 };
    pid_t *queue;
    size_t head = 0, tail = 0, count = 0;
    int e = list_processes(&l);

    if (e != 0)
        return e;
    queue = malloc((l.n + 1) * sizeof(*queue));
    if (queue == NULL) {
        free(l.pid);
        free(l.ppid);
        return ENOMEM;
    }
    /* Breadth first from ourselves; a kept process is skipped with its
     * subtree. Each process is queued once: its parent is dequeued once. */
    queue[tail++] = getpid();
    while (head < tail) {
        pid_t parent = queue[head++];

        for (size_t k = 0; k < l.n; k++) {
            if (l.ppid[k] != parent || kept(l.pid[k], keep, n_keep))
                continue;
            queue[tail++] = l.pid[k];
            if (kill(l.pid[k], sig) == 0)
                count++;
        }
    }
    free(queue);
    free(l.pid);
    free(l.ppid);
    if (signalled != NULL)
        *signalled = count;
    return 0;
}

void child_reap_all(void (*reaped)(void *ctx, pid_t pid, int status), void *ctx)
{
    for (;;) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED);

        if (p > 0) {
            reaped(ctx, p, status);
            continue;
        }
        if (p < 0 && errno == EINTR)
            continue;
        return;             /* 0: none left exited; ECHILD: no children */
    }
}

int child_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}
