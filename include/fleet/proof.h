/* Heartbeat proofs: how an incarnation shows that a heartbeat is its own
 * (DESIGN.md §7; the byte-level contract is in fleet.proto, next to the
 * Heartbeat message, so that any language can produce it).
 *
 * An incarnation draws an X25519 key pair at start; its incarnation number
 * is derived from the public key, so nobody can claim a life they did not
 * start. Per trusted supervisor key it agrees a MAC key (X25519 with the
 * supervisor's Ed25519 key in its X25519 form) and tags every heartbeat's
 * layout with keyed BLAKE2b-256: one short hash per heartbeat to check
 * (~0.5 µs here), where an Ed25519 signature would cost a verification
 * (~50 µs) each.
 *
 * Errors as everywhere in libfleet: a fleet_status, out-parameters written
 * only on FLEET_OK, the detail in fleet_last_error(). Secret material is
 * wiped (sodium_memzero) when freed. Thread-safe: no shared state. */
#ifndef FLEET_PROOF_H
#define FLEET_PROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/nkey.h"
#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FLEET_PROOF_KEY_BYTES 32     /* Heartbeat.incarnation_key */
#define FLEET_PROOF_ID_BYTES 8       /* the supervisor key's first bytes, naming an entry */
#define FLEET_PROOF_TAG_BYTES 32     /* keyed BLAKE2b-256; also the MAC key's size */
#define FLEET_PROOF_ENTRY_BYTES (FLEET_PROOF_ID_BYTES + FLEET_PROOF_TAG_BYTES)
#define FLEET_PROOF_ENTRIES_MAX 8    /* trusted supervisor keys a heartbeat proves to */
#define FLEET_PROOF_STR_MAX 255      /* longest string a layout holds */
#define FLEET_PROOF_CHECKS_MAX 32    /* most checks a layout holds */
/* Largest layout: the fixed part, four strings and every check at their maxima. */
#define FLEET_PROOF_LAYOUT_MAX \
    (8 + 4 * (2 + FLEET_PROOF_STR_MAX) + 3 * 8 + 4 + 4 + 8 + 8 + 4 + 1 + 4 + 4 + 8 + 2 + \
     FLEET_PROOF_CHECKS_MAX * (2 + FLEET_PROOF_STR_MAX + 1))

/* The fields a proof covers, as a decoded Heartbeat holds them. Strings are
 * NUL-terminated; check_name/check_ok have n_checks entries. */
typedef struct fleet_proof_fields {
    const char *service, *instance, *version, *nats_server;
    uint64_t incarnation, seq, fence_epoch, term_seen;
    int64_t sent_unix_ms;
    uint32_t interval_ms, state, pid;
    bool has_exit;
    int32_t exit_code, exit_signal;
    int64_t exit_at_unix_ms;
    const char *const *check_name;
    const bool *check_ok;
    size_t n_checks;
} fleet_proof_fields;

/* Writes the layout of `f` into out[0..cap) and its length into *len.
 * FLEET_ERR_TOO_LARGE when a string is over FLEET_PROOF_STR_MAX bytes, there
 * are more than FLEET_PROOF_CHECKS_MAX checks, or `cap` is too small
 * (FLEET_PROOF_LAYOUT_MAX always suffices). */
fleet_status fleet_proof_layout(const fleet_proof_fields *f, uint8_t *out, size_t cap, size_t *len);

/* The incarnation an incarnation key stands for (never 0 for a key made by
 * fleet_incarnation_key_generate; 0 means "no valid incarnation"). */
uint64_t fleet_proof_incarnation(const uint8_t key[FLEET_PROOF_KEY_BYTES]);

/* An incarnation's key pair (secret). */
typedef struct fleet_incarnation_key fleet_incarnation_key;

/* Draws a fresh pair (whose incarnation is not 0). FLEET_ERR_SYSTEM when
 * libsodium cannot start, FLEET_ERR_NO_MEMORY. Free with _destroy. */
fleet_status fleet_incarnation_key_generate(fleet_incarnation_key **out);
void fleet_incarnation_key_destroy(fleet_incarnation_key *k);
const uint8_t *fleet_incarnation_key_public(const fleet_incarnation_key *k); /* 32 bytes */
uint64_t fleet_incarnation_key_incarnation(const fleet_incarnation_key *k);

/* The MAC key an incarnation shares with the supervisor whose raw Ed25519
 * public key is `supervisor`. FLEET_ERR_INVALID_ARG when that is not a
 * usable public key (no X25519 form, or a degenerate shared secret). */
fleet_status fleet_proof_key_instance(const fleet_incarnation_key *k,
                                      const uint8_t supervisor[FLEET_PUBLIC_KEY_BYTES],
                                      uint8_t mac_key[FLEET_PROOF_TAG_BYTES]);

/* The same MAC key, computed by the supervisor `kp` for the incarnation
 * whose public key is `incarnation_key`. FLEET_ERR_INVALID_ARG as above. */
fleet_status fleet_proof_key_supervisor(const fleet_keypair *kp,
                                        const uint8_t incarnation_key[FLEET_PROOF_KEY_BYTES],
                                        uint8_t mac_key[FLEET_PROOF_TAG_BYTES]);

/* The tag of `layout` under `mac_key`. */
void fleet_proof_tag(const uint8_t mac_key[FLEET_PROOF_TAG_BYTES], const uint8_t *layout, size_t len,
                     uint8_t tag[FLEET_PROOF_TAG_BYTES]);

/* The entry (of `proof`, `len` bytes) meant for the supervisor whose raw
 * public key is `supervisor`: a pointer to its 32-byte tag, or NULL when
 * there is none or `len` is not a whole number of entries (at most
 * FLEET_PROOF_ENTRIES_MAX). */
const uint8_t *fleet_proof_find(const uint8_t *proof, size_t len,
                                const uint8_t supervisor[FLEET_PUBLIC_KEY_BYTES]);

/* True when `proof` is a well-formed list of entries (possibly empty). */
bool fleet_proof_well_formed(size_t len);

#ifdef __cplusplus
}
#endif
#endif
