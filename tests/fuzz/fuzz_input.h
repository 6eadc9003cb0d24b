/* The input modes the envelope fuzz targets share. The first byte of the
 * input picks the mode:
 *   even: the rest is the message, taken as it is;
 *   odd:  the rest is a list of (offset, xor) byte pairs applied to the
 *         valid `sealed` message (offsets modulo its length), reaching the
 *         checks behind a signature that random bytes never get past.
 * Returns the message in a malloc'd buffer of exactly *len bytes (so ASan
 * catches a read past its end; the caller frees it) and sets *untouched
 * when it equals `sealed`. `size` must be at least 1. */
#ifndef FLEET_FUZZ_INPUT_H
#define FLEET_FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t *fuzz_input(const uint8_t *data, size_t size, const uint8_t *sealed, size_t sealed_len,
                                  size_t *len, int *untouched)
{
    uint8_t *buf;

    if ((data[0] & 1) == 0) {
        *len = size - 1;
        buf = malloc(*len > 0 ? *len : 1);
        if (buf == NULL)
            abort();
        memcpy(buf, data + 1, *len);
        *untouched = *len == sealed_len && memcmp(buf, sealed, *len) == 0;
        return buf;
    }
    *len = sealed_len;
    buf = malloc(sealed_len);
    if (buf == NULL)
        abort();
    memcpy(buf, sealed, sealed_len);
    for (size_t i = 1; i + 1 < size; i += 2)
        buf[data[i] % sealed_len] ^= data[i + 1];
    *untouched = memcmp(buf, sealed, sealed_len) == 0;
    return buf;
}

#endif
