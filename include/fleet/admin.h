/* Signed operator commands (DESIGN.md §3 `<prefix>.v1.admin.<verb>`, §4
 * AdminCommand/AdminReply, §7).
 *
 * An operator seals an AdminCommand into an Envelope with their own key,
 * exactly as the supervisor seals a Control; the supervisor opens it
 * against the operator keys it is configured with and then applies its own
 * rules (verb and service allowed, freshness, replay). Sealing and opening
 * are pure functions of their inputs; nothing here keeps state. */
#ifndef FLEET_ADMIN_H
#define FLEET_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/control.h"
#include "fleet/names.h"
#include "fleet/nkey.h"
#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest validity window an AdminCommand may claim (issued .. expires).
 * The supervisor remembers nonces this long. */
#define FLEET_ADMIN_MAX_WINDOW_MS (5 * 60 * 1000)
/* The window fleetctl gives its commands. */
#define FLEET_ADMIN_DEFAULT_TTL_MS 30000
/* Rolling restart: how long each instance must be HEALTHY before the next
 * goes, when the command says 0. */
#define FLEET_ADMIN_DEFAULT_MIN_HEALTHY_MS 10000

/* The verbs, one per subject token. */
typedef enum fleet_admin_verb {
    FLEET_VERB_NONE = 0,
    FLEET_VERB_RESTART,
    FLEET_VERB_FENCE,
    FLEET_VERB_UNFENCE,
    FLEET_VERB_DRAIN,
    FLEET_VERB_RESUME,
    FLEET_VERB_MAINTENANCE_ON,
    FLEET_VERB_MAINTENANCE_OFF,
    FLEET_VERB_COUNT
} fleet_admin_verb;

/* "restart", ..., "maintenance-on", "maintenance-off"; "none" for NONE and
 * anything out of range. */
const char *fleet_admin_verb_name(fleet_admin_verb v);
/* The verb named `name`, or FLEET_VERB_NONE. */
fleet_admin_verb fleet_admin_verb_parse(const char *name);

/* An AdminCommand as plain C data. `instance` "" = every instance of the
 * service (for restart: a rolling restart). */
typedef struct fleet_admin_command {
    fleet_admin_verb verb;
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    char operator_name[FLEET_OPERATOR_MAX + 1];
    uint8_t nonce[FLEET_NONCE_LEN];
    int64_t issued_unix_ms;
    int64_t expires_unix_ms;
    char reason[FLEET_REASON_MAX + 1];
    bool force;              /* restart: may take the last healthy instance down */
    uint32_t batch;          /* rolling restart: 0 = 1 */
    uint32_t min_healthy_ms; /* rolling restart: 0 = FLEET_ADMIN_DEFAULT_MIN_HEALTHY_MS */
} fleet_admin_command;

/* True when `name` is a valid operator name: 1 to FLEET_OPERATOR_MAX
 * printable ASCII characters, no space, '"' or '\\' ("" is not). */
bool fleet_operator_name_valid(const char *name);

/* Fills c->nonce with fresh random bytes. */
fleet_status fleet_admin_new_nonce(fleet_admin_command *c);

/* Encodes `c`, signs it with `kp` and wraps it in an Envelope. Refuses a
 * command no supervisor would accept for its form (bad names, no verb, a
 * window outside 0..FLEET_ADMIN_MAX_WINDOW_MS) with fleet_last_error saying
 * why. *out is malloc'd (caller frees) and *len set only on FLEET_OK. */
fleet_status fleet_admin_seal(const fleet_admin_command *c, const fleet_keypair *kp, uint8_t **out,
                              size_t *len);

/* Opens an envelope sealed by fleet_admin_seal (or by any client that
 * follows DESIGN.md) against the operator keys keys[0..n_keys): too_large
 * (over FLEET_ENVELOPE_MAX or a payload over FLEET_PAYLOAD_MAX), malformed
 * (not an Envelope holding a well-formed AdminCommand: unknown verb, bad
 * names, a nonce that is not 16 bytes, text that is not UTF-8 or too long),
 * untrusted_signer, bad_signature. Freshness, replay and what the signer may
 * do are the caller's rules. On FLEET_REFUSE_NONE writes *out and
 * *key_index (the signer's place in `keys`); otherwise neither. */
fleet_refusal fleet_admin_open(const uint8_t *envelope, size_t len, const uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES],
                               size_t n_keys, size_t *key_index, fleet_admin_command *out);

#ifdef __cplusplus
}
#endif
#endif
