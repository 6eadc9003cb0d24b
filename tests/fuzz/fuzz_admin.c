/* libFuzzer target: the supervisor's gate for operators' commands
 * (supervisor/daemon/admin.h) over one operator, alice, allowed to restart
 * services "story-*".
 *
 * The first input byte picks the mode, as in fuzz_envelope:
 *   even: the rest is an envelope, judged as it is;
 *   odd:  the rest is a list of (offset, xor) byte pairs applied to a valid
 *         envelope alice sealed (offsets modulo its length), reaching the
 *         rules behind the signature that random bytes never get past.
 * Invariants beyond "no crash": nothing but the untouched envelope may be
 * accepted, and then it must read back as sealed; the untouched one must be
 * accepted; every refusal must name its rule. Each input gets a fresh gate,
 * so remembered nonces do not leak between inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fleet/nkey.h"
#include "fuzz_input.h"

#define NOW 1700000000000LL

/* The fixed key of fuzz_envelope (npm @nats-io/nkeys made it), so runs are
 * reproducible. */
static const char seed[] = "SUABRNRODRB5HTJGRYADOSEWYWANNB7SXQ6YBUDGZ7KZ5JGEPK7ZSREIV4";

static struct supervisor_operator alice;
static char alice_services[1][FLEET_NAME_MAX + 1] = { "story-*" };
static fleet_admin_command sealed_command;
static uint8_t *sealed;
static size_t sealed_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int command_equal(const fleet_admin_command *a, const fleet_admin_command *b)
{
    return a->verb == b->verb && strcmp(a->service, b->service) == 0 && strcmp(a->instance, b->instance) == 0 &&
           strcmp(a->operator_name, b->operator_name) == 0 && memcmp(a->nonce, b->nonce, sizeof(a->nonce)) == 0 &&
           a->issued_unix_ms == b->issued_unix_ms && a->expires_unix_ms == b->expires_unix_ms &&
           strcmp(a->reason, b->reason) == 0 && a->force == b->force && a->batch == b->batch &&
           a->min_healthy_ms == b->min_healthy_ms;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fleet_admin_command *c = &sealed_command;
    fleet_keypair *key = NULL;

    (void)argc;
    (void)argv;
    if (fleet_keypair_from_seed(seed, &key) != FLEET_OK ||
        fleet_keypair_public(key, alice.key, sizeof(alice.key)) != FLEET_OK)
        abort();
    strcpy(alice.name, "alice");
    alice.verbs = 1u << FLEET_VERB_RESTART;
    alice.services = alice_services;
    alice.n_services = 1;
    memset(c, 0, sizeof(*c));
    c->verb = FLEET_VERB_RESTART;
    strcpy(c->service, "story-teller");
    strcpy(c->instance, "story-teller-1");
    strcpy(c->operator_name, "alice");
    memset(c->nonce, 0x5a, sizeof(c->nonce));
    c->issued_unix_ms = NOW - 1000;
    c->expires_unix_ms = NOW + 20000;
    strcpy(c->reason, "fuzz");
    c->batch = 2;
    c->min_healthy_ms = 5000;
    if (fleet_admin_seal(c, key, &sealed, &sealed_len) != FLEET_OK)
        abort();
    fleet_keypair_destroy(key);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_gate *g = NULL;
    fleet_admin_command out;
    const char *who = NULL;
    char why[320];
    enum admin_rule r;
    uint8_t *buf;
    size_t len;
    int untouched;

    if (size == 0)
        return 0;
    if (admin_gate_create(&alice, 1, 30000, 0, &g) != 0)
        abort();
    buf = fuzz_input(data, size, sealed, sealed_len, &len, &untouched);
    why[0] = '\0';
    r = admin_gate_check(g, "restart", buf, len, NOW, &out, &who, why, sizeof(why));
    if (r == ADMIN_ACCEPTED && (!command_equal(&out, &sealed_command) || who == NULL || strcmp(who, "alice") != 0))
        abort();   /* accepted something alice never signed */
    if (untouched && r != ADMIN_ACCEPTED)
        abort();   /* refused the genuine command */
    if (r != ADMIN_ACCEPTED && strncmp(why, admin_rule_name(r), strlen(admin_rule_name(r))) != 0)
        abort();   /* a refusal that does not name its rule */
    free(buf);
    admin_gate_destroy(g);
    return 0;
}
