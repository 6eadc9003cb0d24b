/* Signed control: sealing, and a receiver's verifier refusing each rule of
 * DESIGN.md §7 (include/fleet/control.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/control.h"
#include "fleet/nkey.h"
#include "fleet/v1/fleet.pb-c.h"

#define SERVICE "story-teller"
#define INSTANCE "story-teller-1"
#define INCARNATION 0x5eedULL
#define NOW 1700000000000LL

struct fx {
    fleet_keypair *key;    /* trusted */
    fleet_keypair *key2;   /* trusted too (rotation) */
    fleet_keypair *evil;   /* not trusted */
    char pub[FLEET_NKEY_PUBLIC_LEN + 1];
    char pub2[FLEET_NKEY_PUBLIC_LEN + 1];
    fleet_verifier *v;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *trusted[2];
    fleet_verifier_opts o = { .service = SERVICE, .instance = INSTANCE, .trusted = trusted, .n_trusted = 2 };

    if (f == NULL || fleet_keypair_generate(&f->key) != FLEET_OK ||
        fleet_keypair_generate(&f->key2) != FLEET_OK || fleet_keypair_generate(&f->evil) != FLEET_OK ||
        fleet_keypair_public(f->key, f->pub, sizeof(f->pub)) != FLEET_OK ||
        fleet_keypair_public(f->key2, f->pub2, sizeof(f->pub2)) != FLEET_OK)
        return -1;
    trusted[0] = f->pub;
    trusted[1] = f->pub2;
    if (fleet_verifier_create(&o, &f->v) != FLEET_OK)
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    fleet_verifier_destroy(f->v);
    fleet_keypair_destroy(f->key);
    fleet_keypair_destroy(f->key2);
    fleet_keypair_destroy(f->evil);
    free(f);
    return 0;
}

/* A valid RESTART for our instance at NOW, with a fresh nonce. */
static fleet_control make_control(uint64_t term, uint64_t seq)
{
    fleet_control c;

    memset(&c, 0, sizeof(c));
    snprintf(c.service, sizeof(c.service), "%s", SERVICE);
    snprintf(c.instance, sizeof(c.instance), "%s", INSTANCE);
    c.incarnation = INCARNATION;
    c.action = FLEET_ACTION_RESTART;
    c.term = term;
    c.seq = seq;
    c.issued_unix_ms = NOW;
    c.expires_unix_ms = NOW + 10000;
    snprintf(c.reason, sizeof(c.reason), "crashloop");
    assert_int_equal(fleet_control_new_nonce(&c), FLEET_OK);
    return c;
}

struct sealed {
    uint8_t *buf;
    size_t len;
};

static struct sealed seal(const fleet_control *c, const fleet_keypair *kp)
{
    struct sealed s = { NULL, 0 };

    assert_int_equal(fleet_control_seal(c, kp, &s.buf, &s.len), FLEET_OK);
    return s;
}

static fleet_refusal check(struct fx *f, struct sealed s)
{
    fleet_refusal r = fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL);

    free(s.buf);
    return r;
}

static void assert_rule(fleet_refusal got, fleet_refusal want)
{
    if (got != want)
        fail_msg("verifier said %s, expected %s", fleet_refusal_rule(got), fleet_refusal_rule(want));
}

/* Builds an Envelope around arbitrary payload bytes, signed by kp. */
static struct sealed envelope_of(const uint8_t *payload, size_t len, const fleet_keypair *kp, const char *signer)
{
    Fleet__V1__Envelope env = FLEET__V1__ENVELOPE__INIT;
    uint8_t sig[FLEET_SIGNATURE_LEN];
    char pub[FLEET_NKEY_PUBLIC_LEN + 1];
    struct sealed s;

    assert_int_equal(fleet_keypair_sign(kp, payload, len, sig), FLEET_OK);
    assert_int_equal(fleet_keypair_public(kp, pub, sizeof(pub)), FLEET_OK);
    env.payload.data = (uint8_t *)payload;
    env.payload.len = len;
    env.signature.data = sig;
    env.signature.len = sizeof(sig);
    env.signer = (char *)(signer != NULL ? signer : pub);
    s.len = fleet__v1__envelope__get_packed_size(&env);
    s.buf = malloc(s.len);
    assert_non_null(s.buf);
    fleet__v1__envelope__pack(&env, s.buf);
    return s;
}

/* A Control packed by hand, for forms fleet_control_seal refuses to make. */
static struct sealed hand_sealed(const fleet_control *c, const fleet_keypair *kp, size_t nonce_len)
{
    Fleet__V1__Control m = FLEET__V1__CONTROL__INIT;
    uint8_t payload[1024];
    size_t len;

    m.service = (char *)c->service;
    m.instance = (char *)c->instance;
    m.incarnation = c->incarnation;
    m.action = (Fleet__V1__Action)c->action;
    m.term = c->term;
    m.seq = c->seq;
    m.issued_unix_ms = c->issued_unix_ms;
    m.expires_unix_ms = c->expires_unix_ms;
    m.nonce.data = (uint8_t *)c->nonce;
    m.nonce.len = nonce_len;
    m.reason = (char *)c->reason;
    assert_true(fleet__v1__control__get_packed_size(&m) <= sizeof(payload));
    len = fleet__v1__control__pack(&m, payload);
    return envelope_of(payload, len, kp, NULL);
}

static void test_accept(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(3, 1), got;
    struct sealed s = seal(&c, f->key);
    uint64_t accepted, refused[FLEET_REFUSE_COUNT];

    assert_int_equal(fleet_verifier_term_seen(f->v), 0);
    memset(&got, 0xa5, sizeof(got));
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, &got), FLEET_REFUSE_NONE);
    free(s.buf);
    assert_string_equal(got.service, SERVICE);
    assert_string_equal(got.instance, INSTANCE);
    assert_string_equal(got.reason, "crashloop");
    assert_int_equal(got.action, FLEET_ACTION_RESTART);
    assert_int_equal(got.term, 3);
    assert_int_equal(got.seq, 1);
    assert_int_equal(got.incarnation, INCARNATION);
    assert_memory_equal(got.nonce, c.nonce, FLEET_NONCE_LEN);
    assert_int_equal(fleet_verifier_term_seen(f->v), 3);
    fleet_verifier_counters(f->v, &accepted, refused);
    assert_int_equal(accepted, 1);
    for (int r = 0; r < FLEET_REFUSE_COUNT; r++)
        assert_int_equal(refused[r], 0);
}

static void test_bad_signature(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1), got;
    struct sealed s = seal(&c, f->key);
    Fleet__V1__Envelope *env = fleet__v1__envelope__unpack(NULL, s.len, s.buf);
    struct sealed t;

    assert_non_null(env);
    /* Flip a payload byte (the last: part of the reason) and re-wrap. */
    env->payload.data[env->payload.len - 1] ^= 1;
    t.len = fleet__v1__envelope__pack(env, s.buf);
    t.buf = s.buf;
    memset(&got, 0xa5, sizeof(got));
    assert_rule(fleet_verifier_check(f->v, t.buf, t.len, INCARNATION, NOW, &got), FLEET_REFUSE_BAD_SIGNATURE);
    assert_int_equal(got.term, 0xa5a5a5a5a5a5a5a5ULL);   /* *out untouched on refusal */
    env->payload.data[env->payload.len - 1] ^= 1;
    /* Flip a signature byte instead. */
    env->signature.data[10] ^= 0x40;
    t.len = fleet__v1__envelope__pack(env, s.buf);
    assert_rule(fleet_verifier_check(f->v, t.buf, t.len, INCARNATION, NOW, NULL), FLEET_REFUSE_BAD_SIGNATURE);
    fleet__v1__envelope__free_unpacked(env, NULL);
    free(s.buf);
    /* Signed by a trusted key but claiming the other trusted key. */
    {
        uint8_t payload[8] = { 0 };

        assert_rule(check(f, envelope_of(payload, sizeof(payload), f->key, f->pub2)), FLEET_REFUSE_BAD_SIGNATURE);
    }
    assert_int_equal(fleet_verifier_term_seen(f->v), 0);
}

static void test_untrusted_signer(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);

    assert_rule(check(f, seal(&c, f->evil)), FLEET_REFUSE_UNTRUSTED_SIGNER);
    /* The evil key signs but names a trusted signer: the signature fails. */
    {
        Fleet__V1__Control m = FLEET__V1__CONTROL__INIT;
        uint8_t payload[256];
        size_t len;

        m.service = SERVICE;
        m.instance = INSTANCE;
        len = fleet__v1__control__pack(&m, payload);
        assert_rule(check(f, envelope_of(payload, len, f->evil, f->pub)), FLEET_REFUSE_BAD_SIGNATURE);
    }
}

static void test_malformed_signer(void **state)
{
    struct fx *f = *state;
    uint8_t payload[4] = { 0 };
    char bad[FLEET_NKEY_PUBLIC_LEN + 1];

    assert_rule(check(f, envelope_of(payload, sizeof(payload), f->key, "")), FLEET_REFUSE_MALFORMED);
    assert_rule(check(f, envelope_of(payload, sizeof(payload), f->key,
                                     "NBC7W4WLWJ37Z5XM4QZB6DJUEVNQS4CCT7AXJSCGFQ7VG2XT6VNRXYSJ")),
                FLEET_REFUSE_MALFORMED);
    memcpy(bad, f->pub, sizeof(bad));
    bad[30] = bad[30] == 'A' ? 'B' : 'A';
    assert_rule(check(f, envelope_of(payload, sizeof(payload), f->key, bad)), FLEET_REFUSE_MALFORMED);
}

static void test_wrong_target(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);

    snprintf(c.service, sizeof(c.service), "vocal-synthesis");
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_WRONG_TARGET);
    c = make_control(1, 1);
    snprintf(c.instance, sizeof(c.instance), "story-teller-2");
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_WRONG_TARGET);
    /* A prefix of our name is not our name. */
    c = make_control(1, 1);
    snprintf(c.instance, sizeof(c.instance), "story-teller");
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_WRONG_TARGET);
}

static void test_wrong_incarnation(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);

    c.incarnation = INCARNATION + 1;
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_WRONG_INCARNATION);
    /* 0 is not a wildcard. */
    c.incarnation = 0;
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_WRONG_INCARNATION);
    /* The same envelope reaches a receiver now in another life. */
    c = make_control(1, 1);
    {
        struct sealed s = seal(&c, f->key);

        assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION + 7, NOW, NULL),
                    FLEET_REFUSE_WRONG_INCARNATION);
        assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_NONE);
        free(s.buf);
    }
}

static void test_expired(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);
    struct sealed s;

    c.issued_unix_ms = NOW - 5000;
    c.expires_unix_ms = NOW - 1;
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_EXPIRED);
    /* Valid up to and including its expiry instant, not after. */
    c = make_control(1, 1);
    s = seal(&c, f->key);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, c.expires_unix_ms + 1, NULL),
                FLEET_REFUSE_EXPIRED);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, c.expires_unix_ms, NULL),
                FLEET_REFUSE_NONE);
    free(s.buf);
}

static void test_from_future(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);

    c.issued_unix_ms = NOW + FLEET_SKEW_DEFAULT_MS + 1;
    c.expires_unix_ms = c.issued_unix_ms + 10000;
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_FROM_FUTURE);
    /* Exactly the skew ahead is tolerated. */
    c = make_control(1, 1);
    c.issued_unix_ms = NOW + FLEET_SKEW_DEFAULT_MS;
    c.expires_unix_ms = c.issued_unix_ms + 10000;
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_NONE);
}

static void test_window_malformed(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);

    /* fleet_control_seal refuses to make these; a forger with the key could. */
    c.expires_unix_ms = NOW + 10 * 60 * 1000 + 1;
    assert_int_equal(fleet_control_seal(&c, f->key, &(uint8_t *){ NULL }, &(size_t){ 0 }), FLEET_ERR_INVALID_ARG);
    assert_rule(check(f, hand_sealed(&c, f->key, FLEET_NONCE_LEN)), FLEET_REFUSE_MALFORMED);
    c.expires_unix_ms = INT64_MAX;
    c.issued_unix_ms = INT64_MIN;
    assert_rule(check(f, hand_sealed(&c, f->key, FLEET_NONCE_LEN)), FLEET_REFUSE_MALFORMED);
    c = make_control(1, 1);
    c.issued_unix_ms = NOW + 2;
    c.expires_unix_ms = NOW + 1;
    assert_rule(check(f, hand_sealed(&c, f->key, FLEET_NONCE_LEN)), FLEET_REFUSE_MALFORMED);
    /* A nonce of the wrong size, and a missing action. */
    c = make_control(1, 1);
    assert_rule(check(f, hand_sealed(&c, f->key, 8)), FLEET_REFUSE_MALFORMED);
    c.action = FLEET_ACTION_UNSPECIFIED;
    assert_rule(check(f, hand_sealed(&c, f->key, FLEET_NONCE_LEN)), FLEET_REFUSE_MALFORMED);
    c.action = (fleet_action)99;
    assert_rule(check(f, hand_sealed(&c, f->key, FLEET_NONCE_LEN)), FLEET_REFUSE_MALFORMED);
    /* A signed payload that is not a Control at all. */
    {
        static const uint8_t junk[] = { 0xff, 0xff, 0xff };

        assert_rule(check(f, envelope_of(junk, sizeof(junk), f->key, NULL)), FLEET_REFUSE_MALFORMED);
    }
    assert_int_equal(fleet_verifier_term_seen(f->v), 0);
}

static void test_replays(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(5, 10), reused;
    struct sealed s = seal(&c, f->key);

    /* The same envelope twice. */
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_NONE);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_REPLAYED_SEQ);
    free(s.buf);
    /* A lower seq in the same term. */
    c = make_control(5, 9);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_REPLAYED_SEQ);
    /* A lower term after a higher one, even with a high seq. */
    c = make_control(4, 1000);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_STALE_TERM);
    /* A new seq with a reused nonce: only the key holder can make this. */
    reused = make_control(5, 11);
    assert_rule(check(f, seal(&reused, f->key)), FLEET_REFUSE_NONE);
    c = make_control(5, 12);
    memcpy(c.nonce, reused.nonce, FLEET_NONCE_LEN);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_REPLAYED_NONCE);
    /* Once the first Control has expired, its nonce is forgotten. */
    c.issued_unix_ms = reused.expires_unix_ms + 1;
    c.expires_unix_ms = c.issued_unix_ms + 1000;
    s = seal(&c, f->key);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, c.issued_unix_ms, NULL), FLEET_REFUSE_NONE);
    free(s.buf);
    assert_int_equal(fleet_verifier_term_seen(f->v), 5);
}

static void test_higher_term_resets_seq(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 500);

    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_NONE);
    c = make_control(2, 0);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_NONE);
    assert_int_equal(fleet_verifier_term_seen(f->v), 2);
    c = make_control(2, 0);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_REPLAYED_SEQ);
    c = make_control(2, 1);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_NONE);
    c = make_control(1, 501);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_STALE_TERM);
}

static void test_rotation(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);

    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_NONE);
    c = make_control(1, 2);
    assert_rule(check(f, seal(&c, f->key2)), FLEET_REFUSE_NONE);
    c = make_control(1, 3);
    assert_rule(check(f, seal(&c, f->key)), FLEET_REFUSE_NONE);
}

/* Every prefix of a valid envelope is refused, and none crashes. */
static void test_truncated(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);
    struct sealed s = seal(&c, f->key);

    for (size_t n = 0; n < s.len; n++) {
        uint8_t *copy = malloc(n > 0 ? n : 1);   /* exact size: ASan sees any overread */
        fleet_refusal r;

        assert_non_null(copy);
        memcpy(copy, s.buf, n);
        r = fleet_verifier_check(f->v, copy, n, INCARNATION, NOW, NULL);
        if (r == FLEET_REFUSE_NONE)
            fail_msg("a %zu-byte prefix of a %zu-byte envelope was accepted", n, s.len);
        free(copy);
    }
    assert_rule(fleet_verifier_check(f->v, NULL, 0, INCARNATION, NOW, NULL), FLEET_REFUSE_MALFORMED);
    assert_rule(fleet_verifier_check(f->v, NULL, 5, INCARNATION, NOW, NULL), FLEET_REFUSE_MALFORMED);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_NONE);
    free(s.buf);
}

static void test_oversized(void **state)
{
    struct fx *f = *state;
    uint8_t *big = calloc(1, FLEET_ENVELOPE_MAX + 1);
    uint8_t *payload = calloc(1, FLEET_PAYLOAD_MAX + 1);

    assert_non_null(big);
    assert_non_null(payload);
    assert_rule(fleet_verifier_check(f->v, big, FLEET_ENVELOPE_MAX + 1, INCARNATION, NOW, NULL),
                FLEET_REFUSE_TOO_LARGE);
    /* A payload over its limit inside an envelope under its limit. */
    assert_rule(check(f, envelope_of(payload, FLEET_PAYLOAD_MAX + 1, f->key, NULL)), FLEET_REFUSE_TOO_LARGE);
    free(big);
    free(payload);
}

static void test_small_limits(void **state)
{
    struct fx *f = *state;
    const char *trusted[] = { f->pub };
    fleet_verifier_opts o = { .service = SERVICE, .instance = INSTANCE, .trusted = trusted, .n_trusted = 1,
                              .max_envelope_bytes = 64, .max_payload_bytes = 32 };
    fleet_verifier *v = NULL;
    fleet_control c = make_control(1, 1);
    struct sealed s = seal(&c, f->key);

    assert_int_equal(fleet_verifier_create(&o, &v), FLEET_OK);
    assert_rule(fleet_verifier_check(v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_TOO_LARGE);
    fleet_verifier_destroy(v);
    o.max_envelope_bytes = 0;
    assert_int_equal(fleet_verifier_create(&o, &v), FLEET_OK);
    assert_rule(fleet_verifier_check(v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_TOO_LARGE);
    fleet_verifier_destroy(v);
    free(s.buf);
}

static void test_counters(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);
    struct sealed s = seal(&c, f->key);
    uint64_t accepted = 99, refused[FLEET_REFUSE_COUNT];

    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_NONE);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_REPLAYED_SEQ);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION, NOW, NULL), FLEET_REFUSE_REPLAYED_SEQ);
    assert_rule(fleet_verifier_check(f->v, s.buf, s.len, INCARNATION + 1, NOW, NULL),
                FLEET_REFUSE_WRONG_INCARNATION);
    assert_rule(fleet_verifier_check(f->v, s.buf, 3, INCARNATION, NOW, NULL), FLEET_REFUSE_MALFORMED);
    free(s.buf);
    fleet_verifier_counters(f->v, &accepted, refused);
    assert_int_equal(accepted, 1);
    assert_int_equal(refused[FLEET_REFUSE_REPLAYED_SEQ], 2);
    assert_int_equal(refused[FLEET_REFUSE_WRONG_INCARNATION], 1);
    assert_int_equal(refused[FLEET_REFUSE_MALFORMED], 1);
    assert_int_equal(refused[FLEET_REFUSE_NONE], 0);
    assert_int_equal(refused[FLEET_REFUSE_BAD_SIGNATURE], 0);
}

static void test_rule_names(void **state)
{
    static const char *const want[FLEET_REFUSE_COUNT] = {
        "accepted", "too_large", "malformed", "bad_signature", "untrusted_signer", "wrong_target",
        "wrong_incarnation", "expired", "from_future", "stale_term", "replayed_seq", "replayed_nonce",
    };

    (void)state;
    for (int r = 0; r < FLEET_REFUSE_COUNT; r++)
        assert_string_equal(fleet_refusal_rule((fleet_refusal)r), want[r]);
    assert_string_equal(fleet_refusal_rule(FLEET_REFUSE_COUNT), "unknown");
}

static void test_create_refusals(void **state)
{
    struct fx *f = *state;
    const char *trusted[] = { f->pub, "SUABRNRODRB5HTJGRYADOSEWYWANNB7SXQ6YBUDGZ7KZ5JGEPK7ZSREIV4" };
    fleet_verifier_opts o = { .service = SERVICE, .instance = INSTANCE, .trusted = trusted, .n_trusted = 2 };
    fleet_verifier *v = NULL;

    assert_int_equal(fleet_verifier_create(&o, &v), FLEET_ERR_DECODE);
    assert_non_null(strstr(fleet_last_error(), "trusted key 2"));
    assert_null(strstr(fleet_last_error(), "SUABRNRO"));
    o.n_trusted = 0;
    assert_int_equal(fleet_verifier_create(&o, &v), FLEET_ERR_INVALID_ARG);
    o.n_trusted = 1;
    o.service = "a.b";
    assert_int_equal(fleet_verifier_create(&o, &v), FLEET_ERR_BAD_NAME);
    o.service = SERVICE;
    o.instance = "";
    assert_int_equal(fleet_verifier_create(&o, &v), FLEET_ERR_BAD_NAME);
    o.instance = INSTANCE;
    o.skew_ms = -1;
    assert_int_equal(fleet_verifier_create(&o, &v), FLEET_ERR_INVALID_ARG);
    assert_null(v);
}

static void test_seal_refusals(void **state)
{
    struct fx *f = *state;
    fleet_control c = make_control(1, 1);
    uint8_t *buf = NULL;
    size_t len = 0;

    snprintf(c.service, sizeof(c.service), "bad service");
    assert_int_equal(fleet_control_seal(&c, f->key, &buf, &len), FLEET_ERR_BAD_NAME);
    c = make_control(1, 1);
    memset(c.instance, 'x', sizeof(c.instance));   /* no NUL */
    assert_int_equal(fleet_control_seal(&c, f->key, &buf, &len), FLEET_ERR_BAD_NAME);
    c = make_control(1, 1);
    snprintf(c.reason, sizeof(c.reason), "bad \xff utf-8");
    assert_int_equal(fleet_control_seal(&c, f->key, &buf, &len), FLEET_ERR_INVALID_ARG);
    c = make_control(1, 1);
    c.action = FLEET_ACTION_UNSPECIFIED;
    assert_int_equal(fleet_control_seal(&c, f->key, &buf, &len), FLEET_ERR_INVALID_ARG);
    assert_null(buf);
    /* The longest Control fits the default limits. */
    c = make_control(UINT64_MAX, UINT64_MAX);
    memset(c.service, 's', FLEET_NAME_MAX);
    c.service[FLEET_NAME_MAX] = '\0';
    memset(c.instance, 'i', FLEET_NAME_MAX);
    c.instance[FLEET_NAME_MAX] = '\0';
    memset(c.reason, 'r', FLEET_REASON_MAX);
    c.reason[FLEET_REASON_MAX] = '\0';
    c.incarnation = c.fence_epoch = UINT64_MAX;
    c.issued_unix_ms = INT64_MIN;
    c.expires_unix_ms = INT64_MIN + 1;
    assert_int_equal(fleet_control_seal(&c, f->key, &buf, &len), FLEET_OK);
    assert_true(len <= FLEET_ENVELOPE_MAX);
    free(buf);
}

static void test_key_list(void **state)
{
    struct fx *f = *state;
    char text[256], **keys = NULL;
    size_t n = 0;

    (void)state;
    snprintf(text, sizeof(text), " %s ,\t%s\n", f->pub, f->pub2);
    assert_int_equal(fleet_key_list_parse(text, &keys, &n), FLEET_OK);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0], f->pub);
    assert_string_equal(keys[1], f->pub2);
    fleet_key_list_free(keys, n);
    assert_int_equal(fleet_key_list_parse(f->pub, &keys, &n), FLEET_OK);
    assert_int_equal(n, 1);
    fleet_key_list_free(keys, n);
    fleet_key_list_free(NULL, 0);

    keys = NULL;
    n = 0;
    snprintf(text, sizeof(text), "%s,,%s", f->pub, f->pub2);
    assert_int_equal(fleet_key_list_parse(text, &keys, &n), FLEET_ERR_INVALID_ARG);
    assert_non_null(strstr(fleet_last_error(), "key 2 of 3"));
    assert_non_null(strstr(fleet_last_error(), "empty"));
    snprintf(text, sizeof(text), "%s, ", f->pub);
    assert_int_equal(fleet_key_list_parse(text, &keys, &n), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_key_list_parse("", &keys, &n), FLEET_ERR_INVALID_ARG);
    assert_non_null(strstr(fleet_last_error(), "empty"));
    assert_int_equal(fleet_key_list_parse("  ", &keys, &n), FLEET_ERR_INVALID_ARG);
    snprintf(text, sizeof(text), "%s,UNOTAKEY", f->pub);
    assert_int_equal(fleet_key_list_parse(text, &keys, &n), FLEET_ERR_DECODE);
    assert_non_null(strstr(fleet_last_error(), "key 2 of 2"));
    /* A seed pasted into the list is refused and not echoed. */
    snprintf(text, sizeof(text), "SUABRNRODRB5HTJGRYADOSEWYWANNB7SXQ6YBUDGZ7KZ5JGEPK7ZSREIV4");
    assert_int_equal(fleet_key_list_parse(text, &keys, &n), FLEET_ERR_DECODE);
    assert_non_null(strstr(fleet_last_error(), "seed"));
    assert_null(strstr(fleet_last_error(), "RNRODRB5"));
    assert_null(keys);
    assert_int_equal(n, 0);
}

static void test_ack_pack(void **state)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    Fleet__V1__ControlAck *ack;

    (void)state;
    assert_int_equal(fleet_control_ack_pack(SERVICE, INSTANCE, 42, false, "replayed_seq", &buf, &len), FLEET_OK);
    ack = fleet__v1__control_ack__unpack(NULL, len, buf);
    assert_non_null(ack);
    assert_string_equal(ack->service, SERVICE);
    assert_string_equal(ack->instance, INSTANCE);
    assert_int_equal(ack->seq, 42);
    assert_false(ack->accepted);
    assert_string_equal(ack->error, "replayed_seq");
    fleet__v1__control_ack__free_unpacked(ack, NULL);
    free(buf);
    buf = NULL;
    assert_int_equal(fleet_control_ack_pack(SERVICE, INSTANCE, 43, true, NULL, &buf, &len), FLEET_OK);
    ack = fleet__v1__control_ack__unpack(NULL, len, buf);
    assert_non_null(ack);
    assert_true(ack->accepted);
    assert_string_equal(ack->error, "");
    fleet__v1__control_ack__free_unpacked(ack, NULL);
    free(buf);
    assert_int_equal(fleet_control_ack_pack("a b", INSTANCE, 1, true, NULL, &buf, &len), FLEET_ERR_BAD_NAME);
}

static void test_nonce_fresh(void **state)
{
    fleet_control a, b;

    (void)state;
    assert_int_equal(fleet_control_new_nonce(&a), FLEET_OK);
    assert_int_equal(fleet_control_new_nonce(&b), FLEET_OK);
    assert_memory_not_equal(a.nonce, b.nonce, FLEET_NONCE_LEN);
    assert_int_equal(fleet_control_new_nonce(NULL), FLEET_ERR_INVALID_ARG);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_accept),
        T(test_bad_signature),
        T(test_untrusted_signer),
        T(test_malformed_signer),
        T(test_wrong_target),
        T(test_wrong_incarnation),
        T(test_expired),
        T(test_from_future),
        T(test_window_malformed),
        T(test_replays),
        T(test_higher_term_resets_seq),
        T(test_rotation),
        T(test_truncated),
        T(test_oversized),
        T(test_small_limits),
        T(test_counters),
        T(test_create_refusals),
        T(test_seal_refusals),
        T(test_key_list),
        cmocka_unit_test(test_rule_names),
        cmocka_unit_test(test_ack_pack),
        cmocka_unit_test(test_nonce_fresh),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
