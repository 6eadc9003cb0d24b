/* Leadership of a supervisor replica (DESIGN.md §8): drives the lease state
 * machine (lease.h) through the store's lease operations (store.h) and
 * gives every leadership its term, a fencing token above every term used
 * or obeyed before. The daemon asks it, on the owner thread, who it is.
 *
 * A leadership is established, and reported LEADER, only once its term is
 * durable: term = lease_next_term(lease revision, the store's term floor,
 * the highest term_seen in heartbeats), and the floor raised to it before
 * anything is stamped with it. A lease won whose term cannot be made
 * durable is reported UNSURE (not acting) and tried again at every tick.
 *
 * Threads: owner thread only. Every tick makes at most a few requests,
 * each bounded as store.h says. */
#ifndef SUPERVISOR_LEADERSHIP_H
#define SUPERVISOR_LEADERSHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "lease.h"
#include "store.h"

struct leadership;

/* Starts STANDBY (lease.h) on `store` (borrowed; it must outlive this).
 * Returns 0 and *out, or -1 (no memory). Destroy with leadership_destroy. */
int leadership_create(struct store *store, int64_t now_ms, struct leadership **out);
void leadership_destroy(struct leadership *ld);

/* Runs what is due at `now_ms`: lease operations, and the term of a lease
 * just won. `seen` is the highest term any instance reports obeying.
 * Returns the role to follow: LEADER (established), STANDBY, UNSURE or
 * RESIGNED. */
enum lease_role leadership_tick(struct leadership *ld, int64_t now_ms, uint64_t seen);

/* The term of the established leadership, 0 when not leading. */
uint64_t leadership_term(const struct leadership *ld);

/* Changes whenever a new leadership is established (a new term, a new
 * warm-up, state read again). */
uint64_t leadership_generation(const struct leadership *ld);

/* While leading: an instance reports obeying `seen` > our term (possible
 * only when the floor was lost too): the term becomes seen + 1, floor first.
 * `seen` equal to our term is an instance obeying us: our term was chosen
 * above every term heard when we established it, so only an instance
 * silent then and obeying an older leader of the same number (floor lost
 * too) could report it otherwise, and that one refuses our control as not
 * above what it accepted (counted, retried, escalated: never a wrong act).
 * Raising on equality would raise the term at every obeyed control.
 * Returns 1 when raised, 0 when nothing was needed, -1 when the floor could
 * not be written (leadership_may_act is then false until it can). */
int leadership_raise_term(struct leadership *ld, uint64_t seen);

/* The check right before every action: an established leadership whose
 * lease deadline has not passed, and a store that takes writes. */
bool leadership_may_act(const struct leadership *ld, int64_t now_ms);

/* When leadership_tick next has work (CLOCK_MONOTONIC ms). */
int64_t leadership_next_ms(const struct leadership *ld);

/* Why we do not lead, in operator words ("" while leading). Valid until
 * the next call. */
const char *leadership_why(const struct leadership *ld);

/* SIGTERM: if leading, releases the lease now (on condition that it is
 * still ours) so a standby takes over at once; never leads again. */
void leadership_resign(struct leadership *ld, int64_t now_ms);

#endif
