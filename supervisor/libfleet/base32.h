/* Private to libfleet: RFC 4648 base32 with the standard alphabet
 * (A-Z, 2-7) and no padding, the text form of NATS nkeys.
 *
 * Both directions map characters with arithmetic instead of table lookups or
 * branches on the data, because seeds go through them. */
#ifndef FLEET_BASE32_H
#define FLEET_BASE32_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed for n bytes: ceil(8n / 5). */
size_t base32_encoded_len(size_t n);

/* Writes base32_encoded_len(n) characters (no NUL) to out. */
void base32_encode(const uint8_t *in, size_t n, char *out);

/* Decodes exactly `len` characters into out[0..cap) and sets *out_len.
 * Strict: refuses (returns -1) any character outside A-Z2-7 (lower case and
 * '=' included), a length no byte count encodes to, non-zero leftover bits
 * (so every byte string has exactly one text form), and output over `cap`.
 * On -1, out may hold partial data: the caller wipes it if it matters. */
int base32_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
