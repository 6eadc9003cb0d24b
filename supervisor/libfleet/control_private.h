/* Private to libfleet: what the sealing and the verifying side share. */
#ifndef FLEET_CONTROL_PRIVATE_H
#define FLEET_CONTROL_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/control.h"
#include "fleet/nkey.h"
#include "fleet/v1/fleet.pb-c.h"

/* Longest window between issued_unix_ms and expires_unix_ms that a Control
 * may claim. It bounds how long a captured Control stays replayable against
 * a receiver that has lost its replay state, and how long a nonce must be
 * remembered. */
#define FLEET_CONTROL_MAX_WINDOW_MS (10 * 60 * 1000)

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF), as proto3 requires of string fields. */
bool control_utf8_valid(const char *s, size_t len);

/* The seq a (maybe untrusted, maybe refused) Control envelope claims, so a
 * refusal can still name the Control it answers. False when it cannot be
 * read. */
bool control_peek_seq(const uint8_t *envelope, size_t len, uint64_t *seq);

/* Fills nonce[] with fresh random bytes. */
fleet_status control_new_nonce(uint8_t nonce[FLEET_NONCE_LEN]);

/* A fixed-size text field is a C string only if it holds a NUL. */
bool control_terminated(const char *field, size_t size);

/* Signs payload[0..payload_len) with `kp` and wraps it in an Envelope
 * naming kp's public key as signer. Fails (TOO_LARGE) past
 * FLEET_PAYLOAD_MAX or FLEET_ENVELOPE_MAX. *out is malloc'd (caller frees) and *len set only on
 * FLEET_OK; the payload stays the caller's. */
fleet_status envelope_seal(const uint8_t *payload, size_t payload_len, const fleet_keypair *kp, uint8_t **out,
                           size_t *len);

/* Opens a signed Envelope (a Control's or an AdminCommand's), checking in
 * this order: the whole at most `max_envelope` bytes and its payload at most
 * `max_payload` (too_large); an Envelope with a 64-byte signature and a
 * signer in nkey text form (malformed); the signer one of keys[0..n_keys)
 * (untrusted_signer: looked up in constant time over the list, before any
 * signature is checked, so unknown keys cost no verification); the
 * signature valid over the payload bytes (bad_signature). On
 * FLEET_REFUSE_NONE *out is the unpacked Envelope (the caller frees it with
 * fleet__v1__envelope__free_unpacked) and *key_index the signer's place in
 * `keys`; on a refusal nothing is left allocated and neither is written. */
fleet_refusal envelope_open(const uint8_t *envelope, size_t len, size_t max_envelope, size_t max_payload,
                            const uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES], size_t n_keys, size_t *key_index,
                            Fleet__V1__Envelope **out);

#endif
