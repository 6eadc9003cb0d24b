/* Test fixture for whole-fleet scenarios: a real nats-server (JetStream on
 * or off), a signing key on disk, supervisor configs, fleet-supervisor and
 * fleet-agent processes, and waits on what their heartbeats say. */
#ifndef TESTS_FLEETFX_H
#define TESTS_FLEETFX_H

#include <stdbool.h>

#include "feedwatch.h"
#include "fleet/nkey.h"
#include "natsd.h"
#include "proc.h"

#define FLEETFX_WAIT_MS 15000

struct fleetfx {
    struct natsd natsd;           /* the server (fleetfx_start) */
    struct natsd_cluster cluster; /* or the cluster (fleetfx_start_cluster) */
    char url[NATSD_CLUSTER_MAX * 64]; /* what supervisors are given: the server, or every node */
    struct feedwatch *watch;
    char dir[64];                 /* scratch directory, removed by fleetfx_stop */
    char seed_path[96];           /* the supervisor's signing key (0600) */
    char hook_path[96];           /* where the on_escalate hook appends */
    char public_key[FLEET_NKEY_PUBLIC_LEN + 1];
};

/* Scratch dir, a fresh key, nats-server, a feed watcher. Returns 0 or -1. */
int fleetfx_start(struct fleetfx *fx, bool jetstream);
/* The same on a JetStream cluster of `n` nodes; fx->url lists every node
 * (with a space after each comma, as a person would write it). */
int fleetfx_start_cluster(struct fleetfx *fx, int n);
/* Stops the server and the watcher, removes the scratch dir. */
void fleetfx_stop(struct fleetfx *fx);

/* An operator's key: the seed file (0600) fleetctl --key takes, and the
 * public key a supervisor's operators: list names. */
struct fleetfx_operator {
    char seed_path[128];
    char public_key[FLEET_NKEY_PUBLIC_LEN + 1];
};
/* Makes <dir>/<name>.seed; fails the test if it cannot. */
void fleetfx_operator_key(struct fleetfx *fx, const char *name, struct fleetfx_operator *out);

/* Writes <dir>/<name>.yaml: fx->url, the key, a fast cadence
 * (200 ms), the hook, `policy` lines (indented under policy:), `extra`
 * top-level YAML and `services` (entries under services:). Returns the
 * path in a static buffer per name slot (copy it). */
const char *fleetfx_config(struct fleetfx *fx, const char *name, const char *policy, const char *extra,
                           const char *services);

/* Starts fleet-supervisor with `config` and waits for "started". */
void fleetfx_supervisor(struct fleetfx *fx, struct proc *p, const char *config);
/* Starts fleet-agent trusting the fixture's key, wrapping /bin/sh -c `command`. */
void fleetfx_agent(struct fleetfx *fx, struct proc *p, const char *service, const char *instance,
                   const char *command);
/* The same, connected to `url` (one node of a cluster, say) and reporting
 * `version` (NULL: the agent's default, no --version given). */
void fleetfx_agent_at(struct fleetfx *fx, struct proc *p, const char *url, const char *service,
                      const char *instance, const char *version, const char *command);

/* Waits for a heartbeat from service/instance for which ok(hb, arg) holds;
 * fails the test after FLEETFX_WAIT_MS. */
struct feedwatch_heartbeat fleetfx_wait_heartbeat(struct fleetfx *fx, const char *service, const char *instance,
                                                  bool (*ok)(const struct feedwatch_heartbeat *, const void *),
                                                  const void *arg);
bool fleetfx_serving(const struct feedwatch_heartbeat *hb, const void *arg);
/* A serving heartbeat with another pid and incarnation than *arg's. */
bool fleetfx_new_life(const struct feedwatch_heartbeat *hb, const void *arg);
bool fleetfx_fenced(const struct feedwatch_heartbeat *hb, const void *arg);

/* Stops `p` with SIGTERM (then kills it) and returns whether its output had
 * no sanitizer report. */
bool fleetfx_stop_proc(struct proc *p);

/* The cast of the leadership scenarios: two supervisor replicas and one
 * agent on one fixture. */
struct fleetfx_ha {
    struct fleetfx fx;
    struct proc sup[2];
    struct proc agent;
};

/* cmocka setups: a zeroed heap fleetfx_ha in *state, its fixture started
 * with JetStream (or without); the test fails if it cannot start. */
int fleetfx_ha_setup_js(void **state);
int fleetfx_ha_setup_no_js(void **state);
/* Stops the agent, then both replicas, and the fixture; frees *state.
 * Fails the test if any of them printed a sanitizer report. */
int fleetfx_ha_teardown(void **state);

/* How long a command-line program (fleetctl) may take to run to its end:
 * one JetStream request with retries on a loaded machine. */
#define FLEETFX_RUN_MS 15000

/* Runs a command-line program to its end (proc_run) and fails the test
 * unless it started, exited by itself within FLEETFX_RUN_MS and printed no
 * sanitizer report. Returns its exit code; *output (when not NULL) is all
 * it printed (caller frees). */
int fleetfx_run(char *const argv[], char **output);

#endif
