/* fleet-test-cluster: the C cluster fixture (natsd.h) as a program, for
 * tests in other languages. Starts a JetStream cluster of N nodes on free
 * loopback ports and prints, once it places streams on every node:
 *
 *   URLS nats://127.0.0.1:p1,nats://127.0.0.1:p2,...
 *   PIDS pid1 pid2 ...
 *
 * then keeps it running until SIGTERM or SIGINT (or stdin closes, when it
 * is a pipe), and stops every node by PID. Exit 0, or 1 when the cluster
 * did not form. Usage: fleet-test-cluster [N]   (default 3) */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "natsd.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct natsd_cluster c;
    int n = argc > 1 ? atoi(argv[1]) : 3;
    struct stat st;
    bool watch_stdin = fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (n < 1 || n > NATSD_CLUSTER_MAX) {
        fprintf(stderr, "usage: fleet-test-cluster [N]   (1..%d nodes)\n", NATSD_CLUSTER_MAX);
        return 2;
    }
    if (natsd_cluster_start(&c, n) != 0)
        return 1;
    printf("URLS %s\nPIDS", c.urls);
    for (int k = 0; k < n; k++)
        printf(" %d", (int)c.node[k].pid);
    printf("\n");
    fflush(stdout);
    while (!stop) {
        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };

        if (watch_stdin) {
            char buf[64];

            if (poll(&p, 1, 200) > 0 && read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
                break;   /* the parent went away */
        } else {
            usleep(200000);
        }
    }
    natsd_cluster_stop(&c);
    return 0;
}
