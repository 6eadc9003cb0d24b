/* NATS nkey text form, seed files and Ed25519 signing (include/fleet/nkey.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "fleet/nkey.h"
#include "fleet/status.h"

/* Known answer, made by the NATS ecosystem's own library (npm @nats-io/nkeys
 * 2.0.3: createUser(), getSeed(), getPublicKey(), sign()), not by our code. */
static const char kat_seed[] = "SUABRNRODRB5HTJGRYADOSEWYWANNB7SXQ6YBUDGZ7KZ5JGEPK7ZSREIV4";
static const char kat_public[] = "UAJSGAOBMJBJOTTRWSKCV45BSCGYZJ47C4J747JDC3BYCF7INB3OW7CI";
static const char kat_msg[] = "fleet nkey known answer";
static const char kat_sig_hex[] =
    "8815f6ca4ec3f0fd4e76dd025c9faf77be00163e2486502ca6a954d91f026331"
    "809ddaf8c7be5a29741dcee896721f81fa79a92cdfe317962df3852f84c1b908";
/* Other kinds of nkey from the same library: a server public key, an
 * operator seed, an account public key and seed. */
static const char server_public[] = "NBC7W4WLWJ37Z5XM4QZB6DJUEVNQS4CCT7AXJSCGFQ7VG2XT6VNRXYSJ";
static const char operator_seed[] = "SOAM2AL4W5DFHT4ZLXZCR7KYV5CSTHMJJASZT7MFR7ODMR53GB5JFQNFXE";
static const char account_public[] = "ADUL3GWI5EFTOEAXLSMJKJQFJOM77MTPOJLUSY5VNXFOPRFBMCDY5234";
static const char account_seed[] = "SAAJNVS3TEXWDET4NGDDFQ3L4XYEBZ6ZSVXA3N6DQSQV4RD7IWWQI7N2OU";

static void assert_error_has(const char *needle)
{
    if (strstr(fleet_last_error(), needle) == NULL)
        fail_msg("fleet_last_error() = \"%s\", expected it to contain \"%s\"", fleet_last_error(), needle);
}

/* The detail of a refused seed must never quote it. */
static void assert_error_hides(const char *secret)
{
    char prefix[12];

    snprintf(prefix, sizeof(prefix), "%.10s", secret + 2);
    if (strstr(fleet_last_error(), prefix) != NULL)
        fail_msg("fleet_last_error() quotes the secret: \"%s\"", fleet_last_error());
}

static void test_known_answer(void **state)
{
    fleet_keypair *kp = NULL;
    char seed[FLEET_NKEY_SEED_LEN + 1], pub[FLEET_NKEY_PUBLIC_LEN + 1];
    uint8_t sig[FLEET_SIGNATURE_LEN], want[FLEET_SIGNATURE_LEN], raw[FLEET_PUBLIC_KEY_BYTES];

    (void)state;
    assert_int_equal(fleet_keypair_from_seed(kat_seed, &kp), FLEET_OK);
    assert_int_equal(fleet_keypair_public(kp, pub, sizeof(pub)), FLEET_OK);
    assert_string_equal(pub, kat_public);
    assert_int_equal(fleet_keypair_seed(kp, seed, sizeof(seed)), FLEET_OK);
    assert_string_equal(seed, kat_seed);
    /* Ed25519 is deterministic: the same signature as nkeys made. */
    assert_int_equal(fleet_keypair_sign(kp, (const uint8_t *)kat_msg, strlen(kat_msg), sig), FLEET_OK);
    assert_int_equal(sodium_hex2bin(want, sizeof(want), kat_sig_hex, strlen(kat_sig_hex), NULL, NULL, NULL), 0);
    assert_memory_equal(sig, want, sizeof(sig));
    assert_int_equal(fleet_nkey_public_decode(kat_public, raw), FLEET_OK);
    assert_true(fleet_nkey_verify(raw, (const uint8_t *)kat_msg, strlen(kat_msg), want));
    sodium_memzero(seed, sizeof(seed));
    fleet_keypair_destroy(kp);
}

static void test_generate_round_trip(void **state)
{
    fleet_keypair *a = NULL, *b = NULL;
    char seed[FLEET_NKEY_SEED_LEN + 1], pa[FLEET_NKEY_PUBLIC_LEN + 1], pb[FLEET_NKEY_PUBLIC_LEN + 1];

    (void)state;
    for (int i = 0; i < 64; i++) {
        assert_int_equal(fleet_keypair_generate(&a), FLEET_OK);
        assert_int_equal(fleet_keypair_seed(a, seed, sizeof(seed)), FLEET_OK);
        assert_int_equal(strlen(seed), FLEET_NKEY_SEED_LEN);
        assert_true(seed[0] == 'S' && seed[1] == 'U');
        assert_int_equal(fleet_keypair_public(a, pa, sizeof(pa)), FLEET_OK);
        assert_int_equal(strlen(pa), FLEET_NKEY_PUBLIC_LEN);
        assert_int_equal(pa[0], 'U');
        assert_int_equal(fleet_keypair_from_seed(seed, &b), FLEET_OK);
        assert_int_equal(fleet_keypair_public(b, pb, sizeof(pb)), FLEET_OK);
        assert_string_equal(pa, pb);
        sodium_memzero(seed, sizeof(seed));
        fleet_keypair_destroy(a);
        fleet_keypair_destroy(b);
    }
    fleet_keypair_destroy(NULL);
}

static void test_small_buffers_refused(void **state)
{
    fleet_keypair *kp = NULL;
    char buf[FLEET_NKEY_SEED_LEN + 1];

    (void)state;
    assert_int_equal(fleet_keypair_from_seed(kat_seed, &kp), FLEET_OK);
    assert_int_equal(fleet_keypair_seed(kp, buf, FLEET_NKEY_SEED_LEN), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_keypair_public(kp, buf, FLEET_NKEY_PUBLIC_LEN), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_keypair_from_seed(NULL, &kp), FLEET_ERR_INVALID_ARG);
    fleet_keypair_destroy(kp);
}

/* Changes one character of `text` to another valid base32 character. */
static void flip_char(char *text, size_t i)
{
    text[i] = text[i] == 'A' ? 'B' : 'A';
}

static void test_bad_crc(void **state)
{
    char seed[sizeof(kat_seed)], pub[sizeof(kat_public)];
    uint8_t raw[FLEET_PUBLIC_KEY_BYTES];
    fleet_keypair *kp = NULL;

    (void)state;
    memcpy(pub, kat_public, sizeof(pub));
    flip_char(pub, 20);
    assert_int_equal(fleet_nkey_public_decode(pub, raw), FLEET_ERR_DECODE);
    assert_error_has("checksum");
    memcpy(seed, kat_seed, sizeof(seed));
    flip_char(seed, 20);
    assert_int_equal(fleet_keypair_from_seed(seed, &kp), FLEET_ERR_DECODE);
    assert_error_has("checksum");
    assert_error_hides(seed);
    assert_null(kp);
}

static void test_wrong_prefix(void **state)
{
    uint8_t raw[FLEET_PUBLIC_KEY_BYTES];
    fleet_keypair *kp = NULL;

    (void)state;
    /* A seed where a public key belongs: refused without echoing it. */
    assert_int_equal(fleet_nkey_public_decode(kat_seed, raw), FLEET_ERR_DECODE);
    assert_error_has("seed");
    assert_error_hides(kat_seed);
    assert_int_equal(fleet_nkey_public_decode(server_public, raw), FLEET_ERR_DECODE);
    assert_error_has("'N'");
    assert_int_equal(fleet_nkey_public_decode(account_public, raw), FLEET_ERR_DECODE);
    assert_error_has("not a user public key");
    /* A public key where a seed belongs. */
    assert_int_equal(fleet_keypair_from_seed(kat_public, &kp), FLEET_ERR_DECODE);
    /* Seeds of other key kinds. */
    assert_int_equal(fleet_keypair_from_seed(operator_seed, &kp), FLEET_ERR_DECODE);
    assert_error_has("another kind");
    assert_error_hides(operator_seed);
    assert_int_equal(fleet_keypair_from_seed(account_seed, &kp), FLEET_ERR_DECODE);
    assert_error_has("another kind");
    assert_null(kp);
}

static void test_bad_length(void **state)
{
    char buf[80];
    uint8_t raw[FLEET_PUBLIC_KEY_BYTES];
    fleet_keypair *kp = NULL;

    (void)state;
    snprintf(buf, sizeof(buf), "%.55s", kat_public);
    assert_int_equal(fleet_nkey_public_decode(buf, raw), FLEET_ERR_DECODE);
    assert_error_has("56 characters");
    snprintf(buf, sizeof(buf), "%sA", kat_public);
    assert_int_equal(fleet_nkey_public_decode(buf, raw), FLEET_ERR_DECODE);
    assert_int_equal(fleet_nkey_public_decode("", raw), FLEET_ERR_DECODE);
    snprintf(buf, sizeof(buf), "%.57s", kat_seed);
    assert_int_equal(fleet_keypair_from_seed(buf, &kp), FLEET_ERR_DECODE);
    assert_error_has("58 characters");
    snprintf(buf, sizeof(buf), "%s\n", kat_seed);   /* the text API does not trim */
    assert_int_equal(fleet_keypair_from_seed(buf, &kp), FLEET_ERR_DECODE);
    assert_int_equal(fleet_keypair_from_seed("", &kp), FLEET_ERR_DECODE);
    assert_null(kp);
}

static void test_bad_alphabet(void **state)
{
    static const char bad[] = { 'a', 'u', '0', '1', '8', '9', '=', ' ', '-', '\x80' };
    char pub[sizeof(kat_public)], seed[sizeof(kat_seed)];
    uint8_t raw[FLEET_PUBLIC_KEY_BYTES];
    fleet_keypair *kp = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(bad); i++) {
        memcpy(pub, kat_public, sizeof(pub));
        pub[10] = bad[i];
        assert_int_equal(fleet_nkey_public_decode(pub, raw), FLEET_ERR_DECODE);
        assert_error_has("A-Z and 2-7");
        memcpy(seed, kat_seed, sizeof(seed));
        seed[30] = bad[i];
        assert_int_equal(fleet_keypair_from_seed(seed, &kp), FLEET_ERR_DECODE);
    }
    /* Lower case is not the same key: nkeys are upper case only. */
    for (size_t i = 0; i < sizeof(pub) - 1; i++)
        pub[i] = (char)(kat_public[i] >= 'A' && kat_public[i] <= 'Z' ? kat_public[i] + 32 : kat_public[i]);
    assert_int_equal(fleet_nkey_public_decode(pub, raw), FLEET_ERR_DECODE);
    /* A seed's 58 characters carry 2 padding bits; set they would give a
     * second spelling of the same seed, so they are refused. */
    memcpy(seed, kat_seed, sizeof(seed));
    assert_int_equal(seed[57], '4');  /* '4' = 28 = 0b11100: low bits 00 */
    seed[57] = '5';                   /* same 3 data bits, padding 01 */
    assert_int_equal(fleet_keypair_from_seed(seed, &kp), FLEET_ERR_DECODE);
    assert_null(kp);
}

/* Writes `content` to a fresh temp file with `mode`; returns its path (static). */
static const char *temp_file(const char *content, mode_t mode)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/fleet-nkey-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static void test_seed_file(void **state)
{
    char line[FLEET_NKEY_SEED_LEN + 8], pub[FLEET_NKEY_PUBLIC_LEN + 1];
    fleet_keypair *kp = NULL;
    const char *path;

    (void)state;
    /* Mode 0600, surrounding whitespace: accepted. */
    snprintf(line, sizeof(line), "  %s\r\n\n", kat_seed);
    path = temp_file(line, 0600);
    assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_OK);
    assert_int_equal(fleet_keypair_public(kp, pub, sizeof(pub)), FLEET_OK);
    assert_string_equal(pub, kat_public);
    fleet_keypair_destroy(kp);
    kp = NULL;
    /* 0400 is fine too. */
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_OK);
    fleet_keypair_destroy(kp);
    kp = NULL;
    /* Group or world access: refused, naming the mode and the fix. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_not_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_OK);
    assert_error_has("0644");
    assert_error_has("chmod 600");
    assert_error_has(path);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_not_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_OK);
    assert_error_has("0640");
    assert_int_equal(chmod(path, 0602), 0);
    assert_int_not_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_OK);
    assert_null(kp);
    unlink(path);

    /* Missing file. */
    assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_ERR_SYSTEM);
    assert_error_has(path);
    /* A directory is not a regular file. */
    assert_int_not_equal(fleet_keypair_from_seed_file("/tmp", &kp), FLEET_OK);
    assert_error_has("not a regular file");
    /* A public key in a seed file: refused, and the text not quoted. */
    path = temp_file(kat_public, 0600);
    assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_ERR_DECODE);
    assert_error_has(path);
    unlink(path);
    /* A corrupt seed: refused without quoting it. */
    snprintf(line, sizeof(line), "%s", kat_seed);
    flip_char(line, 30);
    path = temp_file(line, 0600);
    assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_ERR_DECODE);
    assert_error_hides(line);
    unlink(path);
    /* Two seeds in one file are not one seed. */
    snprintf(line, sizeof(line), "%s", kat_seed);
    {
        char two[2 * sizeof(kat_seed) + 2];

        snprintf(two, sizeof(two), "%s\n%s\n", kat_seed, kat_seed);
        path = temp_file(two, 0600);
        assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_ERR_DECODE);
        unlink(path);
    }
    /* Empty file. */
    path = temp_file("", 0600);
    assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_ERR_DECODE);
    unlink(path);
    assert_null(kp);
}

static void test_sign_verify(void **state)
{
    static const uint8_t msg[] = "restart story-teller-1";
    uint8_t sig[FLEET_SIGNATURE_LEN], pk[FLEET_PUBLIC_KEY_BYTES], bad[sizeof(msg)];
    char pub[FLEET_NKEY_PUBLIC_LEN + 1];
    fleet_keypair *kp = NULL, *other = NULL;

    (void)state;
    assert_int_equal(fleet_keypair_generate(&kp), FLEET_OK);
    assert_int_equal(fleet_keypair_generate(&other), FLEET_OK);
    assert_int_equal(fleet_keypair_public(kp, pub, sizeof(pub)), FLEET_OK);
    assert_int_equal(fleet_nkey_public_decode(pub, pk), FLEET_OK);
    assert_int_equal(fleet_keypair_sign(kp, msg, sizeof(msg), sig), FLEET_OK);
    assert_true(fleet_nkey_verify(pk, msg, sizeof(msg), sig));

    /* Every single-bit flip of the message or the signature fails. */
    for (size_t i = 0; i < sizeof(msg) * 8; i++) {
        memcpy(bad, msg, sizeof(msg));
        bad[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(fleet_nkey_verify(pk, bad, sizeof(bad), sig));
    }
    for (size_t i = 0; i < sizeof(sig) * 8; i++) {
        sig[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(fleet_nkey_verify(pk, msg, sizeof(msg), sig));
        sig[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_false(fleet_nkey_verify(pk, msg, sizeof(msg) - 1, sig));
    /* Another key's signature. */
    assert_int_equal(fleet_keypair_sign(other, msg, sizeof(msg), sig), FLEET_OK);
    assert_false(fleet_nkey_verify(pk, msg, sizeof(msg), sig));
    /* The empty message is a message. */
    assert_int_equal(fleet_keypair_sign(kp, NULL, 0, sig), FLEET_OK);
    assert_true(fleet_nkey_verify(pk, NULL, 0, sig));
    fleet_keypair_destroy(kp);
    fleet_keypair_destroy(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_generate_round_trip),
        cmocka_unit_test(test_small_buffers_refused),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_wrong_prefix),
        cmocka_unit_test(test_bad_length),
        cmocka_unit_test(test_bad_alphabet),
        cmocka_unit_test(test_seed_file),
        cmocka_unit_test(test_sign_verify),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
