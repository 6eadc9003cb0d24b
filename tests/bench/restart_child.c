/* bench_restart's child: stamps its start, then sleeps until killed.
 *
 * The very first thing main does is read CLOCK_MONOTONIC; only then does it
 * tell the bench, so the stamp is the child's first instruction whatever
 * the reporting costs. The report is one fixed-size record (pid, ns) written
 * in one write(2) to the FIFO named by $BENCH_STAMP_FIFO (atomic: smaller
 * than PIPE_BUF). With $BENCH_READY_FD set (s6-supervise's notification-fd)
 * it then writes a newline on that fd: ready. Exit 111 when it cannot
 * report (the bench then times out and says so). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "restart_stamp.h"

int main(void)
{
    struct timespec ts;
    struct restart_stamp st;
    const char *fifo, *ready;
    int fd;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    st.pid = (int64_t)getpid();
    st.ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    fifo = getenv(RESTART_STAMP_ENV);
    if (fifo == NULL || (fd = open(fifo, O_WRONLY | O_CLOEXEC)) < 0)
        return 111;
    if (write(fd, &st, sizeof(st)) != (ssize_t)sizeof(st))
        return 111;
    close(fd);
    ready = getenv(RESTART_READY_ENV);
    if (ready != NULL) {
        int rfd = atoi(ready);

        if (write(rfd, "\n", 1) == 1)
            close(rfd);
    }
    for (;;)
        pause();
}
