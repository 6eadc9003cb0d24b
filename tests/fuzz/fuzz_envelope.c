/* libFuzzer target: a control verifier with one trusted key.
 *
 * The first input byte picks the mode:
 *   even: the rest is an envelope, checked as it is;
 *   odd:  the rest is a list of (offset, xor) byte pairs applied to a valid
 *         sealed envelope (offsets modulo its length), reaching the checks
 *         behind the signature that random bytes never get past.
 * Invariants beyond "no crash": nothing but the untouched envelope's exact
 * payload may be accepted, so an accepted Control must equal the sealed one;
 * and the unmodified envelope must be accepted. Each input gets a fresh
 * verifier, so replay state does not leak between inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/control.h"
#include "fleet/nkey.h"
#include "fuzz_input.h"

#define NOW 1700000000000LL
#define INCARNATION 7u

/* A fixed key (npm @nats-io/nkeys made it), so runs are reproducible. */
static const char seed[] = "SUABRNRODRB5HTJGRYADOSEWYWANNB7SXQ6YBUDGZ7KZ5JGEPK7ZSREIV4";

static fleet_keypair *key;
static char key_pub[FLEET_NKEY_PUBLIC_LEN + 1];
static fleet_control sealed_control;
static uint8_t *sealed;
static size_t sealed_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Field by field: struct padding need not survive a struct copy. */
static int control_equal(const fleet_control *a, const fleet_control *b)
{
    return strcmp(a->service, b->service) == 0 && strcmp(a->instance, b->instance) == 0 &&
           a->incarnation == b->incarnation && a->action == b->action && a->fence_epoch == b->fence_epoch &&
           a->term == b->term && a->seq == b->seq && a->issued_unix_ms == b->issued_unix_ms &&
           a->expires_unix_ms == b->expires_unix_ms && memcmp(a->nonce, b->nonce, sizeof(a->nonce)) == 0 &&
           strcmp(a->reason, b->reason) == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fleet_control *c = &sealed_control;

    (void)argc;
    (void)argv;
    if (fleet_keypair_from_seed(seed, &key) != FLEET_OK ||
        fleet_keypair_public(key, key_pub, sizeof(key_pub)) != FLEET_OK)
        abort();
    memset(c, 0, sizeof(*c));
    strcpy(c->service, "svc");
    strcpy(c->instance, "inst");
    c->incarnation = INCARNATION;
    c->action = FLEET_ACTION_FENCE;
    c->fence_epoch = 3;
    c->term = 2;
    c->seq = 9;
    c->issued_unix_ms = NOW - 1000;
    c->expires_unix_ms = NOW + 60000;
    memset(c->nonce, 0x5a, sizeof(c->nonce));
    strcpy(c->reason, "fuzz");
    if (fleet_control_seal(c, key, &sealed, &sealed_len) != FLEET_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *trusted[] = { key_pub };
    fleet_verifier_opts o = { .service = "svc", .instance = "inst", .trusted = trusted, .n_trusted = 1 };
    fleet_verifier *v = NULL;
    fleet_control out;
    fleet_refusal r;
    uint8_t *buf;
    size_t len;
    int untouched;

    if (size == 0)
        return 0;
    if (fleet_verifier_create(&o, &v) != FLEET_OK)
        abort();
    buf = fuzz_input(data, size, sealed, sealed_len, &len, &untouched);
    r = fleet_verifier_check(v, buf, len, INCARNATION, NOW, &out);
    if (r == FLEET_REFUSE_NONE && !control_equal(&out, &sealed_control))
        abort();   /* accepted something the key never signed */
    if (untouched && r != FLEET_REFUSE_NONE)
        abort();   /* refused the genuine envelope */
    free(buf);
    fleet_verifier_destroy(v);
    return 0;
}
