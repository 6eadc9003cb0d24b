/* The on_escalate hook: an operator's command (e.g. `aws ecs stop-task`)
 * run through /bin/sh when the core escalates, with the target in its
 * environment: FLEET_SERVICE, FLEET_INSTANCE, FLEET_INCARNATION,
 * FLEET_REASON, FLEET_SUPERVISOR_ID.
 *
 * Runs are asynchronous and bounded: at most HOOK_MAX_RUNNING at once (more
 * are refused and logged), each killed after its timeout. The owner thread
 * reaps them on SIGCHLD (hook_reap) and enforces timeouts (hook_tick). */
#ifndef FLEET_HOOK_H
#define FLEET_HOOK_H

#include <stdint.h>

#include "observer.h"

#define HOOK_MAX_RUNNING 8

struct hooks;

/* Returns 0 and *out, or -1 (out of memory). */
int hooks_create(int64_t timeout_ms, struct hooks **out);
/* Kills what still runs and reaps it; NULL no-op. */
void hooks_destroy(struct hooks *h);

/* Starts `command` for escalation `e`. Returns 0, or -1 (logged) when it
 * could not start or too many run. */
int hook_run(struct hooks *h, const char *command, const struct core_escalation *e,
             const char *supervisor_id, int64_t now_ms);

/* Reaps finished runs, logging their status. */
void hook_reap(struct hooks *h);

/* Kills runs past their timeout (a killed run gets a second more to be
 * reaped on its SIGCHLD before it is killed again). */
void hook_tick(struct hooks *h, int64_t now_ms);

/* The next timeout of a run (monotonic ms), NO_DEADLINE if none runs. A
 * query: it changes nothing. */
int64_t hook_next_due(const struct hooks *h);

#endif
