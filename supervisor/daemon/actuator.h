/* The supervisor's hands: turns the core's decisions into Ed25519-signed
 * Control requests on <prefix>.v1.ctl.<service>.<instance>, and their
 * ControlAcks back into core input (through ingest, as the owner thread
 * applies them). The only holder of the signing key.
 *
 * An answer counts only when it names the Control it answers (DESIGN.md
 * §7): arriving on the attempt's own reply subject, and carrying the
 * Control's service, instance and seq; anything else is counted
 * (acks_unmatched) and ignored. Matched answers are classified for the core
 * (enum core_ack): accepted; refused for a reason a retry cures
 * (fleet_refusal_retryable) or for good; or NATS's "no responders".
 *
 * Without a signing key the actuator exists but sends nothing: the
 * supervisor observes and says so; it never acts unsigned. */
#ifndef FLEET_ACTUATOR_H
#define FLEET_ACTUATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "ingest.h"
#include "observer.h"

struct actuator_options {
    const char *prefix;
    const char *signing_key_file; /* "" or NULL: observe only */
    uint32_t expiry_ms;           /* a Control is valid this long after issue */
};

/* sent_by_action is indexed by enum core_action_kind (0 unused). */
#define ACTUATOR_ACTIONS (CORE_ACT_RESUME + 1)

struct actuator_counters {
    uint64_t sent;
    uint64_t sent_by_action[ACTUATOR_ACTIONS];
    uint64_t send_failed;
    uint64_t acks_accepted;
    uint64_t acks_refused;        /* refused for good */
    uint64_t acks_retryable;      /* refused for a reason a new attempt can cure */
    uint64_t acks_no_responders;  /* nobody subscribed to the control subject */
    uint64_t acks_unmatched;      /* not naming the Control's service, instance and seq, or
                                     for an attempt we do not know: ignored */
    uint64_t acks_malformed;      /* not a ControlAck */
};

struct actuator;

/* Loads the key (refusing a seed file readable by group or others) and
 * subscribes the ack inbox. Returns 0 and *out, or -1 with a message in err;
 * nothing is left subscribed on failure. */
int actuator_create(struct bus *b, struct ingest *q, const struct actuator_options *opts,
                    struct actuator **out, char *err, size_t errlen);

/* Stops nothing on the bus (bus_close does); frees and wipes. NULL no-op. */
void actuator_destroy(struct actuator *a);

/* True when a signing key is loaded. */
bool actuator_can_act(const struct actuator *a);

/* The signer's public key text ("U…"), "" without a key. */
const char *actuator_public_key(const struct actuator *a);

/* Seals and sends `act` as term `term` (owner thread). Returns 0, or -1 with
 * the reason in why (no key, encoding, publish): the caller reports the
 * failure to the core like a refused ack. */
int actuator_send(struct actuator *a, const struct core_action *act, uint64_t term, int64_t now_unix_ms,
                  char *why, size_t whylen);

void actuator_counters(const struct actuator *a, struct actuator_counters *out);

#endif
