/* The supervisor's gate over operators' commands (supervisor/daemon/admin.h):
 * every rule of enum admin_rule, its name at the head of `why` and its
 * counter, over operators built here and envelopes sealed by
 * fleet_admin_seal. Time is an argument, so nothing here waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin.h"
#include "config.h"
#include "fleet/admin.h"
#include "fleet/nkey.h"
#include "fleet/v1/fleet.pb-c.h"

#define NOW 1700000000000LL
#define SKEW FLEET_SKEW_DEFAULT_MS
#define TTL FLEET_ADMIN_DEFAULT_TTL_MS

typedef char service_pattern[FLEET_NAME_MAX + 1];

/* alice may do anything anywhere; bob may only restart story-* services;
 * mallory's key is listed nowhere. */
struct fx {
    fleet_keypair *alice, *bob, *mallory;
    service_pattern alice_services[1], bob_services[1];
    struct supervisor_operator ops[2];
    struct admin_gate *gate;
};

static void set_operator(struct supervisor_operator *op, const char *name, const fleet_keypair *kp, uint32_t verbs,
                         service_pattern *services, const char *pattern)
{
    memset(op, 0, sizeof(*op));
    snprintf(op->name, sizeof(op->name), "%s", name);
    assert_int_equal(fleet_keypair_public(kp, op->key, sizeof(op->key)), FLEET_OK);
    op->verbs = verbs;
    snprintf(services[0], sizeof(services[0]), "%s", pattern);
    op->services = services;
    op->n_services = 1;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL || fleet_keypair_generate(&f->alice) != FLEET_OK || fleet_keypair_generate(&f->bob) != FLEET_OK ||
        fleet_keypair_generate(&f->mallory) != FLEET_OK)
        return -1;
    set_operator(&f->ops[0], "alice", f->alice, CONFIG_OPERATOR_ALL_VERBS, f->alice_services, "*");
    set_operator(&f->ops[1], "bob", f->bob, 1u << FLEET_VERB_RESTART, f->bob_services, "story-*");
    if (admin_gate_create(f->ops, 2, SKEW, 0, &f->gate) != 0)
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    admin_gate_destroy(f->gate);
    fleet_keypair_destroy(f->alice);
    fleet_keypair_destroy(f->bob);
    fleet_keypair_destroy(f->mallory);
    free(f);
    return 0;
}

/* A fresh command (new nonce) issued at `issued`, valid for TTL. */
static fleet_admin_command command(fleet_admin_verb verb, const char *service, const char *instance,
                                   const char *operator_name, int64_t issued)
{
    fleet_admin_command c;

    memset(&c, 0, sizeof(c));
    c.verb = verb;
    snprintf(c.service, sizeof(c.service), "%s", service);
    snprintf(c.instance, sizeof(c.instance), "%s", instance);
    snprintf(c.operator_name, sizeof(c.operator_name), "%s", operator_name);
    snprintf(c.reason, sizeof(c.reason), "a test");
    c.issued_unix_ms = issued;
    c.expires_unix_ms = issued + TTL;
    assert_int_equal(fleet_admin_new_nonce(&c), FLEET_OK);
    return c;
}

struct sealed {
    uint8_t *buf;
    size_t len;
};

static struct sealed seal(const fleet_admin_command *c, const fleet_keypair *kp)
{
    struct sealed s;

    assert_int_equal(fleet_admin_seal(c, kp, &s.buf, &s.len), FLEET_OK);
    return s;
}

/* Seals a fresh restart of story-teller/story-teller-1 by alice at `issued`. */
static struct sealed seal_restart(const struct fx *f, int64_t issued)
{
    fleet_admin_command c = command(FLEET_VERB_RESTART, "story-teller", "story-teller-1", "alice", issued);

    return seal(&c, f->alice);
}

/* The gate accepts `s` on `verb`'s subject at `now`; returns who it names. */
static const char *expect_accepted(struct admin_gate *g, const char *verb, struct sealed s, int64_t now,
                                   fleet_admin_command *out)
{
    const char *op = NULL;
    char why[320] = "";
    enum admin_rule r = admin_gate_check(g, verb, s.buf, s.len, now, out, &op, why, sizeof(why));

    if (r != ADMIN_ACCEPTED)
        fail_msg("refused (%s): %s", admin_rule_name(r), why);
    assert_non_null(op);
    return op;
}

/* The gate refuses `s` by `rule` at `now`: `why` starts with the rule's
 * name and a colon, that rule's counter (and no other) went up by one, and
 * the out-parameters are untouched. */
static void expect_refused(struct admin_gate *g, const char *verb, const void *buf, size_t len, int64_t now,
                           enum admin_rule rule)
{
    struct admin_counters before, after;
    fleet_admin_command cmd, untouched;
    const char *op = "untouched";
    char why[320] = "", head[64];
    enum admin_rule r;

    memset(&cmd, 0xa5, sizeof(cmd));
    untouched = cmd;
    admin_gate_counters(g, &before);
    r = admin_gate_check(g, verb, buf, len, now, &cmd, &op, why, sizeof(why));
    admin_gate_counters(g, &after);
    if (r != rule)
        fail_msg("expected %s, got %s: \"%s\"", admin_rule_name(rule), admin_rule_name(r), why);
    snprintf(head, sizeof(head), "%s: ", admin_rule_name(rule));
    if (strncmp(why, head, strlen(head)) != 0 || strlen(why) <= strlen(head))
        fail_msg("why \"%s\" does not start with \"%s\" and say more", why, head);
    for (int k = 0; k < ADMIN_RULE_COUNT; k++)
        assert_int_equal(after.refused[k], before.refused[k] + (k == (int)rule ? 1 : 0));
    assert_int_equal(after.done, before.done);
    assert_memory_equal(&cmd, &untouched, sizeof(cmd));
    assert_string_equal(op, "untouched");
}

static void expect_refused_sealed(struct admin_gate *g, const char *verb, struct sealed s, int64_t now,
                                  enum admin_rule rule)
{
    expect_refused(g, verb, s.buf, s.len, now, rule);
}

/* Seals `c` with `kp` and expects the gate to refuse it by `rule`. */
static void expect_command_refused(struct admin_gate *g, const fleet_keypair *kp, const fleet_admin_command *c,
                                   const char *verb, int64_t now, enum admin_rule rule)
{
    struct sealed s = seal(c, kp);

    expect_refused_sealed(g, verb, s, now, rule);
    free(s.buf);
}

/* Seals `c` with `kp` and expects the gate to accept it; returns who it names. */
static const char *expect_command_accepted(struct admin_gate *g, const fleet_keypair *kp,
                                           const fleet_admin_command *c, const char *verb, int64_t now,
                                           fleet_admin_command *out)
{
    struct sealed s = seal(c, kp);
    const char *op = expect_accepted(g, verb, s, now, out);

    free(s.buf);
    return op;
}

/* ---- accepted ---- */

static void test_accepted(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_FENCE, "lobby", "lobby-2", "alice", NOW), got;
    struct sealed s = seal(&c, f->alice);
    const char *op;

    memset(&got, 0, sizeof(got));
    op = expect_accepted(f->gate, "fence", s, NOW, &got);
    assert_string_equal(op, "alice");
    assert_int_equal(got.verb, FLEET_VERB_FENCE);
    assert_string_equal(got.service, "lobby");
    assert_string_equal(got.instance, "lobby-2");
    assert_string_equal(got.operator_name, "alice");
    assert_string_equal(got.reason, "a test");
    assert_memory_equal(got.nonce, c.nonce, FLEET_NONCE_LEN);
    assert_int_equal(got.issued_unix_ms, NOW);
    assert_int_equal(got.expires_unix_ms, NOW + TTL);
    free(s.buf);
}

/* The gate copies the operators: the caller's list may change or go. */
static void test_operators_are_copied(void **state)
{
    struct fx *f = *state;
    struct sealed s = seal_restart(f, NOW);
    fleet_admin_command got;

    snprintf(f->ops[0].name, sizeof(f->ops[0].name), "eve");
    f->ops[0].verbs = 0;
    snprintf(f->alice_services[0], sizeof(f->alice_services[0]), "nothing");
    assert_string_equal(expect_accepted(f->gate, "restart", s, NOW, &got), "alice");
    free(s.buf);
}

/* A command that names no operator is the signer's, by the configured name. */
static void test_unnamed_command_takes_the_keys_name(void **state)
{
    struct fx *f = *state;
    fleet_admin_command a = command(FLEET_VERB_DRAIN, "lobby", "lobby-1", "", NOW), got;
    fleet_admin_command b = command(FLEET_VERB_RESTART, "story-teller", "", "", NOW);

    assert_string_equal(expect_command_accepted(f->gate, f->alice, &a, "drain", NOW, &got), "alice");
    assert_string_equal(got.operator_name, "");
    assert_string_equal(expect_command_accepted(f->gate, f->bob, &b, "restart", NOW, &got), "bob");
    assert_string_equal(got.instance, "");
}

/* ---- every refusal, in the order the gate checks ---- */

static void test_no_operators(void **state)
{
    struct fx *f = *state;
    struct admin_gate *empty;
    struct sealed s = seal_restart(f, NOW);

    assert_int_equal(admin_gate_create(NULL, 0, SKEW, 0, &empty), 0);
    expect_refused_sealed(empty, "restart", s, NOW, ADMIN_NO_OPERATORS);
    admin_gate_destroy(empty);
    free(s.buf);
}

/* A flood is refused unread past checks_per_s a second: garbage and signed
 * commands alike, so no flood costs more than that many signature checks a
 * second. The bucket refills a second later; a clock that went back refills
 * it at once. */
static void test_rate_limited(void **state)
{
    struct fx *f = *state;
    struct admin_gate *g;
    static const uint8_t garbage[] = { 0xde, 0xad };
    struct sealed s = seal_restart(f, NOW);
    fleet_admin_command got;

    assert_int_equal(admin_gate_create(f->ops, 2, SKEW, 3, &g), 0);
    expect_refused(g, "restart", garbage, sizeof(garbage), NOW, ADMIN_MALFORMED);
    expect_refused(g, "restart", garbage, sizeof(garbage), NOW + 10, ADMIN_MALFORMED);
    expect_refused(g, "restart", garbage, sizeof(garbage), NOW + 20, ADMIN_MALFORMED);
    expect_refused_sealed(g, "restart", s, NOW + 999, ADMIN_RATE_LIMITED);   /* the 4th in one second */
    expect_accepted(g, "restart", s, NOW + 1000, &got);                       /* refilled */
    expect_refused(g, "restart", garbage, sizeof(garbage), NOW + 1001, ADMIN_MALFORMED);
    expect_refused(g, "restart", garbage, sizeof(garbage), NOW + 1002, ADMIN_MALFORMED);
    expect_refused(g, "restart", garbage, sizeof(garbage), NOW + 1003, ADMIN_RATE_LIMITED);
    expect_refused(g, "restart", garbage, sizeof(garbage), NOW + 500, ADMIN_MALFORMED);  /* clock went back */
    admin_gate_destroy(g);
    free(s.buf);
}

static void test_too_large(void **state)
{
    struct fx *f = *state;
    uint8_t *big = calloc(FLEET_ENVELOPE_MAX + 1, 1);
    struct sealed s = seal_restart(f, NOW);

    assert_non_null(big);
    /* A valid envelope followed by zeros to one byte over the limit: judged
     * by its size before anything is decoded. */
    memcpy(big, s.buf, s.len);
    expect_refused(f->gate, "restart", big, FLEET_ENVELOPE_MAX + 1, NOW, ADMIN_TOO_LARGE);
    /* One byte less is no longer too large: zeros are not an Envelope. */
    memset(big, 0, FLEET_ENVELOPE_MAX + 1);
    expect_refused(f->gate, "restart", big, FLEET_ENVELOPE_MAX, NOW, ADMIN_MALFORMED);
    free(big);
    free(s.buf);
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0x01, 0x42 };
    struct sealed s = seal_restart(f, NOW);

    expect_refused(f->gate, "restart", garbage, sizeof(garbage), NOW, ADMIN_MALFORMED);
    /* A valid envelope cut short. */
    expect_refused(f->gate, "restart", s.buf, s.len - 3, NOW, ADMIN_MALFORMED);
    free(s.buf);
}

static void test_unknown_operator(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_RESTART, "story-teller", "", "mallory", NOW);

    expect_command_refused(f->gate, f->mallory, &c, "restart", NOW, ADMIN_UNKNOWN_OPERATOR);
}

static void test_bad_signature(void **state)
{
    struct fx *f = *state;
    struct sealed s = seal_restart(f, NOW);
    Fleet__V1__Envelope *env = fleet__v1__envelope__unpack(NULL, s.len, s.buf);
    uint8_t *forged;
    size_t flen;
    fleet_admin_command got;

    assert_non_null(env);
    assert_true(env->payload.len > 0);
    env->payload.data[env->payload.len - 1] ^= 0x01;   /* a byte of the reason */
    flen = fleet__v1__envelope__get_packed_size(env);
    forged = malloc(flen);
    assert_non_null(forged);
    assert_int_equal(fleet__v1__envelope__pack(env, forged), flen);
    expect_refused(f->gate, "restart", forged, flen, NOW, ADMIN_BAD_SIGNATURE);
    /* The untouched envelope still passes: the flipped byte was the fault. */
    expect_accepted(f->gate, "restart", s, NOW, &got);
    free(forged);
    fleet__v1__envelope__free_unpacked(env, NULL);
    free(s.buf);
}

static void test_wrong_subject(void **state)
{
    struct fx *f = *state;
    struct sealed s = seal_restart(f, NOW);
    fleet_admin_command got;

    expect_refused_sealed(f->gate, "fence", s, NOW, ADMIN_WRONG_SUBJECT);
    expect_refused_sealed(f->gate, NULL, s, NOW, ADMIN_WRONG_SUBJECT);
    /* Refused without its nonce remembered: on its own subject it passes. */
    expect_accepted(f->gate, "restart", s, NOW, &got);
    free(s.buf);
}

static void test_wrong_operator(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_RESTART, "story-teller", "", "mallory", NOW);

    expect_command_refused(f->gate, f->alice, &c, "restart", NOW, ADMIN_WRONG_OPERATOR);
    /* bob's key naming alice is no better. */
    c = command(FLEET_VERB_RESTART, "story-teller", "", "alice", NOW);
    expect_command_refused(f->gate, f->bob, &c, "restart", NOW, ADMIN_WRONG_OPERATOR);
}

static void test_verb_not_allowed(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_FENCE, "story-teller", "story-teller-1", "bob", NOW);

    expect_command_refused(f->gate, f->bob, &c, "fence", NOW, ADMIN_VERB_NOT_ALLOWED);
}

static void test_service_not_allowed_and_globs(void **state)
{
    struct fx *f = *state;
    fleet_admin_command lobby = command(FLEET_VERB_RESTART, "lobby", "", "bob", NOW), got;
    fleet_admin_command story = command(FLEET_VERB_RESTART, "story-teller", "", "bob", NOW);
    fleet_admin_command bare = command(FLEET_VERB_RESTART, "story", "", "bob", NOW);

    expect_command_refused(f->gate, f->bob, &lobby, "restart", NOW, ADMIN_SERVICE_NOT_ALLOWED);
    /* "story-*" needs the dash. */
    expect_command_refused(f->gate, f->bob, &bare, "restart", NOW, ADMIN_SERVICE_NOT_ALLOWED);
    assert_string_equal(expect_command_accepted(f->gate, f->bob, &story, "restart", NOW, &got), "bob");
    assert_string_equal(got.service, "story-teller");
    assert_true(admin_service_matches("story-?eller", "story-teller"));
    assert_true(admin_service_matches("lobby", "lobby"));
    assert_false(admin_service_matches("lobby", "lobby-2"));
}

/* Valid through expires_unix_ms itself, expired one millisecond after. */
static void test_expired(void **state)
{
    struct fx *f = *state;
    struct sealed late = seal_restart(f, NOW), edge = seal_restart(f, NOW);
    fleet_admin_command got;

    expect_refused_sealed(f->gate, "restart", late, NOW + TTL + 1, ADMIN_EXPIRED);
    expect_accepted(f->gate, "restart", edge, NOW + TTL, &got);
    free(late.buf);
    free(edge.buf);
}

/* Issued up to the skew ahead of the gate's clock is fine; beyond, not. */
static void test_from_future(void **state)
{
    struct fx *f = *state;
    struct sealed ahead = seal_restart(f, NOW + SKEW + 1), edge = seal_restart(f, NOW + SKEW);
    fleet_admin_command got;

    expect_refused_sealed(f->gate, "restart", ahead, NOW, ADMIN_FROM_FUTURE);
    expect_accepted(f->gate, "restart", edge, NOW, &got);
    free(ahead.buf);
    free(edge.buf);
}

static void test_replayed(void **state)
{
    struct fx *f = *state;
    struct sealed s = seal_restart(f, NOW);
    fleet_admin_command got;

    expect_accepted(f->gate, "restart", s, NOW, &got);
    expect_refused_sealed(f->gate, "restart", s, NOW, ADMIN_REPLAYED);
    expect_refused_sealed(f->gate, "restart", s, NOW + TTL, ADMIN_REPLAYED);
    /* Past its expiry it is refused as expired, never accepted again. */
    expect_refused_sealed(f->gate, "restart", s, NOW + TTL + SKEW + 1, ADMIN_EXPIRED);
    free(s.buf);
}

/* Fills every nonce slot with a live command from `issued` on (TTL each). */
static void fill_nonces(struct fx *f, int64_t issued, size_t n)
{
    fleet_admin_command got;

    for (size_t k = 0; k < n; k++) {
        struct sealed s = seal_restart(f, issued);

        expect_accepted(f->gate, "restart", s, issued, &got);
        free(s.buf);
    }
}

/* Every slot live: refused rather than forgetting a nonce; once those
 * commands are past expiry and skew, accepted again. */
static void test_busy_until_nonces_expire(void **state)
{
    struct fx *f = *state;
    int64_t freed = NOW + TTL + SKEW + 1;   /* every filled nonce is past its keeping */
    struct sealed s, again;
    fleet_admin_command got;

    fill_nonces(f, NOW, ADMIN_NONCES_MAX);
    s = seal_restart(f, NOW);
    expect_refused_sealed(f->gate, "restart", s, NOW, ADMIN_BUSY);
    free(s.buf);
    s = seal_restart(f, freed - 1);
    expect_refused_sealed(f->gate, "restart", s, freed - 1, ADMIN_BUSY);   /* the last kept ms */
    /* Refused busy, so not remembered: the same envelope passes later. */
    expect_accepted(f->gate, "restart", s, freed, &got);
    again = seal_restart(f, freed);
    expect_accepted(f->gate, "restart", again, freed, &got);
    free(s.buf);
    free(again.buf);
}

/* Busy means every slot is live: one long-lived command among short ones
 * does not block the gate once the short ones have expired. */
static void test_busy_only_when_every_slot_is_live(void **state)
{
    struct fx *f = *state;
    fleet_admin_command c = command(FLEET_VERB_RESTART, "story-teller", "", "alice", NOW), got;
    int64_t later = NOW + TTL + SKEW + 1;
    struct sealed s;

    c.expires_unix_ms = NOW + FLEET_ADMIN_MAX_WINDOW_MS;
    expect_command_accepted(f->gate, f->alice, &c, "restart", NOW, &got);
    fill_nonces(f, NOW, ADMIN_NONCES_MAX - 1);
    s = seal_restart(f, later);
    expect_accepted(f->gate, "restart", s, later, &got);
    free(s.buf);
    /* The long-lived nonce is still remembered. */
    expect_command_refused(f->gate, f->alice, &c, "restart", later, ADMIN_REPLAYED);
}

/* ---- a new operator list (SIGHUP) ---- */

static void test_set_operators_keeps_nonces_and_drops_the_removed(void **state)
{
    struct fx *f = *state;
    struct sealed seen = seal_restart(f, NOW), fresh = seal_restart(f, NOW);
    fleet_admin_command by_bob = command(FLEET_VERB_RESTART, "story-teller", "", "bob", NOW), got;
    struct supervisor_operator swapped[2] = { f->ops[1], f->ops[0] };

    expect_accepted(f->gate, "restart", seen, NOW, &got);
    /* The same operators in another order: the nonce is still known. */
    assert_int_equal(admin_gate_set_operators(f->gate, swapped, 2), 0);
    expect_refused_sealed(f->gate, "restart", seen, NOW, ADMIN_REPLAYED);
    /* alice removed: her fresh command is now from an unknown key. */
    assert_int_equal(admin_gate_set_operators(f->gate, &f->ops[1], 1), 0);
    expect_refused_sealed(f->gate, "restart", fresh, NOW, ADMIN_UNKNOWN_OPERATOR);
    assert_string_equal(expect_command_accepted(f->gate, f->bob, &by_bob, "restart", NOW, &got), "bob");
    /* Nobody left: admin commands are off. */
    assert_int_equal(admin_gate_set_operators(f->gate, NULL, 0), 0);
    expect_refused_sealed(f->gate, "restart", fresh, NOW, ADMIN_NO_OPERATORS);
    free(seen.buf);
    free(fresh.buf);
}

/* ---- counters ---- */

static void test_counters(void **state)
{
    struct fx *f = *state;
    struct admin_counters k;
    struct sealed s = seal_restart(f, NOW);
    static const uint8_t garbage[] = { 0xff };
    fleet_admin_command got;

    admin_gate_counters(f->gate, &k);
    assert_int_equal(k.done, 0);
    for (int r = 0; r < ADMIN_RULE_COUNT; r++)
        assert_int_equal(k.refused[r], 0);

    expect_accepted(f->gate, "restart", s, NOW, &got);
    expect_refused_sealed(f->gate, "restart", s, NOW, ADMIN_REPLAYED);
    expect_refused_sealed(f->gate, "restart", s, NOW, ADMIN_REPLAYED);
    expect_refused(f->gate, "restart", garbage, sizeof(garbage), NOW, ADMIN_MALFORMED);
    admin_gate_count(f->gate, FLEET_VERB_RESTART, ADMIN_ACCEPTED);
    admin_gate_count(f->gate, FLEET_VERB_RESTART, ADMIN_ACCEPTED);
    admin_gate_count(f->gate, FLEET_VERB_FENCE, ADMIN_NOT_DONE);
    admin_gate_count(f->gate, FLEET_VERB_FENCE, ADMIN_UNKNOWN_TARGET);

    admin_gate_counters(f->gate, &k);
    assert_int_equal(k.done, 2);   /* judging is not doing: only admin_gate_count counts done */
    assert_int_equal(k.refused[ADMIN_REPLAYED], 2);
    assert_int_equal(k.refused[ADMIN_MALFORMED], 1);
    assert_int_equal(k.refused[ADMIN_NOT_DONE], 1);
    assert_int_equal(k.refused[ADMIN_UNKNOWN_TARGET], 1);
    /* Per verb: refusals under the subject's verb, outcomes under theirs. */
    assert_int_equal(k.by_verb[FLEET_VERB_RESTART][ADMIN_ACCEPTED], 2);
    assert_int_equal(k.by_verb[FLEET_VERB_RESTART][ADMIN_REPLAYED], 2);
    assert_int_equal(k.by_verb[FLEET_VERB_RESTART][ADMIN_MALFORMED], 1);
    assert_int_equal(k.by_verb[FLEET_VERB_FENCE][ADMIN_NOT_DONE], 1);
    assert_int_equal(k.by_verb[FLEET_VERB_FENCE][ADMIN_UNKNOWN_TARGET], 1);
    assert_int_equal(k.refused[ADMIN_ACCEPTED], 0);
    free(s.buf);
}

static void test_rule_names(void **state)
{
    (void)state;
    assert_string_equal(admin_rule_name(ADMIN_ACCEPTED), "accepted");
    assert_string_equal(admin_rule_name(ADMIN_SERVICE_NOT_ALLOWED), "service_not_allowed");
    assert_string_equal(admin_rule_name(ADMIN_NOT_DONE), "not_done");
    assert_string_equal(admin_rule_name(ADMIN_UNKNOWN_TARGET), "unknown_target");
    assert_string_equal(admin_rule_name(ADMIN_NOT_RECORDED), "not_recorded");
    assert_string_equal(admin_rule_name(ADMIN_RULE_COUNT), "unknown");
    for (int r = 0; r < ADMIN_RULE_COUNT; r++)
        for (int q = r + 1; q < ADMIN_RULE_COUNT; q++)
            assert_string_not_equal(admin_rule_name((enum admin_rule)r), admin_rule_name((enum admin_rule)q));
}

#define GATE_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        GATE_TEST(test_accepted),
        GATE_TEST(test_operators_are_copied),
        GATE_TEST(test_unnamed_command_takes_the_keys_name),
        GATE_TEST(test_no_operators),
        GATE_TEST(test_rate_limited),
        GATE_TEST(test_too_large),
        GATE_TEST(test_malformed),
        GATE_TEST(test_unknown_operator),
        GATE_TEST(test_bad_signature),
        GATE_TEST(test_wrong_subject),
        GATE_TEST(test_wrong_operator),
        GATE_TEST(test_verb_not_allowed),
        GATE_TEST(test_service_not_allowed_and_globs),
        GATE_TEST(test_expired),
        GATE_TEST(test_from_future),
        GATE_TEST(test_replayed),
        GATE_TEST(test_busy_until_nonces_expire),
        GATE_TEST(test_busy_only_when_every_slot_is_live),
        GATE_TEST(test_set_operators_keeps_nonces_and_drops_the_removed),
        GATE_TEST(test_counters),
        cmocka_unit_test(test_rule_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
