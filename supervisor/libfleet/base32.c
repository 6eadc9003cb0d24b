/* Base32 (RFC 4648 §6, no padding) for nkey text. */
#include "base32.h"

size_t base32_encoded_len(size_t n)
{
    return (n * 8 + 4) / 5;
}

/* 0..25 -> 'A'..'Z', 26..31 -> '2'..'7', without branching on v. */
static char b32_char(unsigned v)
{
    /* ge26 is all ones when v >= 26: (25 - v) goes negative. */
    unsigned ge26 = (unsigned)((int)(25 - (int)v) >> 8);

    return (char)('A' + v + (ge26 & (unsigned)('2' - 'A' - 26)));
}

/* The 5-bit value of c, or -1, without branching on c. */
static int b32_value(unsigned char c)
{
    int x = c;
    int ret = -1;

    /* in_range is -1 (all ones) when lo <= x <= hi, else 0. */
    ret += ((('A' - 1) - x) & (x - ('Z' + 1))) >> 8 & (x - 'A' + 1);
    ret += ((('2' - 1) - x) & (x - ('7' + 1))) >> 8 & (x - '2' + 26 + 1);
    return ret;
}

void base32_encode(const uint8_t *in, size_t n, char *out)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = b32_char((acc >> bits) & 31);
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        out[o++] = b32_char((acc << (5 - bits)) & 31);
    acc = 0;
}

int base32_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    unsigned acc = 0;
    int bits = 0;
    int bad = 0;
    size_t o = 0;
    size_t want = len * 5 / 8;

    /* Only lengths that some byte count encodes to: leftover bits < 5. */
    if (len * 5 - want * 8 >= 5 || want > cap)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b32_value((unsigned char)in[i]);

        bad |= v;  /* -1 sets every bit, so bad < 0 once any char is bad */
        acc = (acc << 5) | ((unsigned)v & 31);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* What is left must be zero padding bits. */
    bad |= -(int)(acc != 0);
    acc = 0;
    if (bad < 0)
        return -1;
    *out_len = o;
    return 0;
}
