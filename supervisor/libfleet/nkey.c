/* Ed25519 key pairs in NATS nkey text form (DESIGN.md §7).
 *
 * Raw layouts, as nats-io/nkeys defines them (then base32 without padding):
 *   public key: [PREFIX_USER] key[32] crc16le              35 bytes -> 56 chars "U…"
 *   seed:       [PREFIX_SEED | PREFIX_USER >> 5]
 *               [(PREFIX_USER & 31) << 3] seed[32] crc16le 36 bytes -> 58 chars "SU…"
 * The CRC-16/XMODEM covers everything before it.
 *
 * Secret material (the 64-byte libsodium secret key, which begins with the
 * 32-byte seed) lives in sodium_malloc'd memory, read-only after creation,
 * and sodium_free wipes it. Raw seed bytes that pass through the stack are
 * wiped with sodium_memzero before return. Error details never quote the
 * text they were given: a seed pasted in the wrong place must not reach a
 * log. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base32.h"
#include "crc16.h"
#include "fleet/nkey.h"
#include "lasterror.h"
#include "nkey_private.h"

#define PREFIX_SEED (18u << 3)    /* 'S' */
#define PREFIX_USER (20u << 3)    /* 'U' */
#define SEED_BYTES 32u
#define RAW_SEED_LEN (2u + SEED_BYTES + 2u)
#define RAW_PUBLIC_LEN (1u + FLEET_PUBLIC_KEY_BYTES + 2u)
#define SEED_FILE_MAX 4096        /* a seed file is one line; refuse anything bigger */

_Static_assert(crypto_sign_PUBLICKEYBYTES == FLEET_PUBLIC_KEY_BYTES, "ed25519 public key size");
_Static_assert(crypto_sign_BYTES == FLEET_SIGNATURE_LEN, "ed25519 signature size");
_Static_assert(crypto_sign_SEEDBYTES == SEED_BYTES, "ed25519 seed size");

/* Whole struct in guarded memory; `sk` is libsodium's seed || public key. */
struct fleet_keypair {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

/* sodium_init is idempotent and thread-safe; every entry point that needs
 * libsodium calls this first. */
static fleet_status nkey_sodium_init(void)
{
    if (sodium_init() < 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "libsodium could not be initialised");
    return FLEET_OK;
}

/* A key pair from a raw 32-byte seed. The caller still owns and wipes
 * `seed`. *out is written only on FLEET_OK. */
static fleet_status keypair_from_raw_seed(const uint8_t seed[SEED_BYTES], fleet_keypair **out)
{
    fleet_keypair *kp = sodium_malloc(sizeof(*kp));

    if (kp == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of secure memory for a key pair");
    if (crypto_sign_seed_keypair(kp->pk, kp->sk, seed) != 0) {
        sodium_free(kp);
        return fleet_fail(FLEET_ERR_SYSTEM, "ed25519 key derivation failed");
    }
    /* Nothing writes to a key pair after this; a stray write faults. */
    sodium_mprotect_readonly(kp);
    *out = kp;
    return FLEET_OK;
}

fleet_status fleet_keypair_generate(fleet_keypair **out)
{
    uint8_t seed[SEED_BYTES];
    fleet_status s;

    if (out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_keypair_generate: out is NULL");
    s = nkey_sodium_init();
    if (s != FLEET_OK)
        return s;
    randombytes_buf(seed, sizeof(seed));
    s = keypair_from_raw_seed(seed, out);
    sodium_memzero(seed, sizeof(seed));
    return s;
}

/* Decodes `len` characters of seed text into a raw seed. On any failure
 * `seed` holds nothing (it is wiped). The detail never quotes the text. */
static fleet_status seed_decode(const char *text, size_t len, uint8_t seed[SEED_BYTES])
{
    uint8_t raw[RAW_SEED_LEN];
    size_t n = 0;
    unsigned b1, b2;
    uint16_t crc;
    fleet_status s = FLEET_OK;

    if (len != FLEET_NKEY_SEED_LEN) {
        return fleet_fail(FLEET_ERR_DECODE, "a seed is %d characters (SU…), this one has %zu",
                          FLEET_NKEY_SEED_LEN, len);
    }
    if (base32_decode(text, len, raw, sizeof(raw), &n) != 0 || n != sizeof(raw)) {
        s = fleet_fail(FLEET_ERR_DECODE, "the seed is not valid nkey text "
                                         "(only A-Z and 2-7 are allowed)");
        goto out_wipe_raw;
    }
    crc = crc16_xmodem(raw, RAW_SEED_LEN - 2);
    if ((uint16_t)(raw[RAW_SEED_LEN - 2] | raw[RAW_SEED_LEN - 1] << 8) != crc) {
        s = fleet_fail(FLEET_ERR_DECODE, "the seed's checksum does not match (a typo or a truncated copy?)");
        goto out_wipe_raw;
    }
    b1 = raw[0] & 0xf8u;
    b2 = ((raw[0] & 0x07u) << 5) | ((raw[1] & 0xf8u) >> 3);
    if (b1 != PREFIX_SEED) {
        s = fleet_fail(FLEET_ERR_DECODE, "this is not a seed (a seed starts with 'S'; "
                                         "a public key cannot sign)");
        goto out_wipe_raw;
    }
    if (b2 != PREFIX_USER) {
        s = fleet_fail(FLEET_ERR_DECODE, "this is the seed of another kind of nkey "
                                         "(a fleet key is a user key: its seed starts with 'SU')");
        goto out_wipe_raw;
    }
    memcpy(seed, raw + 2, SEED_BYTES);

out_wipe_raw:
    sodium_memzero(raw, sizeof(raw));
    return s;
}

/* Builds a key pair from `len` characters of seed text. */
static fleet_status keypair_from_seed_text(const char *text, size_t len, fleet_keypair **out)
{
    uint8_t seed[SEED_BYTES];
    fleet_status s;

    s = nkey_sodium_init();
    if (s != FLEET_OK)
        return s;
    s = seed_decode(text, len, seed);
    if (s == FLEET_OK)
        s = keypair_from_raw_seed(seed, out);
    sodium_memzero(seed, sizeof(seed));
    return s;
}

fleet_status fleet_keypair_from_seed(const char *seed, fleet_keypair **out)
{
    if (seed == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_keypair_from_seed: NULL argument");
    /* strnlen: never read further than one past a seed's length. */
    return keypair_from_seed_text(seed, strnlen(seed, FLEET_NKEY_SEED_LEN + 1), out);
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Reads all of fd (a regular file of at most cap - 1 bytes) into buf. */
static fleet_status read_all(int fd, const char *path, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;

    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fleet_fail(FLEET_ERR_SYSTEM, "cannot read seed file %s: %s", path, strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap)
            return fleet_fail(FLEET_ERR_DECODE, "seed file %s is larger than %d bytes: "
                                                "it should hold one seed (SU…) on one line",
                              path, SEED_FILE_MAX);
    }
    *len = n;
    return FLEET_OK;
}

fleet_status fleet_keypair_from_seed_file(const char *path, fleet_keypair **out)
{
    struct stat st;
    char *buf;
    size_t len = 0, start, end;
    fleet_status s;
    int fd;

    if (path == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_keypair_from_seed_file: NULL argument");
    s = nkey_sodium_init();
    if (s != FLEET_OK)
        return s;
    /* O_NONBLOCK: opening a FIFO must not hang; fstat then refuses it.
     * Symlinks are followed (mounted secrets are often links); the checks
     * below apply to the file actually opened. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "cannot open seed file %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        s = fleet_fail(FLEET_ERR_SYSTEM, "cannot stat seed file %s: %s", path, strerror(errno));
        goto out_close;
    }
    if (!S_ISREG(st.st_mode)) {
        s = fleet_fail(FLEET_ERR_INVALID_ARG, "seed file %s is not a regular file", path);
        goto out_close;
    }
    if ((st.st_mode & 077) != 0) {
        s = fleet_fail(FLEET_ERR_INVALID_ARG,
                       "seed file %s has mode %04o: group and others must have no access to a "
                       "secret key (run: chmod 600 %s)",
                       path, (unsigned)(st.st_mode & 07777), path);
        goto out_close;
    }
    buf = sodium_malloc(SEED_FILE_MAX);
    if (buf == NULL) {
        s = fleet_fail(FLEET_ERR_NO_MEMORY, "out of secure memory reading seed file %s", path);
        goto out_close;
    }
    s = read_all(fd, path, buf, SEED_FILE_MAX, &len);
    if (s != FLEET_OK)
        goto out_free_buf;
    for (start = 0; start < len && is_space((unsigned char)buf[start]); start++)
        ;
    for (end = len; end > start && is_space((unsigned char)buf[end - 1]); end--)
        ;
    s = keypair_from_seed_text(buf + start, end - start, out);
    if (s != FLEET_OK) {
        /* Prefix the file name to the decoder's reason (which never quotes
         * the text); a copy, since fleet_fail formats into the same buffer. */
        char why[200];

        snprintf(why, sizeof(why), "%s", fleet_last_error());
        s = fleet_fail(s, "seed file %s: %s", path, why);
    }

out_free_buf:
    sodium_free(buf);  /* zeroes the whole buffer before unmapping */
out_close:
    close(fd);
    return s;
}

/* Writes the CRC-16 of raw[0..len-2) little-endian into its last two bytes,
 * then raw as nkey text: base32_encoded_len(len) characters and a NUL into
 * `out`, which the caller has sized. */
static void encode_text(uint8_t *raw, size_t len, char *out)
{
    uint16_t crc = crc16_xmodem(raw, len - 2);

    raw[len - 2] = (uint8_t)(crc & 0xff);
    raw[len - 1] = (uint8_t)(crc >> 8);
    base32_encode(raw, len, out);
    out[base32_encoded_len(len)] = '\0';
}

fleet_status fleet_keypair_seed(const fleet_keypair *kp, char *out, size_t n)
{
    uint8_t raw[RAW_SEED_LEN];

    if (kp == NULL || out == NULL || n < FLEET_NKEY_SEED_LEN + 1)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_keypair_seed: NULL argument or buffer under %d bytes",
                          FLEET_NKEY_SEED_LEN + 1);
    raw[0] = (uint8_t)(PREFIX_SEED | (PREFIX_USER >> 5));
    raw[1] = (uint8_t)((PREFIX_USER & 31u) << 3);
    memcpy(raw + 2, kp->sk, SEED_BYTES);  /* libsodium's sk starts with the seed */
    encode_text(raw, sizeof(raw), out);
    sodium_memzero(raw, sizeof(raw));
    return FLEET_OK;
}

fleet_status fleet_keypair_public(const fleet_keypair *kp, char *out, size_t n)
{
    uint8_t raw[RAW_PUBLIC_LEN];

    if (kp == NULL || out == NULL || n < FLEET_NKEY_PUBLIC_LEN + 1)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_keypair_public: NULL argument or buffer under %d bytes",
                          FLEET_NKEY_PUBLIC_LEN + 1);
    raw[0] = (uint8_t)PREFIX_USER;
    memcpy(raw + 1, kp->pk, FLEET_PUBLIC_KEY_BYTES);
    encode_text(raw, sizeof(raw), out);
    return FLEET_OK;
}

fleet_status fleet_keypair_sign(const fleet_keypair *kp, const uint8_t *msg, size_t len,
                                uint8_t sig[FLEET_SIGNATURE_LEN])
{
    if (kp == NULL || sig == NULL || (msg == NULL && len > 0))
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_keypair_sign: NULL argument");
    if (crypto_sign_detached(sig, NULL, msg, len, kp->sk) != 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "ed25519 signing failed");
    return FLEET_OK;
}

void fleet_keypair_destroy(fleet_keypair *kp)
{
    if (kp != NULL)
        sodium_free(kp);  /* makes it writable, zeroes it, unmaps it */
}

fleet_status fleet_nkey_public_decode(const char *text, uint8_t out[FLEET_PUBLIC_KEY_BYTES])
{
    uint8_t raw[RAW_PUBLIC_LEN];
    size_t len, n = 0;

    if (text == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_nkey_public_decode: NULL argument");
    len = strnlen(text, FLEET_NKEY_SEED_LEN + 1);
    /* The likeliest mistake, and one whose text must not be echoed. */
    if (text[0] == 'S')
        return fleet_fail(FLEET_ERR_DECODE, "this looks like a seed (S…), not a public key (U…): "
                                            "give the public key and keep the seed secret");
    if (len != FLEET_NKEY_PUBLIC_LEN)
        return fleet_fail(FLEET_ERR_DECODE, "a public key is %d characters (U…), this one has %zu",
                          FLEET_NKEY_PUBLIC_LEN, len);
    if (base32_decode(text, len, raw, sizeof(raw), &n) != 0 || n != sizeof(raw))
        return fleet_fail(FLEET_ERR_DECODE, "the public key is not valid nkey text "
                                            "(only A-Z and 2-7 are allowed)");
    if ((uint16_t)(raw[RAW_PUBLIC_LEN - 2] | raw[RAW_PUBLIC_LEN - 1] << 8) !=
        crc16_xmodem(raw, RAW_PUBLIC_LEN - 2))
        return fleet_fail(FLEET_ERR_DECODE, "the public key's checksum does not match "
                                            "(a typo or a truncated copy?)");
    if (raw[0] != PREFIX_USER)
        return fleet_fail(FLEET_ERR_DECODE, "this is a '%c' nkey, not a user public key (U…)", text[0]);
    memcpy(out, raw + 1, FLEET_PUBLIC_KEY_BYTES);
    return FLEET_OK;
}

bool fleet_nkey_verify(const uint8_t public_key[FLEET_PUBLIC_KEY_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t sig[FLEET_SIGNATURE_LEN])
{
    if (public_key == NULL || sig == NULL || (msg == NULL && len > 0))
        return false;
    if (nkey_sodium_init() != FLEET_OK)
        return false;
    /* libsodium 1.0.18 also refuses small-order keys and non-canonical
     * signatures (S >= L), so a signature is not malleable. */
    return crypto_sign_verify_detached(sig, msg, len, public_key) == 0;
}

void fleet_keypair_public_raw(const fleet_keypair *kp, uint8_t out[FLEET_PUBLIC_KEY_BYTES])
{
    memcpy(out, kp->pk, FLEET_PUBLIC_KEY_BYTES);
}

fleet_status nkey_x25519_secret(const fleet_keypair *kp, uint8_t out[32])
{
    if (crypto_sign_ed25519_sk_to_curve25519(out, kp->sk) != 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "the key pair has no X25519 form");
    return FLEET_OK;
}
