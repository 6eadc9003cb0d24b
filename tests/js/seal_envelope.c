/* Test helper for tests/js/nkeys.test.mjs: the C half of the nkey interop.
 *
 *   fleet_seal_envelope SEED_FILE [SERVICE INSTANCE INCARNATION]
 *       prints, as one line of hex, an Envelope holding a Control (RESTART,
 *       term 1, seq 1, valid for 60 s from now) sealed with the seed's key.
 *   fleet_seal_envelope --verify PUBKEY SERVICE INSTANCE INCARNATION < HEXFILE
 *       checks the hex envelope on stdin with a fresh verifier trusting only
 *       PUBKEY, at the current wall clock, and prints "accepted" or the rule
 *       that refused it.
 * Exit 0 when it printed a result, 1 on a usage or I/O error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fleet/control.h"
#include "fleet/nkey.h"

#define HEX_MAX (2 * FLEET_ENVELOPE_MAX + 2)

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-' ? 0 : -1;
}

static int seal(const char *seed_file, const char *service, const char *instance, uint64_t incarnation)
{
    fleet_keypair *kp = NULL;
    fleet_control c;
    uint8_t *env = NULL;
    size_t len = 0;
    int64_t now = wall_ms();

    if (fleet_keypair_from_seed_file(seed_file, &kp) != FLEET_OK) {
        fprintf(stderr, "fleet_seal_envelope: %s\n", fleet_last_error());
        return 1;
    }
    memset(&c, 0, sizeof(c));
    snprintf(c.service, sizeof(c.service), "%s", service);
    snprintf(c.instance, sizeof(c.instance), "%s", instance);
    c.incarnation = incarnation;
    c.action = FLEET_ACTION_RESTART;
    c.term = 1;
    c.seq = 1;
    c.issued_unix_ms = now;
    c.expires_unix_ms = now + 60000;
    snprintf(c.reason, sizeof(c.reason), "js interop");
    if (fleet_control_new_nonce(&c) != FLEET_OK || fleet_control_seal(&c, kp, &env, &len) != FLEET_OK) {
        fprintf(stderr, "fleet_seal_envelope: %s\n", fleet_last_error());
        fleet_keypair_destroy(kp);
        return 1;
    }
    for (size_t i = 0; i < len; i++)
        printf("%02x", env[i]);
    printf("\n");
    free(env);
    fleet_keypair_destroy(kp);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int verify(const char *pub, const char *service, const char *instance, uint64_t incarnation)
{
    static char hex[HEX_MAX + 1];
    static uint8_t env[FLEET_ENVELOPE_MAX + 1];
    const char *trusted[] = { pub };
    fleet_verifier_opts o = { .service = service, .instance = instance, .trusted = trusted, .n_trusted = 1 };
    fleet_verifier *v = NULL;
    size_t hex_len, len = 0;
    fleet_refusal r;

    hex_len = fread(hex, 1, HEX_MAX, stdin);
    hex[hex_len] = '\0';
    if (sodium_hex2bin(env, sizeof(env), hex, hex_len, " \r\n", &len, NULL) != 0) {
        fprintf(stderr, "fleet_seal_envelope: stdin is not hex of at most %d bytes\n", FLEET_ENVELOPE_MAX + 1);
        return 1;
    }
    if (fleet_verifier_create(&o, &v) != FLEET_OK) {
        fprintf(stderr, "fleet_seal_envelope: %s\n", fleet_last_error());
        return 1;
    }
    r = fleet_verifier_check(v, env, len, incarnation, wall_ms(), NULL);
    printf("%s\n", fleet_refusal_rule(r));
    fleet_verifier_destroy(v);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    uint64_t incarnation = 7;

    if (argc == 6 && strcmp(argv[1], "--verify") == 0) {
        if (parse_u64(argv[5], &incarnation) != 0)
            goto usage;
        return verify(argv[2], argv[3], argv[4], incarnation);
    }
    if (argc == 2)
        return seal(argv[1], "svc", "inst", incarnation);
    if (argc == 5 && parse_u64(argv[4], &incarnation) == 0)
        return seal(argv[1], argv[2], argv[3], incarnation);
usage:
    fputs("usage: fleet_seal_envelope SEED_FILE [SERVICE INSTANCE INCARNATION]\n"
          "       fleet_seal_envelope --verify PUBKEY SERVICE INSTANCE INCARNATION < HEXFILE\n", stderr);
    return 1;
}
