/* Heartbeat proofs end to end without a network: libfleet's sender packs a
 * proven heartbeat, the supervisor's codec and checker take it apart
 * (fleet/proof.h, codec.h, proofcheck.h; the contract is in fleet.proto).
 * Every field the proof covers is tampered with in turn and must be caught;
 * fields it does not cover must not matter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "fleet/nkey.h"
#include "fleet/proof.h"
#include "fleet/v1/fleet.pb-c.h"
#include "ingest.h"
#include "libfleet/hb_private.h"
#include "proofcheck.h"

#define SERVICE "story-teller"
#define INSTANCE "story-teller-1"
#define SUBJECT "fleet.v1.hb." SERVICE "." INSTANCE
#define PREFIX_LEN 5
#define NOW_MS 1000

struct fx {
    fleet_incarnation_key *ik;
    fleet_keypair *sup;      /* the supervisor checking */
    fleet_keypair *other;    /* a second trusted supervisor (replica or rotation) */
    struct proofcheck *pc;   /* owns a copy of `sup` */
    uint8_t *buf;            /* the packed heartbeat */
    size_t cap, len;
};

static const struct hb_check checks[] = {
    { .name = "db", .detail = "connected", .ok = true },
    { .name = "cache", .detail = "cold", .ok = false },
};

/* Packs a heartbeat proven to `n` of {sup, other}. */
static void pack(struct fx *f, size_t n)
{
    uint8_t mac[2][FLEET_PROOF_TAG_BYTES], ids[2][FLEET_PUBLIC_KEY_BYTES];
    fleet_keypair *to[2] = { f->sup, f->other };
    struct hb_snapshot s = {
        .service = SERVICE, .instance = INSTANCE, .version = "1.4.2", .host = "ip-10-0-0-7",
        .nats_server = "NDJWE4SOUJOJT2TY5Y2YQEOAHGAK5VIGXTGKWJSFHVCII4ITI3LBHBUV",
        .incarnation = fleet_incarnation_key_incarnation(f->ik), .seq = 41, .fence_epoch = 3,
        .term_seen = 7, .sent_unix_ms = 1700000000123LL, .interval_ms = 1000, .pid = 4242,
        .state = FLEET_STATE_SERVING, .checks = checks, .n_checks = 2,
        .has_exit = true, .exit_code = 0, .exit_signal = 15, .exit_at_unix_ms = 1700000000000LL,
        .key = fleet_incarnation_key_public(f->ik), .mac = mac, .ids = ids, .n_proofs = n,
    };

    for (size_t k = 0; k < n; k++) {
        fleet_keypair_public_raw(to[k], ids[k]);
        assert_int_equal(fleet_proof_key_instance(f->ik, ids[k], mac[k]), FLEET_OK);
    }
    assert_int_equal(hb_wire_pack(&s, &f->buf, &f->cap, &f->len), FLEET_OK);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char seed[FLEET_NKEY_SEED_LEN + 1];
    fleet_keypair *copy = NULL;

    if (f == NULL || fleet_incarnation_key_generate(&f->ik) != FLEET_OK ||
        fleet_keypair_generate(&f->sup) != FLEET_OK || fleet_keypair_generate(&f->other) != FLEET_OK ||
        fleet_keypair_seed(f->sup, seed, sizeof(seed)) != FLEET_OK ||
        fleet_keypair_from_seed(seed, &copy) != FLEET_OK ||
        proofcheck_create(copy, 64, 1000, &f->pc) != 0)
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    proofcheck_destroy(f->pc);
    fleet_incarnation_key_destroy(f->ik);
    fleet_keypair_destroy(f->sup);
    fleet_keypair_destroy(f->other);
    free(f->buf);
    free(f);
    return 0;
}

/* Decodes and checks `data` exactly as the supervisor's edge does
 * (ingest_decode): the refusal, and when HB_OK whether it was proven. */
static enum hb_refusal check(struct fx *f, const char *subject, const uint8_t *data, size_t len,
                             bool *proven)
{
    struct hb_input in;
    enum hb_refusal r = ingest_decode(f->pc, PREFIX_LEN, 65536, subject, data, len, NOW_MS, &in);

    *proven = r == HB_OK && in.proven;
    return r;
}

static void test_incarnation_is_the_keys(void **state)
{
    struct fx *f = *state;
    uint64_t inc = fleet_incarnation_key_incarnation(f->ik);

    assert_true(inc != 0);
    assert_true(fleet_proof_incarnation(fleet_incarnation_key_public(f->ik)) == inc);
}

/* Both ends of the agreement reach the same MAC key; another supervisor
 * another one. */
static void test_agreement_is_symmetric(void **state)
{
    struct fx *f = *state;
    uint8_t pk[FLEET_PUBLIC_KEY_BYTES], a[32], b[32], c[32];

    fleet_keypair_public_raw(f->sup, pk);
    assert_int_equal(fleet_proof_key_instance(f->ik, pk, a), FLEET_OK);
    assert_int_equal(fleet_proof_key_supervisor(f->sup, fleet_incarnation_key_public(f->ik), b), FLEET_OK);
    assert_memory_equal(a, b, sizeof(a));
    assert_int_equal(fleet_proof_key_supervisor(f->other, fleet_incarnation_key_public(f->ik), c), FLEET_OK);
    assert_memory_not_equal(a, c, sizeof(a));
}

/* A point of small order (here 0) has no shared secret: refused, not a
 * key everyone can compute. */
static void test_degenerate_keys_refused(void **state)
{
    struct fx *f = *state;
    uint8_t zero[32] = { 0 }, mac[32];

    assert_int_equal(fleet_proof_key_supervisor(f->sup, zero, mac), FLEET_ERR_INVALID_ARG);
    assert_int_equal(fleet_proof_key_instance(f->ik, zero, mac), FLEET_ERR_INVALID_ARG);
}

static void test_sender_proves(void **state)
{
    struct fx *f = *state;
    bool pr;
    struct proofcheck_counters c;

    pack(f, 2);
    assert_int_equal(check(f, SUBJECT, f->buf, f->len, &pr), HB_OK);
    assert_true(pr);
    /* The second time comes from the cache: no new agreement. */
    assert_int_equal(check(f, SUBJECT, f->buf, f->len, &pr), HB_OK);
    assert_true(pr);
    proofcheck_counters(f->pc, &c);
    assert_int_equal(c.proven, 2);
    assert_int_equal(c.agreements, 1);
}

/* Proven only to another supervisor: nothing for us to check. */
static void test_not_for_us_is_unproven(void **state)
{
    struct fx *f = *state;
    bool pr;
    Fleet__V1__Heartbeat *hb;
    uint8_t out[4096];
    size_t n;

    pack(f, 2);
    hb = fleet__v1__heartbeat__unpack(NULL, f->len, f->buf);
    assert_non_null(hb);
    /* Keep only the second entry (for `other`). */
    memmove(hb->proof.data, hb->proof.data + FLEET_PROOF_ENTRY_BYTES, FLEET_PROOF_ENTRY_BYTES);
    hb->proof.len = FLEET_PROOF_ENTRY_BYTES;
    n = fleet__v1__heartbeat__pack(hb, out);
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
    assert_int_equal(check(f, SUBJECT, out, n, &pr), HB_OK);
    assert_false(pr);
}

enum tamper {
    T_SEQ, T_SENT, T_INTERVAL, T_STATE, T_FENCE, T_TERM, T_PID, T_VERSION, T_SERVER,
    T_EXIT_GONE, T_EXIT_CODE, T_EXIT_SIGNAL, T_EXIT_AT, T_CHECK_OK, T_CHECK_NAME, T_CHECK_DROPPED,
    T_TAG_BIT, T_COVERED_COUNT,
    /* Not covered: the outcome must stay PROVEN. */
    T_HOST = T_COVERED_COUNT, T_DETAIL, T_COUNT
};

static void apply(Fleet__V1__Heartbeat *hb, enum tamper t)
{
    static char version[] = "1.4.3", server[] = "NDJWE4SOUJOJT2TY5Y2YQEOAHGAK5VIGXTGKWJSFHVCII4ITI3LBHBUW",
                name[] = "dc", host[] = "ip-10-0-0-8", detail[] = "warm";

    switch (t) {
    case T_SEQ: hb->seq = UINT64_MAX; break;
    case T_SENT: hb->sent_unix_ms += 1; break;
    case T_INTERVAL: hb->interval_ms = 600000; break;
    case T_STATE: hb->state = FLEET__V1__SERVING_STATE__SERVING_STATE_EXITED; break;
    case T_FENCE: hb->fence_epoch = 4; break;
    case T_TERM: hb->term_seen = 8; break;
    case T_PID: hb->pid = 1; break;
    case T_VERSION: hb->version = version; break;
    case T_SERVER: hb->nats_server = server; break;
    case T_EXIT_GONE: hb->exit = NULL; break;
    case T_EXIT_CODE: hb->exit->code = 1; break;
    case T_EXIT_SIGNAL: hb->exit->signal = 9; break;
    case T_EXIT_AT: hb->exit->at_unix_ms += 1; break;
    case T_CHECK_OK: hb->checks[1]->ok = true; break;
    case T_CHECK_NAME: hb->checks[0]->name = name; break;
    case T_CHECK_DROPPED: hb->n_checks = 1; break;
    case T_TAG_BIT: hb->proof.data[FLEET_PROOF_ID_BYTES + 5] ^= 0x10; break;
    case T_HOST: hb->host = host; break;
    case T_DETAIL: hb->checks[0]->detail = detail; break;
    case T_COUNT: break;
    }
}

static void test_each_covered_field_is_bound(void **state)
{
    struct fx *f = *state;

    pack(f, 1);
    for (int t = 0; t < T_COUNT; t++) {
        Fleet__V1__Heartbeat *hb = fleet__v1__heartbeat__unpack(NULL, f->len, f->buf);
        Fleet__V1__Heartbeat keep;
        Fleet__V1__Check check0;
        enum hb_refusal r;
        bool pr;
        uint8_t out[4096];
        size_t n;

        assert_non_null(hb);
        assert_int_equal(hb->n_checks, 2);
        keep = *hb;               /* apply() points fields at its own strings */
        check0 = *hb->checks[0];
        apply(hb, (enum tamper)t);
        assert_true(fleet__v1__heartbeat__get_packed_size(hb) <= sizeof(out));
        n = fleet__v1__heartbeat__pack(hb, out);
        *hb = keep;               /* what free_unpacked must find */
        *hb->checks[0] = check0;
        fleet__v1__heartbeat__free_unpacked(hb, NULL);
        r = check(f, SUBJECT, out, n, &pr);
        if (t < T_COVERED_COUNT ? r != HB_REFUSE_PROOF : r != HB_OK || !pr)
            fail_msg("tamper %d: %s, proven %d", t, codec_refusal_name(r), (int)pr);
    }
}

/* A heartbeat that claims someone else's life, or a key of the wrong size,
 * is refused before any proof is looked at. */
static void test_key_must_be_the_incarnations(void **state)
{
    struct fx *f = *state;
    fleet_incarnation_key *other = NULL;
    Fleet__V1__Heartbeat *hb;
    bool pr;
    uint8_t out[4096];
    size_t n;

    pack(f, 1);
    assert_int_equal(check(f, SUBJECT, f->buf, f->len, &pr), HB_OK);   /* our key is now cached */
    assert_true(pr);
    assert_int_equal(fleet_incarnation_key_generate(&other), FLEET_OK);
    hb = fleet__v1__heartbeat__unpack(NULL, f->len, f->buf);
    /* Our cached key under another incarnation number. */
    hb->incarnation ^= 1;
    n = fleet__v1__heartbeat__pack(hb, out);
    assert_int_equal(check(f, SUBJECT, out, n, &pr), HB_REFUSE_KEY);
    hb->incarnation ^= 1;
    assert_non_null(hb);
    memcpy(hb->incarnation_key.data, fleet_incarnation_key_public(other), FLEET_PROOF_KEY_BYTES);
    n = fleet__v1__heartbeat__pack(hb, out);
    assert_int_equal(check(f, SUBJECT, out, n, &pr), HB_REFUSE_KEY);
    /* The same without any proof, and with nobody to check proofs: refused. */
    {
        size_t proof_len = hb->proof.len;
        struct hb_input in;

        hb->proof.len = 0;
        n = fleet__v1__heartbeat__pack(hb, out);
        assert_int_equal(check(f, SUBJECT, out, n, &pr), HB_REFUSE_KEY);
        assert_int_equal(ingest_decode(NULL, PREFIX_LEN, 65536, SUBJECT, out, n, NOW_MS, &in), HB_REFUSE_KEY);
        hb->proof.len = proof_len;
    }
    /* The other key, with its own incarnation number but our tags: bad proof. */
    hb->incarnation = fleet_incarnation_key_incarnation(other);
    n = fleet__v1__heartbeat__pack(hb, out);
    assert_int_equal(check(f, SUBJECT, out, n, &pr), HB_REFUSE_PROOF);
    hb->incarnation_key.len = 31;
    n = fleet__v1__heartbeat__pack(hb, out);
    assert_int_equal(check(f, SUBJECT, out, n, &pr), HB_REFUSE_KEY);
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
    fleet_incarnation_key_destroy(other);
}

static void test_proof_must_be_whole_entries(void **state)
{
    struct fx *f = *state;
    Fleet__V1__Heartbeat *hb;
    bool pr;
    uint8_t out[4096];
    size_t n;

    pack(f, 2);
    hb = fleet__v1__heartbeat__unpack(NULL, f->len, f->buf);
    assert_non_null(hb);
    hb->proof.len = FLEET_PROOF_ENTRY_BYTES + 1;
    n = fleet__v1__heartbeat__pack(hb, out);
    assert_int_equal(check(f, SUBJECT, out, n, &pr), HB_REFUSE_FIELD);
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
}

/* Known answer for the layout, written byte by byte from fleet.proto's
 * comment, not by the code under test. */
static void test_layout_known_answer(void **state)
{
    const char *names[] = { "db" };
    const bool ok[] = { true };
    fleet_proof_fields fl = {
        .service = "s", .instance = "i", .version = "v1", .nats_server = "",
        .incarnation = 0x0102030405060708ULL, .seq = 9, .sent_unix_ms = -2,
        .interval_ms = 1000, .state = 2, .fence_epoch = 3, .term_seen = 4, .pid = 0x01020304,
        .has_exit = true, .exit_code = -1, .exit_signal = 15, .exit_at_unix_ms = 256,
        .check_name = names, .check_ok = ok, .n_checks = 1,
    };
    static const uint8_t want[] = {
        'F', 'L', 'E', 'E', 'T', 'H', 'B', '1',
        1, 0, 's', 1, 0, 'i',
        8, 7, 6, 5, 4, 3, 2, 1,                            /* incarnation */
        9, 0, 0, 0, 0, 0, 0, 0,                            /* seq */
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,    /* sent_unix_ms -2 */
        0xe8, 3, 0, 0,                                     /* interval 1000 */
        2, 0, 0, 0,                                        /* state */
        3, 0, 0, 0, 0, 0, 0, 0,                            /* fence_epoch */
        4, 0, 0, 0, 0, 0, 0, 0,                            /* term_seen */
        4, 3, 2, 1,                                        /* pid */
        1, 0xff, 0xff, 0xff, 0xff, 15, 0, 0, 0,            /* exit: code -1, signal 15 */
        0, 1, 0, 0, 0, 0, 0, 0,                            /* exit at 256 */
        2, 0, 'v', '1', 0, 0,                              /* version, nats_server "" */
        1, 0, 2, 0, 'd', 'b', 1,                           /* one check, ok */
    };
    uint8_t out[FLEET_PROOF_LAYOUT_MAX];
    size_t len = 0;
    char longname[FLEET_PROOF_STR_MAX + 2];

    (void)state;
    assert_int_equal(fleet_proof_layout(&fl, out, sizeof(out), &len), FLEET_OK);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    /* Without an exit report its three numbers are written as zeros. */
    fl.has_exit = false;
    assert_int_equal(fleet_proof_layout(&fl, out, sizeof(out), &len), FLEET_OK);
    assert_int_equal(out[66], 0);
    for (size_t k = 67; k < 67 + 16; k++)
        assert_int_equal(out[k], 0);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    fl.version = longname;
    assert_int_equal(fleet_proof_layout(&fl, out, sizeof(out), &len), FLEET_ERR_TOO_LARGE);
    assert_int_equal(fleet_proof_layout(&fl, out, 10, &len), FLEET_ERR_TOO_LARGE);
}

/* A second checker with the same supervisor key, `entries` cached keys and
 * a ration of `rate` agreements a second. */
static struct proofcheck *checker_of(const struct fx *f, size_t entries, uint32_t rate)
{
    char seed[FLEET_NKEY_SEED_LEN + 1];
    fleet_keypair *copy = NULL;
    struct proofcheck *pc = NULL;

    assert_int_equal(fleet_keypair_seed(f->sup, seed, sizeof(seed)), FLEET_OK);
    assert_int_equal(fleet_keypair_from_seed(seed, &copy), FLEET_OK);
    assert_int_equal(proofcheck_create(copy, entries, rate, &pc), 0);
    return pc;
}

/* Past the ration a new key is deferred (unproven), a known one still
 * proves: a flood of made-up keys cannot stop the fleet's own. */
static void test_agreement_ration(void **state)
{
    struct fx *f = *state;
    uint8_t pk[FLEET_PUBLIC_KEY_BYTES];
    struct proofcheck *pc = checker_of(f, 64, 2);
    struct codec_hb_proof known;
    struct hb_input in;
    struct proofcheck_counters c;

    fleet_keypair_public_raw(f->sup, pk);
    pack(f, 1);
    assert_int_equal(codec_heartbeat_decode(SUBJECT, PREFIX_LEN, f->buf, f->len, 65536, &in, &known), HB_OK);
    assert_int_equal(proofcheck_verify(pc, known.key, known.incarnation, known.proof, known.proof_len,
                                       known.layout, known.layout_len, 0), PROOF_PROVEN);
    /* Forged keys with an entry naming us: one token left, then none. */
    for (int k = 0; k < 3; k++) {
        fleet_incarnation_key *ik = NULL;
        uint8_t proof[FLEET_PROOF_ENTRY_BYTES] = { 0 };

        assert_int_equal(fleet_incarnation_key_generate(&ik), FLEET_OK);
        memcpy(proof, pk, FLEET_PROOF_ID_BYTES);
        assert_int_equal(proofcheck_verify(pc, fleet_incarnation_key_public(ik),
                                           fleet_incarnation_key_incarnation(ik), proof, sizeof(proof),
                                           known.layout, known.layout_len, 0),
                         k == 0 ? PROOF_BAD : PROOF_DEFERRED);
        fleet_incarnation_key_destroy(ik);
    }
    assert_int_equal(proofcheck_verify(pc, known.key, known.incarnation, known.proof, known.proof_len,
                                       known.layout, known.layout_len, 0), PROOF_PROVEN);
    /* A second later the ration is back. */
    {
        fleet_incarnation_key *ik = NULL;
        uint8_t proof[FLEET_PROOF_ENTRY_BYTES] = { 0 };

        assert_int_equal(fleet_incarnation_key_generate(&ik), FLEET_OK);
        memcpy(proof, pk, FLEET_PROOF_ID_BYTES);
        assert_int_equal(proofcheck_verify(pc, fleet_incarnation_key_public(ik),
                                           fleet_incarnation_key_incarnation(ik), proof, sizeof(proof),
                                           known.layout, known.layout_len, 1000), PROOF_BAD);
        fleet_incarnation_key_destroy(ik);
    }
    proofcheck_counters(pc, &c);
    assert_int_equal(c.proven, 2);
    assert_int_equal(c.bad, 2);
    assert_int_equal(c.deferred, 2);
    assert_int_equal(c.agreements, 3);
    proofcheck_destroy(pc);
}

enum { CACHE_KEYS = 1000 };
static uint8_t cache_keys[CACHE_KEYS][32];
static uint8_t cache_proofs[CACHE_KEYS][FLEET_PROOF_ENTRY_BYTES];
static uint64_t cache_incs[CACHE_KEYS];
static const uint8_t cache_layout[] = "FLEETHB1 any bytes";

/* Draws n incarnation keys, each with its proof of cache_layout to our key,
 * and has pc prove each once (at times 0..n-1). */
static void prove_new_keys(const struct fx *f, struct proofcheck *pc, int n)
{
    uint8_t pk[FLEET_PUBLIC_KEY_BYTES];

    fleet_keypair_public_raw(f->sup, pk);
    for (int k = 0; k < n; k++) {
        fleet_incarnation_key *ik = NULL;
        uint8_t mac[32];

        assert_int_equal(fleet_incarnation_key_generate(&ik), FLEET_OK);
        memcpy(cache_keys[k], fleet_incarnation_key_public(ik), 32);
        cache_incs[k] = fleet_incarnation_key_incarnation(ik);
        assert_int_equal(fleet_proof_key_instance(ik, pk, mac), FLEET_OK);
        memcpy(cache_proofs[k], pk, FLEET_PROOF_ID_BYTES);
        fleet_proof_tag(mac, cache_layout, sizeof(cache_layout), cache_proofs[k] + FLEET_PROOF_ID_BYTES);
        fleet_incarnation_key_destroy(ik);
        assert_int_equal(proofcheck_verify(pc, cache_keys[k], cache_incs[k], cache_proofs[k],
                                           sizeof(cache_proofs[k]), cache_layout, sizeof(cache_layout), k),
                         PROOF_PROVEN);
    }
}

/* Below its capacity the cache grows rather than evicts: 1,000 keys in a
 * cache that starts at 64 entries, each agreed once, none dropped. The
 * capacity is ample (16,384 sets: a set of four overflowing at capacity
 * has odds of about 1e-7), so only a cache that does not grow can evict. */
static void test_cache_grows_below_capacity(void **state)
{
    struct fx *f = *state;
    struct proofcheck *pc = checker_of(f, 65536, 100000);
    struct proofcheck_counters c;

    prove_new_keys(f, pc, CACHE_KEYS);
    for (int k = 0; k < CACHE_KEYS; k++)
        assert_int_equal(proofcheck_verify(pc, cache_keys[k], cache_incs[k], cache_proofs[k],
                                           sizeof(cache_proofs[k]), cache_layout, sizeof(cache_layout),
                                           CACHE_KEYS + k), PROOF_PROVEN);
    proofcheck_counters(pc, &c);
    assert_int_equal(c.proven, 2 * CACHE_KEYS);
    assert_int_equal(c.evictions, 0);
    assert_int_equal(c.agreements, CACHE_KEYS);
    proofcheck_destroy(pc);
}

/* The cache is bounded: more proven keys than entries evict, and an evicted
 * key proves again after a fresh agreement. */
static void test_cache_bounded(void **state)
{
    struct fx *f = *state;
    struct proofcheck *pc = checker_of(f, 64, 100000);
    struct proofcheck_counters c;
    enum { KEYS = 200 };

    prove_new_keys(f, pc, KEYS);
    for (int k = 0; k < KEYS; k++)
        assert_int_equal(proofcheck_verify(pc, cache_keys[k], cache_incs[k], cache_proofs[k],
                                           sizeof(cache_proofs[k]), cache_layout, sizeof(cache_layout), KEYS + k),
                         PROOF_PROVEN);
    proofcheck_counters(pc, &c);
    assert_int_equal(c.proven, 2 * KEYS);
    assert_true(c.evictions >= KEYS - 64);
    assert_true(c.agreements > KEYS);   /* evicted keys agreed again */
    proofcheck_destroy(pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incarnation_is_the_keys, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agreement_is_symmetric, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_degenerate_keys_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sender_proves, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_not_for_us_is_unproven, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_each_covered_field_is_bound, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_key_must_be_the_incarnations, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_proof_must_be_whole_entries, fx_setup, fx_teardown),
        cmocka_unit_test(test_layout_known_answer),
        cmocka_unit_test_setup_teardown(test_agreement_ration, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_bounded, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_grows_below_capacity, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
