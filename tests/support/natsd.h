/* Test fixture: a real nats-server on a free loopback port, stopped by PID.
 *
 * Integration tests own one `struct natsd` each; nothing here is shared
 * between processes, so tests can run in parallel. */
#ifndef TESTS_NATSD_H
#define TESTS_NATSD_H

#include <stdbool.h>
#include <sys/types.h>

#include <nats/nats.h>

struct natsd {
    pid_t pid;        /* 0 when not running */
    int port;         /* loopback client port, kept across natsd_restart */
    bool jetstream;   /* started with -js and a store under dir */
    char url[64];     /* nats://127.0.0.1:<port> */
    char dir[256];    /* scratch directory (store, log); removed by natsd_stop */
    char extra_conf[512]; /* optional extra config lines (e.g. "max_pending: 1GB") */
};

/* Picks a free loopback port, starts nats-server on 127.0.0.1 only and waits
 * (up to 10 s) until it accepts connections. Returns 0, or -1 with a message on
 * stderr; on failure nothing is left running. */
int natsd_start(struct natsd *d, bool jetstream);

/* Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it.
 * `keep_dir` keeps the store for a later natsd_restart. Safe on a stopped one. */
void natsd_stop(struct natsd *d, bool keep_dir);

/* Starts the server again on the same port and store. Returns 0 or -1. */
int natsd_restart(struct natsd *d);

/* Returns a free TCP port on 127.0.0.1 (bound then released), or -1. */
int natsd_free_port(void);

/* SIGKILL, reaped: a crashed server (its store dir is kept). */
void natsd_kill(struct natsd *d);

/* SIGSTOP / SIGCONT: a frozen server keeps its sockets open and answers
 * nothing, as a hung or partitioned one would. */
void natsd_pause(struct natsd *d);
void natsd_resume(struct natsd *d);

/* A cluster of n (<= NATSD_CLUSTER_MAX) nats-server processes with routes
 * to each other and JetStream on every one, all on 127.0.0.1, named n1..nN. */
#define NATSD_CLUSTER_MAX 5

struct natsd_cluster {
    int n;
    struct natsd node[NATSD_CLUSTER_MAX]; /* node[k].url is its client URL */
    int route_port[NATSD_CLUSTER_MAX];
    char urls[NATSD_CLUSTER_MAX * 64];    /* every client URL, comma-separated */
};

/* Picks free ports, starts every node and waits (up to 30 s) until the
 * JetStream cluster places a stream on all of them (meta leader elected,
 * every peer known). Returns 0, or -1 with a message on stderr (nothing
 * left running). */
int natsd_cluster_start(struct natsd_cluster *c, int n);

/* Stops every node (by PID) and removes their directories. */
void natsd_cluster_stop(struct natsd_cluster *c);

/* A server and one nats.c connection to it, for tests that play the peer of
 * a program (its supervisor, its agents, its feed). */
struct natsd_client {
    struct natsd d;
    natsConnection *nc; /* NULL until connected */
};

/* natsd_start, then connects `c->nc`. Returns 0, or -1 with a message on
 * stderr and nothing left running or connected. */
int natsd_client_start(struct natsd_client *c, bool jetstream);

/* Destroys the connection, stops the server (its directory removed) and
 * releases nats.c (nats_Close): the last thing a test binary's teardown
 * does with NATS. Safe on one natsd_client_start failed on. */
void natsd_client_stop(struct natsd_client *c);

#endif
