/* Child processes: spawn with a clean slate, signal a group, reap all.
 *
 * Spawning is vfork(2) and exec, not fork: no copy of the agent's page
 * tables, and the parent resumes exactly when the exec is done (or failed),
 * so the new child runs as early as the kernel allows. Between vfork and
 * exec the child shares the agent's memory and runs only async-signal-safe
 * calls, writing nothing in memory: the agent is multi-threaded (nats.c,
 * the HTTP check) and another thread may hold malloc's or stdio's lock.
 * Every signal is blocked across the vfork, so no handler can run on the
 * shared stack before the child has reset every disposition to the
 * default. */
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

/* In the vforked child: never returns. Reports an errno on `errfd` (which
 * closes on a successful exec, so the parent reads EOF). */
static void exec_child(const char *path, char *const argv[], int in, int out, int err, int errfd)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigset_t none;
    int e;

    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The agent ignores SIGPIPE and blocks the signals it reads from its
     * signalfd; both would survive exec. Dispositions first, while every
     * signal is still blocked; then the empty mask the program expects. */
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
    sigset_t all, old;
    ssize_t n;
    pid_t p;
    int e;

    /* The errno comes back through a pipe, not shared memory: sanitizers
     * (TSan) turn vfork into fork, and this works under both. With a real
     * vfork the read below never waits: the child has exec'd or exited. */
    if (pipe2(errpipe, O_CLOEXEC) != 0)
        return errno;
    sigfillset(&all);
    e = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (e != 0)
        goto out_close_pipe;
    p = vfork();
    if (p == 0)
        exec_child(path, argv, in, out, err, errpipe[1]);
    e = errno;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p < 0)
        goto out_close_pipe;
    close(errpipe[1]);
    /* Also from here (a fork, under a sanitizer), so no signal to the group
     * can precede the child's own setpgid. EACCES once it has exec'd:
     * harmless, it did it itself. */
    (void)setpgid(p, p);
    do
        n = read(errpipe[0], &child_errno, sizeof(child_errno));
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof(child_errno)) {
        /* exec failed: reap it here, it was never anything the caller
         * knew about. */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        return child_errno != 0 ? child_errno : ENOEXEC;
    }
    *pid = p;
    return 0;

out_close_pipe:
    close(errpipe[0]);
    close(errpipe[1]);
    return e;
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

/* A growing list of pids. */
struct pid_vec {
    pid_t *v;
    size_t n, cap;
};

static int pid_vec_push(struct pid_vec *q, pid_t pid)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 16;
        pid_t *v = realloc(q->v, cap * sizeof(*v));

        if (v == NULL)
            return ENOMEM;
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n++] = pid;
    return 0;
}

/* Appends the children of every thread of `pid` to `out`, from the
 * kernel's /proc/<pid>/task/<tid>/children lists (a child is listed under
 * the thread that forked it, an adopted orphan under one of ours). Returns
 * 0 or an errno. A process gone meanwhile has no children. */
static int children_of(pid_t pid, struct pid_vec *out)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int rc = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (d == NULL)
        return errno == ENOENT ? 0 : errno;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char file[sizeof(path) + sizeof(e->d_name) + 16];
        FILE *f;
        long child;

        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "/proc/%d/task/%s/children", (int)pid, e->d_name);
        f = fopen(file, "re");
        if (f == NULL) {
            if (errno != ENOENT)
                rc = errno;    /* ENOENT: that thread ended meanwhile */
            continue;
        }
        while (rc == 0 && fscanf(f, "%ld", &child) == 1)
            rc = pid_vec_push(out, (pid_t)child);
        fclose(f);
    }
    closedir(d);
    return rc;
}

/* child_signal_tree's walk over the kernel's children lists: only our own
 * descendants are read. Returns 0, ENOSYS (no lists: use the full scan) or
 * an errno. */
static int signal_descendants(int sig, const pid_t *keep, size_t n_keep, size_t *count)
{
    struct pid_vec q = { 0 };
    char own[64];
    size_t head = 0;
    int e;

    snprintf(own, sizeof(own), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    if (access(own, R_OK) != 0)
        return ENOSYS;          /* the kernel keeps no children lists (CONFIG_PROC_CHILDREN) */
    e = pid_vec_push(&q, getpid());

    /* Breadth first from ourselves; a kept process is skipped with its
     * subtree. Each process is queued once: its parent is dequeued once. */
    while (e == 0 && head < q.n) {
        size_t from = q.n;

        e = children_of(q.v[head++], &q);
        for (size_t k = from; e == 0 && k < q.n;) {
            if (kept(q.v[k], keep, n_keep)) {
                q.v[k] = q.v[--q.n];
                continue;
            }
            if (kill(q.v[k], sig) == 0)
                (*count)++;
            k++;
        }
    }
    free(q.v);
    return e;
}

int child_signal_tree(int sig, const pid_t *keep, size_t n_keep, size_t *signalled)
{
    struct proc_list l = { 0 };
    pid_t *queue;
    size_t head = 0, tail = 0, count = 0;
    int e = signal_descendants(sig, keep, n_keep, &count);

    if (e != ENOSYS) {
        if (e == 0 && signalled != NULL)
            *signalled = count;
        return e;
    }
    /* No children lists: every process's parent, from a scan of /proc. */
    count = 0;
    e = list_processes(&l);
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
