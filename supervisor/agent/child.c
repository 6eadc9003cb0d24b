/* Child processes: spawn with a clean slate, signal a group, reap all.
 *
 * Between fork and exec the child runs only async-signal-safe calls: the
 * agent is multi-threaded (nats.c, the HTTP check) and another thread may
 * have held malloc's or stdio's lock at the fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
