/* Signed operator commands: sealing, and opening against the configured
 * operator keys (include/fleet/admin.h). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/admin.h"
#include "fleet/nkey.h"
#include "fleet/v1/fleet.pb-c.h"

#define NOW 1700000000000LL

struct fx {
    fleet_keypair *alice, *bob, *mallory;
    uint8_t keys[2][FLEET_PUBLIC_KEY_BYTES]; /* alice, bob */
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL || fleet_keypair_generate(&f->alice) != FLEET_OK || fleet_keypair_generate(&f->bob) != FLEET_OK ||
        fleet_keypair_generate(&f->mallory) != FLEET_OK)
        return -1;
    fleet_keypair_public_raw(f->alice, f->keys[0]);
    fleet_keypair_public_raw(f->bob, f->keys[1]);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    fleet_keypair_destroy(f->alice);
    fleet_keypair_destroy(f->bob);
    fleet_keypair_destroy(f->mallory);
    free(f);
    return 0;
}

static fleet_admin_command command(fleet_admin_verb verb, const char *service, const char *instance)
{
    fleet_admin_command c;

    memset(&c, 0, sizeof(c));
    c.verb = verb;
    snprintf(c.service, sizeof(c.service), "%s", service);
    snprintf(c.instance, sizeof(c.instance), "%s", instance);
    snprintf(c.operator_name, sizeof(c.operator_name), "alice");
    snprintf(c.reason, sizeof(c.reason), "deploy 1.5.0");
    c.issued_unix_ms = NOW;
    c.expires_unix_ms = NOW + FLEET_ADMIN_DEFAULT_TTL_MS;
    assert_int_equal(fleet_admin_new_nonce(&c), FLEET_OK);
    return c;
}

static void seal(const fleet_admin_command *c, const fleet_keypair *kp, uint8_t **buf, size_t *len)
{
    assert_int_equal(fleet_admin_seal(c, kp, buf, len), FLEET_OK);
}

static void test_verb_names_round_trip(void **state)
{
    (void)state;
    for (int v = FLEET_VERB_NONE + 1; v < FLEET_VERB_COUNT; v++)
        assert_int_equal(fleet_admin_verb_parse(fleet_admin_verb_name((fleet_admin_verb)v)), v);
    assert_string_equal(fleet_admin_verb_name(FLEET_VERB_MAINTENANCE_ON), "maintenance-on");
    assert_int_equal(fleet_admin_verb_parse("reboot"), FLEET_VERB_NONE);
    assert_int_equal(fleet_admin_verb_parse("none"), FLEET_VERB_NONE);
    assert_int_equal(fleet_admin_verb_parse(NULL), FLEET_VERB_NONE);
    assert_string_equal(fleet_admin_verb_name((fleet_admin_verb)99), "none");
}

static void test_operator_names(void **state)
{
    char long_name[FLEET_OPERATOR_MAX + 2];

    (void)state;
    assert_true(fleet_operator_name_valid("alice"));
    assert_true(fleet_operator_name_valid("ops@studio.example"));
    assert_false(fleet_operator_name_valid(""));
    assert_false(fleet_operator_name_valid("al ice"));
    assert_false(fleet_operator_name_valid("al\nice"));
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_false(fleet_operator_name_valid(long_name));
    long_name[FLEET_OPERATOR_MAX] = '\0';
    assert_true(fleet_operator_name_valid(long_name));
}

static void test_seal_open_round_trip(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_RESTART, "story-teller", "story-teller-1"), got;
    uint8_t *buf;
    size_t len, who = 99;

    c.force = true;
    c.batch = 2;
    c.min_healthy_ms = 5000;
    seal(&c, f->bob, &buf, &len);
    assert_int_equal(fleet_admin_open(buf, len, (const uint8_t(*)[FLEET_PUBLIC_KEY_BYTES])f->keys, 2, &who, &got),
                     FLEET_REFUSE_NONE);
    assert_int_equal(who, 1);
    assert_int_equal(got.verb, FLEET_VERB_RESTART);
    assert_string_equal(got.service, "story-teller");
    assert_string_equal(got.instance, "story-teller-1");
    assert_string_equal(got.operator_name, "alice");
    assert_string_equal(got.reason, "deploy 1.5.0");
    assert_memory_equal(got.nonce, c.nonce, FLEET_NONCE_LEN);
    assert_int_equal(got.issued_unix_ms, NOW);
    assert_int_equal(got.expires_unix_ms, NOW + FLEET_ADMIN_DEFAULT_TTL_MS);
    assert_true(got.force);
    assert_int_equal(got.batch, 2);
    assert_int_equal(got.min_healthy_ms, 5000);
    free(buf);
}

/* The payload is plain protobuf: a client written from DESIGN.md reads the
 * verb as text and the fields at their numbers. */
static void test_payload_is_the_contract(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_MAINTENANCE_OFF, "lobby", "");
    Fleet__V1__Envelope *env;
    Fleet__V1__AdminCommand *m;
    uint8_t *buf;
    size_t len;

    seal(&c, f->alice, &buf, &len);
    env = fleet__v1__envelope__unpack(NULL, len, buf);
    assert_non_null(env);
    assert_int_equal(env->signature.len, FLEET_SIGNATURE_LEN);
    assert_int_equal(strlen(env->signer), FLEET_NKEY_PUBLIC_LEN);
    m = fleet__v1__admin_command__unpack(NULL, env->payload.len, env->payload.data);
    assert_non_null(m);
    assert_string_equal(m->verb, "maintenance-off");
    assert_string_equal(m->service, "lobby");
    assert_string_equal(m->instance, "");
    assert_string_equal(m->operator_, "alice");
    fleet__v1__admin_command__free_unpacked(m, NULL);
    fleet__v1__envelope__free_unpacked(env, NULL);
    free(buf);
}

static void test_unknown_signer_refused(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_FENCE, "lobby", "lobby-1"), got;
    uint8_t *buf;
    size_t len, who = 7;

    seal(&c, f->mallory, &buf, &len);
    assert_int_equal(fleet_admin_open(buf, len, (const uint8_t(*)[FLEET_PUBLIC_KEY_BYTES])f->keys, 2, &who, &got),
                     FLEET_REFUSE_UNTRUSTED_SIGNER);
    assert_int_equal(who, 7);
    free(buf);
}

/* Any changed byte of the signed payload breaks the signature; one that
 * changes the signer claims another key, and is refused as such. */
static void test_tampered_refused(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_RESTART, "lobby", "lobby-1"), got;
    Fleet__V1__Envelope *env;
    uint8_t *buf, *forged;
    size_t len, flen, who;
    char *pos;

    seal(&c, f->alice, &buf, &len);
    env = fleet__v1__envelope__unpack(NULL, len, buf);
    assert_non_null(env);
    pos = memmem(env->payload.data, env->payload.len, "lobby-1", 7);
    assert_non_null(pos);
    pos[6] = '2';  /* another instance, same signature */
    flen = fleet__v1__envelope__get_packed_size(env);
    forged = malloc(flen);
    assert_non_null(forged);
    fleet__v1__envelope__pack(env, forged);
    assert_int_equal(fleet_admin_open(forged, flen, (const uint8_t(*)[FLEET_PUBLIC_KEY_BYTES])f->keys, 2, &who, &got),
                     FLEET_REFUSE_BAD_SIGNATURE);
    free(forged);
    fleet__v1__envelope__free_unpacked(env, NULL);
    free(buf);
}

static void test_malformed_refused(void **state)
{
    struct fx *f = *state;
    const uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES] = (const uint8_t(*)[FLEET_PUBLIC_KEY_BYTES])f->keys;
    Fleet__V1__AdminCommand m = FLEET__V1__ADMIN_COMMAND__INIT;
    Fleet__V1__Envelope env = FLEET__V1__ENVELOPE__INIT;
    uint8_t nonce[FLEET_NONCE_LEN] = { 1 }, sig[FLEET_SIGNATURE_LEN], payload[512], out[1024];
    char signer[FLEET_NKEY_PUBLIC_LEN + 1];
    fleet_admin_command got;
    size_t plen, elen, who;
    static const uint8_t garbage[] = { 0xff, 0xff, 0xff };
    const struct {
        const char *verb, *service, *instance;
        size_t nonce_len;
        int64_t window_ms;
    } bad[] = {
        { "reboot", "lobby", "", FLEET_NONCE_LEN, 1000 },           /* unknown verb */
        { "restart", "lob.by", "", FLEET_NONCE_LEN, 1000 },         /* not a name */
        { "restart", "lobby", "a b", FLEET_NONCE_LEN, 1000 },
        { "restart", "lobby", "", 8, 1000 },                        /* short nonce */
        { "restart", "lobby", "", FLEET_NONCE_LEN, -1 },            /* expires before issue */
        { "restart", "lobby", "", FLEET_NONCE_LEN, FLEET_ADMIN_MAX_WINDOW_MS + 1 },
    };

    assert_int_equal(fleet_admin_open(garbage, sizeof(garbage), keys, 2, &who, &got), FLEET_REFUSE_MALFORMED);
    assert_int_equal(fleet_keypair_public(f->alice, signer, sizeof(signer)), FLEET_OK);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        m.verb = (char *)bad[k].verb;
        m.service = (char *)bad[k].service;
        m.instance = (char *)bad[k].instance;
        m.nonce.data = nonce;
        m.nonce.len = bad[k].nonce_len;
        m.issued_unix_ms = NOW;
        m.expires_unix_ms = NOW + bad[k].window_ms;
        plen = fleet__v1__admin_command__pack(&m, payload);
        assert_int_equal(fleet_keypair_sign(f->alice, payload, plen, sig), FLEET_OK);
        env.payload.data = payload;
        env.payload.len = plen;
        env.signature.data = sig;
        env.signature.len = sizeof(sig);
        env.signer = signer;
        elen = fleet__v1__envelope__pack(&env, out);
        assert_int_equal(fleet_admin_open(out, elen, keys, 2, &who, &got), FLEET_REFUSE_MALFORMED);
    }
}

static void test_seal_refuses_bad_form(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_NONE, "lobby", "");
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(fleet_admin_seal(&c, f->alice, &buf, &len), FLEET_ERR_INVALID_ARG);
    c.verb = FLEET_VERB_DRAIN;
    c.expires_unix_ms = c.issued_unix_ms + FLEET_ADMIN_MAX_WINDOW_MS + 1;
    assert_int_equal(fleet_admin_seal(&c, f->alice, &buf, &len), FLEET_ERR_INVALID_ARG);
    assert_null(buf);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verb_names_round_trip),
        cmocka_unit_test(test_operator_names),
        cmocka_unit_test(test_seal_open_round_trip),
        cmocka_unit_test(test_payload_is_the_contract),
        cmocka_unit_test(test_unknown_signer_refused),
        cmocka_unit_test(test_tampered_refused),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_seal_refuses_bad_form),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
