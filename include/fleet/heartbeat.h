/* libfleet heartbeat sender (DESIGN.md §3-§4).
 *
 * A fleet_hb publishes Heartbeat messages for one service instance on
 * `<prefix>.v1.hb.<service>.<instance>`. Build it from a fleet_hb_opts:
 *
 *     fleet_hb_opts *o;  fleet_hb *hb;
 *     fleet_hb_opts_create(&o);
 *     fleet_hb_opts_set_service(o, "story-teller");
 *     fleet_hb_opts_set_instance(o, "story-teller-1");
 *     if (fleet_hb_create(o, &hb) != FLEET_OK) ... fleet_last_error() ...
 *     fleet_hb_opts_destroy(o);
 *     fleet_hb_set_state(hb, FLEET_STATE_SERVING);
 *     ...
 *     fleet_hb_destroy(hb);
 *
 * Errors: every function that can fail returns a fleet_status, writes its
 * out-parameters only on FLEET_OK and leaves the object as it was; the detail
 * is in fleet_last_error() on the calling thread.
 *
 * Functions returning void take a non-NULL object; the others answer
 * FLEET_ERR_INVALID_ARG to a NULL one.
 *
 * Threads: a fleet_hb_opts belongs to one thread at a time. A fleet_hb may be
 * used from any thread (one internal mutex), including from nats.c callback
 * threads, except fleet_hb_destroy, which must be the last call on it.
 *
 * Delivery: heartbeats are fire-and-forget. A publish that nats.c refuses
 * (closed connection, reconnect buffer full) is counted in
 * fleet_hb_counters.failed, never fatal; while nats.c is reconnecting it
 * buffers, and heartbeats resume on the new link with `seq` still rising. */
#ifndef FLEET_HEARTBEAT_H
#define FLEET_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet/names.h"
#include "fleet/subjects.h"
#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* nats.c's connection type, as <nats/nats.h> names it; include that header
 * to create one. */
typedef struct __natsConnection natsConnection;

/* What an instance says it is doing. The numbers are the wire ServingState. */
typedef enum fleet_serving_state {
    FLEET_STATE_UNSPECIFIED = 0,
    FLEET_STATE_STARTING = 1, /* started, not yet ready (the initial state) */
    FLEET_STATE_SERVING = 2,  /* ready and serving */
    FLEET_STATE_DEGRADED = 3, /* serving, but impaired */
    FLEET_STATE_DRAINING = 4, /* finishing work, taking none new */
    FLEET_STATE_STOPPING = 5, /* shutting down on purpose */
    FLEET_STATE_FENCED = 6,   /* stopped by a FENCE until UNFENCE */
    FLEET_STATE_EXITED = 7,   /* (agent) the wrapped child has exited */
} fleet_serving_state;

#define FLEET_HB_INTERVAL_DEFAULT_MS 1000u
#define FLEET_HB_INTERVAL_MIN_MS 50u
#define FLEET_HB_INTERVAL_MAX_MS 600000u
#define FLEET_HB_VERSION_MAX FLEET_VERSION_MAX /* bytes in a version string */
#define FLEET_HB_HOST_MAX 255      /* bytes in a host name */
#define FLEET_HB_CHECKS_MAX 32     /* distinct check names per heartbeat */
#define FLEET_HB_DETAIL_MAX 255    /* bytes of check detail kept; longer is cut */

/* ---- options ---------------------------------------------------------- */

typedef struct fleet_hb_opts fleet_hb_opts;

/* Creates options holding every default. The caller frees them with
 * fleet_hb_opts_destroy; they may be freed right after fleet_hb_create. */
fleet_status fleet_hb_opts_create(fleet_hb_opts **out);

/* Frees `opts`. NULL is a no-op. */
void fleet_hb_opts_destroy(fleet_hb_opts *opts);

/* Setters copy their string arguments; the caller keeps its own. A setter
 * that fails leaves the option as it was. */

/* NATS server URL, or a comma-separated list of them (fleet/conn.h). Used
 * only when no connection is given. When neither is set, $NATS_URL, else
 * FLEET_DEFAULT_URL. */
fleet_status fleet_hb_opts_set_url(fleet_hb_opts *opts, const char *url);

/* NATS credentials file for the sender's own connection; "" for none.
 * Unset: $NATS_CREDS when that is set. */
fleet_status fleet_hb_opts_set_creds(fleet_hb_opts *opts, const char *creds_file);

/* Publish on an existing connection instead of opening one. The caller keeps
 * ownership and must keep `conn` open until fleet_hb_destroy has returned.
 * Many fleet_hb may share one connection. NULL unsets it. */
fleet_status fleet_hb_opts_set_conn(fleet_hb_opts *opts, natsConnection *conn);

/* Required. A NATS token [A-Za-z0-9_-]{1,64}, else FLEET_ERR_BAD_NAME. */
fleet_status fleet_hb_opts_set_service(fleet_hb_opts *opts, const char *service);
fleet_status fleet_hb_opts_set_instance(fleet_hb_opts *opts, const char *instance);

/* The promised cadence, FLEET_HB_INTERVAL_MIN_MS..MAX_MS (default 1000). */
fleet_status fleet_hb_opts_set_interval_ms(fleet_hb_opts *opts, uint32_t interval_ms);

/* Build/image version, up to FLEET_HB_VERSION_MAX printable bytes
 * (default ""). */
fleet_status fleet_hb_opts_set_version(fleet_hb_opts *opts, const char *version);

/* Host or task name, up to FLEET_HB_HOST_MAX printable bytes (default: this
 * machine's gethostname()). */
fleet_status fleet_hb_opts_set_host(fleet_hb_opts *opts, const char *host);

/* Process id reported (default getpid(); an agent gives its child's). */
fleet_status fleet_hb_opts_set_pid(fleet_hb_opts *opts, uint32_t pid);

/* Subject prefix: dot-separated NATS tokens, no wildcards, up to
 * FLEET_PREFIX_MAX bytes (default FLEET_DEFAULT_PREFIX, fleet/subjects.h). */
fleet_status fleet_hb_opts_set_prefix(fleet_hb_opts *opts, const char *prefix);

/* true (default): a background thread sends every interval. false: no
 * thread; the caller sends with fleet_hb_send on its own schedule (the
 * simulator drives many instances from one thread this way). */
fleet_status fleet_hb_opts_set_autonomous(fleet_hb_opts *opts, bool autonomous);

/* Fixes the first incarnation (non-zero, else FLEET_ERR_INVALID_ARG). Such
 * a sender has no incarnation key and proves nothing: it stands for an older
 * or foreign client in tests. Default: each incarnation draws a key pair and
 * its incarnation is derived from it (fleet/proof.h). */
fleet_status fleet_hb_opts_set_incarnation(fleet_hb_opts *opts, uint64_t incarnation);

/* Adds a supervisor public key ("U..." nkey text) that heartbeats prove
 * themselves to (DESIGN.md §7): the key whose Controls the instance obeys.
 * Up to FLEET_PROOF_ENTRIES_MAX (replicas with their own keys, rotation).
 * None given: $FLEET_TRUSTED_KEYS (comma-separated), as fleet-agent reads
 * it. With none at all, heartbeats still carry the incarnation key but no
 * proof, and a supervisor takes them with the weaker guarantee of an
 * unproven sender. FLEET_ERR_DECODE for a key that is not a public nkey. */
fleet_status fleet_hb_opts_add_trusted_key(fleet_hb_opts *opts, const char *public_key);

/* ---- sender ----------------------------------------------------------- */

typedef struct fleet_hb fleet_hb;

typedef struct fleet_hb_counters {
    uint64_t sent;   /* heartbeats nats.c accepted (or buffered while reconnecting) */
    uint64_t failed; /* heartbeats nats.c refused; the next one carries the same state */
} fleet_hb_counters;

/* Creates a sender in state FLEET_STATE_STARTING. `opts` is only read; the
 * result owns copies of everything it needs. Without a connection in `opts`
 * it opens its own (unlimited reconnects; a server that is not up yet is
 * retried in the background, heartbeats buffer meanwhile). In autonomous
 * mode the first heartbeat goes out at once, then one every interval.
 * Fails with FLEET_ERR_INVALID_ARG when service or instance is missing,
 * FLEET_ERR_NATS when the connection cannot be set up, FLEET_ERR_SYSTEM when
 * the thread cannot start; on failure nothing is left running or allocated.
 * Free with fleet_hb_destroy. */
fleet_status fleet_hb_create(const fleet_hb_opts *opts, fleet_hb **out);

/* Stops the cadence thread; when the sender opened its own connection,
 * flushes it (up to 1 s) and closes it. A shared connection is left as it
 * is: its owner flushes and closes it after destroying its senders. NULL is
 * a no-op. No other call on `hb` may run concurrently or follow. */
void fleet_hb_destroy(fleet_hb *hb);

/* Sends one heartbeat now. FLEET_ERR_NATS when nats.c refused it (also
 * counted as failed); the next heartbeat still carries the next seq. */
fleet_status fleet_hb_send(fleet_hb *hb);

/* Records the serving state; when it differs from the current one a
 * heartbeat goes out at once (from the calling thread) and the cadence
 * restarts from now. FLEET_ERR_INVALID_ARG for a value outside the enum. A
 * failed immediate send is counted, not returned: the state is recorded. */
fleet_status fleet_hb_set_state(fleet_hb *hb, fleet_serving_state state);

/* Stops (true) or resumes (false) sending anything, the cadence and the
 * immediate sends alike; changes made meanwhile go out with the first
 * heartbeat after resuming, which is sent at once. For a process known to be
 * stuck (fleet-agent pauses while its child is stopped): silence is what lets
 * the supervisor's failure detector see the hang. Any thread. */
fleet_status fleet_hb_set_paused(fleet_hb *hb, bool paused);

/* Upserts check `name` (a NATS token, like service names) with its result
 * and `detail` (may be NULL; cut to FLEET_HB_DETAIL_MAX bytes). A new check,
 * or one whose `ok` flips, sends at once as fleet_hb_set_state does.
 * FLEET_ERR_TOO_LARGE beyond FLEET_HB_CHECKS_MAX names. */
fleet_status fleet_hb_set_check(fleet_hb *hb, const char *name, bool ok, const char *detail);

/* Reports that the (agent's) child has exited: sets the state to
 * FLEET_STATE_EXITED, attaches exit info (`code` when it exited, `signal`
 * when killed, 0 for the other; `at_unix_ms` when it was reaped) and sends at
 * once. The exit info rides on every heartbeat until fleet_hb_clear_exit. */
fleet_status fleet_hb_set_exit(fleet_hb *hb, int32_t code, int32_t signal, int64_t at_unix_ms);
void fleet_hb_clear_exit(fleet_hb *hb);

/* Highest fence epoch / supervisor term the instance has obeyed. These only
 * rise: a value lower than the current one is ignored. */
void fleet_hb_set_fence_epoch(fleet_hb *hb, uint64_t epoch);
void fleet_hb_set_term_seen(fleet_hb *hb, uint64_t term);

/* Replace the version / pid carried by later heartbeats. */
fleet_status fleet_hb_set_version(fleet_hb *hb, const char *version);
void fleet_hb_set_pid(fleet_hb *hb, uint32_t pid);

/* Starts a new life of the instance (the agent calls it per child start):
 * a fresh random incarnation, `seq` restarting at 1, state STARTING, exit
 * info and checks cleared; fence epoch and term seen are kept. Nothing is
 * sent until the next heartbeat. FLEET_ERR_SYSTEM (nothing changed) when
 * the system has no randomness to give. */
fleet_status fleet_hb_new_incarnation(fleet_hb *hb);

/* The current incarnation (never 0). */
uint64_t fleet_hb_incarnation(fleet_hb *hb);

/* Copies the counters into `*out`. */
fleet_status fleet_hb_stats(fleet_hb *hb, fleet_hb_counters *out);

#ifdef __cplusplus
}
#endif
#endif
