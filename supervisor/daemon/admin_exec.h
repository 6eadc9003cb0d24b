/* The edge of operators' commands: what the owner thread does with one that
 * arrived on `<prefix>.v1.admin.<verb>` (admin.h judges it, the core or the
 * store carries it out, the leader answers with an AdminReply).
 *
 * Every replica judges every command (so all remember its nonce); only the
 * one that leads and may act carries it out and answers: a standby is
 * silent, and fleetctl then says no leading supervisor answered. Every
 * refusal is counted by the gate and logged (at most ADMIN_LOG_PER_S lines a
 * second; the rest are counted as suppressed and summed up in the next line). */
#ifndef SUPERVISOR_ADMIN_EXEC_H
#define SUPERVISOR_ADMIN_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "bus.h"
#include "ingest.h"
#include "observer.h"
#include "store.h"

#define ADMIN_LOG_PER_S 10

struct admin_desk {
    struct admin_gate *gate;  /* owned: admin_desk_close destroys it */
    int64_t log_window_ms;    /* the second refusals are being logged in */
    unsigned logged;          /* lines in that second */
    uint64_t suppressed;      /* refusals not logged since the last line */
};

/* What one command may use, borrowed for the call. */
struct admin_env {
    struct observer *obs;
    struct store *store;
    struct bus *bus;
    bool leading;             /* leads and may act now */
    int64_t mono_ms, unix_ms;
};

/* Opens a desk over the config's operators. Returns 0, or -1 (out of memory). */
int admin_desk_open(struct admin_desk *desk, const struct supervisor_config *cfg);
void admin_desk_close(struct admin_desk *desk);

/* Judges, carries out and answers command `a`. */
void admin_exec(struct admin_desk *desk, const struct admin_env *env, const struct ingest_admin *a);

#endif
