/* bench_worker.h: forked workers driven over pipes. */
#include "bench_worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define STOP_WAIT_MS 5000

/* The worker's loop: one command at a time until the pipe closes. */
static void serve(int cmd_fd, int reply_fd, bench_worker_fn fn, void *ctx)
{
    for (;;) {
        char cmd;
        ssize_t n = read(cmd_fd, &cmd, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || cmd == BENCH_WORKER_QUIT)
            _exit(0);
        if (fn(ctx, cmd, reply_fd) != 0)
            _exit(1);
    }
}

int bench_worker_start(struct bench_worker *w, bench_worker_fn fn, void *ctx)
{
    int to_worker[2], from_worker[2];
    pid_t pid;

    memset(w, 0, sizeof(*w));
    if (pipe(to_worker) != 0)
        goto out_fail;
    if (pipe(from_worker) != 0)
        goto out_close_to_worker;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        goto out_close_from_worker;
    if (pid == 0) {
        close(to_worker[1]);
        close(from_worker[0]);
        serve(to_worker[0], from_worker[1], fn, ctx);
    }
    close(to_worker[0]);
    close(from_worker[1]);
    *w = (struct bench_worker){ .pid = pid, .cmd_fd = to_worker[1], .reply_fd = from_worker[0] };
    return 0;

out_close_from_worker:
    close(from_worker[0]);
    close(from_worker[1]);
out_close_to_worker:
    close(to_worker[0]);
    close(to_worker[1]);
out_fail:
    fprintf(stderr, "bench: cannot start a worker process: %s\n", strerror(errno));
    return -1;
}

int bench_worker_reply(int reply_fd, const void *reply, size_t n)
{
    const char *p = reply;

    while (n > 0) {
        ssize_t k = write(reply_fd, p, n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int bench_worker_send(struct bench_worker *w, char cmd)
{
    if (w->pid > 0 && bench_worker_reply(w->cmd_fd, &cmd, 1) == 0)
        return 0;
    fprintf(stderr, "bench: worker %d does not take commands\n", (int)w->pid);
    return -1;
}

int bench_worker_read(struct bench_worker *w, void *reply, size_t n, int timeout_ms)
{
    int64_t deadline = bench_now_ns() / 1000000 + timeout_ms;
    char *p = reply;

    while (n > 0) {
        struct pollfd pfd = { .fd = w->reply_fd, .events = POLLIN };
        int64_t left = deadline - bench_now_ns() / 1000000;
        ssize_t k;

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            fprintf(stderr, "bench: worker %d did not answer within %d ms\n", (int)w->pid, timeout_ms);
            return -1;
        }
        k = read(w->reply_fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            fprintf(stderr, "bench: worker %d ended without its answer\n", (int)w->pid);
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

void bench_worker_stop(struct bench_worker *w)
{
    int64_t deadline = bench_now_ns() / 1000000 + STOP_WAIT_MS;
    int st;

    if (w->pid <= 0)
        return;
    /* Said, not only closed: workers forked later hold copies of this pipe's
     * write end, so its closing alone is no end of file. */
    (void)bench_worker_reply(w->cmd_fd, &(char){ BENCH_WORKER_QUIT }, 1);
    close(w->cmd_fd);
    close(w->reply_fd);
    while (waitpid(w->pid, &st, WNOHANG) == 0) {
        if (bench_now_ns() / 1000000 > deadline) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, &st, 0);
            break;
        }
        bench_sleep_ms(10);
    }
    w->pid = 0;
}
