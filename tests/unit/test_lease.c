/* The lease state machine (supervisor/daemon/lease.h) on a virtual clock: every row
 * of its table, and the term of a new leadership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lease.h"

#define T 2000          /* TTL */
#define R (T / 4)       /* renewal period */
#define G (T / 10)      /* guard */
#define A 250           /* acquisition period: min(R, LEASE_ACQUIRE_RETRY_MS) */

static struct lease_outcome ok_rev(uint64_t rev)
{
    return (struct lease_outcome){ .result = LEASE_OK, .rev = rev };
}

static void run(struct lease *l, int64_t now, enum lease_op want, struct lease_outcome out)
{
    enum lease_op op = lease_due(l, now);

    assert_int_equal(op, want);
    lease_done(l, op, &out, now, now);
}

/* Starts a lease at 0 and wins it at revision 5. */
static void lead(struct lease *l)
{
    lease_init(l, T, 0);
    assert_int_equal(l->role, LEASE_STANDBY);
    run(l, 0, LEASE_OP_CREATE, ok_rev(5));
}

static void test_create_wins_the_lease(void **state)
{
    struct lease l;

    (void)state;
    lead(&l);
    assert_int_equal(l.role, LEASE_LEADER);
    assert_int_equal(l.generation, 1);
    assert_int_equal(l.rev, 5);
    assert_true(lease_may_act(&l, T - G - 1));
    assert_false(lease_may_act(&l, T - G));
    assert_int_equal(lease_next_ms(&l), R);
    assert_int_equal(lease_due(&l, R - 1), LEASE_OP_NONE);
}

static void test_renewals_keep_the_leadership(void **state)
{
    struct lease l;

    (void)state;
    lead(&l);
    for (int k = 1; k <= 20; k++)
        run(&l, (int64_t)k * R, LEASE_OP_UPDATE, ok_rev(5 + (uint64_t)k));
    assert_int_equal(l.generation, 1);
    assert_int_equal(l.rev, 25);
    assert_true(lease_may_act(&l, 20 * R + T - G - 1));
}

static void test_someone_else_holds_it(void **state)
{
    struct lease l;
    struct lease_outcome theirs = { .result = LEASE_OK, .rev = 9, .ours = false };

    (void)state;
    lease_init(&l, T, 0);
    run(&l, 0, LEASE_OP_CREATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, 0, LEASE_OP_READ, theirs);
    assert_int_equal(l.role, LEASE_STANDBY);
    assert_false(lease_may_act(&l, 0));
    assert_int_equal(lease_due(&l, A - 1), LEASE_OP_NONE);
    run(&l, A, LEASE_OP_CREATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, A, LEASE_OP_READ, theirs);
    assert_int_equal(l.role, LEASE_STANDBY);
    /* The holder's lease lapses: the next create wins, a new leadership. */
    run(&l, 2 * A, LEASE_OP_CREATE, ok_rev(12));
    assert_int_equal(l.role, LEASE_LEADER);
    assert_int_equal(l.generation, 1);
}

static void test_our_own_lease_is_taken_back(void **state)
{
    struct lease l;

    (void)state;
    lease_init(&l, T, 0);
    run(&l, 0, LEASE_OP_CREATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, 0, LEASE_OP_READ, (struct lease_outcome){ .result = LEASE_OK, .rev = 40, .ours = true });
    assert_int_equal(l.rev, 40);
    run(&l, 0, LEASE_OP_UPDATE, ok_rev(41));
    assert_int_equal(l.role, LEASE_LEADER);
    assert_int_equal(l.generation, 1);
}

static void test_a_lost_ack_keeps_the_leadership(void **state)
{
    struct lease l;

    (void)state;
    lead(&l);
    /* The renewal at R landed but its ack was lost: the next one conflicts,
     * and the key holds our id at a later revision. */
    run(&l, R, LEASE_OP_UPDATE, (struct lease_outcome){ .result = LEASE_ERROR });
    run(&l, R + G, LEASE_OP_UPDATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, R + G, LEASE_OP_READ, (struct lease_outcome){ .result = LEASE_OK, .rev = 6, .ours = true });
    assert_int_equal(l.role, LEASE_LEADER);
    run(&l, R + G, LEASE_OP_UPDATE, ok_rev(7));
    assert_int_equal(l.generation, 1);
    assert_true(lease_may_act(&l, R + G));
}

static void test_an_older_revision_of_ours_is_a_new_leadership(void **state)
{
    struct lease l;

    (void)state;
    lead(&l);
    run(&l, R, LEASE_OP_UPDATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, R, LEASE_OP_READ, (struct lease_outcome){ .result = LEASE_OK, .rev = 2, .ours = true });
    assert_false(lease_may_act(&l, R));   /* the old leadership is over */
    run(&l, R, LEASE_OP_UPDATE, ok_rev(3));
    assert_int_equal(l.role, LEASE_LEADER);
    assert_int_equal(l.generation, 2);
}

static void test_a_successor_ends_the_leadership(void **state)
{
    struct lease l;

    (void)state;
    lead(&l);
    run(&l, R, LEASE_OP_UPDATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, R, LEASE_OP_READ, (struct lease_outcome){ .result = LEASE_OK, .rev = 8, .ours = false });
    assert_int_equal(l.role, LEASE_STANDBY);
    assert_false(lease_may_act(&l, R));
}

static void test_errors_are_retried_until_the_deadline(void **state)
{
    struct lease l;
    int64_t now = R;

    (void)state;
    lead(&l);
    while (lease_due(&l, now) == LEASE_OP_UPDATE) {
        struct lease_outcome err = { .result = LEASE_ERROR };

        lease_done(&l, LEASE_OP_UPDATE, &err, now, now);
        assert_true(l.next_ms <= l.deadline_ms);
        now = lease_next_ms(&l);
    }
    /* The deadline came without a renewal: not acting, unsure who leads. */
    assert_int_equal(now, T - G);
    assert_int_equal(l.role, LEASE_UNSURE);
    assert_false(lease_may_act(&l, now));
    assert_int_equal(lease_due(&l, now), LEASE_OP_CREATE);
    /* A non-leader waits a second between failed tries. */
    lease_done(&l, LEASE_OP_CREATE, &(struct lease_outcome){ .result = LEASE_ERROR }, now, now);
    assert_int_equal(lease_next_ms(&l), now + LEASE_ERROR_RETRY_MS);
    /* Winning again is a new leadership. */
    run(&l, now + LEASE_ERROR_RETRY_MS, LEASE_OP_CREATE, ok_rev(30));
    assert_int_equal(l.generation, 2);
}

static void test_a_paused_leader_finds_its_deadline_passed(void **state)
{
    struct lease l;

    (void)state;
    lead(&l);
    /* Nothing ran for 10 s (SIGSTOP): no acting, and a create is due. */
    assert_false(lease_may_act(&l, 10000));
    assert_int_equal(lease_due(&l, 10000), LEASE_OP_CREATE);
    assert_int_equal(l.role, LEASE_UNSURE);
}

static void test_a_vanished_key_ends_the_leadership(void **state)
{
    struct lease l;

    (void)state;
    lead(&l);
    run(&l, R, LEASE_OP_UPDATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, R, LEASE_OP_READ, (struct lease_outcome){ .result = LEASE_NOT_FOUND });
    assert_int_equal(l.role, LEASE_UNSURE);
    run(&l, R, LEASE_OP_CREATE, ok_rev(1));
    assert_int_equal(l.generation, 2);
}

static void test_a_standby_seeing_nobody_becomes_unsure(void **state)
{
    struct lease l;

    (void)state;
    lease_init(&l, T, 0);
    run(&l, 0, LEASE_OP_CREATE, (struct lease_outcome){ .result = LEASE_ERROR });
    assert_int_equal(l.role, LEASE_STANDBY);
    assert_true(lease_next_ms(&l) <= T);
    (void)lease_due(&l, T - 1);
    assert_int_equal(l.role, LEASE_STANDBY);
    (void)lease_due(&l, T);
    assert_int_equal(l.role, LEASE_UNSURE);
    /* Seeing a holder again makes it a standby. */
    run(&l, LEASE_ERROR_RETRY_MS * 2, LEASE_OP_CREATE, (struct lease_outcome){ .result = LEASE_CONFLICT });
    run(&l, LEASE_ERROR_RETRY_MS * 2, LEASE_OP_READ, (struct lease_outcome){ .result = LEASE_OK, .rev = 3 });
    assert_int_equal(l.role, LEASE_STANDBY);
}

static void test_retry_now_brings_a_failed_acquisition_forward(void **state)
{
    struct lease l;

    (void)state;
    lease_init(&l, T, 0);
    run(&l, 0, LEASE_OP_CREATE, (struct lease_outcome){ .result = LEASE_ERROR });
    assert_int_equal(lease_due(&l, 10), LEASE_OP_NONE);
    lease_retry_now(&l, 10);
    assert_int_equal(lease_due(&l, 10), LEASE_OP_CREATE);
    /* A leader's renewals keep their own schedule. */
    run(&l, 10, LEASE_OP_CREATE, ok_rev(2));
    lease_retry_now(&l, 20);
    assert_int_equal(lease_due(&l, 20), LEASE_OP_NONE);
}

static void test_resign(void **state)
{
    struct lease l, s;

    (void)state;
    lead(&l);
    lease_resign(&l);
    assert_false(lease_may_act(&l, 1));
    run(&l, 1, LEASE_OP_RELEASE, ok_rev(0));
    assert_int_equal(l.role, LEASE_RESIGNED);
    assert_int_equal(lease_due(&l, 100000), LEASE_OP_NONE);
    /* A failed release resigns all the same. */
    lead(&s);
    lease_resign(&s);
    run(&s, 1, LEASE_OP_RELEASE, (struct lease_outcome){ .result = LEASE_ERROR });
    assert_int_equal(lease_due(&s, 100000), LEASE_OP_NONE);
    /* Not leading: nothing to release. */
    lease_init(&s, T, 0);
    lease_resign(&s);
    assert_int_equal(lease_due(&s, 0), LEASE_OP_NONE);
    assert_int_equal(s.role, LEASE_RESIGNED);
}

static void test_next_term_never_goes_back(void **state)
{
    (void)state;
    assert_int_equal(lease_next_term(7, 0, 0), 7);       /* a fresh cluster: the revision */
    assert_int_equal(lease_next_term(1, 61, 0), 62);     /* lease bucket recreated: above the floor */
    assert_int_equal(lease_next_term(1, 0, 61), 62);     /* floor lost too: above what instances obey */
    assert_int_equal(lease_next_term(100, 61, 80), 100);
    assert_int_equal(lease_next_term(1, 0, UINT64_MAX), 1);              /* nonsense seen: ignored */
    assert_int_equal(lease_next_term(1, LEASE_TERM_MAX - 1, 0), LEASE_TERM_MAX);
    assert_int_equal(lease_next_term(UINT64_MAX, 0, 0), LEASE_TERM_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_wins_the_lease),
        cmocka_unit_test(test_renewals_keep_the_leadership),
        cmocka_unit_test(test_someone_else_holds_it),
        cmocka_unit_test(test_our_own_lease_is_taken_back),
        cmocka_unit_test(test_a_lost_ack_keeps_the_leadership),
        cmocka_unit_test(test_an_older_revision_of_ours_is_a_new_leadership),
        cmocka_unit_test(test_a_successor_ends_the_leadership),
        cmocka_unit_test(test_errors_are_retried_until_the_deadline),
        cmocka_unit_test(test_a_paused_leader_finds_its_deadline_passed),
        cmocka_unit_test(test_a_vanished_key_ends_the_leadership),
        cmocka_unit_test(test_a_standby_seeing_nobody_becomes_unsure),
        cmocka_unit_test(test_retry_now_brings_a_failed_acquisition_forward),
        cmocka_unit_test(test_resign),
        cmocka_unit_test(test_next_term_never_goes_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
