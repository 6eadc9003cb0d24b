/* Ed25519 keys in NATS nkey text form (DESIGN.md §7).
 *
 * A user seed is "SU…" (58 chars) and a public key "U…" (56 chars): base32
 * (RFC 4648, no padding) of a prefix, the key and a CRC-16/XMODEM, exactly as
 * NATS encodes them, so our keys work with the NATS ecosystem's tools.
 *
 * Secret material lives in libsodium guarded memory and is wiped on destroy;
 * text seeds handed to the caller must be wiped with sodium_memzero. */
#ifndef FLEET_NKEY_H
#define FLEET_NKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FLEET_NKEY_SEED_LEN 58     /* characters of a seed, without the NUL */
#define FLEET_NKEY_PUBLIC_LEN 56   /* characters of a public key, without the NUL */
#define FLEET_SIGNATURE_LEN 64
#define FLEET_PUBLIC_KEY_BYTES 32

typedef struct fleet_keypair fleet_keypair;

/* A new random key pair. Destroy with fleet_keypair_destroy. */
fleet_status fleet_keypair_generate(fleet_keypair **out);

/* The key pair of a seed in text form ("SU…"); refuses a bad prefix, length,
 * alphabet or CRC with a reason in fleet_last_error(). */
fleet_status fleet_keypair_from_seed(const char *seed, fleet_keypair **out);

/* Reads a seed from `path` (surrounding whitespace ignored). Refuses a file
 * readable or writable by group or others, naming the mode and the fix; the
 * file's bytes are wiped from memory after use. */
fleet_status fleet_keypair_from_seed_file(const char *path, fleet_keypair **out);

/* Writes the seed text and a NUL into `out` (FLEET_NKEY_SEED_LEN + 1 bytes).
 * The caller wipes `out` with sodium_memzero when done. */
fleet_status fleet_keypair_seed(const fleet_keypair *kp, char *out, size_t n);

/* Writes the public key text and a NUL (FLEET_NKEY_PUBLIC_LEN + 1 bytes). */
fleet_status fleet_keypair_public(const fleet_keypair *kp, char *out, size_t n);

/* Ed25519 detached signature of msg. */
fleet_status fleet_keypair_sign(const fleet_keypair *kp, const uint8_t *msg, size_t len,
                                uint8_t sig[FLEET_SIGNATURE_LEN]);

/* Wipes and frees; NULL is a no-op. */
/* The raw 32-byte Ed25519 public key of `kp` (what fleet_nkey_public_decode
 * gives for its text). */
void fleet_keypair_public_raw(const fleet_keypair *kp, uint8_t out[FLEET_PUBLIC_KEY_BYTES]);

void fleet_keypair_destroy(fleet_keypair *kp);

/* Decodes a public key text ("U…") into its 32 raw bytes, checking prefix,
 * length, alphabet and CRC. */
fleet_status fleet_nkey_public_decode(const char *text, uint8_t out[FLEET_PUBLIC_KEY_BYTES]);

/* True when `sig` is a valid Ed25519 signature of msg by `public_key`. */
bool fleet_nkey_verify(const uint8_t public_key[FLEET_PUBLIC_KEY_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t sig[FLEET_SIGNATURE_LEN]);

#ifdef __cplusplus
}
#endif
#endif
