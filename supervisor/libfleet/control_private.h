/* Private to libfleet: what the sealing and the verifying side share. */
#ifndef FLEET_CONTROL_PRIVATE_H
#define FLEET_CONTROL_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
