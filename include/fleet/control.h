/* Signed control messages (DESIGN.md §4 Control/Envelope/ControlAck, §7).
 *
 * The issuer seals a Control into an Envelope with its key; a receiver
 * accepts it only if every rule of §7 holds, and otherwise answers which rule
 * failed. Sealing and verifying are pure functions of their inputs and the
 * time passed in; a verifier keeps the replay state of one receiver. */
#ifndef FLEET_CONTROL_H
#define FLEET_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/names.h"
#include "fleet/nkey.h"
#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FLEET_NONCE_LEN 16
#define FLEET_REASON_MAX 127
#define FLEET_ENVELOPE_MAX 4096     /* default size limit of a whole envelope */
#define FLEET_PAYLOAD_MAX 2048      /* default size limit of the signed payload */
#define FLEET_SKEW_DEFAULT_MS 30000 /* accepted clock skew between issuer and receiver */

/* Numbers equal the wire's Action enum. */
typedef enum fleet_action {
    FLEET_ACTION_UNSPECIFIED = 0,
    FLEET_ACTION_RESTART = 1,
    FLEET_ACTION_FENCE = 2,
    FLEET_ACTION_UNFENCE = 3,
    FLEET_ACTION_DRAIN = 4,
    FLEET_ACTION_RESUME = 5,
} fleet_action;

/* A Control as plain C data. */
typedef struct fleet_control {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    uint64_t incarnation;
    fleet_action action;
    uint64_t fence_epoch;
    uint64_t term;
    uint64_t seq;
    int64_t issued_unix_ms;
    int64_t expires_unix_ms;
    uint8_t nonce[FLEET_NONCE_LEN];
    char reason[FLEET_REASON_MAX + 1];
} fleet_control;

/* Fills c->nonce with fresh random bytes. */
fleet_status fleet_control_new_nonce(fleet_control *c);

/* Encodes `c` as a Control, signs it with `kp` and wraps it in an Envelope.
 * *out is malloc'd (caller frees) and *len set only on FLEET_OK. */
fleet_status fleet_control_seal(const fleet_control *c, const fleet_keypair *kp, uint8_t **out, size_t *len);

/* Why a receiver refused a Control: one value per rule of DESIGN.md §7. */
typedef enum fleet_refusal {
    FLEET_REFUSE_NONE = 0,
    FLEET_REFUSE_TOO_LARGE,          /* envelope or payload over its limit */
    FLEET_REFUSE_MALFORMED,          /* not an Envelope holding a Control */
    FLEET_REFUSE_BAD_SIGNATURE,      /* signature invalid over payload */
    FLEET_REFUSE_UNTRUSTED_SIGNER,   /* signer not in the trusted list */
    FLEET_REFUSE_WRONG_TARGET,       /* service or instance not ours */
    FLEET_REFUSE_WRONG_INCARNATION,  /* meant for another life of this instance */
    FLEET_REFUSE_EXPIRED,            /* now > expires */
    FLEET_REFUSE_FROM_FUTURE,        /* issued more than the skew ahead of us */
    FLEET_REFUSE_STALE_TERM,         /* term below the highest accepted */
    FLEET_REFUSE_REPLAYED_SEQ,       /* (term, seq) not above the highest accepted */
    FLEET_REFUSE_REPLAYED_NONCE,     /* nonce seen within the expiry window */
    FLEET_REFUSE_COUNT
} fleet_refusal;

/* Stable rule name for logs, metrics and ControlAck.error (e.g. "bad_signature"). */
const char *fleet_refusal_rule(fleet_refusal r);

/* Whether a ControlAck's error (a rule name above, or a handler's text) is
 * one a new attempt can cure: freshness and ordering (expired, from_future,
 * stale_term, replayed_seq, replayed_nonce: the next attempt has a new seq,
 * nonce and time, and the issuer may have raised its term) or a receiver
 * that is busy. Anything else (signature, signer, target, incarnation, a
 * refusal by the application) would be refused again. */
bool fleet_refusal_retryable(const char *rule);

typedef struct fleet_verifier fleet_verifier;

typedef struct fleet_verifier_opts {
    const char *service;       /* required: the receiver's own names */
    const char *instance;
    const char *const *trusted;/* public keys ("U…"); at least one */
    size_t n_trusted;
    int64_t skew_ms;           /* 0 = FLEET_SKEW_DEFAULT_MS */
    size_t max_envelope_bytes; /* 0 = FLEET_ENVELOPE_MAX */
    size_t max_payload_bytes;  /* 0 = FLEET_PAYLOAD_MAX */
} fleet_verifier_opts;

/* Creates a verifier; refuses a bad name or public key (fleet_last_error says
 * which). Destroy with fleet_verifier_destroy. Not thread-safe: one receiver
 * thread owns it, or the caller locks. */
fleet_status fleet_verifier_create(const fleet_verifier_opts *opts, fleet_verifier **out);
void fleet_verifier_destroy(fleet_verifier *v);

/* Parses a comma-separated list of public keys (FLEET_TRUSTED_KEYS) into
 * `out` (malloc'd array of malloc'd strings; free with fleet_key_list_free). */
fleet_status fleet_key_list_parse(const char *comma_list, char ***out, size_t *n);
void fleet_key_list_free(char **list, size_t n);

/* Checks one envelope against every rule, for a receiver currently in
 * `incarnation`, at wall-clock `now_unix_ms`. On FLEET_REFUSE_NONE the
 * Control is written to *out and its (term, seq) and nonce are recorded;
 * on a refusal nothing is recorded and *out is untouched. */
fleet_refusal fleet_verifier_check(fleet_verifier *v, const uint8_t *envelope, size_t len,
                                   uint64_t incarnation, int64_t now_unix_ms, fleet_control *out);

/* Highest term accepted so far (the heartbeat's term_seen). */
uint64_t fleet_verifier_term_seen(const fleet_verifier *v);

/* Counters: accepted, and refused per rule (array of FLEET_REFUSE_COUNT). */
void fleet_verifier_counters(const fleet_verifier *v, uint64_t *accepted,
                             uint64_t refused[FLEET_REFUSE_COUNT]);

/* Packs a ControlAck (malloc'd; caller frees). */
fleet_status fleet_control_ack_pack(const char *service, const char *instance, uint64_t seq, bool accepted,
                                    const char *error, uint8_t **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
