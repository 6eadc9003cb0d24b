/* Obeying signed control: what a service (or fleet-agent) links to act on
 * the supervisor's commands (DESIGN.md §6-§7).
 *
 * fleet_obey subscribes <prefix>.v1.ctl.<service>.<instance> on the
 * heartbeat sender's connection, verifies every Control with a
 * fleet_verifier against the sender's current incarnation, answers each
 * request with a ControlAck (accepted, or the rule that failed), calls the
 * application's handler for accepted ones, and reports the outcome in the
 * heartbeats: term_seen, fence_epoch, and the state FENCED / DRAINING /
 * SERVING. Every refusal is counted and never reaches a handler. */
#ifndef FLEET_OBEY_H
#define FLEET_OBEY_H

#include "fleet/control.h"
#include "fleet/heartbeat.h"
#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit code of the default RESTART: a clean exit ECS (or any supervisor of
 * processes) replaces, distinct from crashes (EX_TEMPFAIL). */
#define FLEET_EXIT_RESTART 75

/* Handlers run on a libfleet thread, one at a time, after verification.
 * Return FLEET_OK to carry the command out (the ack says accepted and the
 * heartbeat state follows); any other status refuses it, with
 * fleet_last_error() as the ack's error. A NULL handler means the default:
 * RESTART acks then exits the process with FLEET_EXIT_RESTART; FENCE,
 * UNFENCE, DRAIN and RESUME only change the reported state. */
typedef struct fleet_obey_handlers {
    void *ctx;
    fleet_status (*on_restart)(void *ctx, const fleet_control *c);
    fleet_status (*on_fence)(void *ctx, const fleet_control *c);
    fleet_status (*on_unfence)(void *ctx, const fleet_control *c);
    fleet_status (*on_drain)(void *ctx, const fleet_control *c);
    fleet_status (*on_resume)(void *ctx, const fleet_control *c);
    /* false (the default): fleet_obey sets the serving state after a
     * handler accepts (FENCED, SERVING, DRAINING). true: the handlers only
     * hand the command over and the application reports the state itself
     * once it has acted (fleet-agent, whose main loop acts later; a state set
     * here would race its own). term_seen and fence_epoch are set either way. */
    bool reports_state;
} fleet_obey_handlers;

typedef struct fleet_obey fleet_obey;

typedef struct fleet_obey_counters {
    uint64_t accepted;
    uint64_t refused[FLEET_REFUSE_COUNT]; /* by rule */
    uint64_t handler_refused;             /* verified, but the application said no */
    uint64_t stale_epoch;                 /* verified, but FENCE/UNFENCE epoch not above the one obeyed */
} fleet_obey_counters;

/* Fence epochs: a FENCE is accepted when its epoch is above the highest
 * obeyed (or equal while fenced: a retry), an UNFENCE when its epoch is above
 * the highest obeyed (or equal while not fenced); anything else is answered
 * "stale_fence_epoch" and reaches no handler. */

/* Starts obeying for `hb` (borrowed: it must outlive the fleet_obey).
 * `vopts->service`/`instance` may be NULL: the sender's names are used.
 * On failure nothing is subscribed. Destroy with fleet_obey_destroy. */
fleet_status fleet_obey_start(fleet_hb *hb, const fleet_verifier_opts *vopts, const fleet_obey_handlers *h,
                              fleet_obey **out);

/* Unsubscribes and waits for a running handler to return; NULL no-op.
 * Must not be called from a handler. */
void fleet_obey_destroy(fleet_obey *o);

fleet_status fleet_obey_counters_get(fleet_obey *o, fleet_obey_counters *out);

/* For handlers: records `why` (copied, cut to fit) as the ack's error and
 * returns `s`, so a refusal reads `return fleet_obey_refuse(FLEET_ERR_STATE,
 * "fenced")`. Without it the ack carries fleet_status_text(s). */
fleet_status fleet_obey_refuse(fleet_status s, const char *why);

#ifdef __cplusplus
}
#endif
#endif
