/* The heartbeat ring between the delivery thread and the owner
 * (supervisor/daemon/hb_ring.h): order across blocks, its bound, its empty
 * and full answers, abandoned slots, block recycling, and one producer
 * against one consumer on two threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hb_ring.h"

/* Commits one heartbeat carrying `seq`; false when the ring refused a slot. */
static bool push_seq(struct hb_ring *r, uint64_t seq)
{
    struct hb_input *slot = hb_ring_slot(r);

    if (slot == NULL)
        return false;
    slot->seq = seq;
    hb_ring_push(r);
    return true;
}

/* Reads and releases up to `limit` heartbeats, checking they carry
 * *next, *next + 1, ...; returns how many. */
static size_t drain_expect(struct hb_ring *r, size_t limit, uint64_t *next)
{
    const struct hb_input *run;
    size_t total = 0, n;

    while (total < limit && (n = hb_ring_run(r, limit - total, &run)) > 0) {
        for (size_t k = 0; k < n; k++)
            assert_int_equal(run[k].seq, (*next)++);
        hb_ring_release(r, n);
        total += n;
    }
    return total;
}

static void test_an_empty_ring_has_nothing_to_read(void **state)
{
    struct hb_ring r;
    const struct hb_input *run = NULL;

    (void)state;
    assert_int_equal(hb_ring_init(&r, 1024), 0);
    assert_int_equal(hb_ring_committed(&r), 0);
    assert_int_equal(hb_ring_run(&r, 100, &run), 0);
    assert_null(run);
    hb_ring_fini(&r);
}

static void test_order_holds_across_blocks(void **state)
{
    struct hb_ring r;
    size_t total = 3 * HB_RING_BLOCK + 7;
    uint64_t next = 1;

    (void)state;
    assert_int_equal(hb_ring_init(&r, 4 * HB_RING_BLOCK), 0);
    for (uint64_t s = 1; s <= total; s++)
        assert_true(push_seq(&r, s));
    assert_int_equal(hb_ring_committed(&r), total);
    assert_int_equal(drain_expect(&r, SIZE_MAX, &next), total);
    assert_int_equal(next, total + 1);
    assert_int_equal(hb_ring_committed(&r), 0);
    hb_ring_fini(&r);
}

static void test_a_run_stops_at_its_block_and_its_limit(void **state)
{
    struct hb_ring r;
    const struct hb_input *run;

    (void)state;
    assert_int_equal(hb_ring_init(&r, 4 * HB_RING_BLOCK), 0);
    for (uint64_t s = 1; s <= HB_RING_BLOCK + 10; s++)
        assert_true(push_seq(&r, s));
    assert_int_equal(hb_ring_run(&r, 5, &run), 5);          /* the limit */
    assert_int_equal(run[0].seq, 1);
    hb_ring_release(&r, 5);
    assert_int_equal(hb_ring_run(&r, SIZE_MAX, &run), HB_RING_BLOCK - 5); /* the block's end */
    assert_int_equal(run[0].seq, 6);
    hb_ring_release(&r, HB_RING_BLOCK - 5);
    assert_int_equal(hb_ring_run(&r, SIZE_MAX, &run), 10);  /* the next block */
    assert_int_equal(run[0].seq, HB_RING_BLOCK + 1);
    hb_ring_release(&r, 10);
    assert_int_equal(hb_ring_committed(&r), 0);
    hb_ring_fini(&r);
}

static void test_a_full_ring_refuses_until_the_consumer_releases(void **state)
{
    struct hb_ring r;
    size_t max = HB_RING_BLOCK + HB_RING_BLOCK / 2 + 1; /* not a whole number of blocks */
    uint64_t seq = 1, next = 1;

    (void)state;
    assert_int_equal(hb_ring_init(&r, max), 0);
    while (push_seq(&r, seq))
        seq++;
    assert_int_equal(seq - 1, max);                      /* exactly max, then NULL */
    assert_null(hb_ring_slot(&r));
    assert_int_equal(hb_ring_committed(&r), max);
    assert_int_equal(drain_expect(&r, 3, &next), 3);     /* room for three more, no more */
    for (int k = 0; k < 3; k++)
        assert_true(push_seq(&r, seq++));
    assert_null(hb_ring_slot(&r));
    assert_int_equal(drain_expect(&r, SIZE_MAX, &next), max);
    assert_int_equal(next, seq);
    assert_true(r.n_blocks <= r.max_blocks);
    hb_ring_fini(&r);
}

static void test_a_ring_smaller_than_a_block(void **state)
{
    struct hb_ring r;
    uint64_t next = 1;

    (void)state;
    assert_int_equal(hb_ring_init(&r, 2), 0);
    assert_true(push_seq(&r, 1));
    assert_true(push_seq(&r, 2));
    assert_false(push_seq(&r, 3));
    assert_int_equal(drain_expect(&r, SIZE_MAX, &next), 2);
    /* Round and round the first block and into the next ones. */
    for (uint64_t s = 3; s < 3 + 3 * HB_RING_BLOCK; s++) {
        assert_true(push_seq(&r, s));
        assert_int_equal(drain_expect(&r, SIZE_MAX, &next), 1);
        assert_true(r.n_blocks <= r.max_blocks);
    }
    hb_ring_fini(&r);
}

static void test_an_abandoned_slot_is_not_seen_and_is_reused(void **state)
{
    struct hb_ring r;
    struct hb_input *slot;
    uint64_t next = 1;

    (void)state;
    assert_int_equal(hb_ring_init(&r, 16), 0);
    slot = hb_ring_slot(&r);
    assert_non_null(slot);
    slot->seq = 99;                                      /* never pushed */
    assert_int_equal(hb_ring_committed(&r), 0);
    assert_ptr_equal(hb_ring_slot(&r), slot);
    assert_true(push_seq(&r, 1));
    assert_int_equal(drain_expect(&r, SIZE_MAX, &next), 1);
    hb_ring_fini(&r);
}

static void test_emptied_blocks_are_recycled_within_bounds(void **state)
{
    struct hb_ring r;
    uint64_t seq = 1, next = 1;

    (void)state;
    assert_int_equal(hb_ring_init(&r, (HB_RING_SPARE + 4) * HB_RING_BLOCK), 0);
    /* Fill many blocks, empty them all: spares are kept up to HB_RING_SPARE. */
    for (int round = 0; round < 3; round++) {
        while (push_seq(&r, seq))
            seq++;
        assert_true(r.n_blocks <= r.max_blocks);
        drain_expect(&r, SIZE_MAX, &next);
        push_seq(&r, seq++);                             /* moves the consumer off the last block */
        drain_expect(&r, SIZE_MAX, &next);
        assert_true(r.n_spare <= HB_RING_SPARE);
    }
    assert_int_equal(next, seq);
    hb_ring_fini(&r);
}

/* One producer thread against the test's thread as the consumer. */
struct producer {
    struct hb_ring *r;
    uint64_t n;
    uint64_t refused;   /* slots refused because the ring was full: retried */
};

static void *produce(void *arg)
{
    struct producer *p = arg;

    for (uint64_t s = 1; s <= p->n;) {
        if (push_seq(p->r, s))
            s++;
        else
            p->refused++;
    }
    return NULL;
}

static void test_one_producer_one_consumer_on_two_threads(void **state)
{
    struct hb_ring r;
    struct producer p = { .r = &r, .n = 200000 };
    pthread_t t;
    uint64_t next = 1;

    (void)state;
    assert_int_equal(hb_ring_init(&r, 3 * HB_RING_BLOCK), 0);
    assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
    while (next <= p.n)
        drain_expect(&r, SIZE_MAX, &next);
    pthread_join(t, NULL);
    assert_int_equal(next, p.n + 1);
    assert_int_equal(hb_ring_committed(&r), 0);
    assert_true(r.n_blocks <= r.max_blocks);
    hb_ring_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_empty_ring_has_nothing_to_read),
        cmocka_unit_test(test_order_holds_across_blocks),
        cmocka_unit_test(test_a_run_stops_at_its_block_and_its_limit),
        cmocka_unit_test(test_a_full_ring_refuses_until_the_consumer_releases),
        cmocka_unit_test(test_a_ring_smaller_than_a_block),
        cmocka_unit_test(test_an_abandoned_slot_is_not_seen_and_is_reused),
        cmocka_unit_test(test_emptied_blocks_are_recycled_within_bounds),
        cmocka_unit_test(test_one_producer_one_consumer_on_two_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
