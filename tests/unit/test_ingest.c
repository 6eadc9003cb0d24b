/* The heartbeat hand-over of supervisor/daemon/ingest.h with its ring full:
 * a wrong heartbeat is still refused for what is wrong with it, a right one
 * is refused as overload (counted) when the owner takes nothing or is gone,
 * and waits for room while the owner keeps taking, losing nothing and
 * keeping order. */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/v1/fleet.pb-c.h"
#include "ingest.h"

#define MAX_QUEUED 1024   /* the config's least limits.max_queued_heartbeats */

/* Encodes a heartbeat of svc/inst-0 with `seq` into buf; returns its length. */
static size_t encode(uint64_t seq, uint8_t *buf, size_t cap)
{
    Fleet__V1__Heartbeat hb = FLEET__V1__HEARTBEAT__INIT;

    hb.service = "svc";
    hb.instance = "inst-0";
    hb.version = "1.0.0";
    hb.incarnation = 7;
    hb.seq = seq;
    hb.interval_ms = 1000;
    hb.state = FLEET__V1__SERVING_STATE__SERVING_STATE_SERVING;
    assert_true(fleet__v1__heartbeat__get_packed_size(&hb) <= cap);
    return fleet__v1__heartbeat__pack(&hb, buf);
}

static enum hb_refusal send_seq(struct ingest *q, uint64_t seq)
{
    uint8_t buf[256];
    size_t len = encode(seq, buf, sizeof(buf));

    return ingest_heartbeat(q, "fleet.v1.hb.svc.inst-0", buf, len, 1000);
}

/* Takes once and reads every heartbeat of the take, checking they carry
 * *next, *next + 1, ...; returns how many. */
static size_t take_expect(struct ingest *q, struct ingest_batch *batch, uint64_t *next)
{
    const struct hb_input *run;
    size_t total = 0, n;

    ingest_take(q, batch);
    while ((n = ingest_heartbeats(q, batch, &run)) > 0) {
        for (size_t k = 0; k < n; k++)
            assert_int_equal(run[k].seq, (*next)++);
        total += n;
    }
    assert_int_equal(total, batch->n_hb);
    return total;
}

/* The fixture of the full-queue tests (full_setup, full_teardown): a queue
 * holding MAX_QUEUED heartbeats, seq 1..MAX_QUEUED, and the batch its
 * takes go into. */
struct full {
    struct ingest *q;
    struct ingest_batch batch;
    uint64_t next; /* the seq the next take expects */
};

/* *state = a struct full (asserts that it could be made). */
static int full_setup(void **state)
{
    struct full *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(ingest_create("fleet", MAX_QUEUED, 4096, NULL, &f->q), 0);
    for (uint64_t s = 1; s <= MAX_QUEUED; s++)
        assert_int_equal(send_seq(f->q, s), HB_OK);
    f->next = 1;
    *state = f;
    return 0;
}

/* Frees what full_setup made and every take since. */
static int full_teardown(void **state)
{
    struct full *f = *state;

    ingest_batch_free(&f->batch);
    ingest_destroy(f->q);
    free(f);
    return 0;
}

static void test_a_full_queue_refuses_wrong_ones_for_their_fault_and_right_ones_as_overload(void **state)
{
    struct full *f = *state;
    struct ingest_counters c;

    assert_int_equal(ingest_heartbeat(f->q, "fleet.v1.hb.svc.inst-0", "\xff\xff", 2, 1000), HB_REFUSE_DECODE);
    /* Nobody takes: after the owner's grace the right one is overload. */
    assert_int_equal(send_seq(f->q, MAX_QUEUED + 1), HB_REFUSE_OVERLOAD);
    ingest_counters(f->q, &c);
    assert_int_equal(c.received, MAX_QUEUED + 2);
    assert_int_equal(c.refused[HB_REFUSE_DECODE], 1);
    assert_int_equal(c.refused[HB_REFUSE_OVERLOAD], 1);
    assert_int_equal(take_expect(f->q, &f->batch, &f->next), MAX_QUEUED);
    assert_int_equal(send_seq(f->q, f->next), HB_OK);         /* room again */
    assert_int_equal(take_expect(f->q, &f->batch, &f->next), 1);
}

static void test_once_the_owner_is_gone_a_full_queue_refuses_without_waiting(void **state)
{
    struct full *f = *state;
    struct ingest_counters c;

    ingest_owner_gone(f->q);
    assert_int_equal(send_seq(f->q, MAX_QUEUED + 1), HB_REFUSE_OVERLOAD);
    ingest_counters(f->q, &c);
    assert_int_equal(c.refused[HB_REFUSE_OVERLOAD], 1);
    assert_int_equal(take_expect(f->q, &f->batch, &f->next), MAX_QUEUED); /* what was queued is still there */
}

struct sender {
    struct ingest *q;
    uint64_t n;
    uint64_t refused;
};

static void *send_all(void *arg)
{
    struct sender *s = arg;

    for (uint64_t seq = 1; seq <= s->n; seq++)
        if (send_seq(s->q, seq) != HB_OK)
            s->refused++;
    return NULL;
}

static void test_a_full_queue_waits_for_an_owner_that_keeps_taking(void **state)
{
    struct ingest_batch batch = { 0 };
    struct sender s = { .n = 20 * MAX_QUEUED };
    struct ingest_counters c;
    pthread_t t;
    uint64_t next = 1;

    (void)state;
    assert_int_equal(ingest_create("fleet", MAX_QUEUED, 4096, NULL, &s.q), 0);
    assert_int_equal(pthread_create(&t, NULL, send_all, &s), 0);
    while (next <= s.n)
        take_expect(s.q, &batch, &next);
    pthread_join(t, NULL);
    ingest_counters(s.q, &c);
    assert_int_equal(s.refused, 0);
    assert_int_equal(c.refused[HB_REFUSE_OVERLOAD], 0);
    assert_int_equal(next, s.n + 1);
    ingest_batch_free(&batch);
    ingest_destroy(s.q);
}

static bool readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* An exit report wakes the owner's gathering wait (ingest_urgent_fd); an
 * ordinary heartbeat does not; a take clears it. */
static void test_an_exit_report_is_urgent(void **state)
{
    Fleet__V1__Heartbeat hb = FLEET__V1__HEARTBEAT__INIT;
    Fleet__V1__ExitInfo exit_report = FLEET__V1__EXIT_INFO__INIT;
    struct ingest_batch batch = { 0 };
    uint8_t buf[256];
    struct ingest *q;
    uint64_t next = 1;

    (void)state;
    assert_int_equal(ingest_create("fleet", MAX_QUEUED, 4096, NULL, &q), 0);
    assert_int_equal(send_seq(q, 1), HB_OK);
    assert_true(readable(ingest_fd(q)));
    assert_false(readable(ingest_urgent_fd(q)));
    hb.service = "svc";
    hb.instance = "inst-0";
    hb.version = "1.0.0";
    hb.incarnation = 7;
    hb.seq = 2;
    hb.interval_ms = 1000;
    hb.state = FLEET__V1__SERVING_STATE__SERVING_STATE_EXITED;
    exit_report.code = 1;
    hb.exit = &exit_report;
    assert_true(fleet__v1__heartbeat__get_packed_size(&hb) <= sizeof(buf));
    assert_int_equal(ingest_heartbeat(q, "fleet.v1.hb.svc.inst-0", buf, fleet__v1__heartbeat__pack(&hb, buf), 1000),
                     HB_OK);
    assert_true(readable(ingest_urgent_fd(q)));
    assert_int_equal(take_expect(q, &batch, &next), 2);
    assert_false(readable(ingest_urgent_fd(q)));
    ingest_batch_free(&batch);
    ingest_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_full_queue_refuses_wrong_ones_for_their_fault_and_right_ones_as_overload,
                                        full_setup, full_teardown),
        cmocka_unit_test(test_a_full_queue_waits_for_an_owner_that_keeps_taking),
        cmocka_unit_test_setup_teardown(test_once_the_owner_is_gone_a_full_queue_refuses_without_waiting, full_setup,
                                        full_teardown),
        cmocka_unit_test(test_an_exit_report_is_urgent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
