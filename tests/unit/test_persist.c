/* Unit tests of durable policy state (supervisor/core/persist.h) and of the
 * observer around it: the byte form, wall-clock conversions, on_persist
 * before every action it records, restore after a supervisor restart, a
 * failing state store, and leadership. Virtual monotonic clocks and fake
 * wall-clock offsets; every random draw comes from a fixed seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corefx.h"
#include "observer.h"
#include "persist.h"
#include "policy.h"

#define WALL0 1700000000000LL /* wall clock at observer A's monotonic 0 */

/* ---- one supervisor process: an observer, its clocks, a recording sink ---- */

/* Every write is a-1's, the only instance these tests run. */
static bool persist_a1(void *ctx, const struct service *s, const struct instance *i,
                       const struct policy_persisted *rec)
{
    assert_string_equal(s->name, "alpha");
    assert_string_equal(i->name, "a-1");
    return corefx_record_persist(ctx, s, i, rec);
}

/* Starts supervisor `p` (caller-owned storage; corefx_fini stops it) at
 * monotonic 0, `offset` from the wall clock: one service, alpha, wanting one
 * instance; actions recorded, and with `persist` the write-ahead into p->rec. */
static void proc_start(struct corefx *p, int64_t offset, bool persist)
{
    corefx_init(p, COREFX_ACTIONS | (persist ? COREFX_PERSIST : 0), COREFX_SEED);
    if (persist)
        p->sink.on_persist = persist_a1;
    corefx_configure(p, "alpha", 1);
    p->unix_offset = offset;
    corefx_start(p, 0);
}

static void send_hb_epoch(struct corefx *p, uint64_t incarnation, int64_t at_ms, enum serving_state state,
                          uint64_t fence_epoch)
{
    struct hb_input hb = corefx_heartbeat("alpha", "a-1", incarnation, p->seq++, at_ms);

    hb.state = state;
    hb.fence_epoch = fence_epoch;
    assert_int_equal(corefx_send(p, &hb), HB_ACCEPTED);
}

static void send_hb(struct corefx *p, uint64_t incarnation, int64_t at_ms, enum serving_state state)
{
    corefx_send_state(p, "alpha", "a-1", incarnation, at_ms, state);
}

static struct instance *a1(const struct corefx *p)
{
    return corefx_instance_of(p, "alpha", "a-1");
}

static enum inst_health health(const struct corefx *p)
{
    return corefx_health_of(p, "alpha", "a-1");
}

/* What one death came to. */
struct outcome {
    enum core_action_kind kind;
    int64_t delay_ms;  /* from the death to the action */
    uint64_t fence_epoch;
    char reason[COREFX_REASON_LEN];
};

/* The action answering a death seen at `died`; a RESTART is accepted and a
 * new incarnation reports SERVING. */
static struct outcome answer(struct corefx *p, size_t n_before, int64_t died, uint64_t *inc)
{
    const struct corefx_action *a;
    struct outcome out;

    a = p->rec.n_actions > n_before ? corefx_last_action(p) : corefx_wait_action(p, 120000);
    out.kind = a->kind;
    out.delay_ms = a->at_ms - died;
    out.fence_epoch = a->fence_epoch;
    snprintf(out.reason, sizeof(out.reason), "%s", a->reason);
    if (a->kind == CORE_ACT_RESTART) {
        observer_action_result(p->o, a->id, CORE_ACK_ACCEPTED, NULL, p->now + 10);
        (*inc)++;
        send_hb(p, *inc, p->now + 50, SERVING_SERVING);
        assert_int_equal(health(p), INST_HEALTHY);
    } else {
        observer_action_result(p->o, a->id, CORE_ACK_ACCEPTED, NULL, p->now + 10);
    }
    return out;
}

/* a-1 exits 100 ms from now; returns what the observer did about it. */
static struct outcome crash(struct corefx *p, uint64_t *inc)
{
    size_t n = p->rec.n_actions;
    int64_t died = p->now + 100;

    send_hb(p, *inc, died, SERVING_EXITED);
    return answer(p, n, died, inc);
}

/* Creates `p` at monotonic 0 with `offset`, warms it up and has a-1 serving. */
static void start_serving(struct corefx *p, int64_t offset, bool persist, uint64_t inc)
{
    proc_start(p, offset, persist);
    corefx_tick(p, COREFX_INTERVAL);
    assert_int_equal(observer_state(p->o), OBSERVER_NORMAL);
    send_hb(p, inc, 2000, SERVING_SERVING);
}

/* Delay before restart number step + 1 for the default policy, jitter-free. */
static int64_t base_delay(uint32_t step)
{
    int64_t d = 1000;

    if (step == 0)
        return 0;
    for (uint32_t k = 1; k < step; k++)
        d = d * 2 > 60000 ? 60000 : d * 2;
    return d;
}

/* ---- the byte form ---- */

static void sample(struct policy_persisted *p, uint8_t n)
{
    memset(p, 0, sizeof(*p));
    p->fence_epoch_known = 0x0102030405060708ULL;
    p->fence_epoch_issued = 0x0102030405060700ULL;
    p->fenced = true;
    p->backoff_step = 0xA1B2C3D4u;
    p->n_restarts = n;
    for (uint8_t k = 0; k < n; k++)
        p->restart_unix_ms[k] = WALL0 + 1000 * k;
    snprintf(p->fence_reason, sizeof(p->fence_reason), "crashloop: 6 restarts in 600s");
}

static void test_pack_unpack_round_trip(void **state)
{
    struct policy_persisted in, out;
    uint8_t buf[PERSIST_PACKED_MAX];
    size_t len;

    (void)state;
    for (uint8_t n = 0; n <= POLICY_TALLY_MAX; n++) {
        sample(&in, n);
        assert_int_equal(persist_pack(&in, buf, sizeof(buf), &len), 0);
        assert_int_equal(len, 29 + 8 * (size_t)n + strlen(in.fence_reason));
        memset(&out, 0xAB, sizeof(out));
        assert_int_equal(persist_unpack(buf, len, &out), 0);
        assert_true(out.fence_epoch_known == in.fence_epoch_known);
        assert_true(out.fence_epoch_issued == in.fence_epoch_issued);
        assert_true(out.fenced);
        assert_int_equal(out.backoff_step, in.backoff_step);
        assert_int_equal(out.n_restarts, n);
        for (uint8_t k = 0; k < n; k++)
            assert_int64_eq(out.restart_unix_ms[k], in.restart_unix_ms[k]);
        assert_string_equal(out.fence_reason, in.fence_reason);
    }
    /* The layout, byte by byte, for a small record. */
    memset(&in, 0, sizeof(in));
    in.fence_epoch_known = 9;
    in.fence_epoch_issued = 8;
    in.backoff_step = 3;
    in.n_restarts = 1;
    in.restart_unix_ms[0] = 0x0102;
    in.restarts = 0x0A0B;
    assert_int_equal(persist_pack(&in, buf, sizeof(buf), &len), 0);
    {
        static const uint8_t want[37] = {
            PERSIST_MAGIC, PERSIST_VERSION, 0x00, 0x01, 3, 0, 0, 0,
            9, 0, 0, 0, 0, 0, 0, 0,
            8, 0, 0, 0, 0, 0, 0, 0,
            0x02, 0x01, 0, 0, 0, 0, 0, 0,
            0x00,
            0x0B, 0x0A, 0, 0,
        };

        assert_int_equal(len, 37);
        assert_memory_equal(buf, want, 37);
    }
    /* The largest record fits PERSIST_PACKED_MAX exactly. */
    sample(&in, POLICY_TALLY_MAX);
    memset(in.fence_reason, 'x', REASON_MAX - 1);
    in.fence_reason[REASON_MAX - 1] = '\0';
    assert_int_equal(persist_pack(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, PERSIST_PACKED_MAX);
    assert_int_equal(persist_unpack(buf, len, &out), 0);
    assert_string_equal(out.fence_reason, in.fence_reason);
}

static void test_pack_refuses_invalid_or_small_buffer(void **state)
{
    struct policy_persisted p;
    uint8_t buf[PERSIST_PACKED_MAX];
    size_t len = 12345;

    (void)state;
    sample(&p, 3);
    assert_int_equal(persist_pack(&p, buf, 25 + 8 * 3 + strlen(p.fence_reason) - 1, &len), -1);
    assert_int_equal(len, 12345);
    sample(&p, 3);
    p.n_restarts = POLICY_TALLY_MAX + 1;
    assert_int_equal(persist_pack(&p, buf, sizeof(buf), &len), -1);
    sample(&p, 3);
    p.fence_epoch_issued = p.fence_epoch_known + 1;     /* issued above known */
    assert_false(persist_valid(&p));
    sample(&p, 3);
    p.fence_epoch_issued = 0;                           /* fenced without an epoch */
    assert_false(persist_valid(&p));
    sample(&p, 3);
    p.fenced = false;                                   /* a reason but not fenced */
    assert_false(persist_valid(&p));
    sample(&p, 3);
    p.restart_unix_ms[2] = p.restart_unix_ms[1] - 1;    /* out of order */
    assert_false(persist_valid(&p));
    sample(&p, 3);
    p.restart_unix_ms[0] = -1;
    assert_false(persist_valid(&p));
    sample(&p, 3);
    memset(p.fence_reason, 'x', sizeof(p.fence_reason)); /* no NUL */
    assert_false(persist_valid(&p));
    assert_int_equal(persist_pack(&p, buf, sizeof(buf), &len), -1);
    assert_int_equal(len, 12345);
}

/* Records written before the restart count (version 1) are still read. */
static void test_version_1_records_are_still_read(void **state)
{
    struct policy_persisted p, out;
    uint8_t buf[PERSIST_PACKED_MAX];
    size_t len;

    (void)state;
    sample(&p, 3);
    p.restarts = 17;
    assert_int_equal(persist_pack(&p, buf, sizeof(buf), &len), 0);
    assert_int_equal(persist_unpack(buf, len, &out), 0);
    assert_int_equal(out.restarts, 17);
    buf[1] = 1;   /* the same record, as version 1 wrote it: no restart count */
    assert_int_equal(persist_unpack(buf, len - 4, &out), 0);
    assert_int_equal(out.restarts, 0);
    assert_int_equal(out.n_restarts, 3);
    assert_string_equal(out.fence_reason, p.fence_reason);
    assert_int_equal(persist_unpack(buf, len, &out), -1);   /* version 1 with a tail: refused */
}

static void test_unpack_refuses_truncated_garbage_and_versions(void **state)
{
    struct policy_persisted p, out, untouched;
    uint8_t buf[PERSIST_PACKED_MAX + 1], bad[PERSIST_PACKED_MAX + 1];
    size_t len;
    uint64_t rng = policy_rng_seed(COREFX_SEED);

    (void)state;
    sample(&p, 4);
    assert_int_equal(persist_pack(&p, buf, sizeof(buf), &len), 0);
    memset(&untouched, 0x5A, sizeof(untouched));
    /* Every truncation, and one byte too many. */
    for (size_t n = 0; n < len; n++) {
        out = untouched;
        assert_int_equal(persist_unpack(buf, n, &out), -1);
        assert_memory_equal(&out, &untouched, sizeof(out));
    }
    buf[len] = 0;
    assert_int_equal(persist_unpack(buf, len + 1, &out), -1);
    /* Each header field wrong in turn. */
    struct { size_t at; uint8_t value; } wrong[] = {
        { 0, PERSIST_MAGIC ^ 0xFF },            /* magic */
        { 1, PERSIST_VERSION + 1 },             /* a later version */
        { 1, 0 },                               /* version 0 */
        { 2, 0x03 },                            /* an unknown flag */
        { 2, 0x00 },                            /* not fenced, yet a reason */
        { 3, POLICY_TALLY_MAX + 1 },            /* tally too long */
        { 3, 3 },                               /* tally count not matching the length */
        { 24 + 8 * 4, 5 },                      /* reason length not matching */
        { 24 + 8 * 4 + 3, 0 },                  /* a NUL inside the reason */
        { 24 + 8 * 3 + 7, 0x80 },               /* a negative restart time */
        { 24 + 8 * 3 + 4, 0x00 },               /* restart times out of order */
        { 16, 0xFF },                           /* issued above known */
    };
    for (size_t k = 0; k < sizeof(wrong) / sizeof(wrong[0]); k++) {
        memcpy(bad, buf, len);
        bad[wrong[k].at] = wrong[k].value;
        out = untouched;
        if (persist_unpack(bad, len, &out) != -1)
            fail_msg("wrong byte %zu = 0x%02x accepted", wrong[k].at, wrong[k].value);
        assert_memory_equal(&out, &untouched, sizeof(out));
    }
    /* Random bytes: refused, or (with a valid header by chance) a record
     * that packs back to exactly those bytes. */
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(policy_rng_next(&rng) % sizeof(bad));
        uint8_t again[PERSIST_PACKED_MAX];
        size_t again_len;

        for (size_t k = 0; k < n; k++)
            bad[k] = (uint8_t)policy_rng_next(&rng);
        if (n > 3 && round % 2 == 0) {
            bad[0] = PERSIST_MAGIC;
            bad[1] = PERSIST_VERSION;
            bad[2] &= 1;
            bad[3] %= 3;
        }
        if (persist_unpack(bad, n, &out) == 0) {
            assert_int_equal(persist_pack(&out, again, sizeof(again), &again_len), 0);
            assert_int_equal(again_len, n);
            assert_memory_equal(again, bad, n);
        }
    }
    assert_int_equal(persist_unpack(buf, 0, &out), -1);
}

/* ---- wall-clock conversions ---- */

static void test_conversions_keep_order_and_offset(void **state)
{
    struct policy_instance pi, back;
    struct policy_persisted rec;
    const int64_t off_a = WALL0, off_b = WALL0 + 3600000 - 50; /* B's process: another epoch */

    (void)state;
    policy_instance_init(&pi);
    /* 20 restarts into a 16-slot ring: the newest 16 survive, oldest first. */
    for (int k = 0; k < 20; k++)
        policy_tally_add(&pi, 1000 * k);
    pi.backoff_step = 7;
    pi.fence_epoch = 12;
    pi.fence_issued = 11;
    persist_from_policy(&pi, false, "ignored unless fenced", off_a, &rec);
    assert_true(persist_valid(&rec));
    assert_int_equal(rec.n_restarts, POLICY_TALLY_MAX);
    for (int k = 0; k < POLICY_TALLY_MAX; k++)
        assert_int64_eq(rec.restart_unix_ms[k], off_a + 1000 * (k + 4));
    assert_string_equal(rec.fence_reason, "");
    assert_false(rec.fenced);
    assert_true(rec.fence_epoch_known == 12 && rec.fence_epoch_issued == 11);

    /* Restored in a process whose monotonic clock is 3600 s behind. */
    policy_instance_init(&back);
    persist_to_policy(&rec, 100000, off_b, &back);
    assert_int_equal(back.backoff_step, 7);
    assert_true(back.fence_epoch == 12 && back.fence_issued == 11);
    for (int64_t now_a = 19000; now_a < 30000; now_a += 777) {
        int64_t now_b = now_a + off_a - off_b;

        assert_int_equal(policy_tally_count(&back, 600000, now_b), policy_tally_count(&pi, 600000, now_a));
        assert_int_equal(policy_tally_count(&back, 5000, now_b), policy_tally_count(&pi, 5000, now_a));
    }
    /* Epochs are raised, never lowered. */
    back.fence_epoch = 99;
    persist_to_policy(&rec, 100000, off_b, &back);
    assert_true(back.fence_epoch == 99);
    /* A wall clock stepped back: times after now are taken as now. */
    policy_instance_init(&back);
    persist_to_policy(&rec, 0, off_a + 10000, &back);
    for (int k = 0; k < POLICY_TALLY_MAX; k++)
        assert_true(back.restart_at[k] <= 0);
    /* A fenced record carries its reason; clamping keeps times valid. */
    pi.restart_at[0] = -WALL0 - 5; /* before the wall clock's epoch */
    persist_from_policy(&pi, true, "crashloop: 6 restarts in 600s", 0, &rec);
    assert_true(persist_valid(&rec));
    assert_true(rec.fenced);
    assert_string_equal(rec.fence_reason, "crashloop: 6 restarts in 600s");
}

static void test_instance_stays_small(void **state)
{
    (void)state;
    assert_true(sizeof(struct instance) <= 1024);
}

/* ---- the observer: restart of the supervisor mid crash loop ---- */

static void test_killed_mid_crash_loop_continues_like_uninterrupted(void **state)
{
    struct corefx *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    struct corefx *c = calloc(1, sizeof(*c)), *d = calloc(1, sizeof(*d));
    struct outcome oc[6], ob[6], od;
    struct policy_persisted rec;
    uint64_t inc_a = 1, inc_c = 1, inc_b, inc_d;
    uint64_t rng_b = policy_rng_seed(COREFX_SEED);
    struct policy_config pc, zero = { 0 };
    int64_t died, kill_wall, off_b;
    size_t n;

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    policy_config_resolve(&pc, &zero);

    /* C sees everything: five restarts backing off, the sixth death fenced. */
    start_serving(c, WALL0, true, inc_c);
    for (int k = 0; k < 6; k++)
        oc[k] = crash(c, &inc_c);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(oc[k].kind, CORE_ACT_RESTART);
        assert_int64_in(oc[k].delay_ms, base_delay((uint32_t)k) * 8 / 10, base_delay((uint32_t)k) * 12 / 10);
    }
    assert_int_equal(oc[5].kind, CORE_ACT_FENCE);
    assert_int_equal(oc[5].fence_epoch, 1);
    /* Every action was made durable first (and each new life, for the
     * restart count on the feed). */
    assert_string_equal(c->rec.log, "PAPPAPPAPPAPPAPPA");

    /* A, same seed and clock, sees three deaths and their restarts, then the
     * fourth death, and is killed while that restart waits out its backoff. */
    start_serving(a, WALL0, true, inc_a);
    for (int k = 0; k < 3; k++) {
        struct outcome o = crash(a, &inc_a);

        assert_int_equal(o.kind, oc[k].kind);
        assert_int64_eq(o.delay_ms, oc[k].delay_ms);
    }
    n = a->rec.n_persist_calls;
    send_hb(a, inc_a, a->now + 100, SERVING_EXITED);
    corefx_run_until(a, a->now + 500);
    assert_int_equal(a->rec.n_actions, 3);
    assert_int_equal(a->rec.n_persist_calls, n); /* a plan is not durable state */
    assert_true(a1(a)->next_action_ms > a->now);
    kill_wall = a->now + a->unix_offset;
    corefx_fini(a);

    /* B starts 5 s later in a new process: monotonic 0 is a new wall time. */
    off_b = kill_wall + 5000;
    assert_int_equal(persist_unpack(a->rec.kv, a->rec.kv_len, &rec), 0);
    assert_int_equal(rec.n_restarts, 3);
    assert_int_equal(rec.backoff_step, 3);
    proc_start(b, off_b, true);
    assert_int_equal(observer_restore(b->o, "alpha", "a-1", &rec, 0, off_b), 0);
    assert_int_equal(b->rec.n_persist_calls, 0); /* restoring writes nothing back */
    assert_int_equal(health(b), INST_UNSPECIFIED);
    corefx_run_until(b, 1500);
    assert_int_equal(observer_state(b->o), OBSERVER_NORMAL);
    /* D, the same without a record: it would start the streak over. */
    proc_start(d, off_b, true);
    corefx_run_until(d, 1500);

    /* The agent reports a-1 still dead; then the crash loop goes on. */
    inc_b = inc_d = inc_a;
    died = 1600;
    send_hb(b, inc_b, died, SERVING_EXITED);
    ob[3] = answer(b, 0, died, &inc_b);
    send_hb(d, inc_d, died, SERVING_EXITED);
    od = answer(d, 0, died, &inc_d);
    ob[4] = crash(b, &inc_b);
    ob[5] = crash(b, &inc_b);

    /* B's restart 4 waits step 3's backoff, as C's did (both within the
     * jitter of the same base; B's is exactly its first draw), where D's
     * goes at once; restart 5 likewise; the sixth death is fenced in both,
     * for the same reason and with the same first epoch. */
    assert_int_equal(ob[3].kind, CORE_ACT_RESTART);
    assert_int64_eq(ob[3].delay_ms, policy_backoff_ms(&pc, 3, &rng_b));
    assert_int64_in(ob[3].delay_ms, base_delay(3) * 8 / 10, base_delay(3) * 12 / 10);
    assert_int64_in(oc[3].delay_ms, base_delay(3) * 8 / 10, base_delay(3) * 12 / 10);
    assert_int_equal(od.kind, CORE_ACT_RESTART);
    assert_int64_eq(od.delay_ms, 0);
    assert_int_equal(ob[4].kind, CORE_ACT_RESTART);
    assert_int64_eq(ob[4].delay_ms, policy_backoff_ms(&pc, 4, &rng_b));
    assert_int64_in(ob[4].delay_ms, base_delay(4) * 8 / 10, base_delay(4) * 12 / 10);
    assert_int64_in(oc[4].delay_ms, base_delay(4) * 8 / 10, base_delay(4) * 12 / 10);
    assert_int_equal(ob[5].kind, CORE_ACT_FENCE);
    assert_int_equal(ob[5].fence_epoch, oc[5].fence_epoch);
    assert_string_equal(ob[5].reason, oc[5].reason);
    assert_string_equal(ob[5].reason, "crashloop: 6 restarts in 600s");
    assert_string_equal(b->rec.log, "PAPPAPPA");
    /* B's record now says what C's does, in wall-clock terms, save times. */
    assert_true(b->rec.last.fenced && c->rec.last.fenced);
    assert_true(b->rec.last.fence_epoch_issued == c->rec.last.fence_epoch_issued);
    assert_int_equal(b->rec.last.n_restarts, c->rec.last.n_restarts);
    assert_int_equal(b->rec.last.backoff_step, c->rec.last.backoff_step);

    corefx_fini(b);
    corefx_fini(c);
    corefx_fini(d);
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_restored_fence_holds_and_epochs_continue(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    struct policy_persisted rec;
    uint64_t inc = 5;

    (void)state;
    assert_non_null(p);
    proc_start(p, WALL0, true);
    memset(&rec, 0, sizeof(rec));
    rec.fenced = true;
    rec.fence_epoch_known = rec.fence_epoch_issued = 41;
    snprintf(rec.fence_reason, sizeof(rec.fence_reason), "crashloop: 6 restarts in 600s");
    assert_int_equal(observer_restore(p->o, "alpha", "a-1", &rec, 0, WALL0), 0);
    assert_int_equal(health(p), INST_FENCED);
    assert_string_equal(a1(p)->reason, "crashloop: 6 restarts in 600s");
    corefx_run_until(p, 2000);
    assert_int_equal(observer_state(p->o), OBSERVER_NORMAL);
    /* It reports dead, stops, goes silent: still fenced, never restarted,
     * never forgotten, and nothing is written. */
    send_hb(p, inc, 2100, SERVING_EXITED);
    assert_int_equal(health(p), INST_FENCED);
    send_hb(p, inc, 3100, SERVING_FENCED);
    send_hb(p, inc, 4100, SERVING_EXITED);
    corefx_run_until(p, 4100 + 2 * COREFX_FORGET_AFTER);
    assert_int_equal(health(p), INST_FENCED);
    assert_int_equal(p->rec.n_actions, 0);
    assert_int_equal(p->rec.n_persist_calls, 0);
    assert_int_equal(a1(p)->restarts, 0);

    /* A new life (its agent restarted: fence epoch 0) serves: the fence
     * holds, and goes out again to that life with a new epoch, written
     * first; no escalation this time... */
    inc++;
    send_hb(p, inc, p->now + 100, SERVING_SERVING);
    assert_int_equal(health(p), INST_FENCED);
    assert_int_equal(p->rec.n_actions, 1);
    assert_int_equal(p->rec.actions[0].kind, CORE_ACT_FENCE);
    assert_int_equal(p->rec.actions[0].fence_epoch, 42);
    assert_true(p->rec.last.fenced && p->rec.last.fence_epoch_issued == 42);
    assert_int_equal(p->rec.last.restarts, 1);
    observer_action_result(p->o, p->rec.actions[0].id, CORE_ACK_ACCEPTED, NULL, p->now + 10);
    send_hb_epoch(p, inc, p->now + 100, SERVING_FENCED, 42);
    assert_int_equal(health(p), INST_FENCED);
    /* ...until it obeys an UNFENCE (its epoch above the fence's): the lift
     * is written. */
    send_hb_epoch(p, inc, p->now + 100, SERVING_SERVING, 43);
    assert_int_equal(health(p), INST_HEALTHY);
    assert_false(p->rec.last.fenced);
    assert_true(p->rec.last.fence_epoch_issued == 42);
    assert_int_equal(p->rec.n_actions, 1);
    corefx_fini(p);

    /* ...and a record of a recent crash loop, not fenced: the first death
     * after restore is fenced at once, with an epoch above the restored one. */
    proc_start(p, WALL0, true);
    memset(&rec, 0, sizeof(rec));
    rec.fence_epoch_known = 41;
    rec.fence_epoch_issued = 40;
    rec.backoff_step = 5;
    rec.n_restarts = 5;
    for (int k = 0; k < 5; k++)
        rec.restart_unix_ms[k] = WALL0 - 60000 + 5000 * k;
    assert_int_equal(observer_restore(p->o, "alpha", "a-1", &rec, 0, WALL0), 0);
    assert_int_equal(health(p), INST_UNSPECIFIED);
    corefx_run_until(p, 1500);
    send_hb(p, inc, 1600, SERVING_SERVING);
    send_hb(p, inc, 2600, SERVING_EXITED);
    assert_int_equal(p->rec.n_actions, 1);
    assert_int_equal(p->rec.actions[0].kind, CORE_ACT_FENCE);
    assert_int_equal(p->rec.actions[0].fence_epoch, 42);
    assert_true(p->rec.last.fenced && p->rec.last.fence_epoch_issued == 42 && p->rec.last.fence_epoch_known == 42);
    assert_string_equal(p->rec.log, "PA");
    corefx_fini(p);
    free(p);
}

static void test_restore_unheard_not_dead_and_first_life_not_a_restart(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    struct policy_persisted rec;

    (void)state;
    assert_non_null(p);
    proc_start(p, WALL0, true);
    memset(&rec, 0, sizeof(rec));
    /* Unknown service: ignored, nothing created. Invalid record: refused. */
    assert_int_equal(observer_restore(p->o, "nope", "n-1", &rec, 0, WALL0), 0);
    assert_null(registry_service(observer_registry(p->o), "nope"));
    rec.n_restarts = POLICY_TALLY_MAX + 1;
    assert_int_equal(observer_restore(p->o, "alpha", "a-1", &rec, 0, WALL0), -1);
    assert_null(a1(p));
    rec.n_restarts = 0;
    assert_int_equal(observer_restore(p->o, "alpha", "a-1", &rec, 0, WALL0), 0);
    /* Silent for a long while: not watched, not DEAD, no action. */
    corefx_run_until(p, 60000);
    assert_int_equal(health(p), INST_UNSPECIFIED);
    assert_true(observer_phi(p->o, a1(p), p->now) == 0.0);
    assert_int_equal(p->rec.n_actions, 0);
    /* Its first heartbeat is its first life, not a restart, and from then on
     * it is watched like any other. */
    send_hb(p, 77, 60500, SERVING_SERVING);
    assert_int_equal(health(p), INST_HEALTHY);
    assert_int_equal(a1(p)->restarts, 0);
    corefx_run_until(p, 70000);
    assert_true(p->rec.n_actions >= 1);
    assert_int_equal(p->rec.actions[0].kind, CORE_ACT_RESTART);
    assert_true(strncmp(p->rec.actions[0].reason, "dead: silent", 12) == 0);
    /* Unheard, a restored record is forgotten like a silent one. */
    corefx_fini(p);
    proc_start(p, WALL0, true);
    assert_int_equal(observer_restore(p->o, "alpha", "a-1", &rec, 0, WALL0), 0);
    corefx_run_until(p, COREFX_FORGET_AFTER + 1000);
    assert_null(a1(p));
    corefx_fini(p);
    free(p);
}

static void test_streak_reset_is_written_once(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    uint64_t inc = 1;
    size_t n;

    (void)state;
    assert_non_null(p);
    start_serving(p, WALL0, true, inc);
    crash(p, &inc);
    crash(p, &inc);
    assert_int_equal(p->rec.last.backoff_step, 2);
    n = p->rec.n_persist_calls;
    /* Heartbeats while healthy write nothing until the stable period ends,
     * then one record with the streak over, then nothing again. */
    for (int64_t t = p->now + COREFX_INTERVAL, end = p->now + 70000; t < end; t += COREFX_INTERVAL) {
        corefx_run_until(p, t);
        send_hb(p, inc, t, SERVING_SERVING);
    }
    assert_int_equal(p->rec.n_persist_calls, n + 1);
    assert_int_equal(p->rec.last.backoff_step, 0);
    assert_int_equal(p->rec.last.n_restarts, 2);
    /* The next death restarts at once. */
    assert_int64_eq(crash(p, &inc).delay_ms, 0);
    corefx_fini(p);
    free(p);
}

/* ---- a failing state store ---- */

static void test_store_failure_holds_action_until_it_recovers(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    struct policy_config pc, zero = { 0 };
    uint64_t inc = 1;
    int64_t failed_at;

    (void)state;
    assert_non_null(p);
    policy_config_resolve(&pc, &zero);
    start_serving(p, WALL0, true, inc);
    p->rec.store_ok = false;
    send_hb(p, inc, 3000, SERVING_EXITED);
    failed_at = p->now;
    /* The write was refused: nothing sent, the instance held, saying why. */
    assert_int_equal(p->rec.n_actions, 0);
    assert_string_equal(p->rec.log, "p");
    assert_int_equal(health(p), INST_DEAD);
    assert_string_equal(a1(p)->reason, "held: state store unavailable");
    assert_int_equal(a1(p)->policy.phase, POLICY_HELD);
    assert_int_equal(a1(p)->policy.tally_len, 0); /* nothing recorded */
    /* The next try is one ack timeout later, not before. */
    assert_int64_eq(observer_next_deadline(p->o), failed_at + pc.ack_timeout_ms);
    corefx_run_until(p, failed_at + pc.ack_timeout_ms - 1);
    assert_string_equal(p->rec.log, "p");
    corefx_run_until(p, failed_at + pc.ack_timeout_ms);
    assert_string_equal(p->rec.log, "pp");
    assert_int_equal(p->rec.n_actions, 0);
    /* The store is back: at the next retry the record, then the action. */
    p->rec.store_ok = true;
    corefx_run_until(p, failed_at + 2 * pc.ack_timeout_ms);
    assert_string_equal(p->rec.log, "ppPA");
    assert_int_equal(p->rec.actions[0].kind, CORE_ACT_RESTART);
    assert_string_equal(p->rec.actions[0].reason, "dead: released (state store unavailable)");
    assert_int_equal(health(p), INST_RESTARTING);
    assert_int_equal(p->rec.last.n_restarts, 1);
    assert_int64_eq(p->rec.last.restart_unix_ms[0], p->now + WALL0);
    corefx_fini(p);

    /* A FENCE: the epoch is written before it is sent, and a refused write
     * issues no epoch at all (the retry uses the same one). */
    start_serving(p, WALL0, true, inc = 1);
    for (int k = 0; k < 5; k++)
        crash(p, &inc);
    p->rec.store_ok = false;
    send_hb(p, inc, p->now + 100, SERVING_EXITED);
    assert_int_equal(p->rec.n_actions, 5);
    assert_int_equal(a1(p)->policy.fence_issued, 0);
    assert_string_equal(a1(p)->reason, "held: state store unavailable");
    p->rec.store_ok = true;
    corefx_run_until(p, p->now + pc.ack_timeout_ms);
    assert_int_equal(p->rec.n_actions, 6);
    assert_int_equal(p->rec.actions[5].kind, CORE_ACT_FENCE);
    assert_int_equal(p->rec.actions[5].fence_epoch, 1);
    assert_true(p->rec.last.fenced && p->rec.last.fence_epoch_issued == 1);
    assert_string_equal(p->rec.log + strlen(p->rec.log) - 3, "pPA");
    assert_int_equal(health(p), INST_FENCED);
    corefx_fini(p);
    free(p);
}

static void test_failed_lift_is_retried(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    struct policy_persisted rec;
    struct policy_config pc, zero = { 0 };

    (void)state;
    assert_non_null(p);
    policy_config_resolve(&pc, &zero);
    proc_start(p, WALL0, true);
    memset(&rec, 0, sizeof(rec));
    rec.fenced = true;
    rec.fence_epoch_known = rec.fence_epoch_issued = 3;
    assert_int_equal(observer_restore(p->o, "alpha", "a-1", &rec, 0, WALL0), 0);
    corefx_run_until(p, 1500);
    p->rec.store_ok = false;
    send_hb_epoch(p, 9, 2000, SERVING_SERVING, 4);   /* it obeyed an UNFENCE of epoch 4 */
    assert_string_equal(p->rec.log, "p");
    assert_int64_eq(observer_next_deadline(p->o) <= 2000 + pc.ack_timeout_ms, 1);
    p->rec.store_ok = true;
    for (int64_t t = 3000; t <= 2000 + pc.ack_timeout_ms; t += COREFX_INTERVAL) {
        corefx_run_until(p, t);
        send_hb_epoch(p, 9, t, SERVING_SERVING, 4);
    }
    corefx_run_until(p, 2000 + pc.ack_timeout_ms);
    assert_string_equal(p->rec.log, "pP");
    assert_false(p->rec.last.fenced);
    assert_true(p->rec.last.fence_epoch_issued == 3);
    corefx_fini(p);
    free(p);
}

/* ---- leadership ---- */

static void test_standby_acts_on_nothing_until_leader(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    uint64_t inc = 1;
    const struct corefx_action *a;

    (void)state;
    assert_non_null(p);
    start_serving(p, WALL0, true, inc);
    assert_true(observer_is_leader(p->o, NULL)); /* created a leader */
    observer_set_leader(p->o, false, 0, 2500);
    assert_int_equal(observer_state(p->o), OBSERVER_STANDBY);
    assert_false(observer_is_leader(p->o, NULL));
    /* Deaths are detected, hot, but answered by nothing at all. */
    send_hb(p, inc, 3000, SERVING_EXITED);
    assert_int_equal(health(p), INST_DEAD);
    inc++;
    send_hb(p, inc, 4000, SERVING_SERVING);
    assert_int_equal(health(p), INST_HEALTHY);
    assert_int_equal(a1(p)->restarts, 1);
    corefx_run_until(p, 10000); /* silent: DEAD by the detector */
    assert_int_equal(health(p), INST_DEAD);
    assert_int_equal(observer_state(p->o), OBSERVER_STANDBY);
    assert_int_equal(p->rec.n_actions, 0);
    assert_int_equal(p->rec.n_persist_calls, 0);
    /* The link flapping does not make a standby act either. */
    observer_link(p->o, false, 10100);
    observer_link(p->o, true, 10200);
    corefx_run_until(p, 20000);
    assert_int_equal(observer_state(p->o), OBSERVER_STANDBY);
    assert_int_equal(p->rec.n_actions, 0);

    /* Leader: one interval warming up, then the dead instance is restarted. */
    observer_set_leader(p->o, true, 7, 20000);
    assert_int_equal(observer_state(p->o), OBSERVER_WARMING_UP);
    assert_string_equal(observer_state_reason(p->o), "leader (term 7): warming up");
    observer_set_leader(p->o, true, 8, 20100); /* a renewed lease changes nothing */
    assert_int_equal(observer_state(p->o), OBSERVER_WARMING_UP);
    {
        uint64_t term = 0;

        assert_true(observer_is_leader(p->o, &term));
        assert_int_equal(term, 8);
    }
    corefx_run_until(p, 20000 + COREFX_INTERVAL - 1);
    assert_int_equal(p->rec.n_actions, 0);
    a = corefx_wait_action(p, 2000);
    assert_int64_eq(a->at_ms, 20000 + COREFX_INTERVAL);
    assert_int_equal(observer_state(p->o), OBSERVER_NORMAL);
    assert_int_equal(a->kind, CORE_ACT_RESTART);
    assert_string_equal(p->rec.log, "PA");
    /* And later deaths are answered as usual. */
    observer_action_result(p->o, a->id, CORE_ACK_ACCEPTED, NULL, p->now + 10);
    inc++;
    send_hb(p, inc, p->now + 50, SERVING_SERVING);
    assert_int_equal(crash(p, &inc).kind, CORE_ACT_RESTART);
    assert_int_equal(p->rec.n_actions, 2);
    corefx_fini(p);
    free(p);
}

static void test_losing_leadership_forgets_actions_in_flight(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    uint64_t inc = 1;
    uint64_t id;

    (void)state;
    assert_non_null(p);
    start_serving(p, WALL0, true, inc);
    send_hb(p, inc, 3000, SERVING_EXITED);
    assert_int_equal(p->rec.n_actions, 1);
    id = p->rec.actions[0].id;
    observer_set_leader(p->o, false, 0, 3100);
    assert_int_equal(observer_state(p->o), OBSERVER_STANDBY);
    /* Its ack is ignored, it is never sent again, nothing escalates. */
    observer_action_result(p->o, id, CORE_ACK_REFUSED, "too late", 3200);
    corefx_run_until(p, 60000);
    assert_int_equal(p->rec.n_actions, 1);
    assert_int_equal(a1(p)->policy.phase, POLICY_IDLE);
    /* A new life is heard as usual. */
    send_hb(p, inc + 1, 60100, SERVING_SERVING);
    assert_int_equal(health(p), INST_HEALTHY);
    assert_int_equal(p->rec.n_actions, 1);
    corefx_fini(p);
    free(p);
}

/* Nobody known to lead (the lease unreachable): an observing supervisor
 * drops what it had in flight, decides nothing, says SELF_PRESERVATION with
 * why, and once it leads again warms up and answers the deaths it saw. */
static void test_observing_decides_nothing_then_leads(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    uint64_t inc = 1;
    uint64_t id;

    (void)state;
    assert_non_null(p);
    start_serving(p, WALL0, true, inc);
    send_hb(p, inc, 3000, SERVING_EXITED);
    assert_int_equal(p->rec.n_actions, 1);
    id = p->rec.actions[0].id;
    observer_set_observing(p->o, "leader lease unreachable: timeout", 3100);
    assert_int_equal(observer_state(p->o), OBSERVER_SELF_PRESERVATION);
    assert_string_equal(observer_state_reason(p->o), "leader lease unreachable: timeout");
    assert_false(observer_is_leader(p->o, NULL));
    /* The refusal of what was in flight no longer matters: no escalation. */
    observer_action_result(p->o, id, CORE_ACK_REFUSED, "too late", 3200);
    send_hb(p, inc + 1, 3300, SERVING_SERVING);
    inc++;
    send_hb(p, inc, 3400, SERVING_EXITED);
    corefx_run_until(p, 30000);
    assert_int_equal(health(p), INST_DEAD);
    assert_int_equal(p->rec.n_actions, 1);
    assert_int_equal(observer_state(p->o), OBSERVER_SELF_PRESERVATION);
    /* A standby after all: STANDBY, still nothing. */
    observer_set_leader(p->o, false, 0, 30000);
    assert_int_equal(observer_state(p->o), OBSERVER_STANDBY);
    observer_set_observing(p->o, "leader lease unreachable", 30100);
    /* Leading again: warm-up, then the dead instance is restarted. */
    observer_set_leader(p->o, true, 9, 31000);
    assert_int_equal(observer_state(p->o), OBSERVER_WARMING_UP);
    assert_int_equal(corefx_wait_action(p, 5000)->kind, CORE_ACT_RESTART);
    assert_int_equal(p->rec.n_actions, 2);
    corefx_fini(p);
    free(p);
}

static void test_no_on_persist_acts_as_before(void **state)
{
    struct corefx *p = calloc(1, sizeof(*p));
    uint64_t inc = 1;

    (void)state;
    assert_non_null(p);
    start_serving(p, WALL0, false, inc);
    for (int k = 0; k < 6; k++)
        crash(p, &inc);
    assert_int_equal(p->rec.n_actions, 6);
    assert_int_equal(p->rec.actions[5].kind, CORE_ACT_FENCE);
    assert_int_equal(p->rec.n_persist_calls, 0);
    corefx_fini(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_unpack_round_trip),
        cmocka_unit_test(test_pack_refuses_invalid_or_small_buffer),
        cmocka_unit_test(test_version_1_records_are_still_read),
        cmocka_unit_test(test_unpack_refuses_truncated_garbage_and_versions),
        cmocka_unit_test(test_conversions_keep_order_and_offset),
        cmocka_unit_test(test_instance_stays_small),
        cmocka_unit_test(test_killed_mid_crash_loop_continues_like_uninterrupted),
        cmocka_unit_test(test_restored_fence_holds_and_epochs_continue),
        cmocka_unit_test(test_restore_unheard_not_dead_and_first_life_not_a_restart),
        cmocka_unit_test(test_streak_reset_is_written_once),
        cmocka_unit_test(test_store_failure_holds_action_until_it_recovers),
        cmocka_unit_test(test_failed_lift_is_retried),
        cmocka_unit_test(test_standby_acts_on_nothing_until_leader),
        cmocka_unit_test(test_losing_leadership_forgets_actions_in_flight),
        cmocka_unit_test(test_observing_decides_nothing_then_leads),
        cmocka_unit_test(test_no_on_persist_acts_as_before),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
