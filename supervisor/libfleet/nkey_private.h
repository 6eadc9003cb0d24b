/* Private to libfleet: what heartbeat proofs (proof.c) need of a key pair
 * beyond the public API. */
#ifndef FLEET_NKEY_PRIVATE_H
#define FLEET_NKEY_PRIVATE_H

#include <stdint.h>

#include "fleet/nkey.h"

/* The X25519 form of `kp`'s secret key into out[32] (the caller wipes it).
 * FLEET_ERR_SYSTEM when libsodium cannot convert it. */
fleet_status nkey_x25519_secret(const fleet_keypair *kp, uint8_t out[32]);

#endif
