/* What bench_restart's child (restart_child.c) tells the bench, and how it
 * finds the bench: one home for the record and the two variable names. */
#ifndef RESTART_STAMP_H
#define RESTART_STAMP_H

#include <stdint.h>

#define RESTART_STAMP_ENV "BENCH_STAMP_FIFO" /* path of the bench's FIFO */
#define RESTART_READY_ENV "BENCH_READY_FD"   /* s6 notification fd, decimal */

/* One start: written in one write(2), smaller than PIPE_BUF, so records
 * from several children never interleave. */
struct restart_stamp {
    int64_t pid;
    int64_t ns;          /* CLOCK_MONOTONIC at the child's first instruction */
};

#endif
